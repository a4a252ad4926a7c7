import { aiMadeVersion, versionMaker } from '@loupe/shared';
import { SnapshotIndex, type RoomSnapshot } from './snapshot.js';

export const CSV_COLUMNS = [
  'shot', 'version', 'frame', 'timecode', 'author', 'text', 'status', 'replies', 'created',
  'frame_end', 'timecode_end', 'resolved_by', 'ai_made', 'note_id', 'made_by',
] as const;

/**
 * A cell as RFC 4180 wants it. Text a member typed that a spreadsheet would run as a formula
 * (= + - @ at the start) gets a leading apostrophe, so opening the file in Excel runs nothing.
 */
function cell(value: string | number, typed = false): string {
  let s = String(value);
  if (typed && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The notes of a room as CSV (UTF-8, CRLF lines, header row): one row per thread, replies joined. */
export function notesCsv(snap: RoomSnapshot): string {
  const idx = new SnapshotIndex(snap);
  const rows = [CSV_COLUMNS.join(',')];
  for (const { note, replies } of snap.threads) {
    const version = idx.version(note.versionId);
    const shot = idx.shotOf(version);
    const tc = (f: number) => (version ? idx.timecode(version, f) : '');
    rows.push(
      [
        cell(shot?.name ?? '', true),
        cell(idx.label(version)),
        cell(note.frame),
        cell(tc(note.frame)),
        cell(note.author.name, true),
        cell(note.text, true),
        cell(note.status),
        cell(replies.map((r) => `${r.author.name}: ${r.text}`).join(' | '), true),
        cell(note.createdAt),
        cell(note.frameEnd),
        cell(tc(note.frameEnd)),
        cell(note.status === 'resolved' ? (note.resolvedBy?.name ?? '') : '', true),
        // ai_made: a learned model made the version; made_by says what did (learned model or algorithm).
        cell(version && aiMadeVersion(version) ? 'yes' : 'no'),
        cell(note.id),
        cell(version ? (versionMaker(version)?.label ?? '') : ''),
      ].join(','),
    );
  }
  return rows.join('\r\n') + '\r\n';
}

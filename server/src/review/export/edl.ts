import { transliterate } from 'transliteration';
import { clockTimecode, frameToTimecode, isDropFrameRate, timecodeToFrame, versionLabel, versionMaker, type Note } from '@loupe/shared';
import { editorialCut, type CutClip, type CutMarker } from './cut.js';
import { masterLabel } from './master.js';
import type { RoomSnapshot } from './snapshot.js';

/**
 * CMX 3600 is ASCII: text is transliterated (é -> e, 日本 -> Ri Ben, Привет -> Privet), what has no
 * transliteration becomes '?', and a line stays one line. The OTIO and the CSV keep the full text.
 */
export function edlText(s: string, max = 200): string {
  return transliterate(s.replace(/[\r\n\t]+/g, ' '), { unknown: '?' })
    .replace(/[^\x20-\x7e]/g, '?')
    .replace(/ {2,}/g, ' ')
    .trim()
    .slice(0, max);
}

/** The reel column: the media's reel in at most 8 letters, digits and underscores ('AX' when it has none). */
export function edlReel(reel: string | null): string {
  const r = reel ? edlText(reel).replace(/[^A-Za-z0-9_]+/g, '_').replace(/^_+|_+$/g, '') : '';
  return r.slice(0, 8) || 'AX';
}

/** Locator colour: open notes red, resolved ones green. */
export function markerColor(note: Note): 'RED' | 'GREEN' {
  return note.status === 'resolved' ? 'GREEN' : 'RED';
}

/** What a marker says: `[v001] Author: text`, with the number of replies; the version is the one the note was written on. */
export function markerText(m: Pick<CutMarker, 'note' | 'replies' | 'version'>): string {
  const n = m.replies.length;
  return `[${m.version ? versionLabel(m.version) : '?'}] ${m.note.author.name}: ${m.note.text}${n ? ` (${n} ${n === 1 ? 'reply' : 'replies'})` : ''}`;
}

/**
 * The cut as a CMX 3600 EDL: one video event per shot (its latest approved version; record side
 * from 01:00:00:00 at the first clip's rate, source side on the version's own timecode and reel),
 * the clip's name and bundle file as comments, and one `* LOC:` locator per note at its source
 * timecode (the OpenTimelineIO cmx_3600 adapter's convention), coloured by status.
 */
export function markersEdl(snap: RoomSnapshot, opts: { approvedOnly?: boolean } = {}): string {
  const clips = editorialCut(snap, opts);
  const rate = clips[0]?.clock ?? { fps: 24, dropFrame: false };
  const drop = !!rate.dropFrame && isDropFrameRate(rate.fps);
  const lines = [`TITLE: ${edlText(snap.room.name, 70) || 'Loupe'}`, `FCM: ${drop ? 'DROP FRAME' : 'NON-DROP FRAME'}`, ''];
  let record = timecodeToFrame('01:00:00:00', rate);
  clips.forEach((clip, i) => {
    const src = clip.clock;
    // A shot at another rate than the timeline's takes the same time on it.
    const recordFrames = Math.max(1, Math.round((clip.frames * rate.fps) / src.fps));
    const tc = [0, clip.frames].map((f) => clockTimecode(src, f));
    const rec = [record, record + recordFrames].map((f) => frameToTimecode(f, rate));
    const reel = edlReel(src.reel);
    lines.push(`${String(i + 1).padStart(3, '0')}  ${reel.padEnd(8)} ${'V'.padEnd(5)} ${'C'.padEnd(8)} ${tc[0]} ${tc[1]} ${rec[0]} ${rec[1]}`);
    lines.push(`* FROM CLIP NAME: ${edlText(clipName(clip), 120)}`);
    const maker = versionMaker(clip.version);
    if (maker) lines.push(`* MADE BY: ${edlText(maker.label, 120)}`);
    if (src.reel && edlText(src.reel) !== reel) lines.push(`* REEL NAME: ${edlText(src.reel, 120)}`);
    if (clip.master) lines.push(`* SOURCE FILE: ${edlText(masterLabel(clip.master))}`);
    if (src.fps !== rate.fps || src.dropFrame !== rate.dropFrame) {
      lines.push(`* SOURCE RATE: ${Math.round(src.fps * 1000) / 1000}${src.dropFrame ? ' DF' : ''}`);
    }
    for (const m of clip.markers) {
      lines.push(`* LOC: ${clockTimecode(src, m.frame)} ${markerColor(m.note).padEnd(7)} ${edlText(markerText(m))}`);
    }
    lines.push('');
    record += recordFrames;
  });
  return lines.join('\r\n');
}

/** `Shot name v002`, `Shot name v003 AI` (a learned model made it), `Shot name v004 ALGORITHM`, `Shot name v001 NOT APPROVED`. */
export function clipName(clip: CutClip): string {
  const maker = versionMaker(clip.version);
  return `${clip.shot.name} ${versionLabel(clip.version)}${maker ? ` ${maker.badge.toUpperCase()}` : ''}${clip.approved ? '' : ' NOT APPROVED'}`;
}

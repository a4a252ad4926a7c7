import { frameToTimecode, isDropFrameRate, timecodeToFrame, versionMaker, type Note } from '@loupe/shared';
import { editorialCut, type CutClip } from './cut.js';
import { shotRate, startFrame, type RoomSnapshot } from './snapshot.js';

/** CMX 3600 is ASCII: accents are dropped, anything else becomes '?', and a line stays one line. */
export function edlText(s: string, max = 200): string {
  return s
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/[^\x20-\x7e]/g, '?')
    .trim()
    .slice(0, max);
}

/** Locator colour: open notes red, resolved ones green. */
export function markerColor(note: Note): 'RED' | 'GREEN' {
  return note.status === 'resolved' ? 'GREEN' : 'RED';
}

/** What a marker says: `Author: text`, with the number of replies. */
export function markerText(t: { note: Note; replies: Note[] }): string {
  const n = t.replies.length;
  return `${t.note.author.name}: ${t.note.text}${n ? ` (${n} ${n === 1 ? 'reply' : 'replies'})` : ''}`;
}

/**
 * The cut as a CMX 3600 EDL: one video event per clip (record side from 01:00:00:00 at the first
 * shot's rate, source side in each shot's own timecode), the clip's name and bundle file as
 * comments, and one `* LOC:` locator per note at the note's source timecode (the OpenTimelineIO
 * cmx_3600 adapter's convention), coloured by status.
 */
export function markersEdl(snap: RoomSnapshot, opts: { approvedOnly?: boolean } = {}): string {
  const clips = editorialCut(snap, opts);
  const rate = clips[0] ? shotRate(clips[0].shot) : { fps: 24, dropFrame: false };
  const drop = !!rate.dropFrame && isDropFrameRate(rate.fps);
  const lines = [`TITLE: ${edlText(snap.room.name, 70) || 'Loupe'}`, `FCM: ${drop ? 'DROP FRAME' : 'NON-DROP FRAME'}`, ''];
  let record = timecodeToFrame('01:00:00:00', rate);
  clips.forEach((clip, i) => {
    const src = shotRate(clip.shot);
    const srcIn = startFrame(clip.shot) + clip.firstFrame;
    // A shot at another rate than the timeline's takes the same time on it.
    const recordFrames = Math.max(1, Math.round((clip.frames * rate.fps) / clip.shot.fps));
    const tc = [srcIn, srcIn + clip.frames].map((f) => frameToTimecode(f, src));
    const rec = [record, record + recordFrames].map((f) => frameToTimecode(f, rate));
    lines.push(`${String(i + 1).padStart(3, '0')}  ${'AX'.padEnd(8)} ${'V'.padEnd(5)} ${'C'.padEnd(8)} ${tc[0]} ${tc[1]} ${rec[0]} ${rec[1]}`);
    lines.push(`* FROM CLIP NAME: ${edlText(clipName(clip), 120)}`);
    const maker = versionMaker(clip.version);
    if (maker) lines.push(`* MADE BY: ${edlText(maker.label, 120)}`);
    if (clip.bundlePath) lines.push(`* SOURCE FILE: ${edlText(clip.bundlePath)}`);
    if (src.fps !== rate.fps || src.dropFrame !== rate.dropFrame) {
      lines.push(`* SOURCE RATE: ${clip.shot.fps}${clip.shot.dropFrame ? ' DF' : ''}`);
    }
    for (const t of clip.threads) {
      lines.push(`* LOC: ${frameToTimecode(startFrame(clip.shot) + t.note.frame, src)} ${markerColor(t.note).padEnd(7)} ${edlText(markerText(t))}`);
    }
    lines.push('');
    record += recordFrames;
  });
  return lines.join('\r\n');
}

/** `Shot name v002`, `Shot name v003 AI` (a learned model made it), `Shot name v004 ALGORITHM`, `Shot name v001 NOT APPROVED`. */
export function clipName(clip: CutClip): string {
  const label = `v${String(clip.version.number).padStart(3, '0')}`;
  const maker = versionMaker(clip.version);
  return `${clip.shot.name} ${label}${maker ? ` ${maker.badge.toUpperCase()}` : ''}${clip.approved ? '' : ' NOT APPROVED'}`;
}

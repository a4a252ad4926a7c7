import type { Note, Shot, Version } from '@loupe/shared';
import { SnapshotIndex, shotFolderNames, type RoomSnapshot } from './snapshot.js';

/** One clip of the editorial hand-over (EDL events, OTIO clips). */
export interface CutClip {
  shot: Shot;
  version: Version;
  /** False for the stand-in of a shot nothing of which is approved yet. */
  approved: boolean;
  /** The shot frames the clip covers: [firstFrame, firstFrame + frames). */
  firstFrame: number;
  frames: number;
  /** The notes (threads) shown as markers on this clip. */
  threads: { note: Note; replies: Note[] }[];
  /** Where the approved bundle (approved.zip) holds the clip's media; null when it is not in it. */
  bundlePath: string | null;
}

/** The bundle's file for a version's media: `shot/shot_v002.mp4` (video proxy) or `.png` (AI still). */
export function mediaPathIn(folder: string, v: Version): string {
  const label = `v${String(v.number).padStart(3, '0')}`;
  return `${folder}/${folder}_${label}.${v.media.type === 'video' ? 'mp4' : 'png'}`;
}

/**
 * The approved versions as a cut, shot by shot: every approved version of a shot is a clip (a movie
 * for its whole length, an AI still for its one frame). A shot with nothing approved appears as its
 * newest source version marked not approved, so that its notes still have a place; `approvedOnly`
 * leaves such stand-ins (and the notes only they would hold) out. Each note lands on one clip of its
 * shot: its own version's, else the movie clip holding its frame, else the shot's first clip.
 */
export function editorialCut(snap: RoomSnapshot, { approvedOnly = false }: { approvedOnly?: boolean } = {}): CutClip[] {
  const idx = new SnapshotIndex(snap);
  const folders = shotFolderNames(snap.shots);
  const clips: CutClip[] = [];
  for (const shot of snap.shots) {
    const versions = snap.versions.filter((v) => v.shotId === shot.id).sort((a, b) => a.number - b.number);
    const approved = versions.filter((v) => v.status === 'approved');
    // Without an approved movie, the newest source stands in for the shot (AI stills are single frames of it).
    const standIn = approvedOnly || approved.some((v) => v.media.type === 'video') ? undefined : versions.filter((v) => v.media.type === 'video').at(-1);
    const chosen = [...(standIn ? [standIn] : []), ...approved].sort((a, b) => a.number - b.number);
    const shotClips: CutClip[] = chosen.map((v) => ({
      shot,
      version: v,
      approved: v !== standIn,
      firstFrame: v.media.type === 'still' ? v.media.frame : 0,
      frames: v.media.type === 'video' ? Math.max(1, v.media.frameCount || shot.frameCount) : 1,
      threads: [],
      bundlePath: v !== standIn ? mediaPathIn(folders.get(shot.id)!, v) : null,
    }));
    if (shotClips.length === 0) continue;
    for (const t of snap.threads) {
      const v = idx.version(t.note.versionId);
      if (v?.shotId !== shot.id) continue;
      const home =
        shotClips.find((c) => c.version.id === v.id) ??
        shotClips.find((c) => c.version.media.type === 'video' && c.firstFrame <= t.note.frame && t.note.frame < c.firstFrame + c.frames) ??
        (approvedOnly ? undefined : shotClips[0]);
      home?.threads.push(t);
    }
    clips.push(...shotClips);
  }
  return clips;
}

/** The exact rate of NTSC-style frame rates (29.97 is 30000/1001), else the rate as given. */
export function exactRate(fps: number): number {
  for (const base of [24, 30, 48, 60, 120]) {
    if (Math.abs(fps - (base * 1000) / 1001) < 0.01) return (base * 1000) / 1001;
  }
  return fps;
}

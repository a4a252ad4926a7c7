import type { MediaClock, Note, Shot, Version } from '@loupe/shared';
import { masterOf, type MasterMedia } from './master.js';
import { SnapshotIndex, shotFolderNames, type RoomSnapshot } from './snapshot.js';

/** A note thread as a marker on a clip. It keeps the version it was written on, which may not be the clip's. */
export interface CutMarker {
  note: Note;
  replies: Note[];
  /** The version the note was written on (undefined when it is gone). */
  version: Version | undefined;
  /** The frames it marks on the clip: the note's, kept inside the clip. */
  frame: number;
  frameEnd: number;
}

/** One clip of the editorial hand-over (EDL event, OTIO clip): one per shot. */
export interface CutClip {
  shot: Shot;
  version: Version;
  /** False for the stand-in of a shot with no approved version yet. */
  approved: boolean;
  /** The version's own start timecode, rate and reel: the clip's source timecodes count on it. */
  clock: MediaClock;
  /** The clip covers the version's frames 0..frames-1. */
  frames: number;
  markers: CutMarker[];
  /** The version's files at source quality in approved.zip; null for a stand-in (not in the bundle). */
  master: MasterMedia | null;
}

/**
 * The cut: one clip per shot, in room order, holding the shot's latest approved version (the highest
 * numbered approved movie, sequence or render; AI stills are single fixed frames, not shots). A
 * shot with nothing approved shows its newest version as a stand-in marked not approved, so its
 * notes have a place; `approvedOnly` leaves such shots out. Every note of the shot becomes a marker on
 * its clip and names the version it was written on.
 */
export function editorialCut(snap: RoomSnapshot, { approvedOnly = false }: { approvedOnly?: boolean } = {}): CutClip[] {
  const idx = new SnapshotIndex(snap);
  const folders = shotFolderNames(snap.shots);
  const clips: CutClip[] = [];
  for (const shot of snap.shots) {
    const videos = snap.versions.filter((v) => v.shotId === shot.id && v.media.type === 'video').sort((a, b) => a.number - b.number);
    const approved = videos.filter((v) => v.status === 'approved').at(-1);
    const version = approved ?? (approvedOnly ? undefined : videos.at(-1));
    if (!version || version.media.type !== 'video') continue;
    const clock = idx.clockOf(version);
    const frames = Math.max(1, version.media.frameCount || shot.frameCount);
    const markers: CutMarker[] = snap.threads
      .map((t) => ({ ...t, version: idx.version(t.note.versionId) }))
      .filter((t) => t.version?.shotId === shot.id)
      .map((t) => {
        // Versions of a shot share frame numbers; a note past this version's end marks its last frame.
        const frame = Math.min(t.note.frame, frames - 1);
        return { ...t, frame, frameEnd: Math.max(frame, Math.min(t.note.frameEnd, frames - 1)) };
      });
    clips.push({ shot, version, approved: !!approved, clock, frames, markers, master: approved ? masterOf(folders.get(shot.id)!, version, clock) : null });
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

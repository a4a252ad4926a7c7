import * as Y from 'yjs';
import {
  annotationsMap,
  clockTimecode,
  mediaClock,
  noteThreads,
  versionLabel,
  type Annotation,
  type MediaClock,
  type Note,
  type Shot,
  type Version,
} from '@loupe/shared';

/** Everything an export reads about a room, taken at one moment. */
export interface RoomSnapshot {
  room: { id: string; name: string; createdAt: string };
  shots: Shot[];
  versions: Version[];
  /** Top-level notes with their replies, by shot (room order), then frame, then time. */
  threads: { note: Note; replies: Note[] }[];
  annotations: Annotation[];
  takenAt: string;
}

/** Reads the notes and drawings out of a room document. */
export function snapshotFromDoc(
  room: RoomSnapshot['room'],
  shots: Shot[],
  versions: Version[],
  doc: Y.Doc,
  takenAt = new Date().toISOString(),
): RoomSnapshot {
  const shotOrder = new Map(shots.map((s, i) => [s.id, i]));
  const versionById = new Map(versions.map((v) => [v.id, v]));
  const shotIndex = (n: Note) => shotOrder.get(versionById.get(n.versionId)?.shotId ?? '') ?? shots.length;
  // noteThreads orders by frame then time; a stable sort by shot keeps that inside each shot.
  const threads = noteThreads(doc).sort((a, b) => shotIndex(a.note) - shotIndex(b.note));
  return { room, shots, versions, threads, annotations: [...annotationsMap(doc).values()], takenAt };
}

/** A document built from stored updates (applied in one transaction: far faster than merging them first). */
export function docFromUpdates(updates: Uint8Array[]): Y.Doc {
  const doc = new Y.Doc({ gc: true });
  doc.transact(() => {
    for (const u of updates) Y.applyUpdate(doc, u);
  });
  return doc;
}

/** Looks up shots and versions of a snapshot, and the picture a version shows. */
export class SnapshotIndex {
  private readonly versions: Map<string, Version>;
  private readonly shots: Map<string, Shot>;
  constructor(readonly snap: RoomSnapshot) {
    this.versions = new Map(snap.versions.map((v) => [v.id, v]));
    this.shots = new Map(snap.shots.map((s) => [s.id, s]));
  }

  version(id: string): Version | undefined {
    return this.versions.get(id);
  }

  shotOf(v: Version | undefined): Shot | undefined {
    return v ? this.shots.get(v.shotId) : undefined;
  }

  /** The video version a version's picture sits on: itself, or the source an AI still was made from. */
  videoOf(v: Version | undefined): Version | undefined {
    const seen = new Set<string>();
    while (v && v.media.type !== 'video' && !seen.has(v.id)) {
      seen.add(v.id);
      v = v.parentVersionId ? this.versions.get(v.parentVersionId) : undefined;
    }
    return v?.media.type === 'video' ? v : undefined;
  }

  /** The clock a version's frames count on: its media's own start timecode and reel (a still's: its source's), else its shot's. */
  clockOf(v: Version | undefined): MediaClock {
    return mediaClock(this.shotOf(v), this.videoOf(v)?.media);
  }

  /** The SMPTE timecode of a frame of a version, on that version's own clock (as the room shows it). */
  timecode(v: Version | undefined, frame: number): string {
    return clockTimecode(this.clockOf(v), frame);
  }

  /** `v003`, or `?` for a version that is gone. */
  label(v: Version | undefined): string {
    return v ? versionLabel(v) : '?';
  }

  /** Drawings shown on a note's picture: those on its version and first frame, and those attached to it. */
  drawingsFor(note: Note): Annotation[] {
    const attached = new Set(note.annotationIds ?? []);
    return this.snap.annotations
      .filter((a) => attached.has(a.id) || (a.versionId === note.versionId && a.frame <= note.frame && note.frame <= a.frameEnd))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }
}

/** A name safe in file names and zip paths: letters, digits, dot, dash and underscore. */
export function safeName(name: string, fallback = 'untitled'): string {
  const s = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._]+|_+$/g, '')
    .slice(0, 60);
  return s || fallback;
}

/** One shot per name: two shots called the same get their id appended. */
export function shotFolderNames(shots: Shot[]): Map<string, string> {
  const count = new Map<string, number>();
  for (const s of shots) count.set(safeName(s.name, 'shot'), (count.get(safeName(s.name, 'shot')) ?? 0) + 1);
  return new Map(shots.map((s) => {
    const base = safeName(s.name, 'shot');
    return [s.id, count.get(base)! > 1 ? `${base}_${safeName(s.id)}` : base];
  }));
}

/** Notes on frames: writing them into the room document, and what the notes panel shows. */
import { can, frameToTimecode, Limits, timecodeToFrame, type Note, type Version } from '@loupe/shared';
import type { RoomSession } from './session.svelte';
import type { NoteThread } from './collab.svelte';

export type StatusFilter = 'all' | 'open' | 'resolved';
/** 'current': the version on screen; 'all'; or a version id. */
export type VersionFilter = string;

export interface NoteFilters {
  status: StatusFilter;
  /** 'all' or an author's member id. */
  author: string;
  version: VersionFilter;
}

export function filterThreads(threads: NoteThread[], f: NoteFilters, currentVersionId: string | null): NoteThread[] {
  const version = f.version === 'current' ? currentVersionId : f.version;
  return threads.filter(
    ({ note }) =>
      (f.status === 'all' || note.status === f.status) &&
      (f.author === 'all' || note.author.id === f.author) &&
      (f.version === 'all' || note.versionId === version),
  );
}

/** Everyone who wrote a note or a reply, by name. */
export function noteAuthors(threads: NoteThread[]): { id: string; name: string }[] {
  const byId = new Map<string, string>();
  for (const t of threads) for (const n of [t.note, ...t.replies]) byId.set(n.author.id, n.author.name);
  return [...byId].map(([id, name]) => ({ id, name })).sort((a, b) => a.name.localeCompare(b.name));
}

/** SMPTE timecode of a frame of a version, counted from its shot's start timecode. */
export function noteTimecode(room: RoomSession, version: Version | null, frame: number): string {
  const shot = room.versions.shotOf(version) ?? room.versions.shot;
  const video = room.versions.videoOf(version);
  const fps = video?.media.type === 'video' && video.media.fps > 0 ? video.media.fps : (shot?.fps ?? room.player.fps);
  const rate = { fps, dropFrame: shot?.dropFrame ?? false };
  let start = 0;
  try {
    start = shot?.startTimecode ? timecodeToFrame(shot.startTimecode, rate) : 0;
  } catch {
    start = 0;
  }
  return frameToTimecode(start + frame, rate);
}

function clean(text: string): string {
  return text.trim().slice(0, Limits.maxTextLength);
}

export function addNote(
  room: RoomSession,
  p: { versionId: string; frame: number; frameEnd: number; text: string; annotationIds: string[] },
): Note | null {
  const text = clean(p.text);
  if (!text || !room.member || !room.canAnnotate) return null;
  const note: Note = {
    id: crypto.randomUUID(),
    parentId: null,
    versionId: p.versionId,
    frame: p.frame,
    frameEnd: Math.max(p.frame, p.frameEnd),
    text,
    author: { id: room.member.id, name: room.member.name },
    createdAt: new Date().toISOString(),
    status: 'open',
    resolvedBy: null,
    annotationIds: p.annotationIds,
  };
  room.collab.putNote(note);
  return note;
}

export function replyTo(room: RoomSession, parent: Note, text: string): Note | null {
  const body = clean(text);
  if (!body || !room.member || !room.canAnnotate) return null;
  const reply: Note = {
    id: crypto.randomUUID(),
    parentId: parent.id,
    versionId: parent.versionId,
    frame: parent.frame,
    frameEnd: parent.frameEnd,
    text: body,
    author: { id: room.member.id, name: room.member.name },
    createdAt: new Date().toISOString(),
    status: 'open',
    resolvedBy: null,
    annotationIds: [],
  };
  room.collab.putNote(reply);
  return reply;
}

/** Its author, or a director (who may change only its status): what the server accepts. */
export function canResolve(room: RoomSession, note: Note): boolean {
  return !!room.member && room.canAnnotate && (note.author.id === room.member.id || can(room.member.role, 'moderate'));
}

/** Resolve an open note, reopen a resolved one (replaces the top-level note's value). */
export function toggleResolved(room: RoomSession, note: Note): void {
  if (!room.member || !canResolve(room, note)) return;
  const latest = room.collab.note(note.id) ?? note;
  const resolve = latest.status !== 'resolved';
  room.collab.putNote({
    ...latest,
    status: resolve ? 'resolved' : 'open',
    resolvedBy: resolve ? { id: room.member.id, name: room.member.name, at: new Date().toISOString() } : null,
  });
}

/** Own notes only; a thread goes with its replies, and only while nobody else has answered it. */
export function canDelete(room: RoomSession, thread: NoteThread | null, note: Note): boolean {
  if (!room.member || !room.canAnnotate || note.author.id !== room.member.id) return false;
  if (note.parentId !== null || !thread) return true;
  return thread.replies.every((r) => r.author.id === room.member!.id);
}

export function deleteNote(room: RoomSession, thread: NoteThread | null, note: Note): void {
  if (!canDelete(room, thread, note)) return;
  const ids = note.parentId === null && thread ? [note.id, ...thread.replies.map((r) => r.id)] : [note.id];
  room.collab.removeNotes(ids);
}

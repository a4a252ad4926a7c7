/** Notes on frames: writing them into the room document, and what the notes panel shows. */
import { can, Limits, mediaClock, versionLabel, type Note, type Version } from '@loupe/shared';
import { displayTimecode, DEFAULT_COUNTER, type CounterOptions } from '$lib/view/frame-counter';
import type { RoomSession } from './session.svelte';
import type { NoteThread } from './collab.svelte';

export type StatusFilter = 'all' | 'open' | 'resolved';
/** 'shot': every version of the shot on screen (the default); 'current': the version on screen; 'all'; or a version id. */
export type VersionFilter = string;

export interface NoteFilters {
  status: StatusFilter;
  /** 'all' or an author's member id. */
  author: string;
  version: VersionFilter;
}

/** `shotVersions`: the ids of the versions of the shot on screen (for the 'shot' filter). */
export function filterThreads(threads: NoteThread[], f: NoteFilters, currentVersionId: string | null, shotVersions?: ReadonlySet<string>): NoteThread[] {
  const version = f.version === 'current' ? currentVersionId : f.version;
  const inVersion = (id: string) =>
    f.version === 'all' || (f.version === 'shot' ? (shotVersions ? shotVersions.has(id) : id === currentVersionId) : id === version);
  return threads.filter(
    ({ note }) =>
      (f.status === 'all' || note.status === f.status) &&
      (f.author === 'all' || note.author.id === f.author) &&
      inVersion(note.versionId),
  );
}

/** Everyone who wrote a note or a reply, by name. */
export function noteAuthors(threads: NoteThread[]): { id: string; name: string }[] {
  const byId = new Map<string, string>();
  for (const t of threads) for (const n of [t.note, ...t.replies]) byId.set(n.author.id, n.author.name);
  return [...byId].map(([id, name]) => ({ id, name })).sort((a, b) => a.name.localeCompare(b.name));
}

/** SMPTE timecode of a frame of a version, counted as the member chose (source start timecode or zero). */
export function noteTimecode(room: RoomSession, version: Version | null, frame: number, counter: CounterOptions = DEFAULT_COUNTER): string {
  const shot = room.versions.shotOf(version) ?? room.versions.shot;
  // The version's own media clock (its source's start timecode and rate), else its shot's.
  const clock = mediaClock(shot, room.versions.videoOf(version)?.media);
  return displayTimecode(frame, clock, clock.startTimecode, counter);
}

/** The newest source version of the note's shot, when it is newer than the note's version: where "carry forward" puts it. */
export function carryTarget(room: RoomSession, note: Note): Version | null {
  const from = room.versions.byId(note.versionId);
  if (!from) return null;
  const newest = room.versions.list
    .filter((v) => v.shotId === from.shotId && v.media.type === 'video' && v.number > from.number)
    .sort((a, b) => b.number - a.number)[0];
  return newest ?? null;
}

/** Where a note was carried from (a field the room document keeps with the carried note). */
export interface CarriedFrom {
  noteId: string;
  versionId: string;
}
export const carriedFrom = (n: Note): CarriedFrom | null => ((n as Note & { carriedFrom?: CarriedFrom }).carriedFrom ?? null);

/**
 * Carry a note forward to a newer version: a new open note on the same frames, written by the
 * member doing it (the server lets a member write only as themselves), quoting the original and
 * pointing back to it; the original gets a reply saying where it went.
 */
export function carryForward(room: RoomSession, thread: NoteThread, target: Version): Note | null {
  const n = thread.note;
  const from = room.versions.byId(n.versionId);
  if (!room.member || !room.canAnnotate || !from) return null;
  const last = target.media.type === 'video' ? Math.max(0, target.media.frameCount - 1) : n.frameEnd;
  const frame = Math.min(n.frame, last);
  const head = `From ${versionLabel(from)} (${n.author.name}): `;
  const text = (head + n.text).slice(0, Limits.maxTextLength);
  const note: Note & { carriedFrom: CarriedFrom } = {
    id: crypto.randomUUID(),
    parentId: null,
    versionId: target.id,
    frame,
    frameEnd: Math.max(frame, Math.min(n.frameEnd, last)),
    text,
    author: { id: room.member.id, name: room.member.name },
    createdAt: new Date().toISOString(),
    status: 'open',
    resolvedBy: null,
    annotationIds: [],
    carriedFrom: { noteId: n.id, versionId: n.versionId },
  };
  room.collab.putNote(note);
  replyTo(room, n, `Carried forward to ${versionLabel(target)}.`);
  return note;
}

/** The note already carried from this one to that version, if any (carry once). */
export function carriedTo(threads: NoteThread[], noteId: string, versionId: string): Note | null {
  return threads.find((t) => t.note.versionId === versionId && carriedFrom(t.note)?.noteId === noteId)?.note ?? null;
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

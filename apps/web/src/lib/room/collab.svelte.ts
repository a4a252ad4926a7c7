/**
 * The room's Y.Doc (annotations and notes) and awareness (who is here, cursors, strokes being drawn,
 * laser trails). Every local edit goes through `edit`, with this page's own origin, so the undo
 * manager only ever undoes what this page did — never somebody else's drawing.
 */
import * as Y from 'yjs';
import { Awareness } from 'y-protocols/awareness';
import {
  DrawingHistory,
  annotationRanges,
  annotationsIn,
  annotationsMap,
  annotationsOn,
  isReadableValue,
  notesMap,
  noteThreads,
  RoomDocProvider,
  type Annotation,
  type Note,
  type Member,
  type PresenceState,
  type DocWriter,
  type Refusal,
} from '@loupe/shared';
import type { LoupeSocket } from './connection.svelte';
import { throttle } from '$lib/drawing/throttle';

export interface Peer {
  clientId: number;
  self: boolean;
  state: PresenceState;
}

export interface Marker {
  frame: number;
  frameEnd: number;
  kind: 'drawing' | 'note';
}

export type NoteThread = { note: Note; replies: Note[] };

/** Values this page can draw and list: anything else in the document (written before the server checked) is skipped. */
const drawable = (a: Annotation) => isReadableValue('annotations', a);
const listable = (n: Note) => isReadableValue('notes', n);

const CURSOR_MS = 40;
const DRAWING_MS = 30;
const LASER_MS = 30;

export class Collab {
  readonly doc = new Y.Doc();
  readonly awareness = new Awareness(this.doc);
  readonly provider: RoomDocProvider;
  /** This member's undo history over the drawings (shared/src/drawing-history.ts). */
  readonly history: DrawingHistory;
  /** Bumped on every change of the annotations map, so readers re-run. */
  private annotationsRev = $state(0);
  private notesRev = $state(0);
  private undoRev = $state(0);
  private peersRev = $state(0);
  synced = $state(false);
  private joined = false;

  constructor(socket: LoupeSocket, room: string, onRefusal: (r: Refusal) => void) {
    // Nobody hears from us until we have joined: no empty awareness state before the first join.
    this.awareness.setLocalState(null);
    this.provider = new RoomDocProvider(socket, room, this.doc, this.awareness, { onRefusal });
    annotationsMap(this.doc).observe(() => this.annotationsRev++);
    notesMap(this.doc).observe(() => this.notesRev++);
    this.awareness.on('change', () => this.peersRev++);
    this.history = new DrawingHistory(this.doc);
    const bump = () => this.undoRev++;
    this.history.manager.on('stack-item-added', bump);
    this.history.manager.on('stack-item-popped', bump);
    this.history.manager.on('stack-cleared', bump);
  }

  /** One local edit, one transaction, one undo step. */
  edit(fn: () => void): void {
    this.history.edit(fn);
  }

  get undoDepth(): number {
    void this.undoRev;
    return this.history.undoDepth;
  }

  get redoDepth(): number {
    void this.undoRev;
    return this.history.redoDepth;
  }

  undo(): boolean {
    return this.history.undo();
  }

  redo(): boolean {
    return this.history.redo();
  }

  /** After each join: sync the document and announce who we are. */
  start(sync: Uint8Array | ArrayBuffer, member: Member, state?: Uint8Array | ArrayBuffer): void {
    const prev = this.awareness.getLocalState() as PresenceState | null;
    this.awareness.setLocalState({
      user: { id: member.id, name: member.name, role: member.role, color: member.color },
      cursor: prev?.cursor ?? null,
      drawing: null,
      laser: null,
    } satisfies PresenceState);
    this.joined = true;
    this.synced = false;
    this.provider.start(sync, state);
    void this.provider.whenSynced().then(() => (this.synced = true));
  }

  annotationsOn(versionId: string, frame: number): Annotation[] {
    void this.annotationsRev;
    return annotationsOn(this.doc, versionId, frame, drawable);
  }

  /** Frames of a version that carry at least one annotation (for the timeline). */
  annotatedFrames(versionId: string): number[] {
    void this.annotationsRev;
    const frames = new Set<number>();
    for (const [from, to] of annotationRanges(this.doc, versionId, drawable)) for (let f = from; f <= to; f++) frames.add(f);
    return [...frames];
  }

  /** Every annotation of a version (for ghosting and hit tests), oldest first. */
  annotationsOf(versionId: string): Annotation[] {
    void this.annotationsRev;
    return annotationsIn(this.doc, versionId, undefined, undefined, drawable);
  }

  annotation(id: string): Annotation | null {
    void this.annotationsRev;
    const a = annotationsMap(this.doc).get(id);
    return a && drawable(a) ? a : null;
  }

  add(annotation: Annotation): void {
    this.edit(() => annotationsMap(this.doc).set(annotation.id, annotation));
  }

  /** Remove drawings (eraser, clear mine): see DrawingHistory.remove for what undo restores. */
  remove(ids: Iterable<string>, writer: DocWriter): number {
    return this.history.remove(ids, writer);
  }

  // ---- notes ------------------------------------------------------------------------------

  /** Top-level notes with their replies, ordered by frame then time. */
  get threads(): NoteThread[] {
    void this.notesRev;
    return noteThreads(this.doc, listable);
  }

  note(id: string): Note | null {
    void this.notesRev;
    const n = notesMap(this.doc).get(id);
    return n && listable(n) ? n : null;
  }

  putNote(note: Note): void {
    this.doc.transact(() => notesMap(this.doc).set(note.id, note), this.history.untrackedOrigin);
  }

  removeNotes(ids: string[]): void {
    const map = notesMap(this.doc);
    this.doc.transact(() => ids.forEach((id) => map.delete(id)), this.history.untrackedOrigin);
  }

  /**
   * Where the timeline gets a mark: drawings (by their frame range) and top-level notes of a
   * version, sorted by frame, one entry per distinct range and kind.
   */
  markers(versionId: string): Marker[] {
    void this.annotationsRev;
    void this.notesRev;
    const seen = new Map<string, Marker>();
    const put = (frame: number, frameEnd: number, kind: Marker['kind']) => {
      const key = `${frame}:${frameEnd}:${kind}`;
      if (!seen.has(key)) seen.set(key, { frame, frameEnd: Math.max(frame, frameEnd), kind });
    };
    for (const [from, to] of annotationRanges(this.doc, versionId, drawable)) put(from, to, 'drawing');
    for (const n of notesMap(this.doc).values()) {
      if (n.versionId === versionId && n.parentId === null && listable(n)) put(n.frame, n.frameEnd, 'note');
    }
    return [...seen.values()].sort(
      (a, b) => a.frame - b.frame || a.frameEnd - b.frameEnd || a.kind.localeCompare(b.kind),
    );
  }

  get peers(): Peer[] {
    void this.peersRev;
    const out: Peer[] = [];
    this.awareness.getStates().forEach((state, clientId) => {
      const s = state as Partial<PresenceState>;
      if (s?.user) out.push({ clientId, self: clientId === this.doc.clientID, state: s as PresenceState });
    });
    return out.sort((a, b) => (a.self ? -1 : b.self ? 1 : a.clientId - b.clientId));
  }

  /**
   * One entry per member (the participant list): a person with the room open in several tabs has
   * several presences (cursors) but is one member. Their own entry is this tab's.
   */
  get members(): Peer[] {
    const byMember = new Map<string, Peer>();
    for (const p of this.peers) {
      const seen = byMember.get(p.state.user.id);
      if (!seen || (p.self && !seen.self)) byMember.set(p.state.user.id, p);
    }
    return [...byMember.values()];
  }

  private readonly cursorThrottle = throttle((cursor: PresenceState['cursor']) => {
    this.awareness.setLocalStateField('cursor', cursor);
  }, CURSOR_MS);

  private readonly drawingThrottle = throttle((drawing: PresenceState['drawing']) => {
    this.awareness.setLocalStateField('drawing', drawing);
  }, DRAWING_MS);

  private readonly laserThrottle = throttle((laser: NonNullable<PresenceState['laser']>) => {
    this.awareness.setLocalStateField('laser', laser);
  }, LASER_MS);

  /** Laser trail: never stored, only in awareness; null ends it (the others let it fade out). */
  setLaser(laser: PresenceState['laser']): void {
    if (!this.joined || !this.awareness.getLocalState()) return;
    if (!laser) {
      this.laserThrottle.cancel();
      this.awareness.setLocalStateField('laser', null);
    } else this.laserThrottle.call(laser);
  }

  /** The pointer went up: send the last trail at once (the others fade it out), then clear it. */
  endLaser(last: NonNullable<PresenceState['laser']> | null): void {
    if (!this.joined || !this.awareness.getLocalState()) return;
    this.laserThrottle.cancel();
    if (last) this.awareness.setLocalStateField('laser', last);
    this.awareness.setLocalStateField('laser', null);
  }

  setCursor(cursor: PresenceState['cursor']): void {
    if (!this.joined || !this.awareness.getLocalState()) return;
    if (cursor === null) {
      this.cursorThrottle.cancel();
      this.awareness.setLocalStateField('cursor', null);
    } else this.cursorThrottle.call(cursor);
  }

  setDrawing(drawing: PresenceState['drawing']): void {
    if (!this.joined || !this.awareness.getLocalState()) return;
    if (drawing === null) {
      this.drawingThrottle.cancel();
      this.awareness.setLocalStateField('drawing', null);
    } else this.drawingThrottle.call(drawing);
  }

  destroy(): void {
    this.history.destroy();
    this.provider.destroy();
    this.awareness.destroy();
    this.doc.destroy();
  }
}

/** The room's Y.Doc (annotations) and awareness (who is here, cursors, strokes being drawn). */
import * as Y from 'yjs';
import { Awareness } from 'y-protocols/awareness';
import {
  annotationsMap,
  annotationsOn,
  RoomDocProvider,
  type Annotation,
  type Member,
  type PresenceState,
  type Refusal,
  type SocketLike,
} from '@loupe/shared';
import type { LoupeSocket } from './connection.svelte';
import { throttle } from '$lib/drawing/throttle';

export interface Peer {
  clientId: number;
  self: boolean;
  state: PresenceState;
}

const CURSOR_MS = 40;
const DRAWING_MS = 30;

export class Collab {
  readonly doc = new Y.Doc();
  readonly awareness = new Awareness(this.doc);
  readonly provider: RoomDocProvider;
  /** Bumped on every change of the annotations map, so readers re-run. */
  private annotationsRev = $state(0);
  private peersRev = $state(0);
  synced = $state(false);
  private joined = false;

  constructor(socket: LoupeSocket, room: string, onRefusal: (r: Refusal) => void) {
    // Nobody hears from us until we have joined: no empty awareness state before the first join.
    this.awareness.setLocalState(null);
    this.provider = new RoomDocProvider(socket as unknown as SocketLike, room, this.doc, this.awareness, { onRefusal });
    annotationsMap(this.doc).observe(() => this.annotationsRev++);
    this.awareness.on('change', () => this.peersRev++);
  }

  /** After each join: sync the document and announce who we are. */
  start(sync: Uint8Array | ArrayBuffer, member: Member): void {
    const prev = this.awareness.getLocalState() as PresenceState | null;
    this.awareness.setLocalState({
      user: { id: member.id, name: member.name, role: member.role, color: member.color },
      cursor: prev?.cursor ?? null,
      drawing: null,
    } satisfies PresenceState);
    this.joined = true;
    this.synced = false;
    this.provider.start(sync instanceof Uint8Array ? sync : new Uint8Array(sync));
    void this.provider.whenSynced().then(() => (this.synced = true));
  }

  annotationsOn(versionId: string, frame: number): Annotation[] {
    void this.annotationsRev;
    return annotationsOn(this.doc, versionId, frame);
  }

  /** Frames of a version that carry at least one annotation (for the timeline). */
  annotatedFrames(versionId: string): number[] {
    void this.annotationsRev;
    const frames = new Set<number>();
    for (const a of annotationsMap(this.doc).values()) {
      if (a.versionId === versionId) for (let f = a.frame; f <= a.frameEnd; f++) frames.add(f);
    }
    return [...frames];
  }

  add(annotation: Annotation): void {
    this.doc.transact(() => annotationsMap(this.doc).set(annotation.id, annotation));
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

  private readonly cursorThrottle = throttle((cursor: PresenceState['cursor']) => {
    this.awareness.setLocalStateField('cursor', cursor);
  }, CURSOR_MS);

  private readonly drawingThrottle = throttle((drawing: PresenceState['drawing']) => {
    this.awareness.setLocalStateField('drawing', drawing);
  }, DRAWING_MS);

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
    this.provider.destroy();
    this.awareness.destroy();
    this.doc.destroy();
  }
}

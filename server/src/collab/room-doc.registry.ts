import * as Y from 'yjs';
import * as awarenessProtocol from 'y-protocols/awareness';
import { ErrorCode, LoupeError } from '@loupe/shared';
import { guardAwareness } from './awareness-guard.js';
import type { DocRepository } from '../store/doc.repository.js';
import type { Logger } from '../log.js';

/** Who sent a change: typed so that nothing is echoed back to its sender. */
export type Origin =
  | { kind: 'socket'; id: string; memberId: string }
  | { kind: 'ws'; id: string; memberId: string }
  | { kind: 'server' };

export interface LoadedRoom {
  id: string;
  doc: Y.Doc;
  awareness: awarenessProtocol.Awareness;
  /** Connections (sockets and y-websocket peers) holding the room in memory. */
  holders: Set<string>;
  /** Awareness client id -> the connection that introduced it. */
  awarenessOwners: Map<number, string>;
  unloadTimer: NodeJS.Timeout | null;
}

type UpdateListener = (room: LoadedRoom, update: Uint8Array, origin: Origin) => void;
type AwarenessListener = (room: LoadedRoom, changed: number[], origin: Origin | null) => void;
type LoadListener = (room: LoadedRoom) => void;

const COMPACT_AFTER = 500;
const LOADING = Symbol('loading');

/**
 * The room documents in memory. A document is loaded from SQLite on first use, every accepted
 * update is stored before it is acknowledged, and a room nobody holds is unloaded after a delay.
 */
export class RoomDocRegistry {
  private rooms = new Map<string, LoadedRoom>();
  private updateListeners: UpdateListener[] = [];
  private awarenessListeners: AwarenessListener[] = [];
  private loadListeners: LoadListener[] = [];

  constructor(
    private readonly store: DocRepository,
    private readonly log: Logger,
    private readonly idleUnloadMs: number,
  ) {}

  onUpdate(fn: UpdateListener): void {
    this.updateListeners.push(fn);
  }

  onAwareness(fn: AwarenessListener): void {
    this.awarenessListeners.push(fn);
  }

  /** Called each time a room's document is loaded, after its stored state (e.g. to observe its maps). */
  onLoad(fn: LoadListener): void {
    this.loadListeners.push(fn);
  }

  /** Loads (or returns) the room and marks `holder` as using it. */
  hold(roomId: string, holder: string): LoadedRoom {
    const room = this.rooms.get(roomId) ?? this.load(roomId);
    room.holders.add(holder);
    if (room.unloadTimer) clearTimeout(room.unloadTimer), (room.unloadTimer = null);
    return room;
  }

  release(roomId: string, holder: string): void {
    const room = this.rooms.get(roomId);
    if (!room || !room.holders.delete(holder) || room.holders.size > 0) return;
    room.unloadTimer = setTimeout(() => this.unload(roomId), this.idleUnloadMs);
    room.unloadTimer.unref();
  }

  get(roomId: string): LoadedRoom | undefined {
    return this.rooms.get(roomId);
  }

  get loadedCount(): number {
    return this.rooms.size;
  }

  /**
   * Applies a client's update. What the document integrates is stored synchronously by the doc's
   * update handler, so when this returns the update is durable and may be acknowledged.
   */
  applyUpdate(room: LoadedRoom, update: Uint8Array, origin: Origin): void {
    try {
      Y.applyUpdate(room.doc, update, origin);
    } catch {
      throw new LoupeError(ErrorCode.BAD_YJS_MESSAGE, 'The Yjs update could not be applied.');
    }
  }

  /** Applies a connection's awareness update after checking it owns the presences it touches. */
  applyAwareness(room: LoadedRoom, update: Uint8Array, origin: Origin & { id: string; memberId: string }): void {
    const claimed = guardAwareness(update, origin.id, origin.memberId, room.awarenessOwners);
    awarenessProtocol.applyAwarenessUpdate(room.awareness, update, origin);
    for (const c of claimed) room.awarenessOwners.set(c, origin.id);
  }

  /** Removes the presences a closed connection introduced, telling everyone. */
  releaseAwareness(room: LoadedRoom, connectionId: string): void {
    const ids = [...room.awarenessOwners].filter(([, owner]) => owner === connectionId).map(([c]) => c);
    for (const c of ids) room.awarenessOwners.delete(c);
    if (ids.length) awarenessProtocol.removeAwarenessStates(room.awareness, ids, null);
  }

  closeAll(): void {
    for (const id of [...this.rooms.keys()]) this.unload(id);
  }

  private load(roomId: string): LoadedRoom {
    const doc = new Y.Doc({ gc: true });
    const updates = this.store.load(roomId);
    if (updates.length > 0) Y.applyUpdate(doc, Y.mergeUpdates(updates), LOADING);
    if (updates.length > COMPACT_AFTER) this.store.replaceAll(roomId, Y.encodeStateAsUpdate(doc));
    const awareness = new awarenessProtocol.Awareness(doc);
    awareness.setLocalState(null); // the server has no presence of its own
    const room: LoadedRoom = { id: roomId, doc, awareness, holders: new Set(), awarenessOwners: new Map(), unloadTimer: null };
    doc.on('update', (update: Uint8Array, origin: Origin | typeof LOADING) => {
      if (origin === LOADING) return;
      // What the document integrated is stored before anyone is told, so an ack means durable.
      this.store.append(roomId, update);
      for (const fn of this.updateListeners) fn(room, update, origin ?? { kind: 'server' });
    });
    awareness.on('update', ({ added, updated, removed }: { added: number[]; updated: number[]; removed: number[] }, origin: Origin | null) => {
      const changed = [...added, ...updated, ...removed];
      for (const fn of this.awarenessListeners) fn(room, changed, origin);
    });
    this.rooms.set(roomId, room);
    for (const fn of this.loadListeners) fn(room);
    this.log.debug({ room: roomId, updates: updates.length }, 'room document loaded');
    return room;
  }

  private unload(roomId: string): void {
    const room = this.rooms.get(roomId);
    if (!room) return;
    if (room.unloadTimer) clearTimeout(room.unloadTimer);
    if (this.store.count(roomId) > COMPACT_AFTER) this.store.replaceAll(roomId, Y.encodeStateAsUpdate(room.doc));
    room.awareness.destroy();
    room.doc.destroy();
    this.rooms.delete(roomId);
    this.log.debug({ room: roomId }, 'room document unloaded');
  }
}

/**
 * True when applying the update would change the document: it carries an item the document lacks,
 * or deletes an item the document has not deleted. (A client's sync step 2 repeats its whole delete
 * set; that alone is no change.)
 */
export function changesDoc(doc: Y.Doc, update: Uint8Array): boolean {
  const { structs, ds } = Y.decodeUpdate(Y.diffUpdate(update, Y.encodeStateVector(doc)));
  if (structs.length > 0) return true;
  if (ds.clients.size === 0) return false;
  const known = Y.createDeleteSetFromStructStore(doc.store);
  for (const [client, ranges] of ds.clients) {
    const have = known.clients.get(client) ?? [];
    for (const r of ranges) if (!covered(have, r.clock, r.len)) return true;
  }
  return false;
}

/** Whether sorted, merged delete ranges cover [clock, clock + len). */
function covered(ranges: { clock: number; len: number }[], clock: number, len: number): boolean {
  let at = clock;
  const end = clock + len;
  for (const r of ranges) {
    if (r.clock > at) break;
    if (r.clock + r.len > at) at = r.clock + r.len;
    if (at >= end) return true;
  }
  return at >= end;
}

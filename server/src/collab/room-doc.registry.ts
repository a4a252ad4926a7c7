import * as Y from 'yjs';
import * as awarenessProtocol from 'y-protocols/awareness';
import { ErrorCode, LoupeError, applyUpdates } from '@loupe/shared';
import { guardAwareness } from './awareness-guard.js';
import type { DocRepository } from '../store/doc.repository.js';
import type { Logger } from '../log.js';
import type { DocBus } from '../cluster/doc-bus.js';

/** Who sent a change: typed so that nothing is echoed back to its sender. */
export type Origin =
  | { kind: 'socket'; id: string; memberId: string }
  | { kind: 'ws'; id: string; memberId: string }
  | { kind: 'server' }
  /** Another node accepted it (and stored it) first. */
  | { kind: 'remote' };

const REMOTE: Origin = { kind: 'remote' };
const isRemote = (o: unknown) => (o as Origin | null)?.kind === 'remote';

export interface LoadedRoom {
  id: string;
  doc: Y.Doc;
  awareness: awarenessProtocol.Awareness;
  /** Connections (sockets and y-websocket peers) holding the room in memory. */
  holders: Set<string>;
  /** Awareness client id -> the connection that introduced it. */
  awarenessOwners: Map<number, string>;
  unloadTimer: NodeJS.Timeout | null;
  /** Settles once the room hears other nodes (at once on a single node). */
  ready: Promise<void>;
  /** Stored updates up to this row id are in `doc` (with several nodes, others store rows too). */
  storedUpTo: number;
  /** The stored state is in `doc` (false for a moment while a fresh member's copy is sent first). */
  built: boolean;
}

type UpdateListener = (room: LoadedRoom, update: Uint8Array, origin: Origin) => void;
type AwarenessListener = (room: LoadedRoom, changed: number[], origin: Origin | null) => void;
type LoadListener = (room: LoadedRoom) => void;

const COMPACT_AFTER = 500;
const LOADING = Symbol('loading');

/**
 * The room documents in memory. A document is loaded from the database on first use, every accepted
 * update is sent to the room's sockets at once and stored before it is acknowledged (the updates of
 * one event-loop turn in one transaction: see flushed), and a room nobody holds is unloaded after a delay.
 * With a bus (scale-out), what this node accepts is published to the other nodes and what they
 * accepted is applied here, never stored or published again.
 */
export class RoomDocRegistry {
  private rooms = new Map<string, LoadedRoom>();
  private updateListeners: UpdateListener[] = [];
  private awarenessListeners: AwarenessListener[] = [];
  private loadListeners: LoadListener[] = [];
  /** Updates this node accepted, not yet stored (nor published: other nodes rely on store-then-publish). */
  private unwritten: { roomId: string; update: Uint8Array }[] = [];
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly store: DocRepository,
    private readonly log: Logger,
    private readonly idleUnloadMs: number,
    private readonly bus?: DocBus,
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
    return this.holding(this.rooms.get(roomId) ?? this.load(roomId).room, holder);
  }

  /**
   * For a member whose document is empty, when the room is not in memory on this node: holds it and
   * returns the stored rows as read (for the member), while building the document from them waits
   * for `loadAfter` (the member's copy being on its way), so that the member's decode and the
   * server's run at the same time; the room's `ready` settles once it is built. Null when the room
   * is loaded already (hold it as usual).
   */
  holdCold(roomId: string, holder: string, loadAfter: Promise<void>): { room: LoadedRoom; rows: Uint8Array[] } | null {
    if (this.rooms.has(roomId)) return null;
    const { room, rows } = this.load(roomId, loadAfter);
    return { room: this.holding(room, holder), rows: rows.map((r) => r.data) };
  }

  private holding(room: LoadedRoom, holder: string): LoadedRoom {
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
   * Resolves once every update accepted so far is stored and published (rejects if the write
   * failed). An update is acknowledged only after this: an ack means durable.
   */
  flushed(): Promise<void> {
    if (this.unwritten.length === 0) return this.flushing ?? Promise.resolve();
    this.flushing ??= new Promise<void>((resolve, reject) =>
      setImmediate(() => {
        this.flushing = null;
        try {
          this.writeUnwritten();
          resolve();
        } catch (err) {
          this.log.error({ err }, 'room document updates not stored');
          reject(err);
        }
      }),
    );
    return this.flushing;
  }

  private writeUnwritten(): void {
    const rows = this.unwritten.splice(0);
    if (rows.length === 0) return;
    this.store.appendMany(rows);
    for (const r of rows) this.bus?.publish(r.roomId, 'update', r.update);
  }

  /**
   * Applies a client's update. The room's sockets are told at once; the write is queued: await
   * flushed() before acknowledging.
   */
  applyUpdate(room: LoadedRoom, update: Uint8Array, origin: Origin): void {
    try {
      Y.applyUpdate(room.doc, update, origin);
    } catch {
      throw new LoupeError(ErrorCode.BAD_YJS_MESSAGE, 'The Yjs update could not be applied.');
    }
  }

  /**
   * Applies a connection's awareness update after checking it owns the presences it touches; `claim`
   * (if given) may still refuse the client ids it publishes, by throwing, before anything is applied.
   */
  applyAwareness(room: LoadedRoom, update: Uint8Array, origin: Origin & { id: string; memberId: string }, claim?: (clientIds: number[]) => void): void {
    const claimed = guardAwareness(update, origin.id, origin.memberId, room.awarenessOwners);
    claim?.(claimed.filter((c) => room.awarenessOwners.get(c) !== origin.id));
    awarenessProtocol.applyAwarenessUpdate(room.awareness, update, origin);
    for (const c of claimed) room.awarenessOwners.set(c, origin.id);
  }

  /** Removes the presences a closed connection introduced, telling everyone. */
  releaseAwareness(room: LoadedRoom, connectionId: string): void {
    const ids = [...room.awarenessOwners].filter(([, owner]) => owner === connectionId).map(([c]) => c);
    for (const c of ids) room.awarenessOwners.delete(c);
    if (ids.length) awarenessProtocol.removeAwarenessStates(room.awareness, ids, null);
  }

  /**
   * Applies what other nodes stored for the room that this node has not read yet. A node stores an
   * update before it publishes it, so one that dies in between leaves it only in the database: read
   * when a member joins (often one who just lost that node) and when the bus comes back.
   */
  catchUp(room: LoadedRoom): void {
    if (!this.bus) return;
    const rows = this.store.rows(room.id, room.storedUpTo);
    if (!rows.length) return;
    applyAll(room.doc, rows, REMOTE);
    room.storedUpTo = rows.at(-1)!.id;
  }

  /** After the bus was cut (Redis restarted): every loaded room catches up from the database. */
  resync(): void {
    for (const room of this.rooms.values()) this.catchUp(room);
  }

  closeAll(): void {
    this.writeUnwritten();
    for (const id of [...this.rooms.keys()]) this.unload(id);
  }

  /**
   * Reads the room's stored rows and builds its document from them, at once or once `after`
   * settles (the room's `ready` covers it: nothing may read or write the document before).
   */
  private load(roomId: string, after?: Promise<void>): { room: LoadedRoom; rows: { id: number; data: Uint8Array }[] } {
    const doc = new Y.Doc({ gc: true });
    const rows = this.store.rows(roomId);
    const upTo = rows.at(-1)?.id ?? 0;
    const awareness = new awarenessProtocol.Awareness(doc);
    awareness.setLocalState(null); // the server has no presence of its own
    const room: LoadedRoom = { id: roomId, doc, awareness, holders: new Set(), awarenessOwners: new Map(), unloadTimer: null, ready: Promise.resolve(), storedUpTo: upTo, built: false };
    awareness.on('update', ({ added, updated, removed }: { added: number[]; updated: number[]; removed: number[] }, origin: Origin | null) => {
      const changed = [...added, ...updated, ...removed];
      if (this.bus && !isRemote(origin)) this.bus.publish(roomId, 'awareness', awarenessProtocol.encodeAwarenessUpdate(awareness, changed));
      for (const fn of this.awarenessListeners) fn(room, changed, origin);
    });
    this.rooms.set(roomId, room);
    const build = () => {
      if (this.rooms.get(roomId) !== room) return;
      if (rows.length > 0) applyAll(doc, rows, LOADING);
      room.built = true;
      // Compacted a moment later, so that the members waiting for the room are answered first (the
      // document then holds at least the rows up to upTo: what replaceUpTo needs).
      if (rows.length > COMPACT_AFTER) {
        setImmediate(() => this.rooms.get(roomId) === room && this.store.replaceUpTo(roomId, upTo, Y.encodeStateAsUpdate(doc)));
      }
      doc.on('update', (update: Uint8Array, origin: Origin | typeof LOADING) => {
        if (origin === LOADING) return;
        for (const fn of this.updateListeners) fn(room, update, origin ?? { kind: 'server' });
        if (!isRemote(origin)) {
          // Stored (then published) in the next batch; the sender's ack waits for it (flushed).
          this.unwritten.push({ roomId, update });
          void this.flushed().catch(() => {}); // logged there, refused to the awaiting sender
        }
      });
      for (const fn of this.loadListeners) fn(room);
      this.log.debug({ room: roomId, updates: rows.length }, 'room document loaded');
    };
    const listen = () => (this.bus ? this.listen(room) : Promise.resolve());
    if (after) room.ready = after.then(build).then(listen);
    else {
      build();
      room.ready = listen();
    }
    return { room, rows };
  }

  /**
   * Hears the other nodes' changes to a room. The stream is read from its end as it was when the
   * listening began; what other nodes stored between this node's read of the database and that
   * point is read from the database again (they store before they publish). Yjs ignores what it has.
   */
  private async listen(room: LoadedRoom): Promise<void> {
    try {
      await this.bus!.join(room.id, (kind, messages) => {
        if (this.rooms.get(room.id) !== room) return;
        // Updates that arrived together are applied in one transaction: one change to tell the members.
        if (kind === 'update') room.doc.transact(() => messages.forEach((m) => Y.applyUpdate(room.doc, m, REMOTE)), REMOTE);
        else if (kind === 'awareness') for (const m of messages) awarenessProtocol.applyAwarenessUpdate(room.awareness, m, REMOTE);
        else this.announcePresence(room);
      });
      if (this.rooms.get(room.id) !== room) return;
      // Presence is not stored: ask the nodes that hold the room for their members' presence now.
      this.bus!.publish(room.id, 'presence?', new Uint8Array(0));
      this.catchUp(room);
    } catch (err) {
      this.log.error({ room: room.id, err: (err as Error).message }, 'cannot hear other nodes for this room');
    }
  }

  /** Tells the other nodes the presence of this node's members in the room (asked by a node that just loaded it). */
  private announcePresence(room: LoadedRoom): void {
    const mine = [...room.awarenessOwners.keys()].filter((c) => room.awareness.getStates().has(c));
    if (mine.length) this.bus?.publish(room.id, 'awareness', awarenessProtocol.encodeAwarenessUpdate(room.awareness, mine));
  }

  private unload(roomId: string): void {
    const room = this.rooms.get(roomId);
    if (!room) return;
    if (room.unloadTimer) clearTimeout(room.unloadTimer);
    this.bus?.leave(roomId);
    this.writeUnwritten();
    if (this.store.count(roomId) > COMPACT_AFTER) this.compact(roomId);
    room.awareness.destroy();
    room.doc.destroy();
    this.rooms.delete(roomId);
    this.log.debug({ room: roomId }, 'room document unloaded');
  }

  /**
   * Replaces the stored updates by one snapshot made from those same rows (not from this node's
   * document, which may hold changes another node stored after them): rows appended meanwhile stay.
   */
  private compact(roomId: string): void {
    const rows = this.store.rows(roomId);
    if (rows.length < 2) return;
    const doc = new Y.Doc({ gc: true });
    applyAll(doc, rows, null);
    this.store.replaceUpTo(roomId, rows.at(-1)!.id, Y.encodeStateAsUpdate(doc));
    doc.destroy();
  }
}

/** Stored rows into a document, in one transaction (applyUpdates). */
function applyAll(doc: Y.Doc, rows: { data: Uint8Array }[], origin: unknown): void {
  applyUpdates(doc, rows.map((r) => r.data), origin);
}

/**
 * When applying the update would change the document (it carries an item the document lacks, or
 * deletes an item the document has not deleted): the structs the document lacks and the delete set,
 * decoded once for the update guard too. Null when it changes nothing (a client's sync step 2 repeats its whole
 * delete set; that alone is no change). One decode and a look-up per struct or deleted range: no
 * diff of the update and no pass over the whole document, whatever its size (a 10,000-stroke room
 * pays for an eraser stroke what an empty one does).
 */
export function changesDoc(doc: Y.Doc, update: Uint8Array): { structs: ReturnType<typeof Y.decodeUpdate>['structs']; ds: ReturnType<typeof Y.decodeUpdate>['ds'] } | null {
  const { structs: all, ds } = Y.decodeUpdate(update);
  const structs = all.filter((s) => !(s instanceof Y.Skip) && s.id.clock + s.length > Y.getState(doc.store, s.id.client));
  if (structs.length > 0) return { structs, ds };
  for (const [client, ranges] of ds.clients) {
    for (const r of ranges) if (!deletedInDoc(doc, client, r.clock, r.len)) return { structs, ds };
  }
  return null;
}

/** Whether the document holds [clock, clock + len) of `client` and all of it is deleted already. */
function deletedInDoc(doc: Y.Doc, client: number, clock: number, len: number): boolean {
  const end = clock + len;
  if (end > Y.getState(doc.store, client)) return false;
  for (let at = clock; at < end; ) {
    const struct = Y.getItem(doc.store, Y.createID(client, at)) as Y.Item | Y.GC;
    if (!struct.deleted) return false;
    at = struct.id.clock + struct.length;
  }
  return true;
}

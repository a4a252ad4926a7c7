import * as Y from 'yjs';
import * as awarenessProtocol from 'y-protocols/awareness';
import { ErrorCode, LoupeError, applyUpdates } from '@loupe/shared';
import { guardAwareness } from './awareness-guard.js';
import type { DocRepository } from '../store/doc.repository.js';
import type { Logger } from '../log.js';
import type { DocBus } from '../cluster/doc-bus.js';
import { storageRefusal } from '../store/storage-errors.js';
import { WRITE_RULES_VERSION, allChecked, badValues, holdsPlainDrawings, packingUpdate, removalUpdate, type BoundWriter } from './doc-repair.js';
import type { DocRow } from '../store/doc.repository.js';

/** Who sent a change: typed so that nothing is echoed back to its sender. */
export type Origin =
  | { kind: 'socket'; id: string; memberId: string }
  | { kind: 'ws'; id: string; memberId: string }
  | { kind: 'server' }
  /** Another node accepted it (and stored it) first. */
  | { kind: 'remote' }
  /** The server removed stored values the write guard refuses (written before it, see doc-repair.ts). */
  | { kind: 'repair' };

/** Who removed values at load: the server itself (event logs do not count it as anyone's change). */
export const REPAIR: Origin = { kind: 'repair' };

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
  /** Rows this node stored for the room since it loaded or last compacted it, and when that was (performance.now). */
  sinceCompaction: number;
  compactedAt: number;
  compacting: boolean;
}

type UpdateListener = (room: LoadedRoom, update: Uint8Array, origin: Origin) => void;
type AwarenessListener = (room: LoadedRoom, changed: number[], origin: Origin | null) => void;
type LoadListener = (room: LoadedRoom) => void;

/** A member's update on its way: checked, stored, then applied and shown (see `submit`). */
interface Submitted {
  room: LoadedRoom;
  update: Uint8Array;
  origin: Origin;
  /** Checks the update against the document as it is when its batch forms: false when it changes nothing; throws a refusal. */
  check: () => boolean | Promise<boolean>;
  /** Refused once already because of an update of the same batch: a second refusal is final. */
  checkedAgain: boolean;
  resolve(): void;
  reject(err: unknown): void;
}

const LOADING = Symbol('loading');

/**
 * The room documents in memory. A document is loaded from the database on first use, and a room
 * nobody holds is unloaded after a delay, once none of its updates is still being stored.
 *
 * Seen means stored: a member's update is checked, stored, and only then applied to the document,
 * sent to the room's other members and to other nodes, and acknowledged. Updates are stored in
 * batches (group commit): every update submitted while a batch is being written goes into the next
 * one, written as one INSERT. A batch that cannot be stored is refused to each sender (STORAGE_FULL,
 * STORAGE_FAILED) and shown to nobody; the document stays as it was, and the sender may send again.
 * With a bus (scale-out), what other nodes accepted (and stored) is applied here, never stored or
 * published again.
 */
export class RoomDocRegistry {
  private rooms = new Map<string, LoadedRoom>();
  private updateListeners: UpdateListener[] = [];
  private awarenessListeners: AwarenessListener[] = [];
  private loadListeners: LoadListener[] = [];
  /** Submitted updates waiting for the next batch, in arrival order (all rooms). */
  private queued: Submitted[] = [];
  /** The batch being written, if any. */
  private writing: Promise<void> | null = null;
  private flushScheduled = false;
  /** Per room, updates submitted and not yet stored or refused; and who waits for none to be left. */
  private inFlight = new Map<LoadedRoom, { count: number; idle: (() => void)[] }>();
  /** When a room last began or finished loading (performance.now), and how many are loading now. */
  private lastLoad = -Infinity;
  private loading = 0;

  constructor(
    private readonly store: DocRepository,
    private readonly log: Logger,
    private readonly idleUnloadMs: number,
    private readonly bus?: DocBus,
    /** The room's Yjs client ids bound to members (with their roles), to check authorship at load. */
    private readonly writersOf?: (roomId: string) => Promise<Map<number, BoundWriter>>,
    /** A live room is compacted at most every `everyMs`, once `afterRows` rows have gathered (ROOM_COMPACT_S, ROOM_COMPACT_AFTER). */
    private readonly compaction = { everyMs: 60_000, afterRows: 500 },
  ) {}

  /** True when no room is loading and none began or finished loading in the last `ms`. */
  quietFor(ms: number): boolean {
    return this.loading === 0 && performance.now() - this.lastLoad > ms;
  }

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

  /** Loads (or returns) the room and marks `holder` as using it; await its `ready` before reading it. */
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
  holdCold(roomId: string, holder: string, loadAfter: Promise<void>): { room: LoadedRoom; rows: Promise<Uint8Array[]> } | null {
    if (this.rooms.has(roomId)) return null;
    const { room, rows } = this.load(roomId, loadAfter);
    return { room: this.holding(room, holder), rows: rows.then((r) => r.map((x) => x.data)) };
  }

  private holding(room: LoadedRoom, holder: string): LoadedRoom {
    room.holders.add(holder);
    if (room.unloadTimer) clearTimeout(room.unloadTimer), (room.unloadTimer = null);
    return room;
  }

  release(roomId: string, holder: string): void {
    const room = this.rooms.get(roomId);
    if (!room || !room.holders.delete(holder) || room.holders.size > 0) return;
    room.unloadTimer = setTimeout(() => void this.unload(roomId), this.idleUnloadMs);
    room.unloadTimer.unref();
  }

  get(roomId: string): LoadedRoom | undefined {
    return this.rooms.get(roomId);
  }

  get loadedCount(): number {
    return this.rooms.size;
  }

  /**
   * Stores a member's update, then applies it to the document, which tells the room's members and
   * other nodes; resolves then (acknowledge it now: it is stored and shown). `check` runs first,
   * against the document as it is then (with the updates stored before it applied): it returns false
   * when the update changes nothing (resolved at once, nothing stored) and throws a LoupeError to
   * refuse it. Rejects with that refusal, or with STORAGE_FULL / STORAGE_FAILED when the write failed:
   * the update was then shown to nobody and the document is as it was.
   */
  submit(room: LoadedRoom, update: Uint8Array, origin: Origin, check: () => boolean | Promise<boolean>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const counter = this.inFlight.get(room) ?? { count: 0, idle: [] };
      this.inFlight.set(room, counter);
      counter.count++;
      const settle = () => {
        if (--counter.count > 0) return;
        this.inFlight.delete(room);
        counter.idle.splice(0).forEach((fn) => fn());
      };
      this.queued.push({
        room,
        update,
        origin,
        check,
        checkedAgain: false,
        resolve: () => (settle(), resolve()),
        reject: (err) => (settle(), reject(err)),
      });
      this.scheduleFlush();
    });
  }

  /** Resolves once every update submitted so far is stored and shown, or refused. */
  async flushed(): Promise<void> {
    while (this.queued.length > 0 || this.writing) {
      if (this.writing) await this.writing;
      else await this.flush();
    }
  }

  /** The next batch forms one event-loop turn from now (updates arriving together go in it), or when the one being written is done. */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.writing) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  /** Checks, stores and applies the queued updates (one batch); never rejects. */
  private async flush(): Promise<void> {
    if (this.writing || this.queued.length === 0) return;
    const batch: Submitted[] = [];
    const retry: Submitted[] = [];
    const touched = new Set<LoadedRoom>();
    for (const s of this.queued.splice(0)) {
      if (this.rooms.get(s.room.id) !== s.room) {
        s.reject(new LoupeError(ErrorCode.NOT_JOINED, 'The room was closed; join it again.'));
        continue;
      }
      try {
        if (await s.check()) {
          batch.push(s);
          touched.add(s.room);
        } else s.resolve();
      } catch (err) {
        // It may build on an update of this batch, which the document does not hold yet: checked again after it.
        if (!s.checkedAgain && touched.has(s.room)) retry.push(Object.assign(s, { checkedAgain: true }));
        else s.reject(err);
      }
    }
    this.queued.unshift(...retry);
    if (batch.length === 0) {
      if (this.queued.length) this.scheduleFlush();
      return;
    }
    const written = this.store.appendMany(batch.map((s) => ({ roomId: s.room.id, update: s.update, checked: WRITE_RULES_VERSION })));
    this.writing = written.then(
      () => undefined,
      () => undefined,
    );
    try {
      await written;
    } catch (err) {
      const refusal = storageRefusal(err) ?? new LoupeError(ErrorCode.STORAGE_FAILED, 'The change could not be stored, so nobody was shown it: send it again.');
      this.log.error({ err: (err as Error).message, updates: batch.length, code: refusal.code }, 'room document updates not stored; refused to their senders');
      this.writing = null;
      for (const s of batch) s.reject(refusal);
      if (this.queued.length) this.scheduleFlush();
      return;
    }
    this.writing = null;
    for (const room of touched) this.storedRows(room, batch.filter((s) => s.room === room).length);
    // Stored: now the document, its members and the other nodes see them (the doc's 'update' event), then the senders' acks.
    for (const s of batch) {
      try {
        Y.applyUpdate(s.room.doc, s.update, s.origin);
        s.resolve();
      } catch (err) {
        // Checked before it was stored, so not expected: the stored row is read again at the next load.
        this.log.error({ room: s.room.id, err: (err as Error).message }, 'a stored update could not be applied');
        s.reject(new LoupeError(ErrorCode.BAD_YJS_MESSAGE, 'The Yjs update could not be applied.'));
      }
    }
    if (this.queued.length) this.scheduleFlush();
  }

  /**
   * Counts rows stored for a live room, and compacts it in the background (from the stored rows, as at
   * unload) once `compaction.afterRows` have gathered and `everyMs` has passed since the last time: a
   * crash then leaves a snapshot and the last minute's rows to load, not one row per stroke of the
   * session. At most once a minute, so a busy room pays ~0.1 s of CPU a minute, not per 500 strokes.
   */
  private storedRows(room: LoadedRoom, n: number): void {
    room.sinceCompaction += n;
    if (room.compacting || room.sinceCompaction < this.compaction.afterRows || performance.now() - room.compactedAt < this.compaction.everyMs) return;
    room.compacting = true;
    room.sinceCompaction = 0;
    room.compactedAt = performance.now();
    setImmediate(() => {
      this.compact(room.id)
        .catch((err: Error) => this.log.warn({ room: room.id, err: err.message }, 'live room document not compacted'))
        .finally(() => (room.compacting = false));
    });
  }

  /** Resolves once none of the room's submitted updates is still being checked or stored. */
  private settled(room: LoadedRoom): Promise<void> {
    const counter = this.inFlight.get(room);
    return counter ? new Promise((r) => counter.idle.push(r)) : Promise.resolve();
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
  async catchUp(room: LoadedRoom): Promise<void> {
    if (!this.bus) return;
    const rows = await this.store.rows(room.id, room.storedUpTo);
    if (!rows.length || this.rooms.get(room.id) !== room) return;
    applyAll(room.doc, rows, REMOTE);
    room.storedUpTo = Math.max(room.storedUpTo, rows.at(-1)!.id);
  }

  /** After the bus was cut (Redis restarted): every loaded room catches up from the database. */
  async resync(): Promise<void> {
    await Promise.all([...this.rooms.values()].map((room) => this.catchUp(room)));
  }

  /** Stores what was submitted, then unloads every room (compacting the long ones). */
  async closeAll(): Promise<void> {
    await this.flushed();
    await Promise.all([...this.rooms.keys()].map((id) => this.unload(id, true)));
  }

  /**
   * Reads the room's stored rows and builds its document from them, once read and (if given) once
   * `after` settles: the room's `ready` covers both, and nothing may read or write the document before.
   */
  private load(roomId: string, after?: Promise<void>): { room: LoadedRoom; rows: Promise<DocRow[]> } {
    const doc = new Y.Doc({ gc: true });
    const awareness = new awarenessProtocol.Awareness(doc);
    awareness.setLocalState(null); // the server has no presence of its own
    const room: LoadedRoom = { id: roomId, doc, awareness, holders: new Set(), awarenessOwners: new Map(), unloadTimer: null, ready: Promise.resolve(), storedUpTo: 0, built: false, sinceCompaction: 0, compactedAt: performance.now(), compacting: false };
    awareness.on('update', ({ added, updated, removed }: { added: number[]; updated: number[]; removed: number[] }, origin: Origin | null) => {
      const changed = [...added, ...updated, ...removed];
      if (this.bus && !isRemote(origin)) this.bus.publish(roomId, 'awareness', awarenessProtocol.encodeAwarenessUpdate(awareness, changed));
      for (const fn of this.awarenessListeners) fn(room, changed, origin);
    });
    this.rooms.set(roomId, room);
    const rows = this.store.rows(roomId);
    // Rows all checked under today's write rules hold nothing the guard refuses: not checked again.
    let checked = false;
    let upTo = 0;
    let count = 0;
    const build = (rows: DocRow[]) => {
      if (this.rooms.get(roomId) !== room) return;
      upTo = rows.at(-1)?.id ?? 0;
      count = rows.length;
      checked = allChecked(rows);
      room.storedUpTo = upTo;
      if (rows.length > 0) applyAll(doc, rows, LOADING);
      room.built = true;
      doc.on('update', (update: Uint8Array, origin: Origin | typeof LOADING) => {
        if (origin === LOADING) return;
        // Stored already (submit) or by another node (remote): shown to the room, and published if it is ours.
        for (const fn of this.updateListeners) fn(room, update, origin ?? { kind: 'server' });
        if (!isRemote(origin)) this.bus?.publish(roomId, 'update', update);
      });
      for (const fn of this.loadListeners) fn(room);
      this.log.debug({ room: roomId, updates: rows.length }, 'room document loaded');
    };
    const listen = () => (this.bus ? this.listen(room) : Promise.resolve());
    const repaired = (after ? Promise.all([rows, after]).then(([r]) => r) : rows).then(build).then(() => checked || this.repair(room));
    room.ready = repaired.then(listen);
    this.loading++;
    this.lastLoad = performance.now();
    const loaded = () => (this.loading--, (this.lastLoad = performance.now()));
    room.ready.then(loaded, loaded);
    room.ready.catch((err: Error) => {
      // Not loaded: the next member to join loads it again.
      if (this.rooms.get(roomId) === room) this.rooms.delete(roomId);
      this.log.error({ room: roomId, err: err.message }, 'room document could not be loaded');
    });
    // Long rooms, rooms whose rows were not all checked and rooms holding plain drawings are compacted a
    // second after they are ready (the members who joined meanwhile are still decoding, and their sync is
    // answered first): one snapshot of the document, which holds at least the rows up to upTo (what
    // replaceUpTo needs), marked checked when the repair left it clean. Plain drawings are packed first.
    void repaired.then((clean) => {
      const plain = holdsPlainDrawings(doc);
      if (count <= this.compaction.afterRows && (checked || count === 0) && !plain) return;
      const later = async () => {
        if (this.rooms.get(roomId) !== room) return;
        if (clean && plain && (await this.pack(room))) return this.compact(roomId, true); // the packing's row included
        await this.store.replaceUpTo(roomId, upTo, Y.encodeStateAsUpdate(doc), clean ? WRITE_RULES_VERSION : null);
      };
      setTimeout(() => void later().catch((err: Error) => this.log.warn({ room: roomId, err: err.message }, 'room document not compacted')), 1000).unref();
    }, () => {});
    return { room, rows };
  }

  /**
   * Removes from a room just loaded the stored values the write guard refuses (deeply nested, too
   * large, invalid, or forged under another author: written by a Loupe from before the guard), in
   * one update: stored, then applied with origin REPAIR, so members (a fresh member given the stored
   * rows too) and other nodes get it like any change. Each removal is logged with the room and key.
   * If it cannot be stored, the values stay (members' pages skip what they cannot read) and the next
   * load tries again. True when the document holds only values the guard accepts afterwards.
   */
  private async repair(room: LoadedRoom): Promise<boolean> {
    if (this.rooms.get(room.id) !== room) return false;
    let writers = new Map<number, BoundWriter>();
    let authorship = true;
    try {
      if (this.writersOf) writers = await this.writersOf(room.id);
    } catch (err) {
      authorship = false;
      this.log.warn({ room: room.id, err: (err as Error).message }, 'client-id bindings not read: authorship not checked at load');
    }
    const bad = badValues(room.doc, (c) => writers.get(c));
    const update = removalUpdate(room.doc, bad);
    if (!update) return authorship;
    try {
      await this.store.appendMany([{ roomId: room.id, update, checked: WRITE_RULES_VERSION }]);
    } catch (err) {
      this.log.error({ room: room.id, values: bad.length, err: (err as Error).message }, 'refused values in the stored room document not removed (not stored); tried again at the next load');
      return false;
    }
    if (this.rooms.get(room.id) !== room) return false;
    Y.applyUpdate(room.doc, update, REPAIR);
    for (const b of bad) this.log.warn({ room: room.id, map: b.root, key: b.key, why: b.why }, 'stored value removed from the room document: the write guard refuses it');
    return authorship;
  }

  /**
   * Packs the drawings a loaded room holds as plain objects (written by plugins, or before protocol 2),
   * in one update stored then applied with origin REPAIR, like a repair: members and other nodes get it
   * like any change, the event log ignores it. The room then loads as fast as one drawn today. True
   * when something was packed and stored.
   */
  private async pack(room: LoadedRoom): Promise<boolean> {
    const packing = packingUpdate(room.doc);
    if (!packing) return false;
    await this.store.appendMany([{ roomId: room.id, update: packing.update, checked: WRITE_RULES_VERSION }]);
    if (this.rooms.get(room.id) === room) Y.applyUpdate(room.doc, packing.update, REPAIR);
    this.log.info({ room: room.id, drawings: packing.count }, 'drawings stored as plain objects packed (one binary each)');
    return true;
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
      await this.catchUp(room);
    } catch (err) {
      this.log.error({ room: room.id, err: (err as Error).message }, 'cannot hear other nodes for this room');
    }
  }

  /** Tells the other nodes the presence of this node's members in the room (asked by a node that just loaded it). */
  private announcePresence(room: LoadedRoom): void {
    const mine = [...room.awarenessOwners.keys()].filter((c) => room.awareness.getStates().has(c));
    if (mine.length) this.bus?.publish(room.id, 'awareness', awarenessProtocol.encodeAwarenessUpdate(room.awareness, mine));
  }

  /**
   * Unloads a room nobody holds, once its submitted updates are stored (or refused); a room held
   * again meanwhile stays (unless `closing`). Long rooms are compacted afterwards.
   */
  private async unload(roomId: string, closing = false): Promise<void> {
    const room = this.rooms.get(roomId);
    if (!room) return;
    if (room.unloadTimer) clearTimeout(room.unloadTimer), (room.unloadTimer = null);
    await this.settled(room);
    await room.ready.catch(() => {});
    if (this.rooms.get(roomId) !== room || (!closing && room.holders.size > 0)) return;
    this.rooms.delete(roomId);
    this.bus?.leave(roomId);
    room.awareness.destroy();
    room.doc.destroy();
    this.log.debug({ room: roomId }, 'room document unloaded');
    try {
      if ((await this.store.count(roomId)) > this.compaction.afterRows) await this.compact(roomId);
    } catch (err) {
      this.log.warn({ room: roomId, err: (err as Error).message }, 'room document not compacted');
    }
  }

  /**
   * Replaces the stored updates by one snapshot made from those same rows (not from this node's
   * document, which may hold changes another node stored after them): rows appended meanwhile stay.
   */
  private async compact(roomId: string, clean = false): Promise<void> {
    const rows = await this.store.rows(roomId);
    if (rows.length < 2) return;
    const doc = new Y.Doc({ gc: true });
    applyAll(doc, rows, null);
    // Checked when every row was, or when `clean`: the rows, read after a load's repair, hold what the repaired document holds.
    const checked = clean || allChecked(rows) ? WRITE_RULES_VERSION : null;
    await this.store.replaceUpTo(roomId, rows.at(-1)!.id, Y.encodeStateAsUpdate(doc), checked);
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

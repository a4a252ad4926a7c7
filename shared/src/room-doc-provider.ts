/**
 * Binds a room's Y.Doc and Awareness to a Socket.IO socket with standard y-protocols frames:
 * `y:sync` carries sync step 1 / step 2 / update messages, `y:awareness` awareness updates.
 * Used by the room UI, the tests and any Node tool that speaks Socket.IO.
 */
import * as Y from 'yjs';
import * as syncProtocol from 'y-protocols/sync';
import * as awarenessProtocol from 'y-protocols/awareness';
import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';
import type { Ack, Refusal } from './errors.js';

/** A `y:sync` or `y:awareness` message: a room and its y-protocols bytes. */
export interface YMessage {
  room: string;
  data: Uint8Array;
}

/**
 * The part of a Socket.IO client socket the provider needs, typed as the protocol's events are
 * (a `Socket<ServerToClientEvents, ClientToServerEvents>` is one).
 */
export interface SocketLike {
  emit(event: 'y:sync', p: YMessage, ack: (r: Ack) => void): unknown;
  emit(event: 'y:awareness', p: YMessage): unknown;
  on(event: 'y:sync' | 'y:awareness', fn: (p: YMessage) => void): unknown;
  off(event: 'y:sync' | 'y:awareness', fn: (p: YMessage) => void): unknown;
}

export interface RoomDocProviderOptions {
  /** Called when the server refuses one of our updates (e.g. a viewer drawing). */
  onRefusal?: (r: Refusal) => void;
}

export class RoomDocProvider {
  /** Updates that came from the server carry this origin, so they are never sent back. */
  readonly origin = this;
  synced = false;
  private pending = 0;
  /** Bumped on every (re)start: acks of messages sent over an earlier connection no longer count. */
  private generation = 0;
  private idleWaiters: (() => void)[] = [];
  private syncedWaiters: (() => void)[] = [];

  constructor(
    readonly socket: SocketLike,
    readonly room: string,
    readonly doc: Y.Doc,
    readonly awareness: awarenessProtocol.Awareness,
    private readonly options: RoomDocProviderOptions = {},
  ) {
    socket.on('y:sync', this.onSync);
    socket.on('y:awareness', this.onAwareness);
    doc.on('update', this.onDocUpdate);
    awareness.on('update', this.onAwarenessChange);
  }

  /**
   * True while the document holds nothing: join with `fresh` then, and the ack brings the whole
   * room document (`state`) in one message instead of a sync round trip.
   */
  get fresh(): boolean {
    return this.doc.store.clients.size === 0;
  }

  /**
   * Call after each successful `room:join`, with the server's sync step 1 from the ack and, when the
   * join was fresh, the ack's `state`: applied in one transaction, and then the step 1 is not
   * answered (an empty document has nothing the server lacks).
   */
  start(serverStep1: Uint8Array | ArrayBuffer, state?: Uint8Array | ArrayBuffer): void {
    this.synced = false;
    // Whatever was unacknowledged on the old connection is covered by this sync exchange.
    this.generation++;
    this.pending = 0;
    if (state) {
      // Not ours to send back: without our 'update' listener Yjs does not re-encode the whole document.
      this.doc.off('update', this.onDocUpdate);
      try {
        applyUpdates(this.doc, unpackUpdates(new Uint8Array(state)), this);
      } finally {
        this.doc.on('update', this.onDocUpdate);
      }
    } else this.receive(new Uint8Array(serverStep1));
    const encoder = encoding.createEncoder();
    syncProtocol.writeSyncStep1(encoder, this.doc);
    this.send(encoding.toUint8Array(encoder));
    // Re-announce ourselves: the server dropped our awareness when the old socket closed.
    if (this.awareness.getLocalState() !== null) {
      this.emitAwareness([this.doc.clientID]);
    }
  }

  /** Resolves once the server's whole document has been applied locally. */
  whenSynced(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise((r) => this.syncedWaiters.push(r));
  }

  /** Resolves when every update we sent has been acknowledged (stored) by the server. */
  whenAcked(): Promise<void> {
    return this.pending === 0 ? Promise.resolve() : new Promise((r) => this.idleWaiters.push(r));
  }

  get unacknowledged(): number {
    return this.pending;
  }

  destroy(): void {
    awarenessProtocol.removeAwarenessStates(this.awareness, [this.doc.clientID], 'local');
    this.socket.off('y:sync', this.onSync);
    this.socket.off('y:awareness', this.onAwareness);
    this.doc.off('update', this.onDocUpdate);
    this.awareness.off('update', this.onAwarenessChange);
  }

  private receive(data: Uint8Array): void {
    const encoder = encoding.createEncoder();
    const type = syncProtocol.readSyncMessage(decoding.createDecoder(data), encoder, this.doc, this);
    if (type === syncProtocol.messageYjsSyncStep2 && !this.synced) {
      this.synced = true;
      this.syncedWaiters.splice(0).forEach((r) => r());
    }
    if (encoding.length(encoder) > 0) this.send(encoding.toUint8Array(encoder));
  }

  private send(data: Uint8Array): void {
    const generation = this.generation;
    this.pending++;
    this.socket.emit('y:sync', { room: this.room, data }, (r: Ack) => {
      if (generation !== this.generation) return;
      // Too fast, or not stored (the server's disk is full): the change is kept, still unacknowledged,
      // and sent again a moment later, not lost. The server showed it to nobody meanwhile.
      const again = r.ok ? 0 : r.code === 'RATE_LIMITED' ? 1000 : r.code === 'STORAGE_FULL' || r.code === 'STORAGE_FAILED' ? 2000 : 0;
      if (again) {
        if (!r.ok && r.code !== 'RATE_LIMITED') this.options.onRefusal?.(r); // "not saved yet"
        return void setTimeout(() => {
          if (generation !== this.generation) return;
          this.pending--;
          this.send(data);
        }, again);
      }
      this.pending--;
      if (!r.ok) this.options.onRefusal?.(r);
      if (this.pending === 0) this.idleWaiters.splice(0).forEach((w) => w());
    });
  }

  private emitAwareness(clients: number[]): void {
    const data = awarenessProtocol.encodeAwarenessUpdate(this.awareness, clients);
    this.socket.emit('y:awareness', { room: this.room, data });
  }

  private onSync = (p: { room: string; data: Uint8Array }) => {
    if (p.room !== this.room) return;
    try {
      this.receive(new Uint8Array(p.data));
    } catch (e) {
      // A message this client cannot read (say, a value nested deeper than its stack, stored before
      // the server refused such values): skipped, not fatal to the page.
      console.error('[loupe] a document message could not be applied', e);
    }
  };

  private onAwareness = (p: { room: string; data: Uint8Array }) => {
    if (p.room === this.room) awarenessProtocol.applyAwarenessUpdate(this.awareness, new Uint8Array(p.data), this);
  };

  private onDocUpdate = (update: Uint8Array, origin: unknown) => {
    if (origin === this) return;
    const encoder = encoding.createEncoder();
    syncProtocol.writeUpdate(encoder, update);
    this.send(encoding.toUint8Array(encoder));
  };

  private onAwarenessChange = (
    { added, updated, removed }: { added: number[]; updated: number[]; removed: number[] },
    origin: unknown,
  ) => {
    if (origin === this) return;
    this.emitAwareness([...added, ...updated, ...removed]);
  };
}

/**
 * Several Yjs updates in one binary (a Socket.IO message carries only a few binary attachments):
 * their count, then each with its length (lib0 varUint8Array).
 */
export function packUpdates(updates: readonly Uint8Array[]): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, updates.length);
  for (const u of updates) encoding.writeVarUint8Array(encoder, u);
  return encoding.toUint8Array(encoder);
}

/**
 * Applies updates one by one in one transaction (one change for observers): Y.mergeUpdates over
 * 10,000 small updates took ~3 s, this ~0.25 s (npm run bench -- coldload, rows "load N updates").
 */
export function applyUpdates(doc: Y.Doc, updates: readonly Uint8Array[], origin: unknown): void {
  doc.transact(() => updates.forEach((u) => Y.applyUpdate(doc, u, origin)), origin);
}

export function unpackUpdates(packed: Uint8Array): Uint8Array[] {
  const decoder = decoding.createDecoder(packed);
  return Array.from({ length: decoding.readVarUint(decoder) }, () => decoding.readVarUint8Array(decoder));
}

/** What each member publishes through awareness: never stored, gone when they leave. */
export interface PresenceState {
  user: { id: string; name: string; role: string; color: string };
  /** Pointer over the picture, normalised 0..1; null when outside. */
  cursor: { versionId: string; frame: number; x: number; y: number } | null;
  /** The stroke being drawn right now, so others see it while it is drawn. */
  drawing: {
    versionId: string;
    frame: number;
    kind: string;
    points: [number, number, number][];
    color: string;
    size: number;
  } | null;
  /** Laser pointer trail: never stored, fades after a second. t is the sender's ms timestamp. */
  laser?: { versionId: string; frame: number; points: [number, number, number][]; color: string } | null;
}

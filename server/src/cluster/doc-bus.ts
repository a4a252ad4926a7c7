import type { Logger } from '../log.js';
import { BINARY, type RedisClient, type RedisLink } from './redis.js';

/**
 * What crosses nodes about a room document: a Yjs update, an awareness (presence) update, or a
 * node that just started holding the room asking the others for their members' presence.
 */
export type DocMessageKind = 'update' | 'awareness' | 'presence?';

/** Messages of one kind from other nodes, in order (as many as arrived together). */
export type RemoteListener = (kind: DocMessageKind, messages: Uint8Array[]) => void;

/**
 * Carries room documents between nodes. The single-process server has none; with REDIS_URL each
 * room has a Redis stream.
 */
export interface DocBus {
  /**
   * Starts hearing other nodes' messages for a room, from the stream's end as it is now. Resolves
   * once that point is fixed: whatever another node publishes afterwards reaches `listener`.
   */
  join(roomId: string, listener: RemoteListener): Promise<void>;
  leave(roomId: string): void;
  /** Sends this node's accepted message to the other nodes. */
  publish(roomId: string, kind: DocMessageKind, data: Uint8Array): void;
  close(): Promise<void>;
}

const KIND_CODE: Record<DocMessageKind, string> = { update: 'u', awareness: 'a', 'presence?': 'q' };
const CODE_KIND: Record<string, DocMessageKind> = { u: 'update', a: 'awareness', q: 'presence?' };

/**
 * One Redis stream per room (`<prefix>:doc:<room>`). Each entry is tagged with the node that wrote
 * it, so a node skips its own; each node reads every stream it holds from the id it last read, so
 * each entry is applied once per node. Streams are trimmed to about `maxLen` entries: the database
 * holds the durable history, the stream only the live tail (a node joining a room reads the database
 * first, then the stream from the point fixed before that read was checked again).
 */
export class RedisDocBus implements DocBus {
  private rooms = new Map<string, { key: string; lastId: string; listener: RemoteListener }>();
  private reader: RedisClient | null = null;
  private starting: Promise<void> | null = null;
  private readerId = 0;
  private closed = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;

  constructor(
    private readonly redis: RedisLink,
    private readonly log: Logger,
    private readonly maxLen = 10_000,
  ) {}

  async join(roomId: string, listener: RemoteListener): Promise<void> {
    const key = this.redis.key('doc', roomId);
    const last = (await this.redis.command.sendCommand(['XREVRANGE', key, '+', '-', 'COUNT', '1'], BINARY)) as [Buffer, Buffer[]][] | null;
    const lastId = last && last.length ? last[0][0].toString() : '0-0';
    this.rooms.set(roomId, { key, lastId, listener });
    await this.restartRead();
  }

  leave(roomId: string): void {
    if (this.rooms.delete(roomId)) void this.restartRead();
  }

  publish(roomId: string, kind: DocMessageKind, data: Uint8Array): void {
    const args = ['XADD', this.redis.key('doc', roomId), 'MAXLEN', '~', String(this.maxLen), '*', 'n', this.redis.nodeId, 'k', KIND_CODE[kind], 'd', Buffer.from(data.buffer, data.byteOffset, data.byteLength)];
    this.redis.command.sendCommand(args).catch((err: Error) => this.log.error({ room: roomId, err: err.message }, 'could not publish a room change to other nodes'));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.rooms.clear();
    await this.restartRead();
    await this.loop?.catch(() => {});
  }

  /** Makes the blocking read pick up the new set of rooms. */
  private async restartRead(): Promise<void> {
    if (!this.reader) {
      if (this.closed) return;
      this.starting ??= (async () => {
        const reader = await this.redis.client('doc-bus reader');
        this.readerId = Number(await reader.sendCommand(['CLIENT', 'ID']));
        this.reader = reader;
        this.loop = this.readLoop(reader);
      })();
      return this.starting;
    }
    if (this.wake) this.wake();
    else await this.redis.command.sendCommand(['CLIENT', 'UNBLOCK', String(this.readerId)]).catch(() => {});
  }

  private async readLoop(reader: RedisClient): Promise<void> {
    while (!this.closed) {
      const rooms = [...this.rooms.entries()];
      if (rooms.length === 0) {
        await new Promise<void>((r) => (this.wake = r));
        this.wake = null;
        continue;
      }
      let reply: [Buffer, [Buffer, Buffer[]][]][] | null;
      try {
        reply = (await reader.sendCommand(['XREAD', 'COUNT', '1000', 'BLOCK', '5000', 'STREAMS', ...rooms.map(([, r]) => r.key), ...rooms.map(([, r]) => r.lastId)], BINARY)) as typeof reply;
      } catch (err) {
        if (this.closed) break;
        this.log.error({ err: (err as Error).message }, 'reading room changes from Redis failed; retrying');
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (!reply) continue; // timed out, or woken to read another set of rooms
      for (const [keyBuf, entries] of reply) {
        const key = keyBuf.toString();
        const room = [...this.rooms.values()].find((r) => r.key === key);
        if (!room) continue;
        // Consecutive messages of one kind go together: under load, one document transaction (and
        // one send to this node's members) carries many updates.
        let batch: { kind: DocMessageKind; messages: Uint8Array[] } | null = null;
        const deliver = () => {
          if (!batch) return;
          try {
            room.listener(batch.kind, batch.messages);
          } catch (err) {
            this.log.error({ key, id: room.lastId, err: (err as Error).message }, 'a room change from another node could not be applied');
          }
          batch = null;
        };
        for (const [idBuf, fields] of entries) {
          room.lastId = idBuf.toString();
          const f = fieldsOf(fields);
          if (f.n?.toString() === this.redis.nodeId) continue;
          const kind = CODE_KIND[f.k?.toString() ?? ''];
          if (!kind || !f.d) continue;
          if (batch && batch.kind !== kind) deliver();
          batch ??= { kind, messages: [] };
          batch.messages.push(new Uint8Array(f.d.buffer, f.d.byteOffset, f.d.byteLength));
        }
        deliver();
      }
    }
    if (reader.isOpen) await reader.close().catch(() => {});
  }
}

function fieldsOf(flat: Buffer[]): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i].toString()] = flat[i + 1];
  return out;
}

import crypto from 'node:crypto';
import { createClient, RESP_TYPES } from 'redis';
import type { Logger } from '../log.js';

/** A node-redis client whose bulk strings come back as Buffers (Yjs updates and tiles are binary). */
export type RedisClient = ReturnType<typeof binaryClient>;

/** Replies with bulk strings as Buffers (for sendCommand, which does not take the client's mapping). */
export const BINARY = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } };

function binaryClient(url: string) {
  return createClient({ url }).withTypeMapping(BINARY.typeMapping);
}

/**
 * The Redis side of one node: its id, its key prefix, and connections for commands, for
 * subscriptions and for blocking stream reads (a blocked connection can do nothing else).
 */
export class RedisLink {
  /** Tags what this process publishes, so that nothing it sends comes back to it. */
  readonly nodeId = crypto.randomBytes(6).toString('hex');
  private clients: RedisClient[] = [];

  private constructor(
    readonly url: string,
    readonly prefix: string,
    private readonly log: Logger,
  ) {}

  static async connect(url: string, prefix: string, log: Logger): Promise<RedisLink> {
    const link = new RedisLink(url, prefix, log);
    link.command = await link.client('command');
    return link;
  }

  private reconnected: (() => void)[] = [];

  /** Called each time Redis answers again after an outage (it may have restarted empty). */
  onReconnect(fn: () => void): void {
    this.reconnected.push(fn);
  }

  /** For ordinary commands (XADD, PUBLISH, GET ...). */
  command!: RedisClient;

  /** A new connection, for a subscriber or a blocking reader. */
  async client(purpose: string): Promise<RedisClient> {
    const c = binaryClient(this.url);
    let reported = false;
    c.on('error', (err: Error) => {
      // node-redis reconnects by itself; say it once per outage, not once per retry.
      if (!reported) this.log.error({ err: err.message, purpose }, 'redis connection lost; reconnecting');
      reported = true;
    });
    c.on('ready', () => {
      if (reported) {
        this.log.info({ purpose }, 'redis connection back');
        if (purpose === 'command') for (const fn of this.reconnected) fn();
      }
      reported = false;
    });
    await c.connect();
    this.clients.push(c);
    return c;
  }

  private subscriber: Promise<RedisClient> | null = null;

  /** Hears a channel on this node's one subscriber connection; messages come as Buffers. */
  async subscribe(channel: string, listener: (message: Buffer) => void): Promise<void> {
    this.subscriber ??= this.client('subscriber');
    const sub = await this.subscriber;
    await sub.subscribe(channel, (message) => listener(message as unknown as Buffer), true);
  }

  publish(channel: string, message: Buffer | string): Promise<number> {
    return this.command.publish(channel, message);
  }

  key(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.splice(0).filter((c) => c.isOpen).map((c) => c.close().catch(() => {})));
  }
}

/** Deletes every key under a prefix (test runs and benchmarks clean up after themselves). */
export async function dropRedisKeys(url: string, prefix: string): Promise<void> {
  const c = createClient({ url });
  await c.connect();
  try {
    for await (const keys of c.scanIterator({ MATCH: `${prefix}:*`, COUNT: 500 })) if (keys.length) await c.del(keys);
  } finally {
    await c.close();
  }
}

/** BullMQ's connection options (it brings its own client, ioredis) for the same Redis. */
export function bullConnection(url: string) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}

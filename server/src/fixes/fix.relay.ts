import { decode, encode } from '@msgpack/msgpack';
import type { Job, RenderedFrame, Tile, Version } from '@loupe/shared';
import type { RedisLink } from '../cluster/redis.js';
import type { JobRepository } from '../store/job.repository.js';
import { storingSink, type FixEvents, type JobSink } from './job.events.js';

/**
 * Passes fix events on to the room and keeps the tiles of running jobs, so that a member who joins
 * mid-job sees what the others already see. One per API node: in scale-out it hears every job's
 * events from Redis and relays them to its own members only.
 */
export class FixRelay implements FixEvents {
  private running = new Map<string, { roomId: string; tiles: Tile[] }>();

  /** `out`: this node's members (a restored tile is not sent to them: they have it). */
  constructor(private readonly out: Omit<FixEvents, 'restoredTile'>) {}

  job(roomId: string, job: Job): void {
    if (job.state === 'running') {
      if (!this.running.has(job.id)) this.running.set(job.id, { roomId, tiles: [] });
    } else {
      this.running.delete(job.id);
    }
    this.out.job(roomId, job);
  }

  tile(roomId: string, tile: Tile): void {
    this.keep(roomId, tile);
    this.out.tile(roomId, tile);
  }

  /**
   * A tile an earlier run of the job computed: this node's members have it if this node relayed it
   * (then nothing happens); otherwise (this node started since, or the worker died between the
   * tile's checkpoint and its sending) it is kept and sent now, once.
   */
  restoredTile(roomId: string, tile: Tile): void {
    const relayed = this.running.get(tile.jobId)?.tiles.some((t) => t.index === tile.index && !t.preview);
    if (!relayed) this.tile(roomId, tile);
  }

  private keep(roomId: string, tile: Tile): void {
    let entry = this.running.get(tile.jobId);
    if (!entry) this.running.set(tile.jobId, (entry = { roomId, tiles: [] }));
    entry.tiles.push(tile);
  }

  frame(roomId: string, f: RenderedFrame): void {
    this.out.frame(roomId, f);
  }

  versionCreated(roomId: string, v: Version): void {
    this.out.versionCreated(roomId, v);
  }

  /** The tiles so far of the jobs running for a room. */
  replayTiles(roomId: string, send: (t: Tile) => void): void {
    for (const entry of this.running.values()) if (entry.roomId === roomId) entry.tiles.forEach(send);
  }
}

type FixMessage =
  | { t: 'job'; roomId: string; job: Job }
  | { t: 'tile'; roomId: string; tile: Tile }
  | { t: 'restored'; roomId: string; tile: Tile }
  | { t: 'frame'; roomId: string; frame: RenderedFrame }
  | { t: 'version'; roomId: string; version: Version };

/**
 * Where a job's news goes in scale-out: the database, the event log, and one Redis channel every
 * API node hears and relays to its own members (so each member gets each event once).
 */
export function publishingSink(redis: RedisLink, jobs: JobRepository, record: Pick<FixEvents, 'job' | 'versionCreated'>): JobSink {
  const channel = redis.key('fix-events');
  const send = (m: FixMessage) => void redis.publish(channel, Buffer.from(encode(m))).catch(() => {});
  return storingSink(jobs, record, {
    job: (roomId, job) => send({ t: 'job', roomId, job }),
    tile: (roomId, tile) => send({ t: 'tile', roomId, tile }),
    restoredTile: (roomId, tile) => send({ t: 'restored', roomId, tile }),
    frame: (roomId, frame) => send({ t: 'frame', roomId, frame }),
    versionCreated: (roomId, version) => send({ t: 'version', roomId, version }),
  });
}

/** Relays every job's news heard on Redis to this node's members. */
export async function relayFixEvents(redis: RedisLink, relay: FixEvents): Promise<void> {
  await redis.subscribe(redis.key('fix-events'), (buf) => {
    const m = decode(buf) as FixMessage;
    if (m.t === 'job') relay.job(m.roomId, m.job);
    else if (m.t === 'tile') relay.tile(m.roomId, { ...m.tile, data: new Uint8Array(m.tile.data) });
    else if (m.t === 'restored') relay.restoredTile(m.roomId, { ...m.tile, data: new Uint8Array(m.tile.data) });
    else if (m.t === 'frame') relay.frame(m.roomId, m.frame);
    else relay.versionCreated(m.roomId, m.version);
  });
}

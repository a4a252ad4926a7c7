import type { Job, Tile, Version } from '@loupe/shared';

/** What the room hears about fixes. */
export interface FixEvents {
  job(roomId: string, job: Job): void;
  tile(roomId: string, tile: Tile): void;
  versionCreated(roomId: string, v: Version): void;
}

/**
 * Passes fix events on to the room and keeps the tiles of running jobs, so that a member who joins
 * mid-job sees what the others already see. One per API node: in scale-out it hears every job's
 * events from Redis and relays them to its own members only.
 */
export class FixRelay implements FixEvents {
  private running = new Map<string, { roomId: string; tiles: Tile[] }>();

  constructor(private readonly out: FixEvents) {}

  job(roomId: string, job: Job): void {
    if (job.state === 'running') {
      if (!this.running.has(job.id)) this.running.set(job.id, { roomId, tiles: [] });
    } else {
      this.running.delete(job.id);
    }
    this.out.job(roomId, job);
  }

  tile(roomId: string, tile: Tile): void {
    let entry = this.running.get(tile.jobId);
    if (!entry) this.running.set(tile.jobId, (entry = { roomId, tiles: [] }));
    entry.tiles.push(tile);
    this.out.tile(roomId, tile);
  }

  versionCreated(roomId: string, v: Version): void {
    this.out.versionCreated(roomId, v);
  }

  /** The tiles so far of the jobs running for a room. */
  replayTiles(roomId: string, send: (t: Tile) => void): void {
    for (const entry of this.running.values()) if (entry.roomId === roomId) entry.tiles.forEach(send);
  }
}

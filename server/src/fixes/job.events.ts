import type { Job, RenderedFrame, Tile, Version } from '@loupe/shared';
import type { JobRecord, JobRepository } from '../store/job.repository.js';
import type { PixelRect } from './region.js';

/** A job as the queue keeps it: the stored record plus what the worker needs to run it. */
export interface StoredRecord extends JobRecord {
  params: { fixParams: Record<string, unknown>; sourceRect: PixelRect; priority?: number; seq?: number };
}

/**
 * The one port of the job pipeline: what happens to a job (its state, a tile, a frame of a shot render,
 * its version), each for a room. The room relay, the Redis channel of scale-out and the session's event
 * log each listen on it; whatever runs a job writes through a `JobSink`, which stores the state first.
 */
export interface FixEvents {
  job(roomId: string, job: Job): void;
  tile(roomId: string, tile: Tile): void;
  /**
   * A tile that an earlier run of the job computed (a run resumed from its checkpoint after a crash):
   * the room had it sent already, so it is sent only where it was not (FixRelay.restoredTile).
   */
  restoredTile(roomId: string, tile: Tile): void;
  frame(roomId: string, f: RenderedFrame): void;
  versionCreated(roomId: string, v: Version): void;
}

/**
 * The same port as seen by what runs a job: a job's state is stored, then told (`save` stands for
 * `job`). Writes of one job land in the order they were made; `save` resolves once this one is stored
 * and told (rejects if it could not be stored).
 */
export type JobSink = Omit<FixEvents, 'job'> & { save(rec: StoredRecord): Promise<void> };

/**
 * The sink of a process that runs or cancels jobs: each state stored in the database, then told to
 * `record` (the event log and webhooks: where it changes, once) and to `out` (this node's relay, or
 * Redis for every API node).
 */
export function storingSink(jobs: JobRepository, record: Pick<FixEvents, 'job' | 'versionCreated'>, out: FixEvents): JobSink {
  const last = new Map<string, Promise<unknown>>();
  return {
    save(rec) {
      const snapshot: StoredRecord = { ...rec, job: { ...rec.job } };
      const id = snapshot.job.id;
      const write = (last.get(id) ?? Promise.resolve())
        .catch(() => {})
        .then(() => jobs.update(snapshot))
        .then(() => {
          record.job(snapshot.roomId, { ...snapshot.job });
          out.job(snapshot.roomId, { ...snapshot.job });
        });
      last.set(id, write);
      void write.catch(() => {}).then(() => last.get(id) === write && last.delete(id));
      return write;
    },
    tile: (roomId, tile) => out.tile(roomId, tile),
    restoredTile: (roomId, tile) => out.restoredTile(roomId, tile),
    frame: (roomId, f) => out.frame(roomId, f),
    versionCreated(roomId, v) {
      record.versionCreated(roomId, v);
      out.versionCreated(roomId, v);
    },
  };
}


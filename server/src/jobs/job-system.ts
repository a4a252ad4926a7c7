/**
 * One job system for everything Loupe does in the background: fixes, shot-render chunks, media
 * ingest, webhooks. Handlers are registered by name where the work can be done (a `ROLE=worker`
 * process registers the inference handlers, an API node does not); any process may add jobs.
 *
 * Jobs wait in lanes. A lane is a kind of resource with its own concurrency: 'inference' (the one
 * inference worker of a process: a frame preview and a render chunk take turns by priority),
 * 'media' (ffmpeg transcodes), 'io' (webhooks). Within a lane, a lower priority number runs first,
 * then first come first served.
 *
 * Two implementations with the same interface: in this process (the embedded default), or BullMQ on
 * Redis (scale-out), where a job is owned by one worker at a time, a worker that dies has its job
 * retried by another once its lock lapses, and every handler must be idempotent (a job may run again
 * after a crash; handlers check what is already done, e.g. frames stored, before doing it).
 */
import type { Logger } from '../log.js';

export const Lanes = ['inference', 'media', 'io'] as const;
export type Lane = (typeof Lanes)[number];

/** What a handler reports: done, skipped (nothing to do, e.g. the job was cancelled meanwhile), or failed. */
export type Outcome =
  | { status: 'done' }
  | { status: 'skipped'; reason: string }
  /**
   * Not for this process, but for another (the upload's files are in another node's data folder): the
   * job goes back to its lane for another process to take, no attempt spent. In one process alone, it is dropped.
   */
  | { status: 'elsewhere'; reason: string }
  /**
   * `retry`: a passing fault (a worker restarting, a busy file, a receiver answering 503); the job runs
   * again if it has attempts left, after `retryInMs` (default: at once in this process, RETRY_IN_MS on BullMQ).
   */
  | { status: 'failed'; code: string; message: string; retry?: boolean; retryInMs?: number };

/** The reason a cancelled job's signal carries. */
export class CancelReason extends Error {
  constructor(readonly why: Record<string, unknown> = {}) {
    super('cancelled');
  }
}

export const done = (): Outcome => ({ status: 'done' });
export const skipped = (reason: string): Outcome => ({ status: 'skipped', reason });

export interface JobContext {
  /** The job's key: adding the same key again while it waits or runs does nothing. */
  key: string;
  /** 1 on the first run, 2 on the next (after a failure with retry, or a worker that died). */
  attempt: number;
  /**
   * Aborted when the job is cancelled (`JobSystem.cancel`; then `signal.reason` is a CancelReason) or
   * the process stops.
   */
  signal: AbortSignal;
  log: Logger;
}

export interface JobHandler<D = any> {
  name: string;
  lane: Lane;
  run(data: D, ctx: JobContext): Promise<Outcome>;
}

export interface AddOptions {
  /** Dedupe key, unique among the lane's waiting and running jobs. */
  key: string;
  /** Lower runs first (0 ..). */
  priority?: number;
  /** Runs allowed in all (failures with retry, and crashes). Default 3. */
  attempts?: number;
}

export interface WaitingJob {
  name: string;
  key: string;
  data: unknown;
  priority: number;
}

export interface JobSystem {
  register<D>(handler: JobHandler<D>): void;
  add<D>(lane: Lane, name: string, data: D, opts: AddOptions): Promise<void>;
  /** Takes a waiting job out of its lane; false when it is running (or unknown). */
  remove(lane: Lane, key: string): Promise<boolean>;
  /** Aborts the job's run wherever it runs (its handler sees `signal` aborted, with `why` as its reason). */
  cancel(lane: Lane, key: string, why?: Record<string, unknown>): Promise<void>;
  /** The lane's waiting jobs in the order they will run (not those waiting for a retry). */
  waiting(lane: Lane): Promise<WaitingJob[]>;
  /** How many of the lane's jobs wait, to run or to be retried. */
  count(lane: Lane): Promise<number>;
  /** Starts taking jobs for the registered handlers. */
  start(): Promise<void>;
  /** Stops taking jobs and aborts the running ones (they run again in the next process). */
  stop(): Promise<void>;
  /** No job waiting or running in this process. */
  readonly idle: boolean;
  /** Called after each run with its outcome (logging, tests). */
  onOutcome(fn: (name: string, key: string, outcome: Outcome | { status: 'crashed'; message: string }) => void): void;
}

/** BullMQ's wait before a retry when the handler names none. */
export const RETRY_IN_MS = 500;

/** How many jobs of a lane one process runs at once. */
export const LANE_CONCURRENCY: Record<Lane, number> = { inference: 1, media: 1, io: 16 };

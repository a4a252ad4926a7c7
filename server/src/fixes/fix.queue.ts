import type { Job, Member } from '@loupe/shared';
import type { StoredRecord } from './fix.runner.js';

/** Directors' jobs go before everyone else's; within a priority, first come first served. */
export const PRIORITY = { director: 0, other: 1 } as const;

/**
 * Where accepted jobs wait and run: in this process (the default), or in BullMQ on Redis with
 * `ROLE=worker` processes doing the work (scale-out). The job record in the database is the truth
 * the room sees; the queue keeps it current through its sink.
 */
export interface FixQueue {
  /** Queues a job already stored as 'queued'. */
  add(rec: StoredRecord): Promise<void>;
  /** Cancels a queued or running job; returns the job as the room will see it. */
  cancel(rec: StoredRecord, by: Member): Promise<Job>;
  /** Queues again what a stopped process left queued or running. */
  resumeUnfinished(): Promise<void>;
  /** Stops taking jobs. */
  shutdown(): Promise<void>;
  /** No job waiting or running here. */
  idle(): Promise<boolean>;
}

/** The order jobs run in: priority, then arrival. */
export function runOrder(a: StoredRecord, b: StoredRecord): number {
  return (a.params.priority ?? PRIORITY.other) - (b.params.priority ?? PRIORITY.other) || (a.params.seq ?? 0) - (b.params.seq ?? 0);
}

import { ErrorCode, LoupeError, type Member } from '@loupe/shared';
import type { Logger } from '../log.js';
import { RunStopped, type InferenceService } from '../inference/inference.service.js';
import type { FixRunner } from './fix.runner.js';
import type { JobSink, StoredRecord } from './job.events.js';

export interface ExecutionDeps {
  runner: FixRunner;
  inference: InferenceService;
  sink: JobSink;
  log: Logger;
  timeoutMs: number;
  /** True while the process shuts down: a job cut short then stays 'running' and is run again later. */
  shuttingDown(): boolean;
  /** The job ran before and was cut short (a worker died, a process stopped): it resumes from its checkpoint. */
  rerun?: boolean;
}

/** Marks a job cancelled or failed, with who cancelled it or why it failed. */
export function finishJob(rec: StoredRecord, state: 'cancelled' | 'failed', by?: Member, error?: { code: string; message: string }): StoredRecord {
  rec.job = {
    ...rec.job,
    state,
    position: 0,
    error: error ?? null,
    ...(by ? { cancelledBy: { id: by.id, name: by.name, role: by.role } } : {}),
  };
  return rec;
}

/**
 * One run of one job, wherever it runs (the single process or a worker): its time limit, its stop
 * (cancel or timeout) and its outcome. A run never throws: it ends the job done, cancelled or failed,
 * except when the process is shutting down, where the job is left for the next process to run again
 * (with its checkpoint: the tiles computed so far). Once the job has ended, its checkpoint is removed.
 */
export class JobExecution {
  private stopInfo: { reason: RunStopped['reason']; by?: Member } | undefined;
  private ended = false;

  constructor(
    readonly rec: StoredRecord,
    private readonly deps: ExecutionDeps,
  ) {}

  get jobId(): string {
    return this.rec.job.id;
  }

  /** Stops the job: the worker if it is computing, otherwise at the job's next step. */
  async stop(reason: RunStopped['reason'], by?: Member): Promise<void> {
    if (this.ended) return;
    this.stopInfo ??= { reason, by };
    await this.deps.inference.stop(this.jobId, reason);
  }

  async run(): Promise<void> {
    const { rec, deps } = this;
    const timer = setTimeout(() => void this.stop('timeout'), deps.timeoutMs);
    const stopped = () => this.ended || !!this.stopInfo;
    const save = (r: StoredRecord) => (deps.shuttingDown() ? Promise.resolve() : deps.sink.save(r));
    let leftForNext = false;
    try {
      await deps.runner.run(rec, {
        sink: { ...deps.sink, save },
        stopped,
        checkStopped: () => {
          if (this.stopInfo) throw new RunStopped(this.stopInfo.reason);
        },
        rerun: deps.rerun,
      });
    } catch (err) {
      const e = err as Error;
      const stop = this.stopInfo;
      if (deps.shuttingDown() && !stop) return void (leftForNext = true); // the next process runs it again
      let end: Promise<void>;
      if (stop?.reason === 'cancelled' || (e instanceof RunStopped && e.reason === 'cancelled')) {
        deps.log.info({ room: rec.roomId, job: rec.job.id, by: stop?.by?.id }, 'fix cancelled');
        end = save(finishJob(rec, 'cancelled', stop?.by));
      } else if (stop?.reason === 'timeout' || (e instanceof RunStopped && e.reason === 'timeout')) {
        const message = `The fix ran past its ${Math.round(deps.timeoutMs / 1000)} s limit and was stopped; no version was made.`;
        deps.log.warn({ room: rec.roomId, job: rec.job.id }, 'fix timed out');
        end = save(finishJob(rec, 'failed', undefined, { code: ErrorCode.FIX_TIMEOUT, message }));
      } else {
        deps.log.error({ room: rec.roomId, job: rec.job.id, err: e.message }, 'fix failed');
        const code = e instanceof LoupeError ? e.code : ErrorCode.FIX_FAILED;
        end = save(finishJob(rec, 'failed', undefined, { code, message: e.message }));
      }
      // Its end is stored before the run is over; a store that fails is logged (the job stays unfinished and runs again after a restart).
      await end.catch((err: Error) => deps.log.error({ room: rec.roomId, job: rec.job.id, err: err.message }, 'could not store the end of the fix'));
    } finally {
      this.ended = true;
      clearTimeout(timer);
      if (!leftForNext) await deps.runner.discardCheckpoint(rec.job.id).catch((err: Error) => deps.log.warn({ room: rec.roomId, job: rec.job.id, err: err.message }, 'could not remove the fix\'s checkpoint'));
    }
  }
}

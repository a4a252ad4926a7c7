import { ErrorCode, LoupeError, type Job, type Member } from '@loupe/shared';
import type { Logger } from '../log.js';
import type { JobRepository } from '../store/job.repository.js';
import { finishJob, JobExecution, type ExecutionDeps } from './job.execution.js';
import { runOrder, type FixQueue } from './fix.queue.js';
import type { StoredRecord } from './fix.runner.js';

/** The default queue: jobs wait in this process and run one at a time in its inference worker. */
export class LocalFixQueue implements FixQueue {
  private queue: StoredRecord[] = [];
  private running: JobExecution | null = null;
  private stopping = false;

  constructor(
    private readonly deps: Omit<ExecutionDeps, 'shuttingDown'> & { jobs: JobRepository; log: Logger },
  ) {}

  async add(rec: StoredRecord): Promise<void> {
    this.insert(rec);
    queueMicrotask(() => this.pump());
  }

  async cancel(rec: StoredRecord, by: Member): Promise<Job> {
    const queued = this.queue.find((r) => r.job.id === rec.job.id);
    if (queued) {
      this.queue = this.queue.filter((r) => r !== queued);
      await this.save(finishJob(queued, 'cancelled', by));
      this.renumber();
      return { ...queued.job };
    }
    const running = this.running?.jobId === rec.job.id ? this.running : null;
    if (!running) throw new LoupeError(ErrorCode.JOB_FINISHED, `Job ${rec.job.id} has already finished.`);
    await running.stop('cancelled', by);
    return { ...running.rec.job, state: 'cancelled' };
  }

  async resumeUnfinished(): Promise<void> {
    for (const rec of (await this.deps.jobs.unfinished()) as StoredRecord[]) {
      rec.job = { ...rec.job, state: 'queued', progress: 0, tilesDone: 0 };
      this.insert(rec, false);
    }
    if (this.queue.length) {
      this.deps.log.info({ jobs: this.queue.length }, 'resuming unfinished fixes');
      this.renumber();
      queueMicrotask(() => this.pump());
    }
  }

  /**
   * Stops taking jobs. A job cut short stays 'running' in the database and is run again, from the
   * start, by the next process: it still makes exactly one version.
   */
  async shutdown(): Promise<void> {
    this.stopping = true;
    this.queue = [];
  }

  async idle(): Promise<boolean> {
    return !this.running && this.queue.length === 0;
  }

  private insert(rec: StoredRecord, renumber = true) {
    const at = this.queue.findIndex((r) => runOrder(r, rec) > 0);
    if (at < 0) this.queue.push(rec);
    else this.queue.splice(at, 0, rec);
    if (renumber) this.renumber();
  }

  private renumber() {
    this.queue.forEach((rec, i) => {
      if (rec.job.position !== i + 1 || rec.job.state !== 'queued') {
        rec.job = { ...rec.job, state: 'queued', position: i + 1 };
        this.save(rec);
      }
    });
  }

  /** Stores and tells a queued job's new state; callers that need not wait get a failure logged. */
  private save(rec: StoredRecord): Promise<void> {
    if (this.stopping) return Promise.resolve();
    const saved = this.deps.sink.save(rec);
    saved.catch((err: Error) => this.deps.log.error({ room: rec.roomId, job: rec.job.id, err: err.message }, 'could not store the job'));
    return saved;
  }

  private pump() {
    if (this.stopping || this.running || this.queue.length === 0) return;
    const exec = new JobExecution(this.queue.shift()!, { ...this.deps, shuttingDown: () => this.stopping });
    this.running = exec;
    this.renumber();
    void exec.run().finally(() => {
      this.running = null;
      this.pump();
    });
  }
}

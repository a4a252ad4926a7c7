import { ErrorCode, LoupeError, type Job, type Member } from '@loupe/shared';
import type { Logger } from '../log.js';
import type { JobRepository } from '../store/job.repository.js';
import { CancelReason, done, skipped, type JobSystem } from '../jobs/job-system.js';
import { finishJob, JobExecution, type ExecutionDeps } from './job.execution.js';
import type { JobSink } from './job.events.js';
import { runOrder, type FixQueue } from './fix.queue.js';
import type { StoredRecord } from './fix.runner.js';

const fixKey = (jobId: string) => `fix:${jobId}`;

/**
 * Frame fixes (stills) on the job system's inference lane, wherever they run: in this process, or on
 * the workers of a scale-out. They share the lane with shot-render chunks and go before them
 * (priority 0 for directors, 1 for the others; chunks from 10), so a preview asked for during a render
 * runs as soon as the chunk in progress ends.
 */
export class SystemFixQueue implements FixQueue {
  constructor(
    private readonly deps: {
      system: JobSystem;
      jobs: JobRepository;
      sink: JobSink;
      log: Logger;
      /** Set where fixes run (ROLE all or worker): registers the handler. */
      execution?: Omit<ExecutionDeps, 'shuttingDown' | 'sink'>;
    },
  ) {
    const exec = deps.execution;
    if (exec) {
      deps.system.register<{ jobId: string }>({
        name: 'fix',
        lane: 'inference',
        run: async ({ jobId }, ctx) => {
          const rec = (await deps.jobs.get(jobId)) as StoredRecord | undefined;
          if (!rec || (rec.job.state !== 'queued' && rec.job.state !== 'running')) {
            // Its checkpoint, if a run that died left one, is of no use now.
            await exec.runner.discardCheckpoint(jobId);
            return skipped('cancelled or finished meanwhile');
          }
          // A run after a crash (a worker that died, a process restarted mid-run) resumes: the job stays
          // 'running' with its progress, and the tiles its checkpoint holds are not computed or sent again.
          const rerun = ctx.attempt > 1 || rec.job.state === 'running';
          if (rerun) deps.log.warn({ room: rec.roomId, job: jobId, attempt: ctx.attempt }, 'running again a fix left unfinished');
          rec.job = rerun ? { ...rec.job, state: 'running', position: 0 } : { ...rec.job, state: 'queued', position: 0, progress: 0, tilesDone: 0 };
          const run = new JobExecution(rec, { ...exec, sink: deps.sink, rerun, shuttingDown: () => ctx.signal.aborted && !(ctx.signal.reason instanceof CancelReason) });
          const stop = () => {
            const why = ctx.signal.reason;
            void run.stop('cancelled', why instanceof CancelReason ? (why.why.by as Member | undefined) : undefined);
          };
          if (ctx.signal.aborted) stop();
          else ctx.signal.addEventListener('abort', stop, { once: true });
          void this.renumber().catch(() => {});
          await run.run();
          return done();
        },
      });
    }
  }

  async add(rec: StoredRecord): Promise<void> {
    await this.deps.system.add('inference', 'fix', { jobId: rec.job.id }, { key: fixKey(rec.job.id), priority: rec.params.priority ?? 1 });
    await this.renumber();
  }

  async cancel(rec: StoredRecord, by: Member): Promise<Job> {
    const { system, sink } = this.deps;
    if ((await system.remove('inference', fixKey(rec.job.id))) || rec.job.state === 'queued') {
      await sink.save(finishJob(rec, 'cancelled', by));
      await this.renumber();
      return { ...rec.job };
    }
    if (rec.job.state !== 'running') throw new LoupeError(ErrorCode.JOB_FINISHED, `Job ${rec.job.id} has already finished.`);
    // Running: it stops at once where it runs, and says who stopped it.
    await system.cancel('inference', fixKey(rec.job.id), { by: { id: by.id, name: by.name, role: by.role } });
    return { ...rec.job, state: 'cancelled', cancelledBy: { id: by.id, name: by.name, role: by.role } };
  }

  /** Queues again the frame fixes a stopped process left waiting or running (a key already queued is ignored). */
  async resumeUnfinished(): Promise<void> {
    const left = ((await this.deps.jobs.unfinished()) as StoredRecord[]).filter((r) => r.job.scope !== 'shot');
    for (const rec of left) await this.deps.system.add('inference', 'fix', { jobId: rec.job.id }, { key: fixKey(rec.job.id), priority: rec.params.priority ?? 1 });
    if (left.length) {
      this.deps.log.info({ jobs: left.length }, 'queued again unfinished fixes');
      await this.renumber();
    }
  }

  async shutdown(): Promise<void> {}

  async idle(): Promise<boolean> {
    return this.deps.system.idle;
  }

  /** Numbers the waiting fixes 1, 2, 3 ... in the order they will run, telling the rooms whose numbers changed. */
  private async renumber(): Promise<void> {
    const waiting = (await this.deps.system.waiting('inference')).filter((w) => w.name === 'fix');
    const recs: StoredRecord[] = [];
    for (const w of waiting) {
      const rec = (await this.deps.jobs.get((w.data as { jobId: string }).jobId)) as StoredRecord | undefined;
      if (rec && rec.job.state === 'queued') recs.push(rec);
    }
    for (const [i, rec] of recs.sort(runOrder).entries()) {
      if (rec.job.position === i + 1) continue;
      rec.job = { ...rec.job, position: i + 1 };
      await this.deps.sink.save(rec);
    }
  }
}

import { DelayedError, Queue, UnrecoverableError, Worker, type Job as BullJob } from 'bullmq';
import type { Logger } from '../log.js';
import { bullConnection, type RedisLink } from '../cluster/redis.js';
import { CancelReason, LANE_CONCURRENCY, Lanes, RETRY_IN_MS, type AddOptions, type JobHandler, type JobSystem, type Lane, type Outcome, type WaitingJob } from './job-system.js';

/** A failure to retry, carrying the handler's wait to the worker's backoffStrategy. */
type RetryError = Error & { retryInMs?: number };

/**
 * A lane's queue is shared by every process with a handler on it, but not every process has every
 * handler (a GPU worker finalizes renders on the media lane, an API node ingests uploads there): a job
 * taken by a process without its handler goes back, delayed this long, for another process to take.
 */
const HAND_BACK_MS = 200;

/** Puts a job this process does not run back in its lane, for another process; no attempt is spent. */
async function handBack(job: BullJob, token: string | undefined, why: string): Promise<never> {
  await job.moveToDelayed(Date.now() + HAND_BACK_MS, token);
  throw new DelayedError(why);
}

/** BullMQ refuses ':' in job ids (its own key separator): keys travel with '|' in its place. */
const bullId = (key: string) => key.replaceAll(':', '|');
const keyOf = (id: string) => id.replaceAll('|', ':');

/**
 * The scale-out job system: one BullMQ queue per lane on Redis. Any process adds jobs; a process
 * takes jobs from a lane only if it registered handlers for it. A job is locked by the worker running
 * it; if that worker dies, BullMQ sees the lock lapse and another worker runs the job again
 * (`attempt` grows), so handlers are idempotent. Cancelling reaches a running job on whichever worker
 * holds it through one Redis channel.
 */
export class BullJobSystem implements JobSystem {
  private handlers = new Map<string, JobHandler>();
  private queues = new Map<Lane, Queue>();
  private workers: Worker[] = [];
  private running = new Map<string, AbortController>();
  private listeners: Parameters<JobSystem['onOutcome']>[0][] = [];
  private stopping = false;

  constructor(
    private readonly redis: RedisLink,
    private readonly log: Logger,
    /** How long a worker's lock on a job lasts without renewal: a dead worker's job runs again after this. */
    private readonly lockMs: number,
  ) {
    for (const lane of Lanes) {
      const q = new Queue(lane, this.options());
      q.on('error', (err) => log.error({ err: err.message, lane }, 'job queue: redis error'));
      this.queues.set(lane, q);
    }
  }

  private options() {
    return { connection: bullConnection(this.redis.url), prefix: this.redis.key('jobs') };
  }

  register<D>(handler: JobHandler<D>): void {
    this.handlers.set(handler.name, handler as JobHandler);
  }

  onOutcome(fn: Parameters<JobSystem['onOutcome']>[0]): void {
    this.listeners.push(fn);
  }

  async add<D>(lane: Lane, name: string, data: D, opts: AddOptions): Promise<void> {
    // BullMQ ignores a job id it holds already; priority 1 is taken first (0 would mean none at all).
    await this.queues.get(lane)!.add(name, data, {
      jobId: bullId(opts.key),
      priority: (opts.priority ?? 0) + 1,
      attempts: opts.attempts ?? 3,
      // The handler says how long to wait (a receiver's Retry-After, a back-off): see the worker's backoffStrategy.
      backoff: { type: 'loupe', delay: RETRY_IN_MS },
      removeOnComplete: true,
      removeOnFail: true,
    });
  }

  async remove(lane: Lane, key: string): Promise<boolean> {
    const job = await this.queues.get(lane)!.getJob(bullId(key));
    // remove() refuses a job a worker holds (it is locked).
    return job ? job.remove().then(() => true, () => false) : false;
  }

  async cancel(lane: Lane, key: string, why: Record<string, unknown> = {}): Promise<void> {
    if (await this.remove(lane, key)) return;
    // Kept a while for a worker that takes the job just now, and told to the one running it.
    await this.redis.command.set(this.redis.key('jobs-cancel', lane, key), JSON.stringify(why), { expiration: { type: 'EX', value: 3600 } });
    await this.redis.publish(this.redis.key('jobs-control'), JSON.stringify({ lane, key, why }));
  }

  async waiting(lane: Lane): Promise<WaitingJob[]> {
    const jobs = await this.queues.get(lane)!.getJobs(['prioritized', 'waiting']);
    return jobs
      .filter((j): j is BullJob => !!j)
      .sort((a, b) => (a.opts.priority ?? 0) - (b.opts.priority ?? 0) || a.timestamp - b.timestamp)
      .map((j) => ({ name: j.name, key: keyOf(j.id!), data: j.data, priority: (j.opts.priority ?? 1) - 1 }));
  }

  async count(lane: Lane): Promise<number> {
    return this.queues.get(lane)!.getJobCountByTypes('prioritized', 'waiting', 'delayed');
  }

  async start(): Promise<void> {
    await this.redis.subscribe(this.redis.key('jobs-control'), (buf) => {
      const { lane, key, why } = JSON.parse(buf.toString()) as { lane: Lane; key: string; why: Record<string, unknown> };
      this.running.get(`${lane}:${key}`)?.abort(new CancelReason(why));
    });
    const lanes = new Set([...this.handlers.values()].map((h) => h.lane));
    for (const lane of lanes) {
      const worker = new Worker(lane, (job, token) => this.process(lane, job, token), {
        ...this.options(),
        concurrency: LANE_CONCURRENCY[lane],
        lockDuration: this.lockMs,
        stalledInterval: this.lockMs,
        maxStalledCount: 3,
        settings: { backoffStrategy: (_made: number, _type?: string, err?: Error) => (err as RetryError | undefined)?.retryInMs ?? RETRY_IN_MS },
      });
      worker.on('error', (err) => this.log.error({ err: err.message, lane }, 'job worker: redis error'));
      await worker.waitUntilReady();
      this.workers.push(worker);
    }
    if (lanes.size) this.log.info({ node: this.redis.nodeId, lanes: [...lanes] }, 'job worker ready');
  }

  private async process(lane: Lane, job: BullJob, token?: string): Promise<void> {
    const handler = this.handlers.get(job.name);
    if (!handler) return handBack(job, token, `no handler for ${job.name} here`);
    const abort = new AbortController();
    const key = keyOf(job.id!);
    const id = `${lane}:${key}`;
    this.running.set(id, abort);
    let outcome: Outcome | { status: 'crashed'; message: string };
    try {
      const cancelled = await this.redis.command.get(this.redis.key('jobs-cancel', lane, key));
      if (cancelled) abort.abort(new CancelReason(JSON.parse(cancelled.toString())));
      outcome = await handler.run(job.data, { key, attempt: job.attemptsStarted || 1, signal: abort.signal, log: this.log });
    } catch (err) {
      outcome = { status: 'crashed', message: (err as Error).message };
    } finally {
      this.running.delete(id);
    }
    for (const fn of this.listeners) fn(job.name, key, outcome);
    if (outcome.status === 'elsewhere') return handBack(job, token, outcome.reason);
    if (outcome.status === 'crashed') throw new Error(outcome.message);
    if (outcome.status === 'failed') throw outcome.retry ? Object.assign(new Error(outcome.message), { retryInMs: outcome.retryInMs ?? RETRY_IN_MS }) : new UnrecoverableError(outcome.message);
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const a of this.running.values()) a.abort(new Error('stopping'));
    await Promise.all(this.workers.map((w) => w.close()));
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }

  get idle(): boolean {
    return this.running.size === 0;
  }
}

import type { Logger } from '../log.js';
import { CancelReason, LANE_CONCURRENCY, Lanes, type AddOptions, type JobHandler, type JobSystem, type Lane, type Outcome, type WaitingJob } from './job-system.js';

interface Entry {
  name: string;
  key: string;
  data: unknown;
  priority: number;
  seq: number;
  attempt: number;
  attempts: number;
}

/**
 * The embedded job system: lanes in this process's memory. What must survive a restart is kept by the
 * handlers' own records (a fix job's row, an ingest's row), which the services queue again at start.
 */
export class LocalJobSystem implements JobSystem {
  private handlers = new Map<string, JobHandler>();
  private waitingJobs = new Map<Lane, Entry[]>(Lanes.map((l) => [l, []]));
  private running = new Map<string, { lane: Lane; abort: AbortController }>();
  private active = new Map<Lane, number>(Lanes.map((l) => [l, 0]));
  private seq = 0;
  private started = false;
  private stopping = false;
  private listeners: Parameters<JobSystem['onOutcome']>[0][] = [];
  /** Jobs waiting for their retry's time, by lane. */
  private retries = new Map<NodeJS.Timeout, { lane: Lane; key: string }>();

  constructor(private readonly log: Logger) {}

  register<D>(handler: JobHandler<D>): void {
    this.handlers.set(handler.name, handler as JobHandler);
  }

  onOutcome(fn: Parameters<JobSystem['onOutcome']>[0]): void {
    this.listeners.push(fn);
  }

  async add<D>(lane: Lane, name: string, data: D, opts: AddOptions): Promise<void> {
    if (this.stopping) return;
    const id = `${lane}:${opts.key}`;
    if (this.running.has(id) || this.waitingJobs.get(lane)!.some((e) => e.key === opts.key) || [...this.retries.values()].some((r) => r.lane === lane && r.key === opts.key)) return;
    this.insert(lane, { name, key: opts.key, data, priority: opts.priority ?? 0, seq: this.seq++, attempt: 1, attempts: opts.attempts ?? 3 });
    queueMicrotask(() => this.pump(lane));
  }

  async remove(lane: Lane, key: string): Promise<boolean> {
    for (const [t, r] of this.retries)
      if (r.lane === lane && r.key === key) {
        clearTimeout(t);
        this.retries.delete(t);
        return true;
      }
    const list = this.waitingJobs.get(lane)!;
    const i = list.findIndex((e) => e.key === key);
    if (i < 0) return false;
    list.splice(i, 1);
    return true;
  }

  async cancel(lane: Lane, key: string, why?: Record<string, unknown>): Promise<void> {
    await this.remove(lane, key);
    this.running.get(`${lane}:${key}`)?.abort.abort(new CancelReason(why));
  }

  async waiting(lane: Lane): Promise<WaitingJob[]> {
    return this.waitingJobs.get(lane)!.map(({ name, key, data, priority }) => ({ name, key, data, priority }));
  }

  async count(lane: Lane): Promise<number> {
    return this.waitingJobs.get(lane)!.length + [...this.retries.values()].filter((r) => r.lane === lane).length;
  }

  async start(): Promise<void> {
    this.started = true;
    for (const lane of Lanes) this.pump(lane);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const lane of Lanes) this.waitingJobs.set(lane, []);
    for (const t of this.retries.keys()) clearTimeout(t);
    if (this.retries.size) this.log.warn({ retries: this.retries.size }, 'jobs waiting for a retry are dropped (this process keeps no queue)');
    this.retries.clear();
    for (const r of this.running.values()) r.abort.abort(new Error('stopping'));
  }

  get idle(): boolean {
    return this.running.size === 0 && this.retries.size === 0 && [...this.waitingJobs.values()].every((l) => l.length === 0);
  }

  private insert(lane: Lane, e: Entry) {
    const list = this.waitingJobs.get(lane)!;
    const at = list.findIndex((x) => x.priority > e.priority || (x.priority === e.priority && x.seq > e.seq));
    if (at < 0) list.push(e);
    else list.splice(at, 0, e);
  }

  private pump(lane: Lane) {
    if (!this.started || this.stopping) return;
    const list = this.waitingJobs.get(lane)!;
    while (this.active.get(lane)! < LANE_CONCURRENCY[lane]) {
      // Only jobs this process has a handler for; the others wait (a worker elsewhere would take them).
      const i = list.findIndex((e) => this.handlers.has(e.name));
      if (i < 0) return;
      const [e] = list.splice(i, 1);
      this.active.set(lane, this.active.get(lane)! + 1);
      void this.execute(lane, e).finally(() => {
        this.active.set(lane, this.active.get(lane)! - 1);
        this.pump(lane);
      });
    }
  }

  private async execute(lane: Lane, e: Entry): Promise<void> {
    const handler = this.handlers.get(e.name)!;
    const abort = new AbortController();
    const id = `${lane}:${e.key}`;
    this.running.set(id, { lane, abort });
    let outcome: Outcome | { status: 'crashed'; message: string };
    try {
      outcome = await handler.run(e.data, { key: e.key, attempt: e.attempt, signal: abort.signal, log: this.log });
    } catch (err) {
      outcome = { status: 'crashed', message: (err as Error).message };
    } finally {
      this.running.delete(id);
    }
    for (const fn of this.listeners) fn(e.name, e.key, outcome);
    const retry = (outcome.status === 'crashed' || (outcome.status === 'failed' && outcome.retry)) && !abort.signal.aborted && e.attempt < e.attempts;
    if (retry) {
      const wait = outcome.status === 'failed' ? (outcome.retryInMs ?? 0) : 0;
      this.log.warn({ job: e.key, handler: e.name, attempt: e.attempt, retryInMs: wait }, 'job failed; running it again');
      const again = () => this.insert(lane, { ...e, attempt: e.attempt + 1 });
      if (wait <= 0) again(); // taken by the pump that follows this run
      else {
        const t = setTimeout(() => {
          this.retries.delete(t);
          if (!this.stopping) (again(), this.pump(lane));
        }, wait);
        t.unref();
        this.retries.set(t, { lane, key: e.key });
      }
    } else if (outcome.status === 'crashed') {
      this.log.error({ job: e.key, handler: e.name, err: outcome.message }, 'job crashed');
    } else if (outcome.status === 'elsewhere') {
      this.log.warn({ job: e.key, handler: e.name, why: outcome.reason }, 'job for another process; there is none here: dropped');
    }
  }
}

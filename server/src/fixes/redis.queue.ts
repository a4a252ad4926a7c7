import { Queue, Worker, type Job as BullJob } from 'bullmq';
import { decode, encode } from '@msgpack/msgpack';
import type { Job, Member, Tile, Version } from '@loupe/shared';
import type { Logger } from '../log.js';
import type { JobRepository } from '../store/job.repository.js';
import { bullConnection, type RedisLink } from '../cluster/redis.js';
import { finishJob, JobExecution, storingSink, type ExecutionDeps, type FixRecorder, type JobSink } from './job.execution.js';
import { runOrder, type FixQueue } from './fix.queue.js';
import type { FixEvents } from './fix.relay.js';
import type { StoredRecord } from './fix.runner.js';

/** Scale-out fixes (docs/deploy.md): BullMQ on Redis; API nodes queue, `ROLE=worker` processes run. */
const QUEUE = 'fixes';

type FixMessage =
  | { t: 'job'; roomId: string; job: Job }
  | { t: 'tile'; roomId: string; tile: Tile }
  | { t: 'version'; roomId: string; version: Version };

interface BullData {
  roomId: string;
  jobId: string;
}

const bullId = (jobId: string) => `fix-${jobId}`;

function bullOptions(redis: RedisLink) {
  return { connection: bullConnection(redis.url), prefix: redis.key('bull') };
}

/**
 * Where a job's news goes in scale-out: the database, the event log, and one Redis channel every
 * API node hears and relays to its own members (so each member gets each event once).
 */
export function publishingSink(redis: RedisLink, jobs: JobRepository, record: FixRecorder): JobSink {
  const channel = redis.key('fix-events');
  const send = (m: FixMessage) => void redis.publish(channel, Buffer.from(encode(m))).catch(() => {});
  return storingSink(jobs, record, {
    job: (roomId, job) => send({ t: 'job', roomId, job }),
    tile: (roomId, tile) => send({ t: 'tile', roomId, tile }),
    versionCreated: (roomId, version) => send({ t: 'version', roomId, version }),
  });
}

/** Relays every job's news heard on Redis to this node's members. */
export async function relayFixEvents(redis: RedisLink, relay: FixEvents): Promise<void> {
  await redis.subscribe(redis.key('fix-events'), (buf) => {
    const m = decode(buf) as FixMessage;
    if (m.t === 'job') relay.job(m.roomId, m.job);
    else if (m.t === 'tile') relay.tile(m.roomId, { ...m.tile, data: new Uint8Array(m.tile.data) });
    else relay.versionCreated(m.roomId, m.version);
  });
}

/**
 * Numbers the waiting jobs 1, 2, 3 ... in the order workers will take them (directors' first) and
 * tells the rooms whose numbers changed. Any node may run it after it changes the queue.
 */
async function renumber(queue: Queue, jobs: JobRepository, sink: JobSink): Promise<void> {
  const waiting = await queue.getJobs(['prioritized', 'waiting']);
  const rooms = new Map<string, StoredRecord[]>();
  const recs: StoredRecord[] = [];
  for (const bj of waiting) {
    const { roomId, jobId } = bj.data as BullData;
    if (!rooms.has(roomId)) rooms.set(roomId, (await jobs.listForRoom(roomId)) as StoredRecord[]);
    const rec = rooms.get(roomId)!.find((r) => r.job.id === jobId);
    if (rec && rec.job.state === 'queued') recs.push(rec);
  }
  await Promise.all(
    recs.sort(runOrder).map((rec, i) => {
      if (rec.job.position === i + 1) return;
      rec.job = { ...rec.job, position: i + 1 };
      return sink.save(rec);
    }),
  );
}

/** The API node's side: queues jobs in BullMQ and cancels them; the work is done by FixWorker. */
export class RedisFixQueue implements FixQueue {
  private readonly queue: Queue;

  constructor(
    private readonly redis: RedisLink,
    private readonly jobs: JobRepository,
    private readonly sink: JobSink,
    private readonly log: Logger,
  ) {
    this.queue = new Queue(QUEUE, bullOptions(redis));
    this.queue.on('error', (err) => log.error({ err: err.message }, 'fix queue: redis error'));
  }

  async add(rec: StoredRecord): Promise<void> {
    await this.bullAdd(rec);
    await renumber(this.queue, this.jobs, this.sink);
  }

  async cancel(rec: StoredRecord, by: Member): Promise<Job> {
    const bj = await this.queue.getJob(bullId(rec.job.id));
    // A waiting job is taken out of the queue; remove() refuses a job a worker holds (locked).
    const removed = bj ? await bj.remove().then(() => true, () => false) : false;
    if (removed || (!bj && rec.job.state === 'queued')) {
      await this.sink.save(finishJob(rec, 'cancelled', by));
      await renumber(this.queue, this.jobs, this.sink);
      return { ...rec.job };
    }
    // Running on a worker: it stops at once if it hears this, or when it starts the job.
    const key = this.redis.key('fix-cancel', rec.job.id);
    const message = JSON.stringify({ jobId: rec.job.id, by });
    await this.redis.command.set(key, message, { expiration: { type: 'EX', value: 3600 } });
    await this.redis.publish(this.redis.key('fix-control'), message);
    return { ...rec.job, state: 'cancelled' };
  }

  /**
   * Queues again the jobs the database says wait or run but Redis does not hold (a Redis that lost
   * its data, say). BullMQ ignores an id it already has, so every node may do this at start.
   */
  async resumeUnfinished(): Promise<void> {
    let requeued = 0;
    for (const rec of (await this.jobs.unfinished()) as StoredRecord[]) {
      if (await this.queue.getJob(bullId(rec.job.id))) continue;
      await this.bullAdd(rec);
      requeued++;
    }
    if (requeued) this.log.warn({ jobs: requeued }, 'queued again fixes that Redis did not hold');
  }

  async shutdown(): Promise<void> {
    await this.queue.close();
  }

  async idle(): Promise<boolean> {
    return (await this.jobs.unfinished()).length === 0;
  }

  private bullAdd(rec: StoredRecord) {
    const data: BullData = { roomId: rec.roomId, jobId: rec.job.id };
    // BullMQ: priority 1 is taken first; 0 would mean "no priority" and go before all of them.
    return this.queue.add('fix', data, { jobId: bullId(rec.job.id), priority: (rec.params.priority ?? 1) + 1, removeOnComplete: true, removeOnFail: true });
  }
}

/**
 * A GPU box's side: takes one job at a time from BullMQ and runs it. If this process dies, BullMQ
 * sees its lock lapse and another worker runs the job again from the start; the version is still
 * made once (one version per job id).
 */
export class FixWorker {
  private worker: Worker | null = null;
  private queue: Queue;
  private current: JobExecution | null = null;

  constructor(
    private readonly redis: RedisLink,
    private readonly deps: Omit<ExecutionDeps, 'shuttingDown'> & { jobs: JobRepository; lockMs: number },
  ) {
    this.queue = new Queue(QUEUE, bullOptions(redis));
  }

  async start(): Promise<void> {
    await this.redis.subscribe(this.redis.key('fix-control'), (buf) => {
      const { jobId, by } = JSON.parse(buf.toString()) as { jobId: string; by: Member };
      if (this.current?.jobId === jobId) void this.current.stop('cancelled', by);
    });
    const { lockMs, log } = this.deps;
    this.worker = new Worker(QUEUE, (bj) => this.process(bj), {
      ...bullOptions(this.redis),
      concurrency: 1,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      maxStalledCount: 3,
    });
    this.worker.on('error', (err) => log.error({ err: err.message }, 'fix worker: redis error'));
    await this.worker.waitUntilReady();
    log.info({ node: this.redis.nodeId, lockMs }, 'fix worker ready');
  }

  private async process(bj: BullJob): Promise<void> {
    const { roomId, jobId } = bj.data as BullData;
    const { jobs, log } = this.deps;
    const rec = ((await jobs.listForRoom(roomId)) as StoredRecord[]).find((r) => r.job.id === jobId);
    if (!rec || (rec.job.state !== 'queued' && rec.job.state !== 'running')) return; // cancelled meanwhile
    if (rec.job.state === 'running') log.warn({ room: roomId, job: jobId, attempt: bj.attemptsStarted }, 'running again a fix another worker left unfinished');
    rec.job = { ...rec.job, state: 'queued', position: 0, progress: 0, tilesDone: 0 };
    const exec = new JobExecution(rec, { ...this.deps, shuttingDown: () => false });
    this.current = exec;
    void renumber(this.queue, jobs, this.deps.sink).catch(() => {});
    try {
      const cancel = await this.redis.command.get(this.redis.key('fix-cancel', jobId));
      if (cancel) void exec.stop('cancelled', (JSON.parse(cancel.toString()) as { by: Member }).by);
      await exec.run();
    } finally {
      this.current = null;
    }
  }

  async close(): Promise<void> {
    await this.worker?.close();
    await this.queue.close();
  }
}

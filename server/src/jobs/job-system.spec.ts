/**
 * The job system's contract, held by both implementations: in-process, and BullMQ on a real Redis
 * (two systems sharing a prefix stand for two processes: one adds, the other works).
 */
import crypto from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { RedisLink } from '../cluster/redis.js';
import { LocalJobSystem } from './local.job-system.js';
import { BullJobSystem } from './bullmq.job-system.js';
import { done, skipped, type JobHandler, type JobSystem, type Outcome } from './job-system.js';

const log = createLogger('error');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

async function until<T>(check: () => T | undefined | false, what: string, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A system that adds, and one that works (the same one for the in-process kind). */
type Pair = { adder: JobSystem; worker: JobSystem };
const kinds: [string, () => Promise<Pair>][] = [
  ['in-process', async () => {
    const s = new LocalJobSystem(log);
    closers.push(() => s.stop());
    return { adder: s, worker: s };
  }],
  ['BullMQ on Redis', async () => {
    const prefix = `loupe-test-${crypto.randomBytes(4).toString('hex')}`;
    const a = await RedisLink.connect(REDIS_URL, prefix, log);
    const b = await RedisLink.connect(REDIS_URL, prefix, log);
    const adder = new BullJobSystem(a, log, 2000);
    const worker = new BullJobSystem(b, log, 2000);
    closers.push(async () => {
      await worker.stop();
      await adder.stop();
      await a.close();
      await b.close();
    });
    return { adder, worker };
  }],
];

describe.each(kinds)('job system (%s)', (_kind, make) => {
  it('runs jobs by priority within a lane, one at a time on the inference lane, and each key once', async () => {
    const { adder, worker } = await make();
    const ran: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const h: JobHandler<{ tag: string }> = {
      name: 'work',
      lane: 'inference',
      async run(d) {
        ran.push(d.tag);
        if (d.tag === 'first') await gate;
        return done();
      },
    };
    worker.register(h);
    await worker.start();
    if (adder !== worker) await adder.start();
    await adder.add('inference', 'work', { tag: 'first' }, { key: 'k:first', priority: 5 });
    await until(() => ran.length === 1, 'the first job to start');
    await adder.add('inference', 'work', { tag: 'chunk' }, { key: 'k:chunk', priority: 10 });
    await adder.add('inference', 'work', { tag: 'preview' }, { key: 'k:preview', priority: 1 });
    await adder.add('inference', 'work', { tag: 'preview-again' }, { key: 'k:preview', priority: 1 });
    const waiting = await adder.waiting('inference');
    expect(waiting.map((w) => w.key)).toEqual(['k:preview', 'k:chunk']);
    release();
    await until(() => ran.length === 3, 'all jobs');
    expect(ran).toEqual(['first', 'preview', 'chunk']);
  });

  it('runs a job again after a passing failure, and reports each outcome', async () => {
    const { adder, worker } = await make();
    const outcomes: string[] = [];
    let tries = 0;
    worker.register({
      name: 'flaky',
      lane: 'io',
      async run(_d: unknown, ctx): Promise<Outcome> {
        tries++;
        return ctx.attempt < 2 ? { status: 'failed', code: 'BUSY', message: 'try later', retry: true } : done();
      },
    });
    worker.register({ name: 'noop', lane: 'io', run: async () => skipped('nothing to do') });
    worker.onOutcome((name, _key, o) => outcomes.push(`${name}:${o.status}`));
    await worker.start();
    await adder.add('io', 'flaky', {}, { key: 'f1' });
    await adder.add('io', 'noop', {}, { key: 'n1' });
    await until(() => outcomes.includes('flaky:done') && outcomes.includes('noop:skipped'), 'the retry');
    expect(tries).toBe(2);
    expect(outcomes.filter((o) => o === 'flaky:failed')).toHaveLength(1);
  });

  it('waits the retryInMs the handler names before running a failed job again, and counts it as waiting meanwhile', async () => {
    const { adder, worker } = await make();
    const starts: number[] = [];
    worker.register({
      name: 'later',
      lane: 'io',
      async run(_d: unknown, ctx): Promise<Outcome> {
        starts.push(Date.now());
        return ctx.attempt < 2 ? { status: 'failed', code: 'BUSY', message: 'come back in 1.2 s', retry: true, retryInMs: 1200 } : done();
      },
    });
    await worker.start();
    await adder.add('io', 'later', {}, { key: 'r1' });
    await until(() => starts.length === 1, 'the first try');
    await new Promise((r) => setTimeout(r, 300));
    expect(await adder.count('io')).toBe(1);
    if (adder === worker) expect(worker.idle).toBe(false); // in this process, a retry waiting is work to wait for
    await until(() => starts.length === 2, 'the retry', 10_000);
    expect(starts[1] - starts[0]).toBeGreaterThanOrEqual(1150);
    expect(await adder.count('io')).toBe(0);
  });

  it('cancels a running job through its signal, and a waiting one by taking it out', async () => {
    const { adder, worker } = await make();
    const seen: string[] = [];
    worker.register({
      name: 'long',
      lane: 'media',
      async run(d: { tag: string }, ctx) {
        seen.push(`start ${d.tag}`);
        await new Promise<void>((resolve) => {
          if (ctx.signal.aborted) return resolve();
          ctx.signal.addEventListener('abort', () => resolve(), { once: true });
        });
        seen.push(`aborted ${d.tag}`);
        return skipped('cancelled');
      },
    });
    await worker.start();
    await adder.add('media', 'long', { tag: 'a' }, { key: 'a' });
    await adder.add('media', 'long', { tag: 'b' }, { key: 'b' });
    await until(() => seen.includes('start a'), 'job a to start');
    expect(await adder.remove('media', 'b')).toBe(true);
    await adder.cancel('media', 'a');
    await until(() => seen.includes('aborted a'), 'job a to see its cancel');
    await new Promise((r) => setTimeout(r, 200));
    expect(seen).not.toContain('start b');
  });
});

describe('job system (BullMQ on Redis, processes with different handlers on one lane)', () => {
  it('a job taken by a process without its handler, or whose handler answers elsewhere, is run by another; no attempt spent', async () => {
    const prefix = `loupe-test-${crypto.randomBytes(4).toString('hex')}`;
    const links = await Promise.all([0, 1].map(() => RedisLink.connect(REDIS_URL, prefix, log)));
    // P1 finalizes renders; P2 ingests, but only the uploads of its own folder ('f2').
    const [p1, p2] = links.map((l) => new BullJobSystem(l, log, 2000));
    closers.push(async () => {
      await p1.stop();
      await p2.stop();
      await Promise.all(links.map((l) => l.close()));
    });
    const ran: string[] = [];
    const outcomes: string[] = [];
    for (const p of [p1, p2]) p.onOutcome((name, key, o) => outcomes.push(`${name} ${key} ${o.status}`));
    p1.register({ name: 'finalize', lane: 'media', run: async (_d, ctx) => (ran.push(`p1 finalize ${ctx.key}`), done()) });
    p2.register({
      name: 'ingest',
      lane: 'media',
      run: async (d: { folder: string }, ctx): Promise<Outcome> => {
        if (d.folder !== 'f2') return { status: 'elsewhere', reason: 'another folder' };
        ran.push(`p2 ingest ${ctx.key} attempt ${ctx.attempt}`);
        return done();
      },
    });
    await Promise.all([p1.start(), p2.start()]);
    for (let i = 0; i < 4; i++) {
      await p1.add('media', 'finalize', {}, { key: `f${i}`, attempts: 1 });
      await p1.add('media', 'ingest', { folder: 'f2' }, { key: `i${i}`, attempts: 1 });
    }
    await until(() => ran.length === 8, 'every job run once', 20_000);
    expect(ran.filter((r) => r.startsWith('p1 finalize')).sort()).toEqual([0, 1, 2, 3].map((i) => `p1 finalize f${i}`));
    expect(ran.filter((r) => r.startsWith('p2 ingest')).map((r) => r.split(' ')[2]).sort()).toEqual(['i0', 'i1', 'i2', 'i3']);
    // An ingest of another folder: P2 hands it back each time, nobody else can run it, it is not failed.
    await p1.add('media', 'ingest', { folder: 'f9' }, { key: 'away', attempts: 1 });
    // Each hand-back is a delayed job that a worker picks up at its next poll (seconds apart on a busy box).
    await until(() => outcomes.filter((o) => o === 'ingest away elsewhere').length >= 3, 'handed back again and again', 30_000);
    expect(outcomes.filter((o) => !o.endsWith(' done') && !o.endsWith(' elsewhere'))).toEqual([]);
    expect(ran).toHaveLength(8);
  });
});

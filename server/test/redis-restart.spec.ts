import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { annotationsMap, type Job, type Version } from '@loupe/shared';
import { startServer, startWorker, type RunningServer } from '../src/main.js';
import { createLogger } from '../src/log.js';
import { demoRoom, draw, emitAck, joinRoom, stroke, testServer, until, type Member, freePort } from './helpers.js';

/**
 * Redis restarted (empty) under a scale-out run: a private redis-server on a free port, two API
 * nodes in this process, a fix worker started after the restart. The nodes must recover by
 * themselves: strokes cross again, and the fix queued in the Redis that was lost still runs.
 */
let redis: ChildProcess | null = null;
const open: (() => unknown)[] = [];


async function startRedis(port: number): Promise<void> {
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((r) => net.connect(port, '127.0.0.1').once('connect', function (this: net.Socket) { this.destroy(); r(true); }).once('error', () => r(false)));
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server did not start on port ${port} (apt-get install redis-server)`);
}

function stopRedis(): Promise<void> {
  const r = redis;
  redis = null;
  return new Promise((resolve) => (r && r.exitCode === null ? (r.once('exit', () => resolve()), r.kill('SIGKILL')) : resolve()));
}

afterAll(async () => {
  for (const fn of open.reverse()) await fn();
  await stopRedis();
});

describe('Redis restarted under a scale-out run', () => {
  it('the nodes recover without a manual step: strokes cross again and a fix runs', async () => {
    const port = await freePort();
    await startRedis(port);
    const seed = await testServer();
    const { room, token } = await demoRoom(seed, 'Redis restart');
    await seed.close();
    const redisCfg = { url: `redis://127.0.0.1:${port}`, prefix: 'restart' };
    const log = createLogger(process.env.LOUPE_TEST_LOG ?? 'silent');
    const node = () => startServer({ port: 0, host: '127.0.0.1', dataDir: seed.dataDir, redis: redisCfg, role: 'api', fixLockMs: 2000 }, { log });
    const A: RunningServer = await node();
    open.push(() => A.close());
    const B: RunningServer = await node();
    open.push(() => B.close());
    const join = async (s: RunningServer, role: string) => {
      const m: Member = await joinRoom(s.url, room.id, token(role));
      open.push(() => m.close());
      return m;
    };
    const onA = await join(A, 'artist');
    const onB = await join(B, 'director');
    const version = onA.state.versions[0].id;

    const before = stroke(version, 1);
    draw(onA, before);
    await until(() => annotationsMap(onB.doc).has(before.id), 'a stroke to cross before the restart');

    // A fix asked now waits in Redis for a worker (none runs yet).
    const versionsOnA: Version[] = [];
    onA.socket.on('version:created', (v) => versionsOnA.push(v));
    const region = { x: 0.25, y: 0.25, width: 128 / 1920, height: 128 / 1080 };
    const ack = await emitAck<{ job: Job }>(onB.socket, 'fix:request', {
      room: room.id, versionId: version, frame: 5, region, fix: 'upscale-x2', params: {}, idempotencyKey: 'before-redis-restart',
    });
    if (!ack.ok) throw new Error(ack.message);
    expect(ack.job.state).toBe('queued');

    // A second tab of the editor on A, closed while Redis is down: its hold on the room is released all
    // the same (the check of who is still here cannot ask the other node, and answers from A's view).
    const tab = await join(A, 'editor');
    const roomOnA = A.docs.get(room.id)!;
    const holdersWithTab = roomOnA.holders.size;
    await stopRedis();
    tab.close();
    await until(() => roomOnA.holders.size === holdersWithTab - 1, 'the closed tab to release the room on A');
    // Drawn while Redis is down: stored (and acknowledged) by node A, on its way to B once Redis is back.
    const during = stroke(version, 2);
    draw(onA, during);
    await onA.provider.whenAcked();
    await new Promise((r) => setTimeout(r, 500));
    await startRedis(port);

    await until(() => annotationsMap(onB.doc).has(during.id), 'the stroke drawn during the outage to reach B', 20_000);
    const after = stroke(version, 3);
    draw(onB, after);
    await until(() => annotationsMap(onA.doc).has(after.id), 'a stroke to cross after the restart', 20_000);

    // The queue lived in the Redis that was lost; the nodes queued the job again from the database.
    const worker = await startWorker({ dataDir: seed.dataDir, redis: redisCfg, fixLockMs: 2000 }, { log });
    open.push(() => worker.close());
    await until(() => versionsOnA.find((v) => v.provenance?.jobId === ack.job.id), 'the fix queued before the restart to make its version', 60_000);
    expect(onA.refusals).toEqual([]);
    expect(onB.refusals).toEqual([]);
  }, 120_000);
});

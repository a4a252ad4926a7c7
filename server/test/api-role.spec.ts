import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { AvailableFix, Job } from '@loupe/shared';
import { startServer, startWorker } from '../src/main.js';
import { createLogger } from '../src/log.js';
import { dropRedisKeys } from '../src/cluster/redis.js';
import { autoCleanup, demoRoom, emitAck, joinRoom, testServer, until, capturingLogger } from './helpers.js';

/**
 * ROLE=api: rooms, web and uploads; fixes run on the workers. Such a node reads the model catalogue
 * (to offer the fixes and check requests) but builds, hashes and opens no model, and starts no
 * inference process.
 */
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `loupe-test-${crypto.randomBytes(4).toString('hex')}`;
const cleanup = autoCleanup();

afterAll(() => dropRedisKeys(REDIS_URL, PREFIX));

/** The inference processes this test process has started (children running inference.worker.mjs). */
function psChildren(): string[] {
  try {
    return execFileSync('ps', ['-o', 'args=', '--ppid', String(process.pid)], { encoding: 'utf8' }).split('\n').filter((l) => l.includes('inference.worker'));
  } catch {
    return []; // ps exits 1 when there is no child
  }
}


const summary = (fixes: AvailableFix[]) => fixes.map((f) => `${f.id}: ${f.models.map((m) => m.id).join(',')}`);

describe('an API node (ROLE=api)', () => {
  it('opens no model and starts no inference process, offers the same fixes as an all-in-one node, and queues fix requests for the workers', async () => {
    // What an all-in-one node offers (it opens the models: its inference process is running).
    const all = await testServer();
    cleanup.push(() => all.close());
    const { room: r0, token: t0 } = await demoRoom(all);
    const m0 = await joinRoom(all.url, r0.id, t0('artist'));
    cleanup.push(() => m0.close());
    const offered = await emitAck<{ fixes: AvailableFix[] }>(m0.socket, 'fix:catalogue', { room: r0.id });
    if (!offered.ok) throw new Error(offered.message);
    expect(psChildren().length).toBeGreaterThan(0);
    await all.close();
    await until(() => psChildren().length === 0, 'the all-in-one node\'s inference process gone');

    const { log, lines } = capturingLogger();
    const api = await startServer(
      { port: 0, host: '127.0.0.1', dataDir: all.dataDir, roomIdleUnloadMs: 50, role: 'api', redis: { url: REDIS_URL, prefix: PREFIX } },
      { log },
    );
    cleanup.push(() => api.close());
    expect(await (await fetch(`${api.url}/healthz`)).json()).toEqual({ ok: true });
    expect(psChildren()).toEqual([]);
    const said = lines.map((l) => String(l.msg));
    expect(said).toContainEqual(expect.stringMatching(/none opened here \(this node runs no fixes/));
    expect(said.some((m) => m.startsWith('models ready'))).toBe(false);

    const artist = await joinRoom(api.url, r0.id, t0('artist'));
    cleanup.push(() => artist.close());
    const catalogue = await emitAck<{ fixes: AvailableFix[] }>(artist.socket, 'fix:catalogue', { room: r0.id });
    if (!catalogue.ok) throw new Error(catalogue.message);
    expect(summary(catalogue.fixes)).toEqual(summary(offered.fixes));

    // A fix asked on the API node is queued; a worker runs it and the room gets its version.
    const jobs: Job[] = [];
    artist.socket.on('fix:job', (j) => jobs.push(j));
    const region = { x: 480 / 1920, y: 270 / 1080, width: 300 / 1920, height: 200 / 1080 };
    const ack = await emitAck<{ job: Job }>(artist.socket, 'fix:request', {
      room: r0.id, versionId: artist.state.versions[0].id, frame: 3, region, fix: 'upscale-x2', params: {}, idempotencyKey: 'api-role-fix-0001',
    });
    if (!ack.ok) throw new Error(`${ack.code}: ${ack.message}`);
    expect(ack.job.state).toBe('queued');
    await new Promise((r) => setTimeout(r, 500));
    expect(psChildren()).toEqual([]);
    expect(jobs.some((j) => j.id === ack.job.id && j.state === 'running')).toBe(false);

    const worker = await startWorker({ dataDir: all.dataDir, redis: { url: REDIS_URL, prefix: PREFIX } }, { log: createLogger('silent') });
    cleanup.push(() => worker.close());
    await until(() => jobs.find((j) => j.id === ack.job.id && j.state === 'done'), 'the fix done by the worker', 90_000);
  });
});

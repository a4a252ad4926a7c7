/**
 * Webhooks on the job system with Redis (BullMQ): a delivery the receiver refuses with Retry-After
 * waits that long in Redis, not in a process's memory, so it is sent even when the node that queued it
 * has stopped meanwhile: another node (here a second one sharing the Redis prefix) sends it.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { RedisLink } from '../src/cluster/redis.js';
import { BullJobSystem } from '../src/jobs/bullmq.job-system.js';
import { createLogger } from '../src/log.js';
import { signBody, WebhookService, type WebhookSettings } from '../src/review/webhook.service.js';
import type { RoomRepository } from '../src/store/room.repository.js';
import type { WebhookRepository } from '../src/store/webhook.repository.js';
import { until } from './helpers.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const log = createLogger(process.env.LOUPE_TEST_LOG ?? 'silent');
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!().catch(() => {});
});

interface Got {
  at: number;
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

it('with Redis, a delivery refused with Retry-After is sent again after that wait, by another node once the first has stopped', async () => {
  const got: Got[] = [];
  const recv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = got.length === 0 ? 503 : 200;
      got.push({ at: Date.now(), status, headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.writeHead(status, status === 503 ? { 'retry-after': '2' } : {}).end();
    });
  });
  await new Promise<void>((r) => recv.listen(0, '127.0.0.1', () => r()));
  closers.push(() => new Promise((r) => recv.close(r)));
  const url = `http://127.0.0.1:${(recv.address() as AddressInfo).port}/hook`;

  const prefix = `loupe-test-${crypto.randomBytes(4).toString('hex')}`;
  const settings: WebhookSettings = { urls: [url], retryBaseMs: 50, maxAttempts: 4, timeoutMs: 5000, maxPending: 100 };
  // The room's own hooks and name: the server-wide URL is the one under test.
  const hooks = { list: async () => [] } as unknown as WebhookRepository;
  const rooms = { get: async () => ({ name: 'Grade review' }) } as unknown as RoomRepository;
  const node = async () => {
    const redis = await RedisLink.connect(REDIS_URL, prefix, log);
    const jobs = new BullJobSystem(redis, log, 2000);
    const webhooks = new WebhookService({ hooks, rooms, settings, log, jobs }, 'shared-secret');
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      await jobs.stop();
      await redis.close();
    };
    closers.push(stop);
    return { jobs, webhooks, stop };
  };

  const a = await node();
  await a.jobs.start();
  await a.webhooks.handle({ id: 7, roomId: 'room-1', at: new Date().toISOString(), type: 'version.decided', actor: { id: 'd', name: 'Dana', role: 'director' }, data: { decision: 'approved' } });
  await until(() => got.length === 1, 'the first try');
  expect(got[0].status).toBe(503);
  // Node A goes away while the retry waits; node B, started afterwards, sends it.
  await a.stop();
  const b = await node();
  await b.jobs.start();
  await until(() => got.length === 2, 'the retry, from node B', 15_000);

  const [first, second] = got;
  expect(second.status).toBe(200);
  expect(second.at - first.at).toBeGreaterThanOrEqual(1900); // the receiver's Retry-After (2 s), not the 50 ms back-off
  expect(second.headers['x-loupe-delivery']).toBe(first.headers['x-loupe-delivery']);
  expect([first.headers['x-loupe-attempt'], second.headers['x-loupe-attempt']]).toEqual(['1', '2']);
  expect(second.body).toBe(first.body);
  expect(second.headers['x-loupe-signature']).toBe(signBody('shared-secret', second.body));
  expect(JSON.parse(second.body)).toMatchObject({ event: 'version.decided', seq: 7, room: { id: 'room-1', name: 'Grade review' }, actor: { name: 'Dana' } });
  await until(async () => (await b.jobs.count('io')) === 0, 'nothing left waiting');
});

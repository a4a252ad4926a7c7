import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/main.js';
import { createLogger } from '../src/log.js';
import { dropRedisKeys } from '../src/cluster/redis.js';
import type { IngestRecord } from '../src/store/ingest.repository.js';
import { autoCleanup, tmpDataDir, until } from './helpers.js';
import { api, blob, ffmpeg, patch, settled } from './media-helpers.js';
import { freshPgDatabase } from './pg.js';

/**
 * Several API nodes on one shared data folder and one PostgreSQL database (docs/deploy.md), with
 * Redis: an ingest belongs to the node running it (a lease it renews), and a node that starts takes
 * over only the ingests of nodes that are gone.
 */
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `loupe-test-${crypto.randomBytes(4).toString('hex')}`;
const cleanup = autoCleanup();
let pg: Awaited<ReturnType<typeof freshPgDatabase>>;
let dataDir: string;
let movie: Buffer;

beforeAll(async () => {
  pg = await freshPgDatabase();
  dataDir = tmpDataDir();
  // Long enough to transcode that a second node starts while the first is at it.
  const file = path.join(tmpDataDir(), 'long.mp4');
  await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=24:duration=12', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-y', file]);
  movie = fs.readFileSync(file);
});

afterAll(async () => {
  await pg?.drop();
  await dropRedisKeys(REDIS_URL, PREFIX);
});

function node(leaseMs = 3000): Promise<RunningServer> {
  return startServer(
    { port: 0, host: '127.0.0.1', dataDir, databaseUrl: pg.url, redis: { url: REDIS_URL, prefix: PREFIX }, role: 'api', roomIdleUnloadMs: 50, ingestLeaseMs: leaseMs },
    { log: createLogger(process.env.LOUPE_TEST_LOG ?? 'silent') },
  );
}

async function roomOn(server: RunningServer) {
  const { room, invites } = await server.services.roomService.create('Lease room', { demo: false });
  return { room, artist: invites.find((i) => i.role === 'artist')!.token };
}

async function announce(server: RunningServer, token: string, name: string) {
  const created = await api(server.url, token, 'POST', '/api/ingests', { files: [{ name, size: movie.length }] });
  expect(created.status).toBe(201);
  return created.body.ingest as { id: string; files: { uploadUrl: string }[] };
}

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

describe('ingests on several nodes sharing a data folder', () => {
  it('a node that starts while another is transcoding an upload leaves it alone: one version, files intact', async () => {
    const a = await node();
    cleanup.push(() => a.close());
    const { room, artist } = await roomOn(a);
    const ingest = await announce(a, artist, 'long.mp4');
    expect((await patch(a.url, artist, ingest.files[0].uploadUrl, 0, movie)).status).toBe(204);
    await until(async () => (await api(a.url, artist, 'GET', `/api/ingests/${ingest.id}`)).body.ingest.stage === 'proxy', 'A making the proxy', 60_000);
    const work = path.join(dataDir, 'tmp', `ingest-${ingest.id}`);
    expect(fs.existsSync(work)).toBe(true);

    const b = await node();
    cleanup.push(() => b.close());
    // The point of the test: B's start happened while A was still at it.
    expect((await api(b.url, artist, 'GET', `/api/ingests/${ingest.id}`)).body.ingest.state).toBe('processing');
    expect(fs.existsSync(work)).toBe(true);

    const done = await settled(b.url, artist, ingest.id, 120_000);
    expect(done).toMatchObject({ state: 'done', error: null });
    await until(() => a.ingests.idle && b.ingests.idle, 'both queues idle');
    const versions = await a.services.versions.listForRoom(room.id);
    expect(versions).toHaveLength(1);
    expect(await a.services.rooms.shots(room.id)).toHaveLength(1);
    // The source kept is the uploaded file, byte for byte, and the proxy has every frame.
    const media = versions[0].media;
    expect(media.type).toBe('video');
    if (media.type !== 'video') return;
    expect(sha256(await blob(b.url, artist, media.source!.blob!))).toBe(sha256(movie));
    expect(media.frameCount).toBe(288);
    expect((await blob(a.url, artist, media.blob)).length).toBeGreaterThan(1000);
    expect(fs.existsSync(work)).toBe(false);
  });

  it('an ingest left by a node that died is taken over once its lease runs out, not before', async () => {
    const a = await node(1500);
    const { room, artist } = await roomOn(a);
    const ingest = await announce(a, artist, 'orphan.mp4');
    // All but the last byte arrive at A; then A goes away.
    expect((await patch(a.url, artist, ingest.files[0].uploadUrl, 0, movie.subarray(0, movie.length - 1))).status).toBe(204);
    await a.close();
    // As a crashed node leaves it: every byte in, queued under its lease, half a proxy in its work folder.
    fs.appendFileSync(path.join(dataDir, 'uploads', ingest.id, '0.part'), movie.subarray(movie.length - 1));
    const work = path.join(dataDir, 'tmp', `ingest-${ingest.id}`);
    fs.mkdirSync(work, { recursive: true });
    fs.writeFileSync(path.join(work, 'proxy.mp4'), 'half a proxy');
    const { IngestRepository } = await import('../src/store/ingest.repository.js');
    const { openDatabase } = await import('../src/store/database.js');
    const db = await openDatabase(dataDir, pg.url);
    const repo = new IngestRepository(db);
    const rec = (await repo.get(ingest.id))!;
    const until_ = new Date(Date.now() + 4000).toISOString();
    await repo.update({ ...rec, state: 'processing', stage: 'proxy', lease: { owner: 'gone-node', until: until_ } } satisfies IngestRecord);

    const b = await node(1500);
    cleanup.push(() => b.close());
    // The lease still holds: B does not touch it.
    expect((await repo.get(ingest.id))!.lease?.owner).toBe('gone-node');
    expect(fs.readFileSync(path.join(work, 'proxy.mp4'), 'utf8')).toBe('half a proxy');
    // Once it has run out, B's heartbeat takes it and makes the version.
    const done = await settled(b.url, artist, ingest.id, 120_000);
    expect(done.state).toBe('done');
    expect(Date.now()).toBeGreaterThan(Date.parse(until_));
    await until(() => b.ingests.idle, 'queue idle');
    expect(await b.services.versions.listForRoom(room.id)).toHaveLength(1);
    expect(fs.existsSync(work)).toBe(false);
    await db.destroy();
  });
});

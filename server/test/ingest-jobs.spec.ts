import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { MediaProgress, Version } from '@loupe/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/main.js';
import { createLogger } from '../src/log.js';
import { dropRedisKeys } from '../src/cluster/redis.js';
import { autoCleanup, freePort, joinRoom, tmpDataDir, until } from './helpers.js';
import { api, blob, ffmpeg, patch, settled } from './media-helpers.js';
import { freshPgDatabase } from './pg.js';

/**
 * Several API nodes on one shared data folder and one PostgreSQL database (docs/deploy.md), with
 * Redis: an upload is processed as an `ingest.process` job on the media lane (BullMQ). The job is
 * locked by the node running it: a node that starts leaves it alone, a node killed mid-transcode has
 * it finished by another once the lock lapses (FIX_LOCK_S), and a cancel from any node stops it.
 * Node A is a real `loupe serve` process (so it can be killed); node B runs in this process.
 */
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `loupe-test-${crypto.randomBytes(4).toString('hex')}`;
const BIN = path.resolve(import.meta.dirname, '../bin/loupe.mjs');
const LOCK_S = 2;
const cleanup = autoCleanup();
let pg: Awaited<ReturnType<typeof freshPgDatabase>>;
let dataDir: string;
let movie: Buffer;
let roomId: string;
let artist: string;

interface Proc {
  child: ChildProcess;
  output: string[];
  url: string;
}

beforeAll(async () => {
  pg = await freshPgDatabase();
  dataDir = tmpDataDir();
  // Long enough to transcode that a node is killed, or another starts, while the first is at it.
  const file = path.join(tmpDataDir(), 'long.mp4');
  await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=24:duration=12', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-y', file]);
  movie = fs.readFileSync(file);
  const seed = await nodeB();
  const { room, invites } = await seed.services.roomService.create('Ingest jobs room', { demo: false });
  roomId = room.id;
  artist = invites.find((i) => i.role === 'artist')!.token;
  await seed.close();
}, 120_000);

afterAll(async () => {
  await pg?.drop();
  await dropRedisKeys(REDIS_URL, PREFIX);
});

/** Node B: an API node in this process, on the shared data folder, database and Redis. */
function nodeB(): Promise<RunningServer> {
  return startServer(
    { port: 0, host: '127.0.0.1', dataDir, databaseUrl: pg.url, redis: { url: REDIS_URL, prefix: PREFIX }, role: 'api', roomIdleUnloadMs: 50, fixLockMs: LOCK_S * 1000 },
    { log: createLogger(process.env.LOUPE_TEST_LOG ?? 'silent') },
  );
}

/** Node A: `loupe serve` in a child process, once it answers /healthz. */
async function nodeA(): Promise<Proc> {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, '--data', dataDir, 'serve', '--port', String(port), '--no-demo'], {
    env: { ...process.env, DATABASE_URL: pg.url, REDIS_URL, REDIS_PREFIX: PREFIX, ROLE: 'api', HOST: '127.0.0.1', LOG_LEVEL: 'info', FIX_LOCK_S: String(LOCK_S) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  const a = { child, output, url: `http://127.0.0.1:${port}` };
  cleanup.push(() => kill(a));
  await until(async () => {
    if (child.exitCode !== null) throw new Error(`node A exited (${child.exitCode}):\n${output.join('').slice(-3000)}`);
    return (await fetch(`${a.url}/healthz`).catch(() => null))?.ok;
  }, 'node A answering', 90_000);
  return a;
}

function kill(p: Proc): Promise<void> {
  return new Promise((resolve) => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve();
    p.child.once('exit', () => resolve());
    p.child.kill('SIGKILL');
  });
}

/** Uploads the movie through `url` and waits until the node running it is making the proxy. */
async function uploadUntilProxy(url: string, name: string) {
  const created = await api(url, artist, 'POST', '/api/ingests', { files: [{ name, size: movie.length }] });
  expect(created.status).toBe(201);
  const ingest = created.body.ingest as { id: string; files: { uploadUrl: string }[] };
  expect((await patch(url, artist, ingest.files[0].uploadUrl, 0, movie)).status).toBe(204);
  await until(async () => (await api(url, artist, 'GET', `/api/ingests/${ingest.id}`)).body.ingest.stage === 'proxy', 'making the proxy', 60_000);
  return { ...ingest, work: path.join(dataDir, 'tmp', `ingest-${ingest.id}`), upload: path.join(dataDir, 'uploads', ingest.id) };
}

async function versionsOf(b: RunningServer): Promise<Version[]> {
  return b.services.versions.listForRoom(roomId);
}

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

describe('ingests on several nodes sharing a data folder (one job system)', () => {
  it('a node that starts while another is transcoding an upload leaves it alone: one version, files intact', async () => {
    // A alone: it takes the job.
    const a = await nodeA();
    const ingest = await uploadUntilProxy(a.url, 'long.mp4');
    expect(fs.existsSync(ingest.work)).toBe(true);

    const b = await nodeB();
    cleanup.push(() => b.close());
    // The point of the test: B's start happened while A was still at it, and B neither removed A's
    // work nor ran the ingest itself.
    expect((await api(b.url, artist, 'GET', `/api/ingests/${ingest.id}`)).body.ingest.state).toBe('processing');
    expect(fs.existsSync(ingest.work)).toBe(true);
    const done = await settled(b.url, artist, ingest.id, 120_000);
    expect(b.ingests.idle).toBe(true);
    expect(done).toMatchObject({ state: 'done', error: null });
    expect(a.output.join('')).toContain('ingest done: long.mp4');
    const versions = (await versionsOf(b)).filter((v) => v.label === 'long.mp4');
    expect(versions).toHaveLength(1);
    // The source kept is the uploaded file, byte for byte, and the proxy has every frame.
    const media = versions.find((v) => v.id === done.result!.versionId)!.media;
    expect(media.type).toBe('video');
    if (media.type !== 'video') return;
    expect(sha256(await blob(b.url, artist, media.source!.blob!))).toBe(sha256(movie));
    expect(media.frameCount).toBe(288);
    expect(fs.existsSync(ingest.work)).toBe(false);
    expect(fs.existsSync(ingest.upload)).toBe(false);
    await b.close();
    await kill(a);
  });

  it('a node killed mid-transcode has its ingest finished by the other once the lock lapses: one version, progress heard throughout', async () => {
    // A alone: it takes the job; then B starts, and a member on B hears what A and then B do.
    const a = await nodeA();
    const ingest = await uploadUntilProxy(a.url, 'killed.mp4');
    const b2 = await nodeB();
    cleanup.push(() => b2.close());
    const heard: MediaProgress[] = [];
    const created: Version[] = [];
    const m = await joinRoom(b2.url, roomId, artist);
    cleanup.push(() => m.close());
    m.socket.on('media:progress', (p: MediaProgress) => heard.push(p));
    m.socket.on('version:created', (v: Version) => created.push(v));
    // Progress made on A reaches the member on B.
    await until(() => heard.some((p) => p.uploadId === ingest.id && p.stage === 'proxy' && p.percent > 0), 'A\'s proxy progress heard on B', 30_000);
    expect(b2.ingests.idle).toBe(true);
    await kill(a);
    const killedAt = Date.now();
    await until(() => !b2.ingests.idle, 'B taking the ingest over', 30_000);
    const done = await settled(b2.url, artist, ingest.id, 120_000);
    expect(done).toMatchObject({ state: 'done', error: null });
    expect(Date.now() - killedAt).toBeGreaterThan(LOCK_S * 1000);
    // Exactly one version: the one B made (A died before storing any).
    const versions = (await versionsOf(b2)).filter((v) => v.label === 'killed.mp4');
    expect(versions.map((v) => v.id)).toEqual([done.result!.versionId]);
    const media = versions.find((v) => v.id === done.result!.versionId)!.media;
    if (media.type !== 'video') throw new Error('not a movie');
    expect(media.frameCount).toBe(288);
    expect(sha256(await blob(b2.url, artist, media.source!.blob!))).toBe(sha256(movie));
    await until(() => heard.some((p) => p.uploadId === ingest.id && p.stage === 'done'), 'done heard');
    await until(() => created.some((v) => v.id === done.result!.versionId), 'version heard');
    expect(created.filter((v) => v.id === done.result!.versionId)).toHaveLength(1);
    expect(fs.existsSync(ingest.work)).toBe(false);
    expect(fs.existsSync(ingest.upload)).toBe(false);
    await until(() => b2.ingests.idle, 'B idle');
  });

  it('a node on a data folder of its own does not run an upload received in another folder: it hands the job back', async () => {
    // A is busy with one upload when the next comes in: B, idle on the media lane, takes its job first.
    const a = await nodeA();
    const first = await uploadUntilProxy(a.url, 'first.mp4');
    const own = tmpDataDir();
    const b = await startServer(
      { port: 0, host: '127.0.0.1', dataDir: own, databaseUrl: pg.url, redis: { url: REDIS_URL, prefix: PREFIX }, role: 'api', roomIdleUnloadMs: 50, fixLockMs: LOCK_S * 1000 },
      { log: createLogger(process.env.LOUPE_TEST_LOG ?? 'silent') },
    );
    cleanup.push(() => b.close());
    const small = path.join(tmpDataDir(), 'second.mp4');
    await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=24:duration=1', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-y', small]);
    const bytes = fs.readFileSync(small);
    const created = await api(a.url, artist, 'POST', '/api/ingests', { files: [{ name: 'second.mp4', size: bytes.length }] });
    expect((await patch(a.url, artist, created.body.ingest.files[0].uploadUrl, 0, bytes)).status).toBe(204);
    let ranOnB = false;
    const watch = setInterval(() => (ranOnB ||= !b.ingests.idle), 20);
    cleanup.push(() => clearInterval(watch));
    const second = await settled(b.url, artist, created.body.ingest.id, 120_000);
    clearInterval(watch);
    expect(second).toMatchObject({ state: 'done', error: null });
    expect((await settled(b.url, artist, first.id, 120_000)).state).toBe('done');
    expect(ranOnB).toBe(false);
    expect(a.output.join('')).toContain('ingest done: second.mp4');
    expect(fs.existsSync(path.join(own, 'uploads', created.body.ingest.id))).toBe(false);
    expect((await versionsOf(b)).filter((v) => v.label === 'second.mp4')).toHaveLength(1);
    await b.close();
    await kill(a);
  });

  it('a cancel on one node stops the ingest the other is transcoding: nothing made, its files removed', async () => {
    const a = await nodeA();
    const ingest = await uploadUntilProxy(a.url, 'cancelled.mp4');
    const b = await nodeB();
    cleanup.push(() => b.close());
    const del = await fetch(`${b.url}${ingest.files[0].uploadUrl}`, { method: 'DELETE', headers: { authorization: `Bearer ${artist}`, 'tus-resumable': '1.0.0' } });
    expect(del.status).toBe(204);
    expect((await settled(b.url, artist, ingest.id)).state).toBe('cancelled');
    await until(() => a.output.join('').includes('ingest cancelled while processing: cancelled.mp4'), 'A stopping the ingest', 30_000);
    await until(() => !fs.existsSync(ingest.work) && !fs.existsSync(ingest.upload), 'its files removed', 30_000);
    // Well after: still cancelled, nothing created, nothing left, and no node ran it again.
    await new Promise((r) => setTimeout(r, (LOCK_S + 1) * 1000));
    expect((await api(a.url, artist, 'GET', `/api/ingests/${ingest.id}`)).body.ingest).toMatchObject({ state: 'cancelled', result: null });
    expect((await versionsOf(b)).filter((v) => v.label === 'cancelled.mp4')).toHaveLength(0);
    expect(fs.existsSync(ingest.work)).toBe(false);
    expect(b.ingests.idle).toBe(true);
    expect(a.output.join('')).not.toContain('ingest done: cancelled.mp4');
  });
});

describe('ingests on one node alone (the in-process job system)', () => {
  it('a cancel while the upload is being processed aborts its job: nothing made, its files removed', async () => {
    const dir = tmpDataDir();
    const alone = await startServer({ port: 0, host: '127.0.0.1', dataDir: dir }, { log: createLogger(process.env.LOUPE_TEST_LOG ?? 'silent') });
    cleanup.push(() => alone.close());
    const { room, invites } = await alone.services.roomService.create('Alone', { demo: false });
    const token = invites.find((i) => i.role === 'artist')!.token;
    const created = await api(alone.url, token, 'POST', '/api/ingests', { files: [{ name: 'alone.mp4', size: movie.length }] });
    const ingest = created.body.ingest as { id: string; files: { uploadUrl: string }[] };
    expect((await patch(alone.url, token, ingest.files[0].uploadUrl, 0, movie)).status).toBe(204);
    await until(async () => (await api(alone.url, token, 'GET', `/api/ingests/${ingest.id}`)).body.ingest.stage === 'proxy', 'making the proxy', 60_000);
    expect(alone.ingests.idle).toBe(false);
    const del = await fetch(`${alone.url}${ingest.files[0].uploadUrl}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0' } });
    expect(del.status).toBe(204);
    await until(() => alone.ingests.idle, 'the job aborted', 10_000);
    expect((await api(alone.url, token, 'GET', `/api/ingests/${ingest.id}`)).body.ingest).toMatchObject({ state: 'cancelled', stage: 'cancelled', result: null });
    expect(await alone.services.versions.listForRoom(room.id)).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'uploads', ingest.id))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'tmp', `ingest-${ingest.id}`))).toBe(false);
  });
});

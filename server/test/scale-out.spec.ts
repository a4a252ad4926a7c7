import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'redis';
import { annotationsMap, type Job, type RenderedFrame } from '@loupe/shared';
import { openDatabase } from '../src/store/database.js';
import { dropRedisKeys } from '../src/cluster/redis.js';
import { VersionRepository } from '../src/store/version.repository.js';
import { freshPgDatabase } from './pg.js';
import { openServices } from '../src/main.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { askLongFix, demoRoom, draw, emitAck, joinRoom, listenFixes, rejoin, resumedCounts, stillPixels, stroke, testServer, tileIndices, until, type Member, freePort } from './helpers.js';

/**
 * Scale-out against the Redis and PostgreSQL running on this machine (REDIS_URL, default
 * 127.0.0.1:6379; LOUPE_TEST_PG_URL): two API processes on two ports and fix workers, all real
 * `loupe` processes sharing one PostgreSQL database (fresh per run) and one blob folder, each run
 * under its own Redis key prefix.
 */
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `loupe-test-${crypto.randomBytes(4).toString('hex')}`;
const BIN = fileURLToPath(new URL('../bin/loupe.mjs', import.meta.url));

interface Proc {
  name: string;
  child: ChildProcess;
  output: string[];
  url: string;
}

const procs: Proc[] = [];


function start(name: string, args: string[], env: Record<string, string>, port = 0): Proc {
  const child = spawn(process.execPath, [BIN, '--data', dataDir, ...args], {
    env: { ...process.env, REDIS_URL, REDIS_PREFIX: PREFIX, HOST: '127.0.0.1', LOG_LEVEL: 'info', FIX_LOCK_S: '2', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  const p = { name, child, output, url: `http://127.0.0.1:${port}` };
  procs.push(p);
  return p;
}

async function apiNode(name: string): Promise<Proc> {
  const port = await freePort();
  const p = start(name, ['serve', '--port', String(port), '--no-demo'], { ROLE: 'api' }, port);
  await until(() => p.child.exitCode === null || fail(p), `${name} running`);
  await waitFor(async () => (await fetch(`${p.url}/healthz`).catch(() => null))?.status === 200, p, 90_000);
  return p;
}

async function workerNode(name: string): Promise<Proc> {
  const p = start(name, ['worker'], { ROLE: 'worker' });
  await waitFor(async () => p.output.join('').includes('job worker ready'), p, 90_000);
  return p;
}

function fail(p: Proc): never {
  throw new Error(`${p.name} exited (${p.child.exitCode}):\n${p.output.join('').slice(-3000)}`);
}

async function waitFor(check: () => Promise<boolean>, p: Proc, timeoutMs: number) {
  const startAt = Date.now();
  for (;;) {
    if (p.child.exitCode !== null) fail(p);
    if (await check()) return;
    if (Date.now() - startAt > timeoutMs) throw new Error(`${p.name} not ready after ${timeoutMs} ms:\n${p.output.join('').slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function kill(p: Proc): Promise<void> {
  return new Promise((resolve) => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve();
    p.child.once('exit', () => resolve());
    p.child.kill('SIGKILL');
  });
}

/** What one member hears about fixes. */
const listen = (m: Member) => listenFixes(m.socket);

const keys = (m: Member) => [...annotationsMap(m.doc).keys()].sort();

let dataDir: string;
let pgDb: Awaited<ReturnType<typeof freshPgDatabase>>;
let roomId: string;
let token: (role: string) => string;
let A: Proc;
let B: Proc;
const members: Member[] = [];

beforeAll(async () => {
  const redis = createClient({ url: REDIS_URL });
  await redis.connect().catch((e: Error) => {
    throw new Error(`These tests need Redis at ${REDIS_URL} (apt-get install redis-server): ${e.message}`);
  });
  await redis.close();
  pgDb = await freshPgDatabase();
  process.env.DATABASE_URL = pgDb.url; // this test file's servers, and the nodes it starts
  // A data folder with the demo shot and a room, made by an ordinary server, then shared by all nodes.
  const seed = await testServer();
  dataDir = seed.dataDir;
  const r = await demoRoom(seed, 'Scale-out room');
  roomId = r.room.id;
  token = r.token;
  await seed.close();
  [A, B] = await Promise.all([apiNode('api-A'), apiNode('api-B')]);
}, 180_000);

afterAll(async () => {
  for (const m of members) m.close();
  await Promise.all(procs.map(kill));
  await dropRedisKeys(REDIS_URL, PREFIX);
  delete process.env.DATABASE_URL;
  await pgDb?.drop();
});

async function member(node: Proc, role: string): Promise<Member> {
  const m = await joinRoom(node.url, roomId, token(role));
  members.push(m);
  return m;
}

describe('scale-out: two API nodes and fix workers on Redis', () => {
  it('a member on node A draws and a member on node B sees it; presence and playback cross too', async () => {
    const onA = await member(A, 'director');
    // Presence set before node B holds the room at all: B asks A for it when it loads the room.
    onA.awareness.setLocalStateField('user', { name: 'Director on A' });
    await new Promise((r) => setTimeout(r, 200));
    const onB = await member(B, 'artist');
    await until(() => onB.awareness.getStates().get(onA.awareness.clientID)?.user, "A's presence on B, set before B loaded the room");
    const version = onA.state.versions[0].id;

    const updatesOnB: number[] = [];
    onB.socket.on('y:sync', (m) => updatesOnB.push(m.data.byteLength));
    const a = stroke(version, 3);
    draw(onA, a);
    await onA.provider.whenAcked();
    await until(() => annotationsMap(onB.doc).get(a.id), 'the stroke drawn on A to reach B');
    await new Promise((r) => setTimeout(r, 300)); // a duplicate, if any, would land now
    expect(updatesOnB).toHaveLength(1); // once: not again through the Socket.IO adapter
    const b = stroke(version, 4);
    draw(onB, b);
    await until(() => annotationsMap(onA.doc).get(b.id), 'the stroke drawn on B to reach A');
    expect(annotationsMap(onB.doc).get(a.id)).toMatchObject({ author: { id: onA.state.member.id } });

    onA.awareness.setLocalStateField('cursor', { x: 0.25, y: 0.5 });
    await until(() => onB.awareness.getStates().get(onA.awareness.clientID)?.cursor, "A's cursor on B");

    // The director presents on A; a member who joins on B lands on the presenter's frame.
    const presenting = new Promise((resolve) => onB.socket.once('presenter:state', resolve));
    const p = await emitAck(onA.socket, 'presenter:set', { room: roomId, presenterId: onA.state.member.id, control: 'presenter' });
    expect(p.ok).toBe(true);
    expect(await presenting).toMatchObject({ presenterId: onA.state.member.id });
    const set = await emitAck<{ state: { seq: number } }>(onA.socket, 'playback:set', {
      room: roomId,
      state: { versionId: version, frame: 42, playing: false, rate: 1, loop: null, compare: { mode: 'off', versionB: null, wipe: 0.5, showing: 'A' } },
    });
    if (!set.ok) throw new Error(set.message);
    const late = await member(B, 'viewer');
    expect(late.state.presentation).toMatchObject({ presenterId: onA.state.member.id });
    expect(late.state.playback).toMatchObject({ frame: 42, seq: set.state.seq });
    expect(keys(late)).toEqual([a.id, b.id].sort());
  }, 60_000);

  it('a fix asked on node B streams its tiles once to members on both nodes, and makes one version', async () => {
    const worker = await workerNode('worker-1');
    const artistB = await member(B, 'artist');
    const directorA = await member(A, 'director');
    const editorB = await member(B, 'editor');
    const heard = [artistB, directorA, editorB].map(listen);

    const region = { x: 480 / 1920, y: 270 / 1080, width: 300 / 1920, height: 200 / 1080 };
    const ack = await emitAck<{ job: Job }>(artistB.socket, 'fix:request', {
      room: roomId, versionId: artistB.state.versions[0].id, frame: 30, region, fix: 'upscale-x2', params: {}, idempotencyKey: 'scale-out-fix-0001',
    });
    if (!ack.ok) throw new Error(ack.message);
    for (const h of heard) await until(() => h.versions.some((v) => v.provenance?.jobId === ack.job.id), 'the version on every member', 60_000);
    await new Promise((r) => setTimeout(r, 300)); // a duplicate, if any, would land now

    const done = heard[1].jobs.find((j) => j.id === ack.job.id && j.state === 'done')!;
    expect(done.tilesTotal).toBe(6);
    for (const h of heard) {
      const tiles = h.tiles.filter((t) => t.jobId === ack.job.id && !t.preview);
      expect(tiles.map((t) => t.index).sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(h.versions.filter((v) => v.provenance?.jobId === ack.job.id)).toHaveLength(1);
      expect(h.jobs.filter((j) => j.id === ack.job.id && j.state === 'done')).toHaveLength(1);
    }
    expect(worker.output.join('')).toContain(ack.job.id); // the worker process ran it, not an API node
  }, 150_000);

  it('when the worker is killed mid-job, another worker resumes it from its checkpoint: what was sent is not computed or sent again, one version, the pixels of a run not interrupted', async () => {
    const w1 = procs.find((p) => p.name === 'worker-1')!;
    const artist = await member(A, 'artist');
    const heard = listen(artist);
    const tilesOf = (jobId: string) => tileIndices(heard, jobId);
    const jobId = await askLongFix(artist, roomId, 'scale-out-fix-0002');
    const checkpoint = path.join(dataDir, 'tmp', `fix-${jobId}`);
    await until(() => tilesOf(jobId).length >= 6, 'six tiles', 60_000);
    await kill(w1);
    const before = tilesOf(jobId);
    const doneBefore = Math.max(...heard.jobs.filter((j) => j.id === jobId).map((j) => j.tilesDone));
    expect(heard.jobs.some((j) => j.id === jobId && j.state === 'done')).toBe(false);
    // Each batch of tiles is in the checkpoint before its tiles leave.
    expect(fs.readdirSync(checkpoint).filter((f) => /^b\d+\.ckpt$/.test(f)).length).toBeGreaterThan(0);
    const mark = heard.jobs.length;

    const w2 = await workerNode('worker-2');
    const done = await until(() => heard.jobs.find((j) => j.id === jobId && j.state === 'done'), 'the job done by the second worker', 120_000);
    await new Promise((r) => setTimeout(r, 300)); // a duplicate, if any, would land now
    expect(done.tilesTotal).toBe(48);
    expect(w2.output.join('')).toContain(jobId);
    // The second worker loaded what the first one computed and computed only the rest (its engine's count) ...
    const { restored, computed, total } = resumedCounts(w2.output, jobId);
    expect(total).toBe(48);
    expect(restored).toBeGreaterThanOrEqual(before.length);
    expect(restored + computed).toBe(48);
    // ... and sent none of the tiles the member had: every tile reached the member once.
    const after = tilesOf(jobId).slice(before.length);
    expect(after.filter((i) => before.includes(i))).toEqual([]);
    expect(tilesOf(jobId).sort((x, y) => x - y)).toEqual(Array.from({ length: 48 }, (_, i) => i));
    // The job never went back to 'queued', and its count of tiles never back.
    const later = heard.jobs.slice(mark).filter((j) => j.id === jobId);
    expect(later.map((j) => j.state).filter((s) => s !== 'running' && s !== 'done')).toEqual([]);
    const counts = [doneBefore, ...later.map((j) => j.tilesDone)];
    expect(counts.filter((n, i) => i > 0 && n < counts[i - 1])).toEqual([]);
    // Its checkpoint goes with the job (removed as its run ends, just after 'done' is told).
    await until(() => !fs.existsSync(checkpoint), 'the checkpoint removed', 5000);

    const db = await openDatabase(dataDir, pgDb.url);
    const made = (await new VersionRepository(db).listForRoom(roomId)).filter((v) => v.provenance?.jobId === jobId);
    expect(made).toHaveLength(1);
    expect(made[0].id).toBe(done.resultVersionId);
    // The same fix again, not interrupted: the same pixels.
    const refId = await askLongFix(artist, roomId, 'scale-out-fix-0003');
    const ref = await until(() => heard.jobs.find((j) => j.id === refId && j.state === 'done'), 'the reference run', 120_000);
    const versions = await new VersionRepository(db).listForRoom(roomId);
    await db.destroy();
    const pixels = (versionId: string | null) => stillPixels(dataDir, versions.find((x) => x.id === versionId)!);
    const [a, b] = await Promise.all([pixels(done.resultVersionId), pixels(ref.resultVersionId)]);
    expect(a.info).toMatchObject({ width: 2048, height: 1536 });
    expect(a.info).toEqual(b.info);
    expect(a.data.equals(b.data)).toBe(true);
    await until(() => !fs.existsSync(path.join(dataDir, 'tmp', `fix-${refId}`)), "the reference run's checkpoint removed", 5000);
  }, 360_000);

  it('a shot render spreads its chunks over two workers; one killed mid-render, its chunk runs again elsewhere: each frame stored once, one version', async () => {
    const w3 = await workerNode('worker-3');
    const w2 = procs.find((p) => p.name === 'worker-2')!;
    const artist = await member(B, 'artist');
    const director = await member(A, 'director');
    const frames: RenderedFrame[] = [];
    director.socket.on('fix:frame', (f) => frames.push(f));
    const heard = listen(director);
    const ack = await emitAck<{ job: Job }>(artist.socket, 'fix:request', {
      room: roomId, versionId: artist.state.versions[0].id, frame: 0, fix: 'exposure', params: { exposure: 0.5 },
      scope: 'shot', range: { in: 0, out: 29 }, idempotencyKey: 'scale-out-shot-0001',
    });
    if (!ack.ok) throw new Error(ack.message);
    const jobId = ack.job.id;
    // Both workers take chunks ('render chunk done' names the job); then one dies mid-chunk.
    await until(() => w2.output.join('').includes(jobId) && w3.output.join('').includes(jobId) && frames.length >= 8, 'both workers at work', 120_000);
    await kill(w3);
    const version = await until(() => heard.versions.find((v) => v.provenance?.jobId === jobId), 'the version', 180_000);
    await new Promise((r) => setTimeout(r, 300));
    const got = frames.filter((f) => f.jobId === jobId).map((f) => f.frame).sort((a, b) => a - b);
    expect(got).toEqual(Array.from({ length: 30 }, (_, i) => i)); // every frame, each once
    const db = await openDatabase(dataDir, pgDb.url);
    const stored = await db.selectFrom('render_frames').select('frame').where('job_id', '=', jobId).execute();
    const made = (await new VersionRepository(db).listForRoom(roomId)).filter((v) => v.provenance?.jobId === jobId);
    await db.destroy();
    expect(stored).toHaveLength(30);
    expect(made.map((v) => v.id)).toEqual([version.id]);
    expect(version.media).toMatchObject({ type: 'video', source: { kind: 'render', range: { in: 0, out: 29 } } });
  }, 360_000);

  it('a revoked invite is closed out of both nodes within seconds', async () => {
    const services = await openServices(loadConfig(process.env, { dataDir }), createLogger('silent'), () => {});
    const invite = await services.roomService.invite(roomId, 'artist', 'Leaving artist');
    const onA = await joinRoom(A.url, roomId, invite.token);
    const onB = await joinRoom(B.url, roomId, invite.token);
    members.push(onA, onB);
    const other = await member(B, 'editor');
    const ended = [onA, onB].map((m) => {
      const e = { code: '', disconnected: false };
      m.socket.on('room:error', (r) => (e.code = r.code));
      m.socket.on('disconnect', () => (e.disconnected = true));
      return e;
    });
    await services.inviteRows.revoke(invite.id, new Date().toISOString());
    await services.db.destroy();
    const revokedAt = Date.now();
    await until(() => ended.every((e) => e.disconnected), 'the revoked invite closed on A and on B', 10_000);
    expect(Date.now() - revokedAt).toBeLessThan(5_000);
    expect(ended).toEqual([{ code: 'TOKEN_REVOKED', disconnected: true }, { code: 'TOKEN_REVOKED', disconnected: true }]);
    expect(other.socket.connected).toBe(true);
  }, 60_000);

  it('when node A is killed, its members reconnect to node B and converge with no acknowledged annotation lost', async () => {
    const version = members[0].state.versions[0].id;
    let onA = await member(A, 'artist');
    let directorA = await member(A, 'director');
    const onB = await member(B, 'editor');
    // Both draw on A; each stroke is acknowledged (stored) before A dies.
    const acked = [stroke(version, 10), stroke(version, 11), stroke(version, 12)];
    draw(onA, acked[0]);
    draw(directorA, acked[1]);
    draw(onA, acked[2]);
    await Promise.all([onA.provider.whenAcked(), directorA.provider.whenAcked()]);
    await kill(A);

    onA = await rejoin(onA, B.url, roomId, token('artist'));
    directorA = await rejoin(directorA, B.url, roomId, token('director'));
    members.push(onA, directorA);
    const after = stroke(version, 13);
    draw(directorA, after);
    await until(() => keys(onB).length === keys(onA).length && keys(onA).join() === keys(directorA).join() && keys(onB).join() === keys(onA).join() && annotationsMap(onB.doc).has(after.id), 'the three members to converge', 20_000);
    for (const a of acked) expect(annotationsMap(onB.doc).has(a.id)).toBe(true);
    expect(onA.refusals).toEqual([]);
  }, 60_000);
});

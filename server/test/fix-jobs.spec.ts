/**
 * Fix jobs on a real server: cancel, directors first, per-member limit, timeout, stale marking,
 * provenance in the database + sidecar JSON + PNG text chunk, remove-object with a mask, the
 * catalogue event, a crash of the inference worker mid-job, and studio models from LOUPE_MODELS_DIR
 * (a good one used, a bad one refused).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '@loupe/models';
import { PROVENANCE_PNG_KEYWORD, type AvailableFix, type Job, type Provenance, type Version } from '@loupe/shared';
import { startServer } from '../src/main.js';
import { createLogger } from '../src/log.js';
import { readPngText } from '../src/fixes/png-text.js';
import { autoCleanup, demoRoom, emitAck, joinRoom, testServer, until, roomWith } from './helpers.js';

const cleanup = autoCleanup();
const big = { x: 0, y: 0, width: 512 / 1920, height: 512 / 1080 };
let keys = 0;
const key = () => `fix-jobs-key-${process.pid}-${keys++}`;

describe('fix jobs', () => {
  it('cancel, directors first, per-member limit, stale marking, and the catalogue', async () => {
    const { server, room, token, members: [artist, director, viewer] } = await roomWith(cleanup, 'artist', 'director', 'viewer');
    const jobs = new Map<string, Job>();
    director.socket.on('fix:job', (j) => jobs.set(j.id, j));
    const source = artist.state.versions[0];
    const ask = (who: typeof artist, fix: string, region = big, params = {}) =>
      emitAck<{ job: Job }>(who.socket, 'fix:request', { room: room.id, versionId: source.id, frame: 3, region, fix, params, idempotencyKey: key() });

    const catalogue = await emitAck<{ fixes: AvailableFix[] }>(viewer.socket, 'fix:catalogue', { room: room.id });
    if (!catalogue.ok) throw new Error(catalogue.message);
    expect(catalogue.fixes.map((f) => f.id)).toEqual(['upscale-x2', 'upscale-x4', 'exposure', 'match-grade', 'denoise', 'remove-object', 'deblur', 'low-light']);
    expect(catalogue.fixes.find((f) => f.id === 'upscale-x4')!.models.map((m) => m.id)).toEqual(['esrgan-medium-x4', 'esrgan-slim-x4']);

    // A long job runs; the artist queues another; the director's goes before it.
    const a = await ask(artist, 'upscale-x4', big, { model: 'esrgan-medium-x4' });
    if (!a.ok) throw new Error(a.message);
    await until(() => jobs.get(a.job.id)?.state === 'running', 'job A running');
    const b = await ask(artist, 'denoise');
    const c = await ask(director, 'exposure');
    if (!b.ok || !c.ok) throw new Error('refused');
    await until(() => jobs.get(b.job.id)?.position === 2 && jobs.get(c.job.id)?.position === 1, 'director first');
    // Per-member limit: A running + B queued + one more = 3; the fourth is refused.
    const d = await ask(artist, 'denoise');
    expect(d.ok).toBe(true);
    expect(await ask(artist, 'denoise')).toMatchObject({ ok: false, code: 'QUEUE_FULL' });
    // Only the requester or a director may cancel.
    expect(await emitAck(viewer.socket, 'fix:cancel', { room: room.id, jobId: a.job.id })).toMatchObject({ ok: false, code: 'FORBIDDEN_ROLE' });
    expect(await emitAck(artist.socket, 'fix:cancel', { room: room.id, jobId: 'nope' })).toMatchObject({ ok: false, code: 'JOB_NOT_FOUND' });
    // Cancel the queued ones (director) and the running one (requester).
    for (const j of [b, d]) expect(await emitAck(director.socket, 'fix:cancel', { room: room.id, jobId: j.ok && j.job.id })).toMatchObject({ ok: true });
    const cancelled = await emitAck<{ job: Job }>(artist.socket, 'fix:cancel', { room: room.id, jobId: a.job.id });
    expect(cancelled).toMatchObject({ ok: true, job: { state: 'cancelled' } });
    await until(() => jobs.get(a.job.id)?.state === 'cancelled', 'A cancelled');
    expect(jobs.get(b.job.id)).toMatchObject({ state: 'cancelled', cancelledBy: { role: 'director' } });
    expect(await emitAck(artist.socket, 'fix:cancel', { room: room.id, jobId: a.job.id })).toMatchObject({ ok: false, code: 'JOB_FINISHED' });
    // The director's job still runs to the end on a fresh worker; no version from the cancelled ones.
    await until(() => jobs.get(c.job.id)?.state === 'done', 'C done', 60_000);
    const ai = (await server.services.versions.listForRoom(room.id)).filter((v) => v.kind === 'ai');
    expect(ai.map((v) => v.provenance!.jobId)).toEqual([c.job.id]);

    // Stale: the source changes while a job runs (versions are immutable today; simulate it in the database).
    const e = await ask(artist, 'upscale-x2', big);
    if (!e.ok) throw new Error(e.message);
    await until(() => (jobs.get(e.job.id)?.tilesDone ?? 0) > 0, 'E under way', 60_000);
    const media = { ...source.media, blob: 'f'.repeat(64) };
    await server.services.db.updateTable('versions').set({ media: JSON.stringify(media) }).where('id', '=', source.id).execute();
    const done = await until(() => (jobs.get(e.job.id)?.state === 'done' ? jobs.get(e.job.id) : null), 'E done', 90_000);
    expect(done.stale).toBe(true);
    expect((await server.services.versions.get(done.resultVersionId!))!.provenance).toMatchObject({ stale: true, source: { mediaSha256: source.media.blob } });
  });

  it('remove object on a mask: provenance in the database, a sidecar JSON and the PNG, with the mask hash', async () => {
    const { server, room, token, members: [artist] } = await roomWith(cleanup, 'artist');
    const created = new Promise<Version>((r) => artist.socket.once('version:created', r));
    const tiles: { preview?: boolean }[] = [];
    artist.socket.on('fix:tile', (t) => tiles.push(t));
    const region = { x: 0.3, y: 0.3, width: 0.1, height: 0.1, mask: [[0.32, 0.32], [0.38, 0.32], [0.38, 0.38], [0.32, 0.38]] as [number, number][] };
    const noMask = await emitAck(artist.socket, 'fix:request', { room: room.id, versionId: artist.state.versions[0].id, frame: 5, region: { ...region, mask: undefined }, fix: 'remove-object', params: {}, idempotencyKey: key() });
    expect(noMask).toMatchObject({ ok: false, code: 'MASK_REQUIRED' });
    const ack = await emitAck<{ job: Job }>(artist.socket, 'fix:request', { room: room.id, versionId: artist.state.versions[0].id, frame: 5, region, fix: 'remove-object', params: {}, idempotencyKey: key() });
    if (!ack.ok) throw new Error(ack.message);
    const v = await created;
    const p = v.provenance!;
    expect(p).toMatchObject({ fix: 'remove-object', provider: 'js', model: { id: 'patchmatch' }, computed: { method: 'patchmatch' }, stale: false });
    expect(p.model.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(p.mask!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(p.source!.frameSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(tiles.some((t) => t.preview)).toBe(true);
    // The sidecar holds the same provenance; the PNG carries it too (without its own hash).
    const sidecar = JSON.parse(fs.readFileSync(await server.services.blobs.localPath(p.sidecarSha256!), 'utf8')) as Provenance;
    expect(sidecar).toEqual({ ...p, sidecarSha256: undefined });
    const text = readPngText(fs.readFileSync(await server.services.blobs.localPath(v.media.blob)));
    const embedded = JSON.parse(text[PROVENANCE_PNG_KEYWORD]);
    // PatchMatch is code, not a learned model: the record says so.
    expect(embedded).toMatchObject({ jobId: ack.job.id, aiMade: false, mask: { sha256: p.mask!.sha256 }, model: { id: 'patchmatch', kind: 'algorithm', technique: 'PatchMatch' } });
    expect(fs.existsSync(await server.services.blobs.localPath(p.mask!.sha256))).toBe(true);
  });

  it('times out a job that runs too long, leaving no version', async () => {
    const first = await testServer();
    await first.close();
    const server = await startServer({ port: 0, host: '127.0.0.1', dataDir: first.dataDir, fixTimeoutMs: 1500 }, { log: createLogger('silent') });
    cleanup.push(() => server.close());
    const { room, token } = await demoRoom(server);
    const artist = await joinRoom(server.url, room.id, token('artist'));
    cleanup.push(() => artist.close());
    const jobs = new Map<string, Job>();
    artist.socket.on('fix:job', (j) => jobs.set(j.id, j));
    const ack = await emitAck<{ job: Job }>(artist.socket, 'fix:request', { room: room.id, versionId: artist.state.versions[0].id, frame: 1, region: big, fix: 'upscale-x4', params: { model: 'esrgan-medium-x4' }, idempotencyKey: key() });
    if (!ack.ok) throw new Error(ack.message);
    const failed = await until(() => (jobs.get(ack.job.id)?.state === 'failed' ? jobs.get(ack.job.id) : null), 'timeout', 30_000);
    expect(failed.error).toMatchObject({ code: 'FIX_TIMEOUT' });
    expect((await server.services.versions.listForRoom(room.id)).filter((v) => v.kind === 'ai')).toHaveLength(0);
  });
});

/** This process's inference worker processes (children running inference.worker.mjs). */
function inferenceWorkers(): Set<number> {
  const out = new Set<number>();
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('inference.worker')) out.add(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe('a crash of the inference worker', () => {
  it('fails the running job with a clear error, leaves no version and no stray file, and the next fix runs', async () => {
    const before = inferenceWorkers();
    const { server, room, members: [artist] } = await roomWith(cleanup, 'artist');
    const jobs = new Map<string, Job>();
    artist.socket.on('fix:job', (j) => jobs.set(j.id, j));
    const source = artist.state.versions[0];
    const ask = (fix: string, params = {}) =>
      emitAck<{ job: Job }>(artist.socket, 'fix:request', { room: room.id, versionId: source.id, frame: 2, region: big, fix, params, idempotencyKey: key() });
    const blobFiles = () => (fs.readdirSync(path.join(server.dataDir, 'blobs'), { recursive: true }) as string[]).map((f) => path.join(server.dataDir, 'blobs', f)).filter((f) => fs.statSync(f).isFile());
    const blobsBefore = new Set(blobFiles());
    const tmpBefore = new Set(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('loupe-fix-')));
    const a = await ask('upscale-x4', { model: 'esrgan-medium-x4' });
    if (!a.ok) throw new Error(a.message);
    await until(() => (jobs.get(a.job.id)?.tilesDone ?? 0) >= 1, 'a tile of the running job', 60_000);
    const started = [...inferenceWorkers()].filter((pid) => !before.has(pid));
    expect(started).toHaveLength(1);
    process.kill(started[0], 'SIGKILL');
    const failed = await until(() => (jobs.get(a.job.id)?.state === 'failed' ? jobs.get(a.job.id) : null), 'the job failed', 30_000);
    expect(failed.error).toMatchObject({ code: 'FIX_FAILED', message: expect.stringMatching(/The inference worker stopped \(SIGKILL\)/) });
    expect((await server.services.versions.listForRoom(room.id)).filter((v) => v.kind === 'ai')).toHaveLength(0);
    // Nothing half-made left behind: the only new blob is the source frame the job read (no result, no sidecar), and no result file.
    const added = blobFiles().filter((f) => !blobsBefore.has(f));
    expect(added.length).toBeLessThanOrEqual(1);
    for (const f of added) {
      const bytes = fs.readFileSync(f);
      expect(bytes.includes(a.job.id)).toBe(false);
      expect(readPngText(new Uint8Array(bytes))[PROVENANCE_PNG_KEYWORD]).toBeUndefined();
    }
    expect(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('loupe-fix-') && !tmpBefore.has(f))).toEqual([]);
    // A fresh worker takes the next fix, which makes its version.
    const b = await ask('exposure');
    if (!b.ok) throw new Error(b.message);
    const done = await until(() => (jobs.get(b.job.id)?.state === 'done' ? jobs.get(b.job.id) : null), 'the next fix done', 60_000);
    expect((await server.services.versions.get(done.resultVersionId!))).toMatchObject({ kind: 'ai', parentVersionId: source.id });
  });
});

describe('studio models (LOUPE_MODELS_DIR)', () => {
  it('uses an installed inpainting model and refuses one whose manifest does not match, with a clear message', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-studio-'));
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const g = new GraphBuilder('tiny-lama');
    const image = g.input('image', [1, 3, 64, 64]);
    const mask = g.input('mask', [1, 1, 64, 64]);
    g.output(g.mul(g.add(g.mul(image, g.sub(g.scalar(1), mask)), g.mul(mask, g.f32([1, 0, 1], [1, 3, 1, 1]))), g.scalar(255)), 'output', [1, 3, 64, 64]);
    const manifest = (id: string, imageName: string) => ({
      id, name: `Tiny LaMa ${id}`, version: '1', task: 'inpaint', scale: 1, file: 'model.onnx', licence: 'test', licenceFile: 'LICENSE', source: 'generated by the test',
      input: { name: imageName, layout: 'NCHW', channels: 3, range: [0, 1], size: [64, 64] },
      mask: { name: 'mask', range: [0, 1], polarity: 'hole-is-1' },
      output: { name: 'output', layout: 'NCHW', range: [0, 255] },
      tile: { size: 64, context: 0 }, providers: ['cpu'],
    });
    for (const [id, name] of [['studio-lama', 'image'], ['studio-broken', 'img']] as const) {
      fs.mkdirSync(path.join(dir, id));
      fs.writeFileSync(path.join(dir, id, 'model.onnx'), g.encode());
      fs.writeFileSync(path.join(dir, id, 'LICENSE'), 'test');
      fs.writeFileSync(path.join(dir, id, 'manifest.json'), JSON.stringify(manifest(id, name)));
    }
    const first = await testServer();
    await first.close();
    const lines: string[] = [];
    const log = createLogger('silent');
    const origError = log.error.bind(log);
    log.error = ((obj: unknown, msg?: string) => (lines.push(String(msg ?? obj)), origError(obj as object, msg))) as typeof log.error;
    const server = await startServer({ port: 0, host: '127.0.0.1', dataDir: first.dataDir, modelsDirs: [dir] }, { log });
    cleanup.push(() => server.close());
    expect(server.models.get('studio-lama')).toBeTruthy();
    expect(server.models.get('studio-broken')).toBeUndefined();
    expect(lines.find((l) => l.includes('studio-broken'))).toMatch(/model studio-broken refused: .*input "img" is missing \(the model has "image", "mask"\)/);

    const { room, token } = await demoRoom(server);
    const artist = await joinRoom(server.url, room.id, token('artist'));
    cleanup.push(() => artist.close());
    const catalogue = await emitAck<{ fixes: AvailableFix[] }>(artist.socket, 'fix:catalogue', { room: room.id });
    expect(catalogue.ok && catalogue.fixes.find((f) => f.id === 'remove-object')!.models).toEqual([expect.objectContaining({ id: 'studio-lama', origin: 'studio' })]);
    const created = new Promise<Version>((r) => artist.socket.once('version:created', r));
    const region = { x: 0.5, y: 0.5, width: 0.05, height: 0.08, mask: [[0.51, 0.51], [0.54, 0.51], [0.54, 0.57], [0.51, 0.57]] as [number, number][] };
    const ack = await emitAck<{ job: Job }>(artist.socket, 'fix:request', { room: room.id, versionId: artist.state.versions[0].id, frame: 2, region, fix: 'remove-object', params: {}, idempotencyKey: key() });
    if (!ack.ok) throw new Error(ack.message);
    const v = await created;
    expect(v.provenance).toMatchObject({ model: { id: 'studio-lama' }, provider: 'cpu', computed: { method: 'model' } });
  });
});

import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { Engine, tileBatches } from '../src/inference/engine.js';
import type { WorkerReply } from '../src/inference/messages.js';
import { model, svgScene, tileRun } from './fix-scenes.js';
import { askLongFix, autoCleanup, demoRoom, freePort, joinRoom, listenFixes, resumedCounts, spawnServer, stillPixels, testServer, tileIndices, tmpDataDir, until, type ClientSocket } from './helpers.js';

const cleanup = autoCleanup();

describe('a frame fix cut short by a crash of the single process', () => {
  it('resumes from its checkpoint once the server runs again: what was done is not computed again, every tile reaches a member who joins, one version with the pixels of a run not interrupted, no checkpoint left', async () => {
    const seed = await testServer();
    const { room, token } = await demoRoom(seed, 'Resume room');
    const data = seed.dataDir;
    await seed.close();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const first: string[] = [];
    let child = await spawnServer(data, port, { LOG_LEVEL: 'info' }, first);
    cleanup.push(() => child.kill('SIGKILL'));

    let heard!: ReturnType<typeof listenFixes>;
    const hear = (s: ClientSocket) => void (heard = listenFixes(s));
    let artist = await joinRoom(url, room.id, token('artist'), hear);
    cleanup.push(() => artist.close());
    const tilesOf = (jobId: string) => tileIndices(heard, jobId);
    const jobId = await askLongFix(artist, room.id, 'resume-0001');
    const checkpoint = path.join(data, 'tmp', `fix-${jobId}`);
    await until(() => tilesOf(jobId).length >= 6, 'six tiles', 60_000);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const before = tilesOf(jobId);
    artist.close();
    expect(before.length).toBeLessThan(48);
    expect(fs.readdirSync(checkpoint).filter((f) => /^b\d+\.ckpt$/.test(f)).length).toBeGreaterThan(0);

    // The server again, on the same folder: the job runs again at start; a member joins it.
    const second: string[] = [];
    child = await spawnServer(data, port, { LOG_LEVEL: 'info' }, second);
    artist = await joinRoom(url, room.id, token('artist'), hear);
    const done = await until(() => heard.jobs.find((j) => j.id === jobId && j.state === 'done'), 'the job done after the restart', 120_000);
    expect(done.tilesTotal).toBe(48);
    const { restored, computed, total } = resumedCounts(second, jobId);
    expect(total).toBe(48);
    expect(restored).toBeGreaterThanOrEqual(before.length);
    expect(restored + computed).toBe(48);
    // The member who joined has every tile: those of the first run (kept by the server for who joins) and the rest.
    expect([...new Set(tilesOf(jobId))].sort((x, y) => x - y)).toEqual(Array.from({ length: 48 }, (_, i) => i));
    // Never shown back in the queue.
    expect(heard.jobs.filter((j) => j.id === jobId).map((j) => j.state).filter((s) => s !== 'running' && s !== 'done')).toEqual([]);
    const version = await until(() => heard.versions.find((v) => v.provenance?.jobId === jobId), 'the version');
    expect(done.resultVersionId).toBe(version.id);
    await until(() => !fs.existsSync(checkpoint), 'the checkpoint removed', 5000);

    // The same fix again, not interrupted: the same pixels.
    const refId = await askLongFix(artist, room.id, 'resume-0002');
    const ref = await until(() => heard.versions.find((v) => v.provenance?.jobId === refId), 'the reference version', 120_000);
    const [a, b] = await Promise.all([stillPixels(data, version), stillPixels(data, ref)]);
    expect(a.info).toMatchObject({ width: 2048, height: 1536 });
    expect(a.info).toEqual(b.info);
    expect(a.data.equals(b.data)).toBe(true);
    expect(heard.versions.filter((v) => v.provenance?.jobId === jobId)).toHaveLength(1);
    await until(() => fs.readdirSync(path.join(data, 'tmp')).every((d) => !d.startsWith('fix-')), 'no checkpoint left', 5000);
  }, 300_000);

  it('ignores a torn, a corrupt or a foreign checkpoint file and computes those tiles again, to the same pixels', async () => {
    // Through the worker's own code (the Engine), as the fix tests drive it.
    const logs: string[] = [];
    const engine = new Engine(['cpu'], (m) => logs.push(m));
    cleanup.push(() => engine.close());
    const dir = tmpDataDir();
    const img = await svgScene(7, 768, 512);
    const m = await model('esrgan-slim-x2');
    const run = (resume: boolean, result: string) => tileRun(m, img, {}, { result: { path: result }, checkpoint: { dir: path.join(dir, 'ckpt'), id: 'job-1', resume } });
    const batches = tileBatches(run(false, ''));
    expect(batches.length).toBeGreaterThanOrEqual(5);
    const indices = (k: number) => batches.slice(0, k).reduce((n, b) => n + b.length, 0);
    const ofBatch = (k: number) => Array.from({ length: batches[k].length }, (_, i) => indices(k) + i);

    const first: WorkerReply[] = [];
    await engine.run('job-1', run(false, path.join(dir, 'a.png')), (r) => void first.push(r));
    const files = fs.readdirSync(path.join(dir, 'ckpt')).sort();
    expect(files).toEqual(batches.map((_, k) => `b${k}.ckpt`).sort());
    // b1 torn (cut mid-pixels), b2 one byte of its pixels changed, b3 from another run (its key).
    const file = (k: number) => path.join(dir, 'ckpt', `b${k}.ckpt`);
    fs.truncateSync(file(1), fs.statSync(file(1)).size - 1000);
    const b2 = fs.readFileSync(file(2));
    b2[b2.length - 7] ^= 0x40;
    fs.writeFileSync(file(2), b2);
    const b3 = fs.readFileSync(file(3)).toString('latin1');
    const key = /"key":"([0-9a-f]{64})"/.exec(b3)![1];
    fs.writeFileSync(file(3), Buffer.from(b3.replace(key, key.replace(/^./, (c) => (c === '0' ? '1' : '0'))), 'latin1'));

    const second: WorkerReply[] = [];
    await engine.run('job-1', run(true, path.join(dir, 'b.png')), (r) => void second.push(r));
    const tiles = second.filter((r): r is Extract<WorkerReply, { type: 'tile' }> => r.type === 'tile');
    const restored = tiles.filter((t) => t.restored).map((t) => t.index).sort((x, y) => x - y);
    const computed = tiles.filter((t) => !t.restored).map((t) => t.index).sort((x, y) => x - y);
    expect(computed).toEqual([...ofBatch(1), ...ofBatch(2), ...ofBatch(3)]);
    expect(restored).toEqual(batches.flatMap((_, k) => (k >= 1 && k <= 3 ? [] : ofBatch(k))));
    expect(second.find((r) => r.type === 'started')).toMatchObject({ restored: restored.length });
    expect(logs.filter((l) => l.includes('ignored'))).toEqual([
      expect.stringMatching(/b1\.ckpt ignored \(torn/),
      expect.stringMatching(/b2\.ckpt ignored \(pixels do not match/),
      expect.stringMatching(/b3\.ckpt ignored \(another run/),
    ]);
    const [a, b] = await Promise.all(['a.png', 'b.png'].map((f) => sharp(path.join(dir, f)).raw().toBuffer()));
    expect(a.length).toBe(768 * 2 * 512 * 2 * 3);
    expect(a.equals(b)).toBe(true);
    // The tiles computed again are in the checkpoint now: a third run computes nothing.
    const third: WorkerReply[] = [];
    await engine.run('job-1', run(true, path.join(dir, 'c.png')), (r) => void third.push(r));
    expect(third.filter((r) => r.type === 'tile' && !r.restored)).toEqual([]);
    expect((await sharp(path.join(dir, 'c.png')).raw().toBuffer()).equals(a)).toBe(true);
  }, 120_000);
});

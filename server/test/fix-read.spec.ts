/**
 * The frame is decoded once: the worker reads the job's region (Engine.read), hands the server the
 * views it plans from, and keeps the pixels for the run. Those views equal what the server used to
 * decode itself, and a run on kept pixels equals a run that reads the file. The last two regions stay
 * decoded for later jobs (a second fix on the same frame starts without decoding it again).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { ExposureParamsSchema } from '@loupe/shared';
import { Engine, tileBatches } from '../src/inference/engine.js';
import { planExposure } from '../src/fixes/colour/exposure.js';
import type { WorkerReply } from '../src/inference/messages.js';
import { model, tileRun } from './fix-scenes.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-read-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const W = 320, H = 200;
const rgb = new Uint8Array(W * H * 3);
for (let i = 0; i < rgb.length; i++) rgb[i] = (((i / 3) | 0) % W) * 0.7 + ((i * 2654435761) >>> 29);

describe('reading a region once', () => {
  it('gives the views the server planned from, and a run on the kept pixels equals a run that reads the file', async () => {
    const file = path.join(dir, 'frame.png');
    await sharp(Buffer.from(rgb), { raw: { width: W, height: H, channels: 3 } }).png().toFile(file);
    const rect = { x: 20, y: 10, width: 280, height: 170 };
    const source = { path: file, rect, depth: 8 as const };
    const engine = new Engine(['cpu']);
    const [thumb, crop] = await engine.read(source, [
      { kind: 'resize', width: 64, height: 64, fit: 'inside' },
      { kind: 'crop', rect: { x: 12, y: 7, width: 100, height: 90 } },
    ]);
    const region = () => sharp(file).extract({ left: rect.x, top: rect.y, width: rect.width, height: rect.height });
    const expectedThumb = await region().resize(64, 64, { fit: 'inside' }).raw().toBuffer({ resolveWithObject: true });
    expect({ width: thumb.width, height: thumb.height }).toEqual({ width: expectedThumb.info.width, height: expectedThumb.info.height });
    expect(Buffer.compare(Buffer.from(thumb.rgb), expectedThumb.data)).toBe(0);
    const expectedCrop = await sharp(file).extract({ left: rect.x + 12, top: rect.y + 7, width: 100, height: 90 }).raw().toBuffer();
    expect(Buffer.compare(Buffer.from(crop.rgb), expectedCrop)).toBe(0);

    const colour = await model('loupe-colour');
    const plan = planExposure(ExposureParamsSchema.parse({ relight: { side: 'left', amount: 1 } }), [thumb], rect.width, rect.height);
    const run = { ...tileRun(colour, { data: new Uint8Array(0), width: rect.width, height: rect.height }, { ...plan.inputs }, { tileSize: 64 }), rgb: undefined, source };
    const collect = async () => {
      const tiles: Extract<WorkerReply, { type: 'tile' }>[] = [];
      await engine.run('t', run, (m) => void (m.type === 'tile' && tiles.push(m)));
      return tiles;
    };
    const kept = await collect(); // uses the pixels read() kept
    const fresh = new Engine(['cpu']);
    const reread: Extract<WorkerReply, { type: 'tile' }>[] = [];
    await fresh.run('t', run, (m) => void (m.type === 'tile' && reread.push(m))); // nothing kept: reads the file
    expect(kept.length).toBe(tileBatches(run).flat().length);
    expect(kept.map((t) => Buffer.from(t.rgb!))).toEqual(reread.map((t) => Buffer.from(t.rgb!)));
    // The centre tile runs alone, first.
    expect(tileBatches(run)[0]).toHaveLength(1);
    await Promise.all([engine.close(), fresh.close()]);
  });

  it('keeps the last two regions decoded for later jobs, each with its own pixels, and reads an older one again', async () => {
    const engine = new Engine(['cpu']);
    const colour = await model('loupe-colour');
    // Three frames of different content; the region of each is read, as a job's planning does.
    const frames = await Promise.all(
      [0, 1, 2].map(async (k) => {
        const file = path.join(dir, `frame-${k}.png`);
        const px = rgb.map((v, i) => (v + 60 * k + (i % 7)) & 255);
        await sharp(Buffer.from(px), { raw: { width: W, height: H, channels: 3 } }).png().toFile(file);
        return { file, source: { path: file, rect: { x: 0, y: 0, width: W, height: H }, depth: 8 as const } };
      }),
    );
    const plan = planExposure(ExposureParamsSchema.parse({ exposure: 0.5 }), [{ rgb, width: W, height: H }], W, H);
    const result = async (source: (typeof frames)[number]['source'], by = engine) => {
      const run = { ...tileRun(colour, { data: new Uint8Array(0), width: W, height: H }, { ...plan.inputs }), rgb: undefined, source };
      const out = new Uint8Array(W * H * 3);
      await by.run('t', run, (m) => {
        if (m.type !== 'tile') return;
        for (let y = 0; y < m.rect.height; y++) out.set((m.rgb as Uint8Array).subarray(y * m.rect.width * 3, (y + 1) * m.rect.width * 3), ((m.rect.y + y) * W + m.rect.x) * 3);
      });
      return out;
    };
    // What each frame gives, computed by an engine that keeps nothing of the others.
    const originals: Uint8Array[] = [];
    for (const f of frames) {
      const alone = new Engine(['cpu']);
      originals.push(await result(f.source, alone));
      await alone.close();
    }
    expect(new Set(originals.map((o) => Buffer.from(o).toString('base64'))).size).toBe(3);
    for (const f of frames) await engine.read(f.source, []);
    // Frames are content-addressed blobs that never change; moving the files away shows which pixels were kept.
    const moved = frames.map((f) => `${f.file}.moved`);
    frames.forEach((f, k) => fs.renameSync(f.file, moved[k]));
    // The two most recent are kept, each with its own pixels.
    expect(Buffer.compare(Buffer.from(await result(frames[2].source)), Buffer.from(originals[2]))).toBe(0);
    expect(Buffer.compare(Buffer.from(await result(frames[1].source)), Buffer.from(originals[1]))).toBe(0);
    // The oldest was dropped: its job reads the file, which is gone here.
    await expect(result(frames[0].source)).rejects.toThrow();
    fs.renameSync(moved[0], frames[0].file);
    expect(Buffer.compare(Buffer.from(await result(frames[0].source)), Buffer.from(originals[0]))).toBe(0);
    await engine.close();
  });
});

/**
 * The frame is decoded once: the worker reads the job's region (Engine.read), hands the server the
 * views it plans from, and keeps the pixels for the run. Those views equal what the server used to
 * decode itself, and a run on kept pixels equals a run that reads the file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { ExposureParamsSchema } from '@loupe/shared';
import { Engine, tileBatches } from '../src/inference/engine.js';
import { planExposure } from '../src/fixes/colour.js';
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
    const plan = planExposure(ExposureParamsSchema.parse({ relight: { side: 'left', amount: 1 } }), thumb.rgb, rect.width, rect.height);
    const run = { ...tileRun(colour, { data: new Uint8Array(0), width: rect.width, height: rect.height }, { ...plan.inputs }, { tileSize: 64 }), rgb: undefined, source };
    const collect = async () => {
      const tiles: Extract<WorkerReply, { type: 'tile' }>[] = [];
      await engine.run('t', run, (m) => void (m.type === 'tile' && tiles.push(m)));
      return tiles;
    };
    const kept = await collect(); // uses the pixels read() kept
    const reread = await collect(); // nothing kept any more: reads the file
    expect(kept.length).toBe(tileBatches(run).flat().length);
    expect(kept.map((t) => Buffer.from(t.rgb!))).toEqual(reread.map((t) => Buffer.from(t.rgb!)));
    // The centre tile runs alone, first.
    expect(tileBatches(run)[0]).toHaveLength(1);
  });
});

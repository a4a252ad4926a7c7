/**
 * Remove object: PatchMatch (in the worker code) against OpenCV's Telea on generated textures with
 * known content under the hole, the seam at the hole's edge, the thin-mask diffusion fill, and a
 * studio inpainting model (a tiny generated ONNX with LaMa's signature) pasted back only in the hole.
 */
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '@loupe/models';
import { Engine } from '../src/inference/engine.js';
import { patchMatchFill } from '../src/inference/inpaint/patchmatch.js';
import { diffuseFill, holeThickness } from '../src/inference/inpaint/diffuse.js';
import { ellipseHole, psnr, runInProcess, textureScene, type Rgb } from './fix-scenes.js';
import { loadOpenCv, telea } from './opencv.js';

beforeAll(loadOpenCv);

const W = 160;
const H = 120;
const cap = (db: number) => Math.min(db, 60);

function fill(img: Rgb, hole: Uint8Array, how: 'patchmatch' | 'diffuse'): Uint8Array {
  const pic = { data: Float32Array.from(img.data), width: img.width, height: img.height };
  for (let i = 0; i < hole.length; i++) if (hole[i]) pic.data.fill(0, i * 3, i * 3 + 3);
  if (how === 'patchmatch') patchMatchFill(pic, hole, { seed: 1 });
  else diffuseFill(pic, hole);
  return Uint8Array.from(pic.data, (v) => Math.max(0, Math.min(255, Math.round(v))));
}

/** Mean over the hole's boundary of how much the step across it differs from the truth's step (8-bit levels). */
function seamError(out: Uint8Array, truth: Uint8Array, hole: Uint8Array, w: number, h: number): number {
  let s = 0;
  let n = 0;
  for (let y = 1; y < h - 1; y++)
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      if (!hole[i]) continue;
      for (const j of [i - 1, i + 1, i - w, i + w]) {
        if (hole[j]) continue;
        for (let c = 0; c < 3; c++) s += Math.abs(out[i * 3 + c] - out[j * 3 + c] - (truth[i * 3 + c] - truth[j * 3 + c]));
        n += 3;
      }
    }
  return s / n;
}

describe('remove object', () => {
  it('PatchMatch beats Telea in PSNR inside the hole on average over stripes, bricks, gradients and noise, with no visible seam', async () => {
    const rows: string[] = [];
    let ours = 0;
    let theirs = 0;
    let cases = 0;
    for (const kind of ['stripes', 'bricks', 'gradient', 'noise'] as const)
      for (const seed of [1, 2]) {
        const truth = textureScene(kind, seed, W, H);
        const hole = ellipseHole(W, H, 75 + 5 * seed, 60, 22, 16);
        const t0 = performance.now();
        const pm = fill(truth, hole, 'patchmatch');
        const ms = performance.now() - t0;
        const a = cap(psnr(pm, truth.data, hole));
        const b = cap(psnr(telea(truth, hole), truth.data, hole));
        const seam = seamError(pm, truth.data, hole, W, H);
        rows.push(`${kind} #${seed}: PatchMatch ${a.toFixed(1)} dB (seam ${seam.toFixed(1)}, ${ms.toFixed(0)} ms), Telea ${b.toFixed(1)} dB`);
        ours += a;
        theirs += b;
        cases++;
        // The step across the hole's edge stays close to the picture's own (noise alone gives ~10 levels).
        expect(seam).toBeLessThan(kind === 'noise' ? 16 : 12);
      }
    console.log(`remove object, PSNR inside the hole:\n  ${rows.join('\n  ')}\n  mean PatchMatch ${(ours / cases).toFixed(2)} dB, Telea ${(theirs / cases).toFixed(2)} dB`);
    expect(ours / cases).toBeGreaterThan(theirs / cases);
  });

  it('a thin mask (a wire) is measured as thin and filled smoothly by diffusion', () => {
    const truth = textureScene('gradient', 3, W, H);
    const hole = new Uint8Array(W * H);
    for (let x = 10; x < 150; x++) for (let dy = 0; dy < 3; dy++) hole[(40 + Math.round(x * 0.2) + dy) * W + x] = 1;
    expect(holeThickness(hole, W, H)).toBeLessThanOrEqual(2);
    const out = fill(truth, hole, 'diffuse');
    expect(psnr(out, truth.data, hole)).toBeGreaterThan(35);
  });

  it('streams coarse previews, then the final tiles, through the worker code', async () => {
    const truth = textureScene('bricks', 4, W, H);
    const hole = ellipseHole(W, H, 80, 60, 30, 20);
    const engine = new Engine(['cpu']);
    const out = { x: 20, y: 20, width: 120, height: 80 };
    const { rgb, messages } = await runInProcess(engine, { kind: 'inpaint', method: 'patchmatch', rgb: truth.data, width: W, height: H, hole, out, tileSize: 64 });
    const tiles = messages.filter((m) => m.type === 'tile');
    const previews = tiles.filter((t) => t.type === 'tile' && t.preview);
    const finals = tiles.filter((t) => t.type === 'tile' && !t.preview);
    expect(previews.length).toBeGreaterThan(0);
    expect(tiles.indexOf(finals[0])).toBeGreaterThan(tiles.indexOf(previews[previews.length - 1]));
    expect(finals).toHaveLength(2 * 2);
    expect(rgb.length).toBe(120 * 80 * 3);
    // Outside the hole the result is the picture itself.
    expect(rgb[0]).toBe(truth.data[(20 * W + 20) * 3]);
  });
});

describe('a studio inpainting model (LaMa signature)', () => {
  /** image [1,3,64,64] in 0..1 and mask [1,1,64,64] with 1 = hole -> output [1,3,64,64] in 0..255: the hole painted magenta. */
  function tinyLama(): Uint8Array {
    const g = new GraphBuilder('tiny-lama');
    const image = g.input('image', [1, 3, 64, 64]);
    const mask = g.input('mask', [1, 1, 64, 64]);
    const keep = g.mul(image, g.sub(g.scalar(1), mask));
    const paint = g.mul(mask, g.f32([1, 0, 1], [1, 3, 1, 1]));
    g.output(g.mul(g.add(keep, paint), g.scalar(255)), 'output', [1, 3, 64, 64]);
    return g.encode('test model');
  }

  it('crops, resizes to the model size, runs, and pastes back only the hole with a feathered edge', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-lama-'));
    const file = path.join(dir, 'model.onnx');
    fs.writeFileSync(file, tinyLama());
    const truth = textureScene('gradient', 5, 96, 80);
    const hole = ellipseHole(96, 80, 48, 40, 14, 10);
    const engine = new Engine(['cpu']);
    const { rgb } = await runInProcess(engine, {
      kind: 'inpaint',
      method: 'model',
      rgb: truth.data,
      width: 96,
      height: 80,
      hole,
      out: { x: 0, y: 0, width: 96, height: 80 },
      tileSize: 256,
      model: { modelPath: file, imageInput: 'image', maskInput: 'mask', outputName: 'output', inputRange: [0, 1], outputRange: [0, 255], maskRange: [0, 1], polarity: 'hole-is-1', size: [64, 64] },
    });
    const px = (x: number, y: number) => [...rgb.subarray((y * 96 + x) * 3, (y * 96 + x) * 3 + 3)];
    expect(px(48, 40)).toEqual([255, 0, 255]); // the hole's centre: the model's output
    expect(px(5, 5)).toEqual([...truth.data.subarray((5 * 96 + 5) * 3, (5 * 96 + 5) * 3 + 3)]); // far outside: untouched
    let changedOutside = 0;
    for (let y = 0; y < 80; y++)
      for (let x = 0; x < 96; x++) {
        if (hole[y * 96 + x]) continue;
        const near = ((x - 48) / 17) ** 2 + ((y - 40) / 13) ** 2 <= 1; // within the 2-pixel feather
        const i = (y * 96 + x) * 3;
        if (!near && (rgb[i] !== truth.data[i] || rgb[i + 1] !== truth.data[i + 1])) changedOutside++;
      }
    expect(changedOutside).toBe(0);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

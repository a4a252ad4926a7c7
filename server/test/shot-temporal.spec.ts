/**
 * What makes a shot fix a shot fix, measured through the real inference worker on generated moving
 * clips: a colour transform estimated once for the shot does not flicker (and the same fix estimated
 * frame by frame does); denoise with the neighbouring frames beats the same denoise frame by frame
 * and does not ghost a moving object; upscale holds as steady as Lanczos.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureModel, type EnsuredModel } from '@loupe/models';
import { InferenceService } from '../src/inference/inference.service.js';
import { tileRunFor, type TensorData } from '../src/inference/messages.js';
import type { ChunkFix, ChunkRun, TileTemplate } from '../src/inference/messages.js';
import { planGrade } from '../src/fixes/colour/grade.js';
import { createLogger } from '../src/log.js';
import { addNoise, meanDeltaE, psnr, type Rgb } from './fix-scenes.js';
import { flicker, panClip } from './shot-clips.js';

let dir: string;
let inference: InferenceService;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-temporal-'));
  inference = new InferenceService(['cpu'], createLogger('error'));
});
afterAll(async () => {
  await inference.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

let runs = 0;
/** Writes the clip as PNG files and runs `fix` over all of it in one chunk; returns the result frames. */
async function render(frames: Rgb[], fix: ChunkFix): Promise<Uint8Array[]> {
  const run = path.join(dir, `run-${runs++}`);
  fs.mkdirSync(run);
  const { width, height } = frames[0];
  const files = [];
  for (const [i, f] of frames.entries()) {
    const p = path.join(run, `in_${i}.png`);
    await sharp(f.data, { raw: { width, height, channels: 3 } }).png().toFile(p);
    files.push({ path: p, format: 'png' as const });
  }
  const out: Uint8Array[] = [];
  const scale = fix.kind === 'remove' ? 1 : fix.run.scale;
  const req: ChunkRun = {
    kind: 'chunk', feeds: [{ kind: 'files', first: 0, files }], width, height, depth: 8,
    frames: frames.map((_, i) => ({ frame: i })), fix, region: null,
    out: { dir: run, preview: { width: width * scale, height: height * scale }, segment: { gop: 6, rate: { num: 24, den: 1 } } },
  };
  const written: { frame: number; png: string }[] = [];
  await inference.chunk(`t${runs}`, req, (f) => written.push(f));
  for (const w of written.sort((a, b) => a.frame - b.frame)) out.push(new Uint8Array(await sharp(w.png).raw().toBuffer()));
  return out;
}

const template = (model: EnsuredModel, w: number, h: number, extra: Record<string, Float32Array> = {}): TileTemplate => {
  const { kind: _k, rgb: _r, source: _s, width: _w, height: _h, result: _res, ...run } = tileRunFor(model, { width: w, height: h }, extra);
  return run;
};
const asTensors = (m: EnsuredModel, t: Record<string, Float32Array>): Record<string, TensorData> =>
  Object.fromEntries(Object.entries(t).map(([k, v]) => [k, { dims: m.manifest.extraInputs.find((e) => e.name === k)!.dims, data: v }]));

describe('temporal consistency of shot fixes', () => {
  it('a colour fix estimated once for the shot does not flicker; the same fix estimated per frame does', async () => {
    const W = 192, H = 108, N = 24;
    // A slow pan with a red object crossing fast: what changes a per-frame estimate.
    const clip = await panClip({ width: W, height: H, count: N, seed: 31, vx: 0.4, vy: 0.1, object: { radius: 20, x: -40, y: 54, vx: 13, vy: 0 } });
    // Match grade (colour statistics) to a cooler, flatter look of the same set (the background alone, graded).
    const refThumb = { rgb: clip.background[12].data.map((v, i) => Math.min(255, Math.round(12 + 0.9 * v * [0.88, 1, 1.12][i % 3]))), width: W, height: H };
    const model = await ensureModel('loupe-colour');
    const picks = [0, 3, 6, 9, 12, 15, 18, 21, 23];
    const planOf = (frames: Rgb[]) => planGrade(frames.map((f) => ({ rgb: f.data, width: f.width, height: f.height })), [refThumb], 'statistics', 1);
    const inputsOf = (frames: Rgb[]) => planOf(frames).inputs as unknown as Record<string, Float32Array>;
    expect(planOf(picks.map((k) => clip.frames[k])).computed.method).toBe('transfer');
    const once = inputsOf(picks.map((k) => clip.frames[k]));
    const shot = await render(clip.frames, { kind: 'tiles', run: template(model, W, H, once) });
    const perFrame = clip.frames.map((f) => asTensors(model, inputsOf([f])));
    const framewise = await render(clip.frames, { kind: 'tiles', run: template(model, W, H, once), keyed: { frames: clip.frames.map((_, i) => i), inputs: perFrame } });
    const src = clip.frames.map((f) => f.data);
    const fShot = flicker(shot, src);
    const fFrame = flicker(framewise, src);
    console.log(`colour flicker (mean |ΔE(t,t+1) result − source|): once per shot ${fShot.toFixed(3)}, per frame ${fFrame.toFixed(3)}`);
    expect(fShot).toBeLessThan(0.5);
    expect(fFrame).toBeGreaterThan(0.5);
    // And the shot's look did change: this is a fix, not the source passed through.
    expect(meanDeltaE(shot[0], src[0])).toBeGreaterThan(1);
  });

  it('denoise with neighbouring frames beats the same denoise frame by frame by 1 dB+, and does not ghost a moving object', async () => {
    const W = 192, H = 108, N = 12;
    const clip = await panClip({ width: W, height: H, count: N, seed: 41, object: { radius: 16, x: 30, y: 50, vx: 8, vy: 0.5 } });
    const noisy = clip.frames.map((f, i) => addNoise(f, 15, 500 + i));
    const model = await ensureModel('loupe-denoise');
    const sigma = Float32Array.of(15);
    const temporal = await render(noisy, { kind: 'temporal-denoise', run: template(model, W, H, { sigma }), sigma: 15, strength: 1, radius: 2, sigmaInput: 'sigma' });
    const spatial = await render(noisy, { kind: 'tiles', run: template(model, W, H, { sigma }) });
    let gain = 0;
    let worstObject = Infinity;
    for (let t = 2; t < N - 2; t++) {
      gain += psnr(temporal[t], clip.frames[t].data) - psnr(spatial[t], clip.frames[t].data);
      // In the moving object and where it just was, the temporal result must be no worse than the per-frame one.
      const moving = clip.objectMask[t].map((v, i) => (v > 0 || clip.objectMask[t - 1][i] > 0 || clip.objectMask[t + 1][i] > 0 ? 1 : 0));
      worstObject = Math.min(worstObject, psnr(temporal[t], clip.frames[t].data, moving) - psnr(spatial[t], clip.frames[t].data, moving));
    }
    gain /= N - 4;
    console.log(`temporal denoise vs per frame (sigma 15): +${gain.toFixed(2)} dB on average; around the moving object at worst ${worstObject.toFixed(2)} dB`);
    expect(gain).toBeGreaterThan(1);
    expect(worstObject).toBeGreaterThan(-0.5);
  });

  it('upscale does not shimmer: frame-to-frame change as steady as a Lanczos upscale', async () => {
    const W = 96, H = 64, N = 8;
    const clip = await panClip({ width: W, height: H, count: N, seed: 51, vx: 0.35, vy: 0.2 });
    const model = await ensureModel('esrgan-slim-x2');
    const up = await render(clip.frames, { kind: 'tiles', run: template(model, W, H) });
    const lanczos = await Promise.all(clip.frames.map(async (f) => new Uint8Array(await sharp(f.data, { raw: { width: W, height: H, channels: 3 } }).resize(W * 2, H * 2, { kernel: 'lanczos3' }).raw().toBuffer())));
    const f = flicker(up, lanczos);
    console.log(`upscale x2 shimmer against Lanczos (mean |ΔE(t,t+1) ESRGAN − Lanczos|): ${f.toFixed(3)}`);
    expect(f).toBeLessThan(0.5);
  });
});

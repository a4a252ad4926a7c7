import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { ensureModel, listManifests } from '../catalogue.js';
import { checkManifest } from '../check.js';
import { buildColourGraph, identityColourInputs } from './colour.js';

describe('built-in graphs and manifests', () => {
  it('every built-in model matches its manifest (names, ranks, channels, batch, size)', async () => {
    for (const m of await listManifests()) {
      const model = await ensureModel(m.id);
      const s = await ort.InferenceSession.create(model.path);
      expect({ id: m.id, problems: checkManifest(m, s.inputMetadata, s.outputMetadata) }).toEqual({ id: m.id, problems: [] });
    }
  });

  it('refuses a manifest that does not match, saying why', async () => {
    const m = (await listManifests()).find((x) => x.id === 'loupe-colour')!;
    const s = await ort.InferenceSession.create(buildColourGraph());
    const wrong = { ...m, input: { ...m.input, name: 'rgb', size: [512, 512] as [number, number] }, extraInputs: m.extraInputs.slice(1) };
    const problems = checkManifest(wrong, s.inputMetadata, s.outputMetadata);
    expect(problems).toContain('input "rgb" is missing (the model has "image", "pre_lut", "matrix", "offset", "ramp", "origin", "post_lut")');
    expect(problems).toContain('input "pre_lut" is not described in the manifest');
  });

  it('the colour graph with identity coefficients returns its input', async () => {
    const s = await ort.InferenceSession.create(buildColourGraph());
    const pixels = Float32Array.from({ length: 2 * 3 * 5 * 7 }, (_, i) => (i * 37) % 256);
    const feeds: Record<string, ort.Tensor> = { image: new ort.Tensor('float32', pixels, [2, 3, 5, 7]) };
    const id = identityColourInputs(2);
    const dims: Record<string, number[]> = { pre_lut: [3, 256], matrix: [3, 3], offset: [3], ramp: [3], origin: [2, 2], post_lut: [3, 4096] };
    for (const [k, v] of Object.entries(id)) feeds[k] = new ort.Tensor('float32', v, dims[k]);
    const { output } = await s.run(feeds);
    const out = output.data as Float32Array;
    expect(Math.max(...out.map((v, i) => Math.abs(v - pixels[i])))).toBeLessThan(0.01);
  });

  it('the colour graph reads 16-bit values between the pre curve entries, and each batch item has its own origin', async () => {
    const s = await ort.InferenceSession.create(buildColourGraph());
    const W = 6, H = 4;
    // Fractional code values (a 16-bit source on the 0..255 scale) through a non-linear pre curve.
    const id = identityColourInputs(1);
    const pre = Float32Array.from({ length: 3 * 256 }, (_, i) => ((i % 256) / 255) ** 2);
    const pixels = Float32Array.from({ length: 3 * W * H }, (_, i) => (i * 13.37) % 255);
    const ramp = Float32Array.from([0.5, 0.1, -0.05]);
    const feeds = (image: Float32Array, n: number, w: number, origin: number[]) => ({
      ...Object.fromEntries(Object.entries({ ...id, pre_lut: pre, ramp }).filter(([k]) => k !== 'origin').map(([k, v]) => [k, new ort.Tensor('float32', v, k === 'pre_lut' ? [3, 256] : k === 'post_lut' ? [3, 4096] : k === 'matrix' ? [3, 3] : [3])])),
      image: new ort.Tensor('float32', image, [n, 3, H, w]),
      origin: new ort.Tensor('float32', Float32Array.from(origin), [n, 2]),
    });
    const whole = (await s.run(feeds(pixels, 1, W, [10, 20]))).output.data as Float32Array;
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const i = c * W * H + y * W + x;
          const v = pixels[i] / 255;
          // Linear interpolation of v^2 between entries k/255 and (k+1)/255, then the gain at the absolute position.
          const k = Math.min(254, Math.floor(pixels[i]));
          const f = pixels[i] - k;
          const lin = (k / 255) ** 2 * (1 - f) + ((k + 1) / 255) ** 2 * f;
          const expected = 255 * Math.min(1, lin * 2 ** (0.5 + 0.1 * (10 + x) - 0.05 * (20 + y)));
          expect(Math.abs(whole[i] - expected)).toBeLessThan(0.02);
          expect(Math.abs(lin - v * v)).toBeLessThan(1e-5);
        }
    // The same picture as two half-width tiles in one batch, each with its own origin: the whole-frame result.
    const half = W / 2;
    const tiles = new Float32Array(pixels.length);
    for (let n = 0; n < 2; n++) for (let c = 0; c < 3; c++) for (let y = 0; y < H; y++) for (let x = 0; x < half; x++) tiles[n * 3 * H * half + c * H * half + y * half + x] = pixels[c * W * H + y * W + n * half + x];
    const batched = (await s.run(feeds(tiles, 2, half, [10, 20, 10 + half, 20]))).output.data as Float32Array;
    for (let n = 0; n < 2; n++) for (let c = 0; c < 3; c++) for (let y = 0; y < H; y++) for (let x = 0; x < half; x++) {
      expect(batched[n * 3 * H * half + c * H * half + y * half + x]).toBeCloseTo(whole[c * W * H + y * W + n * half + x], 4);
    }
  });
});

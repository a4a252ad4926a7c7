import { createHash } from 'node:crypto';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { getManifest, packageRoot, type ModelManifest } from '../catalogue.js';
import { convertEsrganLayersModel, cubicDownTaps } from './convert.js';

const PKG = packageRoot('@upscalerjs/esrgan-slim');
const MODEL_JSON = path.join(PKG, 'models/x2/model.json');
const FIXTURE = path.join(PKG, 'assets/fixture.png');
const SAMPLE_X2 = path.join(PKG, 'assets/samples/2x/result.png');

/** Interleaved 8-bit RGB -> planar float32 NCHW, values 0..255 (the model's own input range). */
function toNchw(rgb: Uint8Array, width: number, height: number): ort.Tensor {
  const plane = width * height;
  const x = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) x[c * plane + i] = rgb[i * 3 + c];
  return new ort.Tensor('float32', x, [1, 3, height, width]);
}

/** Planar float output -> interleaved 8-bit RGB, rounding to nearest. */
function toRgb8(t: ort.Tensor): Uint8Array {
  const [, , h, w] = t.dims;
  const data = t.data as Float32Array;
  const plane = w * h;
  const out = new Uint8Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[i * 3 + c] = Math.round(data[c * plane + i]);
  return out;
}

function compare(a: Uint8Array, b: Uint8Array) {
  expect(a.length).toBe(b.length);
  let se = 0;
  let maxDiff = 0;
  let differing = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    se += d * d;
    maxDiff = Math.max(maxDiff, Math.abs(d));
    if (d) differing++;
  }
  const mse = se / a.length;
  return { psnr: mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse), maxDiff, differing };
}

const rgb = async (file: string) => {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
};

describe('convertEsrganLayersModel (esrgan-slim x2)', () => {
  let onnxBytes: Uint8Array;
  let session: ort.InferenceSession;
  let manifest: ModelManifest;

  beforeAll(async () => {
    onnxBytes = await convertEsrganLayersModel(MODEL_JSON);
    session = await ort.InferenceSession.create(onnxBytes, { executionProviders: ['cpu'] });
    manifest = await getManifest('esrgan-slim-x2');
  });

  it('declares the inputs and outputs the manifest promises', () => {
    expect(session.inputNames).toEqual([manifest.input.name]);
    expect(session.outputNames).toEqual([manifest.output.name]);
    const [input] = session.inputMetadata;
    const [output] = session.outputMetadata;
    if (!input.isTensor || !output.isTensor) throw new Error('expected tensor inputs and outputs');
    expect(input.type).toBe('float32');
    expect(output.type).toBe('float32');
    // NCHW, symbolic batch (tiles run in batches), the manifest's channel count, symbolic height and width.
    expect(input.shape).toHaveLength(4);
    expect(output.shape).toHaveLength(4);
    expect(input.shape.slice(0, 2)).toEqual(['batch', manifest.input.channels]);
    expect(output.shape.slice(0, 2)).toEqual(['batch', manifest.input.channels]);
    expect(input.shape.slice(2).every((d) => typeof d === 'string')).toBe(manifest.input.size === 'dynamic');
  });

  it('is deterministic (same bytes on every conversion)', async () => {
    const again = await convertEsrganLayersModel(MODEL_JSON);
    const hash = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    expect(hash(again)).toBe(hash(onnxBytes));
  });

  it("reproduces the package's own x2 sample of its fixture", async () => {
    // What the sample is, checked rather than assumed:
    // - fixture.png is RGBA but its alpha is 255 everywhere, and result.png's alpha is 255 everywhere too
    //   (UpscalerJS appends an opaque alpha on output), so dropping alpha loses nothing. Asserted below.
    // - No tiling or padding seams: the model metadata's patch size is 128 = the fixture's size, and our
    //   whole-image run matches at the borders as well as inside (Conv2D 'same' zero padding is reproduced).
    // - The float output was rounded to nearest, not truncated: rounding matches all but a handful of values
    //   (each within 1e-4 of .5, where TF.js and ONNX Runtime float sums land on different sides; measured 4 of
    //   196,608, 95 dB), while truncating makes ~50% of values off by one (51 dB). The `differing` bound
    //   is what tells these apart; the PSNR bound alone would not.
    const alphaMin = async (file: string) => (await sharp(file).stats()).channels[3]?.min;
    expect([await alphaMin(FIXTURE), await alphaMin(SAMPLE_X2)]).toEqual([255, 255]);

    const fixture = await rgb(FIXTURE);
    const sample = await rgb(SAMPLE_X2);
    expect([fixture.width, fixture.height, sample.width, sample.height]).toEqual([128, 128, 256, 256]);

    const input = toNchw(fixture.data, fixture.width, fixture.height);
    await session.run({ input }); // warm-up, so the timing below is a steady-state run
    const started = performance.now();
    const { output } = await session.run({ input });
    const ms = performance.now() - started;
    expect(output.dims).toEqual([1, 3, 256, 256]);

    const ours = compare(toRgb8(output), sample.data);
    // Bicubic is the baseline a broken model tends to collapse to; it must score far below the model.
    const bicubic = await sharp(FIXTURE).removeAlpha().resize(256, 256, { kernel: 'cubic' }).raw().toBuffer();
    const baseline = compare(new Uint8Array(bicubic), sample.data);
    console.log(
      `esrgan-slim-x2 vs package sample: PSNR ${ours.psnr.toFixed(1)} dB, max diff ${ours.maxDiff}, ` +
        `${ours.differing}/${sample.data.length} values differ; bicubic ${baseline.psnr.toFixed(1)} dB; ` +
        `128x128 CPU run ${ms.toFixed(0)} ms`,
    );

    expect(ours.maxDiff).toBeLessThanOrEqual(2);
    expect(ours.psnr).toBeGreaterThan(50);
    expect(ours.differing / sample.data.length).toBeLessThan(1e-3);
    expect(baseline.psnr).toBeLessThan(35);
    expect(ours.psnr - baseline.psnr).toBeGreaterThan(15);
  });

  it('keeps any size, including odd non-square ones (37x53 -> 74x106)', async () => {
    // Dynamic H/W is what lets the server feed edge tiles without padding them to the tile size.
    const width = 37;
    const height = 53;
    const pixels = new Uint8Array(width * height * 3).map((_, i) => (i * 37) % 256);
    const { output } = await session.run({ input: toNchw(pixels, width, height) });
    expect(output.dims).toEqual([1, 3, 2 * height, 2 * width]);
    const values = output.data as Float32Array;
    expect(values.every((v) => v >= 0 && v <= 255)).toBe(true); // the final Clip
  });
});

describe('convertEsrganLayersModel (the other esrgan-slim scales)', () => {
  // x2 is what Loupe ships; these keep the converter honest about being generic (other weights and
  // upsampling factors, including an odd one).
  it.each([3, 4])("x%i reproduces the package's own sample", async (scale) => {
    const session = await ort.InferenceSession.create(await convertEsrganLayersModel(path.join(PKG, `models/x${scale}/model.json`)));
    const fixture = await rgb(FIXTURE);
    const sample = await rgb(path.join(PKG, `assets/samples/${scale}x/result.png`));
    const { output } = await session.run({ input: toNchw(fixture.data, fixture.width, fixture.height) });
    expect(output.dims).toEqual([1, 3, 128 * scale, 128 * scale]);
    const ours = compare(toRgb8(output), sample.data);
    expect(ours.maxDiff).toBeLessThanOrEqual(2);
    expect(ours.psnr).toBeGreaterThan(50);
  });

  it('x8 converts and upsamples by 8 (the package ships no x8 sample)', async () => {
    const session = await ort.InferenceSession.create(await convertEsrganLayersModel(path.join(PKG, 'models/x8/model.json')));
    const { output } = await session.run({ input: toNchw(new Uint8Array(9 * 7 * 3).fill(128), 9, 7) });
    expect(output.dims).toEqual([1, 3, 56, 72]);
  });
});

describe('back-projection steps (ConvertOptions.backProjection)', () => {
  it('the cubic taps sum to one and are symmetric', () => {
    for (const f of [2, 4]) {
      const taps = cubicDownTaps(f);
      expect(taps).toHaveLength(4 * f);
      expect(taps.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
      for (let i = 0; i < taps.length; i++) expect(taps[i]).toBeCloseTo(taps[taps.length - 1 - i], 6);
    }
  });

  it('make the x4 result faithful to its input: downscaled again, it is far closer to the picture it came from', async () => {
    const fixture = await rgb(FIXTURE);
    const small = await sharp(Buffer.from(fixture.data), { raw: { width: 128, height: 128, channels: 3 } }).resize(32, 32, { kernel: 'cubic' }).raw().toBuffer();
    const input = new Uint8Array(small);
    const redownscaled = async (steps: number) => {
      const bytes = await convertEsrganLayersModel(path.join(PKG, 'models/x4/model.json'), steps ? { backProjection: { steps, scale: 4 } } : {});
      const session = await ort.InferenceSession.create(bytes);
      const { output } = await session.run({ input: toNchw(input, 32, 32) });
      expect(output.dims).toEqual([1, 3, 128, 128]);
      expect((output.data as Float32Array).every((v) => v >= 0 && v <= 255)).toBe(true);
      const big = toRgb8(output);
      const back = new Uint8Array(await sharp(Buffer.from(big), { raw: { width: 128, height: 128, channels: 3 } }).resize(32, 32, { kernel: 'cubic' }).raw().toBuffer());
      return { back: compare(back, input).psnr, truth: compare(big, fixture.data).psnr };
    };
    const plain = await redownscaled(0);
    const projected = await redownscaled(3);
    expect(projected.back).toBeGreaterThan(plain.back + 6);
    expect(projected.truth).toBeGreaterThan(plain.truth + 0.5);
  });
});

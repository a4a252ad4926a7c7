/**
 * Quality of the colour fixes, measured on generated pictures with known truth, through the same
 * worker code and ONNX graph the server runs: exposure / white balance removes a known cast, match
 * grade recovers known grades, and tiles equal the whole-frame result.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ExposureParamsSchema, MatchGradeParamsSchema } from '@loupe/shared';
import type { EnsuredModel } from '@loupe/models';
import { Engine } from '../src/inference/engine.js';
import { planExposure, planGrade, srgbToLinear, linearToSrgb } from '../src/fixes/colour.js';
import { deltaE2000, mapPixels, setScene, twoViews, meanDeltaE, model, runInProcess, svgScene, thumb, tileRun, type Rgb } from './fix-scenes.js';

const W = 192;
const H = 128;
let engine: Engine;
let colour: EnsuredModel;

beforeAll(async () => {
  engine = new Engine(['cpu']);
  colour = await model('loupe-colour');
});

const inputs = (p: { inputs: object }) => ({ ...p.inputs }) as Record<string, Float32Array>;

describe('CIEDE2000 (the test metric itself)', () => {
  it('matches the published test pairs (Sharma et al.)', () => {
    expect(deltaE2000([50, 2.6772, -79.7751], [50, 0, -82.7485])).toBeCloseTo(2.0425, 3);
    expect(deltaE2000([50, -1.3802, -84.2814], [50, 0, -82.7485])).toBeCloseTo(1.0, 3);
    expect(deltaE2000([60.2574, -34.0099, 36.2677], [60.4626, -34.1751, 39.4387])).toBeCloseTo(1.2644, 3);
  });
});

describe('exposure and white balance', () => {
  it('removes a known colour cast to a mean CIEDE2000 under 3', async () => {
    const casts: [number, number, number][] = [
      [1.35, 1, 0.72], // tungsten-like, warm
      [0.78, 1, 1.3], // daylight on tungsten balance, cool
      [0.92, 1.18, 0.86], // green (fluorescent)
    ];
    const results: { before: number; after: number }[] = [];
    for (const [k, raw] of casts.entries()) {
      // A cast changes colour, not brightness: scale it so that a grey keeps its luminance.
      const y = 0.2126 * raw[0] + 0.7152 * raw[1] + 0.0722 * raw[2];
      const gains = raw.map((g) => g / y);
      const truth = await setScene(10 + k, W, H);
      const cast = mapPixels(truth, (p) => p.map((v, c) => linearToSrgb(Math.min(1, srgbToLinear(v) * gains[c]))) as [number, number, number]);
      const plan = planExposure(ExposureParamsSchema.parse({}), cast.data, W, H);
      const { rgb } = await runInProcess(engine, tileRun(colour, cast, inputs(plan)));
      results.push({ before: meanDeltaE(cast.data, truth.data), after: meanDeltaE(rgb, truth.data) });
    }
    console.log(`white balance, mean CIEDE2000 before -> after: ${results.map((r) => `${r.before.toFixed(2)} -> ${r.after.toFixed(2)}`).join(', ')}`);
    for (const r of results) expect(r.after).toBeLessThan(3);
    for (const r of results) expect(r.after).toBeLessThan(r.before / 2);
  });

  it('sliders: +1 stop doubles linear light; a relight brightens one side only', async () => {
    const flat: Rgb = { data: new Uint8Array(W * H * 3).fill(100), width: W, height: H };
    const plan = planExposure(ExposureParamsSchema.parse({ autoWhiteBalance: false, exposure: 1 }), flat.data, W, H);
    const { rgb } = await runInProcess(engine, tileRun(colour, flat, inputs(plan)));
    expect(Math.abs(rgb[0] - Math.round(255 * linearToSrgb(2 * srgbToLinear(100 / 255))))).toBeLessThanOrEqual(1);
    const lit = planExposure(ExposureParamsSchema.parse({ autoWhiteBalance: false, relight: { side: 'left', amount: 1 } }), flat.data, W, H);
    const out = (await runInProcess(engine, tileRun(colour, flat, inputs(lit)))).rgb;
    const at = (x: number) => out[(64 * W + x) * 3];
    expect(Math.abs(at(0) - Math.round(255 * linearToSrgb(2 * srgbToLinear(100 / 255))))).toBeLessThanOrEqual(1);
    expect(at(W - 1)).toBe(100);
    expect(at(0)).toBeGreaterThan(at(W / 2));
    expect(at(W / 2)).toBeGreaterThan(at(W - 1));
  });

  it('tiles give the whole-frame result to within 1/255 (with a relight ramp, which depends on position)', async () => {
    const img = await svgScene(3, W, H);
    const plan = planExposure(ExposureParamsSchema.parse({ exposure: 0.5, temperature: 30, relight: { side: 'top', amount: -1.5 } }), img.data, W, H);
    const whole = await runInProcess(engine, tileRun(colour, img, inputs(plan), { tileSize: 1024 }));
    const tiled = await runInProcess(engine, tileRun(colour, img, inputs(plan), { tileSize: 40 }));
    expect(tiled.messages.filter((m) => m.type === 'tile')).toHaveLength(5 * 4);
    let max = 0;
    for (let i = 0; i < whole.rgb.length; i++) max = Math.max(max, Math.abs(whole.rgb[i] - tiled.rgb[i]));
    expect(max).toBeLessThanOrEqual(1);
  });
});

describe('match grade', () => {
  // Known grades in code values: y = clip(M x + b) ^ gamma, per channel.
  const grades = [
    { M: [1.1, 0.05, -0.05, 0.02, 0.95, 0.03, -0.08, 0.1, 0.9], b: [0.03, -0.02, 0.05], g: [1, 1, 1] },
    { M: [0.9, 0.1, 0, 0, 1, 0, 0.05, -0.05, 1.1], b: [0, 0.02, -0.03], g: [1.3, 1.1, 0.85] },
    { M: [1, 0, 0, 0, 1, 0, 0, 0, 1], b: [0.06, 0.04, 0], g: [0.8, 0.9, 1.2] },
  ];
  const apply = (img: Rgb, t: (typeof grades)[number]) =>
    mapPixels(img, ([r, g, b]) =>
      [0, 1, 2].map((c) => Math.max(0, Math.min(1, t.M[c * 3] * r + t.M[c * 3 + 1] * g + t.M[c * 3 + 2] * b + t.b[c])) ** t.g[c]) as [number, number, number],
    );
  const match = async (source: Rgb, reference: Rgb) => {
    const tw = 96;
    const th = Math.round((tw * source.height) / source.width);
    const plan = planGrade(await thumb(source, tw, th), await thumb(reference, tw, th), 'auto', 1);
    const { rgb } = await runInProcess(engine, tileRun(colour, source, inputs(plan)));
    return { rgb, method: plan.computed.method };
  };

  it('recovers known grades of the same scene to a mean CIEDE2000 under 2.5', async () => {
    const errors: number[] = [];
    for (const [k, t] of grades.entries()) {
      const scene = await svgScene(20 + k, W, H);
      const truth = apply(scene, t);
      const { rgb, method } = await match(scene, truth);
      expect(method).toBe('fit');
      errors.push(meanDeltaE(rgb, truth.data));
    }
    const mean = errors.reduce((a, b) => a + b, 0) / errors.length;
    console.log(`match grade, same scene: CIEDE2000 ${errors.map((e) => e.toFixed(2)).join(', ')} (mean ${mean.toFixed(2)})`);
    expect(mean).toBeLessThan(2.5);
  });

  it('on a reference of different content, at least halves the difference to the truth', async () => {
    const ratios: number[] = [];
    for (const [k, t] of grades.entries()) {
      const [source, other] = await twoViews(30 + k, W, H);
      const truth = apply(source, t);
      const { rgb, method } = await match(source, apply(other, t));
      expect(method).toBe('statistics');
      const before = meanDeltaE(source.data, truth.data);
      const after = meanDeltaE(rgb, truth.data);
      ratios.push(after / before);
      console.log(`match grade, other content: CIEDE2000 ${before.toFixed(2)} -> ${after.toFixed(2)}`);
    }
    const mean = ratios.reduce((a, b) => a + b, 0) / ratios.length;
    expect(mean).toBeLessThanOrEqual(0.5);
  });

  it('parameters: strength 0 leaves the picture as it is', async () => {
    const scene = await svgScene(50, W, H);
    const p = MatchGradeParamsSchema.parse({ referenceVersionId: 'x', strength: 0 });
    const plan = planGrade(await thumb(scene, 48, 32), await thumb(apply(scene, grades[1]), 48, 32), p.method, p.strength);
    const { rgb } = await runInProcess(engine, tileRun(colour, scene, inputs(plan)));
    let max = 0;
    for (let i = 0; i < rgb.length; i++) max = Math.max(max, Math.abs(rgb[i] - scene.data[i]));
    expect(max).toBeLessThanOrEqual(1);
  });
});

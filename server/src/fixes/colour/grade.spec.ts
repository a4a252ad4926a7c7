import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { GRADES, mapPixels, photo, type Rgb } from '../../../test/fix-scenes.js';
import { LIKENESS, align, applyFit, contentLikeness, fitTransform, planGrade, pool, warmUpRound } from './grade.js';
import { LINEAR8, linearToOklab } from './space.js';

const thumb = (img: Rgb) => ({ rgb: img.data, width: img.width, height: img.height });
const oklab = (img: Rgb) => {
  const n = img.width * img.height;
  const out = [new Float64Array(n), new Float64Array(n), new Float64Array(n)] as [Float64Array, Float64Array, Float64Array];
  for (let k = 0; k < n; k++) {
    const o = linearToOklab(LINEAR8[img.data[k * 3]], LINEAR8[img.data[k * 3 + 1]], LINEAR8[img.data[k * 3 + 2]]);
    (out[0][k] = o[0]), (out[1][k] = o[1]), (out[2][k] = o[2]);
  }
  return out;
};

describe('match grade building blocks', () => {
  it('align finds a known scale and shift: a crop of a photo, 1.25x closer', async () => {
    const file = new URL('../../../test/fixtures/photos/dune.jpg', import.meta.url).pathname;
    const read = async (s: ReturnType<typeof sharp>): Promise<Rgb> => {
      const { data, info } = await s.raw().toBuffer({ resolveWithObject: true });
      return { data: new Uint8Array(data), width: info.width, height: info.height };
    };
    const ref = await read(sharp(file).resize(160, 100, { fit: 'fill' })); // 640x400 -> 1/4
    // Source: the 512x320 crop at (64, 48) at the same 1/4 scale... shown 1.25x closer (160x100 again).
    const src = await read(sharp(file).extract({ left: 64, top: 48, width: 512, height: 320 }).resize(160, 100, { fit: 'fill' }));
    const a = align(thumb(src), thumb(ref));
    expect(a.scale).toBeCloseTo(0.8, 1);
    // Pixel centres: x_ref = 0.8·x_src + 16 + 0.4 - 0.5; within a pixel of the thumbnails.
    expect(Math.abs(a.dx - 15.9)).toBeLessThan(1);
    expect(Math.abs(a.dy - 11.9)).toBeLessThan(1);
    expect(a.score).toBeGreaterThan(0.7);
  });

  it('fitTransform recovers a known matrix + offset + curve', () => {
    const n = 4000;
    let seed = 1;
    const r = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const src = [new Float64Array(n), new Float64Array(n), new Float64Array(n)] as [Float64Array, Float64Array, Float64Array];
    const ref = [new Float64Array(n), new Float64Array(n), new Float64Array(n)] as [Float64Array, Float64Array, Float64Array];
    for (let k = 0; k < n; k++) {
      const x = [r(), r(), r()];
      const y = GRADES['matrix+contrast'](x as [number, number, number]);
      for (let c = 0; c < 3; c++) (src[c][k] = x[c]), (ref[c][k] = y[c]);
    }
    const fit = fitTransform(src, ref);
    let err = 0;
    for (let k = 0; k < n; k++) {
      const o = applyFit(fit, src[0][k], src[1][k], src[2][k]);
      err += Math.abs(o[0] - ref[0][k]) + Math.abs(o[1] - ref[1][k]) + Math.abs(o[2] - ref[2][k]);
    }
    expect(err / (3 * n)).toBeLessThan(0.01);
  });

  it('content likeness: a picture against its own grade is alike; moss against an autumn leaf is not', async () => {
    const moss = await photo('moss', 160);
    for (const g of Object.keys(GRADES)) expect(contentLikeness(oklab(moss), oklab(mapPixels(moss, GRADES[g])))).toBeGreaterThan(LIKENESS.full);
    expect(contentLikeness(oklab(moss), oklab(await photo('fallen-leaf', 160)))).toBeLessThan(LIKENESS.none);
  });

  it('plans once from SETS of frames: two source frames and two reference frames of one scene', async () => {
    const a = await photo('ladybird-a', 160);
    const b = await photo('ladybird-b', 160);
    const g = (img: Rgb) => mapPixels(img, GRADES['gamma curves']);
    const plan = planGrade([thumb(a), thumb(b)], [thumb(g(b)), thumb(g(a))], 'auto', 1);
    expect(plan.computed.relation).toBe('same scene');
    expect(plan.computed.method).toBe('fit');
    expect(plan.computed.pairError!.fit).toBeLessThan(1.5);
    expect(pool([thumb(a), thumb(b)])[0].length).toBe(2 * 160 * 100);
  });

  it("the warm-up's made-up pairs go down each path of the planner: same framing, a shifted framing, different content", () => {
    const [framed, shifted, other] = [0, 1, 2].map(warmUpRound);
    expect(framed.computed).toMatchObject({ relation: 'same scene', alignment: { scale: 1, dx: 0, dy: 0 } });
    expect(shifted.computed.relation).toBe('same scene');
    expect(Math.abs(shifted.computed.alignment!.dx + 30)).toBeLessThanOrEqual(1);
    expect(other.computed.relation).toBe('different content');
  });
});

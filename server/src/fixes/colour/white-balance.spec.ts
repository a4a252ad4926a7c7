import { describe, expect, it } from 'vitest';
import { applyGains, cast, photo, setScene } from '../../../test/fix-scenes.js';
import { locusUv, luminance } from './space.js';
import { AUTO_WB, autoWhiteBalance, gainsFromUv, nearestLight, neutralFromPatch, neutralMode } from './white-balance.js';

const thumb = (img: { data: Uint8Array; width: number; height: number }) => ({ rgb: img.data, width: img.width, height: img.height });

describe('white balance estimators', () => {
  it('the band of plausible lights: D65 is white, a 3000 K light reads as about 3000 K, a green far off the locus is outside', () => {
    expect(nearestLight([0, 0]).kelvin).toBe(6504);
    const w = locusUv(6504);
    const t = locusUv(3000);
    expect(Math.abs(nearestLight([t[0] - w[0], t[1] - w[1]]).kelvin - 3000)).toBeLessThan(60);
    expect(nearestLight([-0.8, -0.8]).offBand).toBeGreaterThan(AUTO_WB.maxOffBand);
  });

  it('gains keep the luminance of a grey', () => {
    const g = gainsFromUv([0.3, -0.4]);
    expect(luminance(g[0], g[1], g[2])).toBeCloseTo(1, 9);
  });

  it('a uniform grey is its own grey cluster', () => {
    const grey = { rgb: new Uint8Array(30 * 20 * 3).fill(128), width: 30, height: 20 };
    expect(neutralMode([grey])).toEqual({ uv: [0, 0], support: 1 });
  });

  it('takes a set of frames and returns one light: a shot whose frames show grey surfaces under a warm cast', async () => {
    const gains = cast([1.3, 1, 0.75]);
    const frames = [await setScene(1, 160, 100), await setScene(2, 160, 100), await setScene(3, 160, 100)].map((f) => thumb(applyGains(f, gains)));
    const one = autoWhiteBalance([frames[0]]);
    const all = autoWhiteBalance(frames);
    expect(all.applied).toBe(true);
    // The estimate undoes the cast: gains times cast is neutral, to within 3%.
    for (const [i, g] of all.gains.entries()) expect(g * gains[i]).toBeCloseTo(all.gains[1] * gains[1], 1);
    expect(Math.abs(all.light!.kelvin - one.light!.kelvin)).toBeLessThan(300);
  });

  it('leaves a set of frames without grey surfaces alone, and says why', async () => {
    const a = autoWhiteBalance([thumb(await photo('fallen-leaf', 160)), thumb(await photo('garden', 160))]);
    expect(a.applied).toBe(false);
    expect(a.reason).toMatch(/left alone/);
  });

  it('a picked neutral: a grey patch under a cast gives the inverse of the cast; an orange patch is limited to the band', () => {
    const gains = cast([1.25, 1, 0.8]);
    const grey = applyGains({ data: new Uint8Array(5 * 5 * 3).fill(120), width: 5, height: 5 }, gains);
    const n = neutralFromPatch(thumb(grey));
    expect(n.limited).toBe(false);
    expect((n.gains[0] * gains[0]) / (n.gains[1] * gains[1])).toBeCloseTo(1, 1);
    const orange = { rgb: Uint8Array.from({ length: 75 }, (_, i) => [225, 105, 25][i % 3]), width: 5, height: 5 };
    expect(neutralFromPatch(orange).limited).toBe(true);
  });
});

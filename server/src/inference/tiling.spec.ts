import { describe, expect, it } from 'vitest';
import { blit, fedSize, mirror, planTiles, planarToRgb, rgbToPlanar, rgbToPlanarBatch } from './tiling.js';

describe('planTiles', () => {
  it('covers every pixel exactly once with cores, padded by context inside the image', () => {
    const w = 301, h = 130;
    const plans = planTiles(w, h, 128, 16);
    const hits = new Uint8Array(w * h);
    for (const { core, padded } of plans) {
      for (let y = core.y; y < core.y + core.height; y++) for (let x = core.x; x < core.x + core.width; x++) hits[y * w + x]++;
      expect(padded.x).toBeGreaterThanOrEqual(0);
      expect(padded.y).toBeGreaterThanOrEqual(0);
      expect(padded.x + padded.width).toBeLessThanOrEqual(w);
      expect(padded.y + padded.height).toBeLessThanOrEqual(h);
      expect(core.x - padded.x).toBe(Math.min(16, core.x));
    }
    expect(plans).toHaveLength(3 * 2);
    expect(hits.every((n) => n === 1)).toBe(true);
  });

  it('round-trips pixels through planar float and back', () => {
    const w = 5, h = 4;
    const rgb = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 37) % 256);
    const r = { x: 1, y: 1, width: 3, height: 2 };
    const planar = rgbToPlanar(rgb, w, r);
    const back = planarToRgb(planar, 3, 2, { x: 0, y: 0, width: 3, height: 2 });
    const dst = new Uint8Array(w * h * 3);
    blit(dst, w, back, r);
    for (let y = 1; y < 3; y++) for (let x = 1; x < 4; x++) for (let c = 0; c < 3; c++) {
      expect(dst[(y * w + x) * 3 + c]).toBe(rgb[(y * w + x) * 3 + c]);
    }
  });

  it("mirrors a tile out to a fixed-size model's input, its own pixels in place", () => {
    expect(Array.from({ length: 9 }, (_, i) => mirror(i, 4))).toEqual([0, 1, 2, 3, 2, 1, 0, 1, 2]);
    expect(mirror(5, 1)).toBe(0);
    expect(fedSize({ width: 240, height: 60 }, { size: [256, 256] })).toEqual({ width: 256, height: 256 });
    expect(fedSize({ width: 100, height: 65 }, { multipleOf: 64 })).toEqual({ width: 128, height: 128 });
    expect(fedSize({ width: 100, height: 65 }, {})).toEqual({ width: 100, height: 65 });
    const w = 6, h = 5;
    const rgb = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 29) % 256);
    const r = { x: 2, y: 1, width: 3, height: 2 };
    const out = rgbToPlanarBatch(rgb, w, [r], 1, 0, { width: 5, height: 4 });
    const plane = 5 * 4;
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < 4; y++)
        for (let x = 0; x < 5; x++) {
          const sx = r.x + mirror(x, r.width), sy = r.y + mirror(y, r.height);
          expect(out[c * plane + y * 5 + x]).toBe(rgb[(sy * w + sx) * 3 + c]);
        }
    // The tile itself is unchanged: the same values as without padding, at the same places.
    const plain = rgbToPlanar(rgb, w, r);
    for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) expect(out[y * 5 + x]).toBe(plain[y * 3 + x]);
    expect(() => rgbToPlanarBatch(rgb, w, [r], 1, 0, { width: 2, height: 2 })).toThrow(/does not fit/);
  });
});

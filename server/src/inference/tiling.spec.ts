import { describe, expect, it } from 'vitest';
import { blit, planTiles, planarToRgb, rgbToPlanar } from './tiling.js';

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
});

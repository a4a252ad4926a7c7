import { describe, expect, it } from 'vitest';
import { applyGains, photo } from '../../../test/fix-scenes.js';
import { AUTO_EXPOSURE, autoExposureStops } from './exposure.js';

const thumb = (img: { data: Uint8Array; width: number; height: number }) => ({ rgb: img.data, width: img.width, height: img.height });

describe('auto exposure', () => {
  it('leaves low-key photos with highlights alone (the dark forest, moss, a storm)', async () => {
    for (const name of ['forest-path', 'moss', 'storm'] as const) expect(autoExposureStops([thumb(await photo(name, 192))], [1, 1, 1], 1.5).stops).toBe(0);
  });

  it('lifts a frame more the darker its highlights, with no jump at the floor, never past the limit, and a darker frame never ends brighter', async () => {
    const forest = await photo('forest-path', 192);
    let last = 0;
    for (let stops = 0; stops <= 5; stops += 0.25) {
      const d = autoExposureStops([thumb(applyGains(forest, [2 ** -stops, 2 ** -stops, 2 ** -stops]))], [1, 1, 1], 1.5);
      expect(d.stops).toBeGreaterThanOrEqual(last - 1e-9);
      expect(d.stops - last).toBeLessThan(0.3); // continuous: a quarter stop darker lifts at most ~3/4 of a quarter stop more
      expect(d.stops).toBeLessThanOrEqual(1.5);
      expect(d.stops - last).toBeLessThanOrEqual(0.25 + 0.05); // the lift grows slower than the darkening
      last = d.stops;
    }
    expect(last).toBe(1.5);
    expect(autoExposureStops([thumb(applyGains(forest, [1 / 32, 1 / 32, 1 / 32]))], [1, 1, 1], 0.5).stops).toBe(0.5);
  });

  it('lowers only a frame brighter on average than natural pictures are, within the limit', () => {
    const bright = { rgb: new Uint8Array(64 * 64 * 3).fill(240), width: 64, height: 64 };
    const d = autoExposureStops([bright], [1, 1, 1], 1.5);
    expect(d.stops).toBeLessThan(0);
    expect(d.stops).toBeGreaterThanOrEqual(-1.5);
    expect(d.logAverage).toBeGreaterThan(AUTO_EXPOSURE.keyCeiling);
  });
});

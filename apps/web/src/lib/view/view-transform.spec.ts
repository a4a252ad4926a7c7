import { describe, expect, it } from 'vitest';
import { FIT, layerTransform, panBy, pixelScale, placePicture, presetOf, wheelFactor, zoomAt, zoomLabel, zoomTo } from './view-transform';

const pic = { width: 1920, height: 1080 };
const box = { width: 1000, height: 800 };

/** Where a picture point (0..1) lands in the box for a view. */
const screenOf = (view: Parameters<typeof placePicture>[0], u: number, v: number, dpr = 1) => {
  const r = placePicture(view, pic, box, dpr);
  return [r.left + u * r.width, r.top + v * r.height];
};

describe('the view transform', () => {
  it('fits like object-fit: contain', () => {
    const r = placePicture(FIT, pic, box, 2);
    expect(r.width).toBeCloseTo(1000);
    expect(r.height).toBeCloseTo(562.5);
    expect(r.top).toBeCloseTo(118.75);
    expect(zoomLabel(FIT, pic, box, 1)).toBe('Fit · 52%');
  });

  it('1:1 is one picture pixel per device pixel, whatever the pixel ratio', () => {
    for (const dpr of [1, 2, 1.5]) {
      const v = zoomTo(FIT, 1, pic, box, dpr);
      const r = placePicture(v, pic, box, dpr);
      expect(r.width * dpr).toBeCloseTo(1920); // device pixels across
      expect(zoomLabel(v, pic, box, dpr)).toBe('1:1');
    }
  });

  it('1:1 of a smaller proxy is one proxy pixel per device pixel, and says so', () => {
    const source = { width: 3840, height: 2160 };
    const proxy = { width: 1920, height: 1080 };
    const s = pixelScale(1, source, proxy);
    expect(s).toBe(0.5);
    const v = zoomTo(FIT, s, source, box, 1);
    expect(placePicture(v, source, box, 1).width).toBeCloseTo(1920);
    expect(presetOf(v, source, proxy)).toBe(1);
    expect(zoomLabel(v, source, box, 1, proxy)).toBe('1:1 proxy');
    expect(zoomLabel(zoomTo(FIT, pixelScale(4, source, proxy), source, box, 1), source, box, 1, proxy)).toBe('4:1 proxy');
  });

  it('zooms towards the pointer: the picture point under it stays under it', () => {
    const anchor: [number, number] = [300, 250];
    let v = FIT;
    for (const f of [1.2, 1.2, 3, 0.5, 7]) {
      const before = placePicture(v, pic, box, 2);
      const u = (anchor[0] - before.left) / before.width;
      const w = (anchor[1] - before.top) / before.height;
      v = zoomAt(v, f, anchor, pic, box, 2);
      const [x, y] = screenOf(v, u, w, 2);
      expect(x).toBeCloseTo(anchor[0], 6);
      expect(y).toBeCloseTo(anchor[1], 6);
    }
  });

  it('pans by screen pixels, and never loses the picture off screen', () => {
    const v = zoomTo(FIT, 2, pic, box, 1);
    const [x0, y0] = screenOf(v, 0.3, 0.3);
    const moved = panBy(v, 40, -25, pic, box, 1);
    const [x1, y1] = screenOf(moved, 0.3, 0.3);
    expect(x1 - x0).toBeCloseTo(40);
    expect(y1 - y0).toBeCloseTo(-25);
    const far = panBy(v, 1e6, 1e6, pic, box, 1);
    expect(far.x).toBe(0);
    expect(far.y).toBe(0);
  });

  it('keeps the same picture point at the centre on a smaller screen (synced views)', () => {
    const v = zoomAt(zoomTo(FIT, 2, pic, box, 1), 1, [0, 0], pic, box, 1);
    const small = { width: 600, height: 400 };
    const r = placePicture(v, pic, small, 1);
    expect(r.left + v.x * r.width).toBeCloseTo(300);
    expect(r.top + v.y * r.height).toBeCloseTo(200);
  });

  it('clamps the zoom and reads the wheel', () => {
    expect(zoomTo(FIT, 1000, pic, box, 1).scale).toBe(32);
    expect(zoomTo(FIT, 0, pic, box, 1).scale).toBe(0.02);
    expect(wheelFactor(-100)).toBeCloseTo(1.2);
    expect(wheelFactor(100)).toBeCloseTo(1 / 1.2);
    expect(wheelFactor(-3, 1)).toBeCloseTo(wheelFactor(-120));
  });

  it('maps the fit rectangle onto the view rectangle with one CSS transform', () => {
    const fit = placePicture(FIT, pic, box, 1);
    const v = zoomAt(FIT, 3, [700, 500], pic, box, 1);
    const placed = placePicture(v, pic, box, 1);
    const m = /translate\((.+)px, (.+)px\) scale\((.+)\)/.exec(layerTransform(fit, placed))!;
    const [tx, ty, s] = m.slice(1).map(Number);
    // A point laid out at the fit rectangle lands where the view puts it.
    const u = 0.8;
    expect(fit.left + tx + u * fit.width * s).toBeCloseTo(placed.left + u * placed.width);
    expect(fit.top + ty + u * fit.height * s).toBeCloseTo(placed.top + u * placed.height);
  });
});

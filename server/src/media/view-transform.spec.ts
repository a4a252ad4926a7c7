import { describe, expect, it } from 'vitest';
import { KNEE, gbrpf32ToRgb48, linearToDisplay, shoulder, srgbEncode } from './view-transform.js';

describe('the view transform for scene-linear sources', () => {
  it('leaves values up to the knee alone, rolls highlights off smoothly towards 1 and never goes past it', () => {
    expect(shoulder(0.5)).toBe(0.5);
    expect(shoulder(KNEE)).toBeCloseTo(KNEE, 12);
    // slope 1 on both sides of the knee
    expect((shoulder(KNEE + 1e-6) - shoulder(KNEE)) / 1e-6).toBeCloseTo(1, 4);
    expect(shoulder(1)).toBeCloseTo(0.9264, 4);
    expect(shoulder(2)).toBeGreaterThan(shoulder(1));
    expect(shoulder(1e6)).toBeLessThanOrEqual(1);
    expect(shoulder(Infinity)).toBe(1);
    expect(shoulder(-1)).toBe(0);
    expect(shoulder(NaN)).toBe(0);
    let prev = -1;
    for (let x = 0; x < 20; x += 0.01) {
      const y = linearToDisplay(x);
      expect(y).toBeGreaterThanOrEqual(prev);
      prev = y;
    }
  });

  it('uses the sRGB encoding: mid grey 0.18 shows at 0.461', () => {
    expect(srgbEncode(0)).toBe(0);
    expect(srgbEncode(1)).toBeCloseTo(1, 10);
    expect(srgbEncode(0.002)).toBeCloseTo(0.02584, 5);
    expect(linearToDisplay(0.18)).toBeCloseTo(0.4614, 4);
  });

  it('turns planar float G, B, R into interleaved 16-bit R, G, B within one code of the exact maths', () => {
    const w = 3;
    const h = 1;
    const r = [0.18, 1.5, 0.0001];
    const g = [0.5, 0, -2];
    const b = [0.9, 4, 0.02];
    const src = Buffer.from(new Float32Array([...g, ...b, ...r]).buffer);
    const out = gbrpf32ToRgb48(src, w, h);
    const o = new Uint16Array(out.buffer, out.byteOffset, w * h * 3);
    for (let i = 0; i < w; i++) {
      expect(Math.abs(o[i * 3] - linearToDisplay(r[i]) * 65535)).toBeLessThanOrEqual(1);
      expect(Math.abs(o[i * 3 + 1] - linearToDisplay(g[i]) * 65535)).toBeLessThanOrEqual(1);
      expect(Math.abs(o[i * 3 + 2] - linearToDisplay(b[i]) * 65535)).toBeLessThanOrEqual(1);
    }
    // unaligned input is fine
    const shifted = Buffer.concat([Buffer.alloc(1), src]).subarray(1);
    expect(Buffer.compare(gbrpf32ToRgb48(shifted, w, h), out)).toBe(0);
  });
});

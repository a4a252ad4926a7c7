import { describe, expect, it } from 'vitest';
import { lutFrom } from '@loupe/shared';
import { gradeBytes, gradePixel, isIdentity, linearToSrgb, srgbToLinear, type Grade } from './grade';

const plain: Grade = { channel: 'rgb', exposure: 0, gamma: 1, display: 'srgb', lut: null };
const near = (a: number[], b: number[], d = 1e-6) => a.forEach((v, i) => expect(v).toBeCloseTo(b[i], -Math.log10(d)));

describe('the viewer grade (the shader maths)', () => {
  it('changes nothing with the defaults', () => {
    expect(isIdentity(plain)).toBe(true);
    const px = [12, 128, 250, 255, 0, 1, 2, 128];
    expect([...gradeBytes(px, plain)]).toEqual(px);
    for (let v = 0; v <= 1; v += 0.05) expect(linearToSrgb(srgbToLinear(v))).toBeCloseTo(v, 9);
  });

  it('one stop doubles linear light; the display encodes it back', () => {
    const mid = 0.5;
    const [r] = gradePixel([mid, mid, mid, 1], { ...plain, exposure: 1 });
    expect(srgbToLinear(r)).toBeCloseTo(2 * srgbToLinear(mid), 6);
    const [d] = gradePixel([mid, mid, mid, 1], { ...plain, exposure: -2 });
    expect(srgbToLinear(d)).toBeCloseTo(srgbToLinear(mid) / 4, 6);
    // Over-exposed values clip at white, not wrap.
    expect(gradePixel([0.9, 0.9, 0.9, 1], { ...plain, exposure: 3 }).slice(0, 3)).toEqual([1, 1, 1]);
  });

  it('shows one channel, alpha or luminance as grey', () => {
    const c: [number, number, number, number] = [0.8, 0.4, 0.1, 0.6];
    expect(gradePixel(c, { ...plain, channel: 'g' })).toEqual([0.4, 0.4, 0.4, 1].map((v, i) => (i < 3 ? expect.closeTo(v, 9) : v)));
    expect(gradePixel(c, { ...plain, channel: 'a' })).toEqual([0.6, 0.6, 0.6, 1]);
    const [y] = gradePixel(c, { ...plain, channel: 'luma' });
    expect(y).toBeCloseTo(0.2126 * 0.8 + 0.7152 * 0.4 + 0.0722 * 0.1, 6);
  });

  it('gamma and display encodings', () => {
    const [g] = gradePixel([0.25, 0.25, 0.25, 1], { ...plain, gamma: 2 });
    expect(g).toBeCloseTo(0.5, 6);
    const lin = gradePixel([0.5, 0.5, 0.5, 1], { ...plain, display: 'linear' })[0];
    expect(lin).toBeCloseTo(srgbToLinear(0.5), 6);
    const bt1886 = gradePixel([0.5, 0.5, 0.5, 1], { ...plain, display: 'rec709' })[0];
    expect(bt1886).toBeCloseTo(Math.pow(srgbToLinear(0.5), 1 / 2.4), 6);
    // Rec.2020 primaries are wider: a saturated Rec.709 red needs less red signal and some green.
    const [r2020, g2020] = gradePixel([1, 0, 0, 1], { ...plain, display: 'rec2020' });
    expect(r2020).toBeLessThan(1);
    expect(g2020).toBeGreaterThan(0);
    // White stays white in both.
    near(gradePixel([1, 1, 1, 1], { ...plain, display: 'rec2020' }), [1, 1, 1, 1], 1e-3);
  });

  it('applies a LUT on sRGB-encoded values: an identity LUT changes nothing, an inverting one inverts', () => {
    const id = lutFrom(17, (r, g, b) => [r, g, b]);
    near(gradePixel([0.3, 0.6, 0.9, 1], { ...plain, lut: id }), [0.3, 0.6, 0.9, 1], 1e-5);
    const invert = lutFrom(2, (r, g, b) => [1 - r, 1 - g, 1 - b]);
    near(gradePixel([0.3, 0.6, 0.9, 1], { ...plain, lut: invert }), [0.7, 0.4, 0.1, 1], 1e-5);
  });
});

import { describe, expect, it } from 'vitest';
import { applyLut, formatCube, lutFrom, parseCube } from './lut.js';
import { LoupeError } from './errors.js';

const refusedWith = (text: string): string => {
  try {
    parseCube(text);
  } catch (e) {
    expect(e).toBeInstanceOf(LoupeError);
    expect((e as LoupeError).code).toBe('BAD_LUT');
    return (e as LoupeError).message;
  }
  throw new Error('parsed a bad LUT');
};

describe('.cube LUTs', () => {
  it('reads a Resolve-style file: comments, title, domain, red fastest', () => {
    const text = [
      '# Made by hand',
      'TITLE "Warm look"',
      '',
      'LUT_3D_SIZE 2',
      'DOMAIN_MIN 0 0 0',
      'DOMAIN_MAX 1 1 1',
      '0 0 0',
      '1 0 0   # red corner',
      '0 1 0',
      '1 1 0',
      '0 0 1',
      '1 0 1',
      '0 1 1',
      '1 1 1',
    ].join('\r\n');
    const lut = parseCube(text);
    expect(lut.title).toBe('Warm look');
    expect(lut.size).toBe(2);
    // Index ((b * size + g) * size + r) * 3: the second line is r=1, g=0, b=0.
    expect([...lut.data.slice(3, 6)]).toEqual([1, 0, 0]);
    expect([...lut.data.slice(12, 15)]).toEqual([0, 0, 1]);
    // An identity LUT gives back the colour, between grid points too.
    const out = applyLut(lut, [0.25, 0.5, 0.9]);
    out.forEach((v, i) => expect(v).toBeCloseTo([0.25, 0.5, 0.9][i], 6));
  });

  it('interpolates trilinearly inside a larger grid and clamps outside the domain', () => {
    const f = (r: number, g: number, b: number): [number, number, number] => [r * r, 1 - g, (r + b) / 2];
    const lut = parseCube(formatCube(lutFrom(17, f)));
    const [r, g, b] = applyLut(lut, [0.3, 0.6, 0.2]);
    expect(r).toBeCloseTo(0.09, 2); // r² between grid points: trilinear error is small at 17 points
    expect(g).toBeCloseTo(0.4, 5);
    expect(b).toBeCloseTo(0.25, 5);
    expect(applyLut(lut, [-1, 2, 0.5])).toEqual(applyLut(lut, [0, 1, 0.5]));
  });

  it('honours DOMAIN_MIN/MAX and LUT_3D_INPUT_RANGE (a log-input LUT over 0..4)', () => {
    const id = lutFrom(5, (r, g, b) => [r, g, b]);
    const wide = parseCube(formatCube({ ...id, domainMin: [0, 0, 0], domainMax: [4, 4, 4] }));
    expect(applyLut(wide, [2, 1, 4])).toEqual([0.5, 0.25, 1]);
    const range = parseCube(formatCube({ size: id.size, data: id.data }).replace('LUT_3D_SIZE 5', 'LUT_3D_SIZE 5\nLUT_3D_INPUT_RANGE 0 2'));
    expect(range.domainMax).toEqual([2, 2, 2]);
  });

  it('refuses bad files with the line and the reason', () => {
    expect(refusedWith('0 0 0\n')).toMatch(/Line 1: data before LUT_3D_SIZE/);
    expect(refusedWith('LUT_3D_SIZE 2\n0 0 0\n1 0 0\n')).toMatch(/needs 8 data lines, the file has 2/);
    expect(refusedWith('LUT_3D_SIZE 2\n0 0 0\n1 0 x\n')).toMatch(/Line 3: A data line "1 0 x" is not three numbers/);
    expect(refusedWith('LUT_3D_SIZE 2\n0 0\n')).toMatch(/Line 2: A data line needs three numbers, found 2/);
    expect(refusedWith('LUT_3D_SIZE 300\n')).toMatch(/outside 2\.\.65/);
    expect(refusedWith('LUT_1D_SIZE 1024\n0 0 0\n')).toMatch(/1D LUT/);
    expect(refusedWith('LUT_1D_SIZE 2\nLUT_3D_SIZE 2\n0 0 0\n')).toMatch(/shaper/);
    expect(refusedWith('LUT_3D_SIZE 2\nDOMAIN_MIN 1 0 0\nDOMAIN_MAX 0 1 1\n' + '0 0 0\n'.repeat(8))).toMatch(/DOMAIN_MAX must be above/);
    expect(refusedWith('<html><body>not a lut</body></html>')).toMatch(/not a \.cube keyword/);
    expect(refusedWith('LUT_3D_SIZE 2\n' + '0 0 0\n'.repeat(9))).toMatch(/Line 10: more than 2³ = 8 data lines/);
    expect(refusedWith('LUT_3D_SIZE 2\u0000')).toMatch(/binary/);
    expect(refusedWith('TITLE "empty"\n')).toMatch(/No LUT_3D_SIZE/);
  });
});

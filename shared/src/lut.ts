/**
 * 3D LUTs in the .cube format (Adobe / Resolve), as graders export them: read in the browser for the
 * viewer (applied on the GPU as a 3D texture) and by the server before it keeps a room's LUT.
 *
 *   # comment                  TITLE "Show look"
 *   LUT_3D_SIZE 33             DOMAIN_MIN 0 0 0      DOMAIN_MAX 1 1 1     (or LUT_3D_INPUT_RANGE 0 1)
 *   0.0 0.0 0.0                N³ lines of "R G B", red changing fastest, then green, then blue
 *
 * 1D LUTs and shaper + 3D files are refused with a message that says so; every error names the line.
 */
import { ErrorCode, LoupeError } from './errors.js';
import { Limits } from './limits.js';

export interface Lut3d {
  title: string;
  /** Points per side of the grid. */
  size: number;
  domainMin: [number, number, number];
  domainMax: [number, number, number];
  /** size³ RGB triplets, red fastest: index ((b * size + g) * size + r) * 3. */
  data: Float32Array;
}

const bad = (message: string) => new LoupeError(ErrorCode.BAD_LUT, message);

function triple(words: string[], line: number, what: string): [number, number, number] {
  if (words.length !== 3) throw bad(`Line ${line}: ${what} needs three numbers, found ${words.length}.`);
  const v = words.map(Number);
  if (v.some((x) => !Number.isFinite(x))) throw bad(`Line ${line}: ${what} "${words.join(' ')}" is not three numbers.`);
  return v as [number, number, number];
}

export function parseCube(text: string): Lut3d {
  if (text.length > Limits.maxLutBytes) throw bad(`The file is over ${Limits.maxLutBytes / 1024 / 1024} MB; a 65-point LUT is smaller.`);
  if (text.includes('\u0000')) throw bad('This is a binary file, not a .cube LUT (text).');
  let title = '';
  let size = 0;
  let size1d = 0;
  let domainMin: [number, number, number] = [0, 0, 0];
  let domainMax: [number, number, number] = [1, 1, 1];
  let data: Float32Array | null = null;
  let n = 0;
  const lines = text.split(/\r\n|\n|\r/);
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const raw = lines[i];
    const hash = raw.indexOf('#');
    const s = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (!s) continue;
    const first = s.charCodeAt(0);
    // Data lines start with a digit, a sign or a dot; keywords with a letter.
    if ((first >= 48 && first <= 57) || first === 45 || first === 43 || first === 46) {
      if (!size) throw bad(size1d ? 'This is a 1D LUT: Loupe applies 3D LUTs (LUT_3D_SIZE).' : `Line ${line}: data before LUT_3D_SIZE.`);
      if (size1d) throw bad('This file has a 1D shaper before its 3D LUT: Loupe applies plain 3D LUTs; export one without the shaper.');
      data ??= new Float32Array(size * size * size * 3);
      if (n >= size * size * size) throw bad(`Line ${line}: more than ${size}³ = ${size * size * size} data lines.`);
      const [r, g, b] = triple(s.split(/\s+/), line, 'A data line');
      data[n * 3] = r;
      data[n * 3 + 1] = g;
      data[n * 3 + 2] = b;
      n++;
      continue;
    }
    const [key, ...rest] = s.split(/\s+/);
    switch (key.toUpperCase()) {
      case 'TITLE':
        title = s.slice(key.length).trim().replace(/^"(.*)"$/, '$1').slice(0, 200);
        break;
      case 'LUT_3D_SIZE': {
        if (data) throw bad(`Line ${line}: LUT_3D_SIZE after the data.`);
        const v = Number(rest[0]);
        if (rest.length !== 1 || !Number.isInteger(v)) throw bad(`Line ${line}: LUT_3D_SIZE needs one whole number.`);
        if (v < 2 || v > Limits.maxLutSize) throw bad(`Line ${line}: LUT_3D_SIZE ${v} is outside 2..${Limits.maxLutSize}.`);
        size = v;
        break;
      }
      case 'LUT_1D_SIZE':
        size1d = Number(rest[0]) || 1;
        break;
      case 'DOMAIN_MIN':
        domainMin = triple(rest, line, 'DOMAIN_MIN');
        break;
      case 'DOMAIN_MAX':
        domainMax = triple(rest, line, 'DOMAIN_MAX');
        break;
      case 'LUT_3D_INPUT_RANGE': {
        const [lo, hi] = rest.map(Number);
        if (rest.length !== 2 || !Number.isFinite(lo) || !Number.isFinite(hi)) throw bad(`Line ${line}: LUT_3D_INPUT_RANGE needs two numbers.`);
        domainMin = [lo, lo, lo];
        domainMax = [hi, hi, hi];
        break;
      }
      case 'LUT_1D_INPUT_RANGE':
        break;
      default:
        throw bad(`Line ${line}: "${key.slice(0, 40)}" is not a .cube keyword or a line of three numbers.`);
    }
  }
  if (!size) throw bad(size1d ? 'This is a 1D LUT: Loupe applies 3D LUTs (LUT_3D_SIZE).' : 'No LUT_3D_SIZE: this is not a 3D .cube LUT.');
  const want = size * size * size;
  if (n !== want) throw bad(`LUT_3D_SIZE ${size} needs ${want} data lines, the file has ${n}.`);
  for (let c = 0; c < 3; c++) {
    if (!(domainMax[c] > domainMin[c])) throw bad(`DOMAIN_MAX must be above DOMAIN_MIN (channel ${'RGB'[c]}: ${domainMin[c]} .. ${domainMax[c]}).`);
  }
  return { title, size, domainMin, domainMax, data: data! };
}

/**
 * Looks a colour up in the LUT with trilinear interpolation, as the GPU's 3D texture does (the
 * grid points sit at texel centres). Inputs outside the domain are clamped to it.
 */
export function applyLut(lut: Lut3d, rgb: [number, number, number]): [number, number, number] {
  const { size, data } = lut;
  const idx: number[] = [];
  const frac: number[] = [];
  for (let c = 0; c < 3; c++) {
    const t = Math.min(1, Math.max(0, (rgb[c] - lut.domainMin[c]) / (lut.domainMax[c] - lut.domainMin[c])));
    const p = t * (size - 1);
    const i = Math.min(size - 2, Math.floor(p));
    idx.push(i);
    frac.push(p - i);
  }
  const at = (r: number, g: number, b: number, c: number) => data[((b * size + g) * size + r) * 3 + c];
  const out: [number, number, number] = [0, 0, 0];
  const [r0, g0, b0] = idx;
  const [fr, fg, fb] = frac;
  for (let c = 0; c < 3; c++) {
    const c00 = at(r0, g0, b0, c) * (1 - fr) + at(r0 + 1, g0, b0, c) * fr;
    const c10 = at(r0, g0 + 1, b0, c) * (1 - fr) + at(r0 + 1, g0 + 1, b0, c) * fr;
    const c01 = at(r0, g0, b0 + 1, c) * (1 - fr) + at(r0 + 1, g0, b0 + 1, c) * fr;
    const c11 = at(r0, g0 + 1, b0 + 1, c) * (1 - fr) + at(r0 + 1, g0 + 1, b0 + 1, c) * fr;
    const c0 = c00 * (1 - fg) + c10 * fg;
    const c1 = c01 * (1 - fg) + c11 * fg;
    out[c] = c0 * (1 - fb) + c1 * fb;
  }
  return out;
}

/** A .cube file (text) for a LUT: what tests and tools write. */
export function formatCube(lut: Pick<Lut3d, 'size' | 'data'> & Partial<Pick<Lut3d, 'title' | 'domainMin' | 'domainMax'>>): string {
  const head = [
    lut.title ? `TITLE "${lut.title}"` : '',
    `LUT_3D_SIZE ${lut.size}`,
    lut.domainMin ? `DOMAIN_MIN ${lut.domainMin.join(' ')}` : '',
    lut.domainMax ? `DOMAIN_MAX ${lut.domainMax.join(' ')}` : '',
  ].filter(Boolean);
  const rows: string[] = [];
  for (let i = 0; i < lut.size ** 3; i++) rows.push(`${lut.data[i * 3].toFixed(6)} ${lut.data[i * 3 + 1].toFixed(6)} ${lut.data[i * 3 + 2].toFixed(6)}`);
  return [...head, ...rows, ''].join('\n');
}

/** A LUT made by a function of the colour, sampled on a size³ grid. */
export function lutFrom(size: number, fn: (r: number, g: number, b: number) => [number, number, number]): Lut3d {
  const data = new Float32Array(size ** 3 * 3);
  for (let b = 0; b < size; b++)
    for (let g = 0; g < size; g++)
      for (let r = 0; r < size; r++) {
        const o = fn(r / (size - 1), g / (size - 1), b / (size - 1));
        data.set(o, ((b * size + g) * size + r) * 3);
      }
  return { title: '', size, domainMin: [0, 0, 0], domainMax: [1, 1, 1], data };
}

/**
 * Colour spaces and small linear algebra the colour planners share: sRGB transfer, CIE Lab and
 * Oklab, the Planckian locus in linear sRGB, 3x3 matrices. Pure functions, no I/O.
 */

/** A picture the planners read: interleaved RGB8, usually a thumbnail of a frame or region. */
export interface Thumb {
  rgb: Uint8Array;
  width: number;
  height: number;
}

export const srgbToLinear = (v: number) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
export const linearToSrgb = (v: number) => (v <= 0.0031308 ? 12.92 * v : 1.055 * v ** (1 / 2.4) - 0.055);

/** sRGB code value (0..255) -> linear light, as a table. */
export const LINEAR8 = Float64Array.from({ length: 256 }, (_, i) => srgbToLinear(i / 255));

export type Mat3 = number[]; // row-major 3x3
export type Vec3 = [number, number, number];

export const IDENTITY3: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];

export const mul3 = (a: Mat3, b: Mat3): Mat3 =>
  [0, 1, 2].flatMap((i) => [0, 1, 2].map((j) => a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j]));

export const apply3 = (m: Mat3, x: number, y: number, z: number): Vec3 => [
  m[0] * x + m[1] * y + m[2] * z,
  m[3] * x + m[4] * y + m[5] * z,
  m[6] * x + m[7] * y + m[8] * z,
];

export function invert3(m: Mat3): Mat3 {
  const [a, b, c, d, e, f, g, h, i] = m;
  const A = e * i - f * h, B = -(d * i - f * g), C = d * h - e * g;
  const det = a * A + b * B + c * C;
  if (Math.abs(det) < 1e-12) throw new Error('singular matrix');
  return [A, -(b * i - c * h), b * f - c * e, B, a * i - c * g, -(a * f - c * d), C, -(a * h - b * g), a * e - b * d].map((v) => v / det);
}

// sRGB (D65) <-> XYZ.
const RGB_XYZ: Mat3 = [0.4124564, 0.3575761, 0.1804375, 0.2126729, 0.7151522, 0.072175, 0.0193339, 0.119192, 0.9503041];
const XYZ_RGB = invert3(RGB_XYZ);
const D65 = [0.95047, 1, 1.08883];

/** Luminance of linear sRGB. */
export const luminance = (r: number, g: number, b: number) => 0.2126729 * r + 0.7151522 * g + 0.072175 * b;

const labF = (t: number) => (t > 216 / 24389 ? Math.cbrt(t) : (841 / 108) * t + 4 / 29);
const labFInv = (t: number) => (t > 6 / 29 ? t * t * t : (108 / 841) * (t - 4 / 29));

/** Linear sRGB -> CIE Lab (D65). */
export function linearToLab(r: number, g: number, b: number): Vec3 {
  const [X, Y, Z] = apply3(RGB_XYZ, r, g, b);
  const fx = labF(X / D65[0]), fy = labF(Y / D65[1]), fz = labF(Z / D65[2]);
  return [116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)];
}

/** CIE Lab (D65) -> linear sRGB (may leave 0..1). */
export function labToLinear(L: number, a: number, b: number): Vec3 {
  const fy = (L + 16) / 116;
  return apply3(XYZ_RGB, D65[0] * labFInv(fy + a / 500), D65[1] * labFInv(fy), D65[2] * labFInv(fy - b / 200));
}

// Oklab (Björn Ottosson, 2020): perceptual, with hue lines straighter than Lab's in the blues.
const OK_M1: Mat3 = [0.4122214708, 0.5363325363, 0.0514459929, 0.2119034982, 0.6806995451, 0.1073969566, 0.0883024619, 0.2817188376, 0.6299787005];
const OK_M2: Mat3 = [0.2104542553, 0.793617785, -0.0040720468, 1.9779984951, -2.428592205, 0.4505937099, 0.0259040371, 0.7827717662, -0.808675766];
const OK_M1I = invert3(OK_M1);
const OK_M2I = invert3(OK_M2);

export function linearToOklab(r: number, g: number, b: number): Vec3 {
  const [l, m, s] = apply3(OK_M1, r, g, b);
  return apply3(OK_M2, Math.cbrt(l), Math.cbrt(m), Math.cbrt(s));
}

export function oklabToLinear(L: number, a: number, b: number): Vec3 {
  const [l, m, s] = apply3(OK_M2I, L, a, b);
  return apply3(OK_M1I, l * l * l, m * m * m, s * s * s);
}

/**
 * CIE 1931 xy of a black body at `kelvin` (Kim et al. 2002 cubic fits, 1667-25000 K).
 */
export function planckianXy(kelvin: number): [number, number] {
  const T = Math.max(1667, Math.min(25000, kelvin));
  const x =
    T <= 4000
      ? -0.2661239e9 / T ** 3 - 0.2343589e6 / T ** 2 + 0.8776956e3 / T + 0.17991
      : -3.0258469e9 / T ** 3 + 2.1070379e6 / T ** 2 + 0.2226347e3 / T + 0.24039;
  const y =
    T <= 2222
      ? -1.1063814 * x ** 3 - 1.3481102 * x ** 2 + 2.18555832 * x - 0.20219683
      : T <= 4000
        ? -0.9549476 * x ** 3 - 1.37418593 * x ** 2 + 2.09137015 * x - 0.16748867
        : 3.081758 * x ** 3 - 5.8733867 * x ** 2 + 3.75112997 * x - 0.37001483;
  return [x, y];
}

/** A light's colour in linear sRGB relative to D65 white, normalised so green = 1. */
export function illuminantRgb(xy: [number, number]): Vec3 {
  const [x, y] = xy;
  const [r, g, b] = apply3(XYZ_RGB, x / y, 1, (1 - x - y) / y);
  const [wr, wg, wb] = apply3(XYZ_RGB, D65[0], D65[1], D65[2]);
  return [r / wr / (g / wg), 1, b / wb / (g / wg)];
}

/** Log-chromaticity (ln R/G, ln B/G) of a black body at `kelvin`, relative to D65 (the balanced white). */
export function locusUv(kelvin: number): [number, number] {
  const [r, , b] = illuminantRgb(planckianXy(kelvin));
  return [Math.log(r), Math.log(b)];
}

/** sRGB code values (0..255) -> CIE Lab (D65). */
export const lab8 = (r: number, g: number, b: number): Vec3 => linearToLab(LINEAR8[r], LINEAR8[g], LINEAR8[b]);

/** CIEDE2000 colour difference (Sharma, Wu, Dalal 2005). */
export function deltaE2000([L1, a1, b1]: number[], [L2, a2, b2]: number[]): number {
  const rad = Math.PI / 180;
  const C1 = Math.hypot(a1, b1), C2 = Math.hypot(a2, b2);
  const Cb = (C1 + C2) / 2;
  const G = 0.5 * (1 - Math.sqrt(Cb ** 7 / (Cb ** 7 + 25 ** 7)));
  const a1p = (1 + G) * a1, a2p = (1 + G) * a2;
  const C1p = Math.hypot(a1p, b1), C2p = Math.hypot(a2p, b2);
  const hp = (b: number, a: number) => (b === 0 && a === 0 ? 0 : (Math.atan2(b, a) / rad + 360) % 360);
  const h1p = hp(b1, a1p), h2p = hp(b2, a2p);
  const dLp = L2 - L1;
  const dCp = C2p - C1p;
  let dhp = 0;
  if (C1p * C2p !== 0) {
    dhp = h2p - h1p;
    if (dhp > 180) dhp -= 360;
    else if (dhp < -180) dhp += 360;
  }
  const dHp = 2 * Math.sqrt(C1p * C2p) * Math.sin((dhp / 2) * rad);
  const Lbp = (L1 + L2) / 2;
  const Cbp = (C1p + C2p) / 2;
  let hbp = h1p + h2p;
  if (C1p * C2p !== 0) {
    if (Math.abs(h1p - h2p) > 180) hbp = h1p + h2p < 360 ? (h1p + h2p + 360) / 2 : (h1p + h2p - 360) / 2;
    else hbp = (h1p + h2p) / 2;
  }
  const T = 1 - 0.17 * Math.cos((hbp - 30) * rad) + 0.24 * Math.cos(2 * hbp * rad) + 0.32 * Math.cos((3 * hbp + 6) * rad) - 0.2 * Math.cos((4 * hbp - 63) * rad);
  const dTheta = 30 * Math.exp(-(((hbp - 275) / 25) ** 2));
  const Rc = 2 * Math.sqrt(Cbp ** 7 / (Cbp ** 7 + 25 ** 7));
  const Sl = 1 + (0.015 * (Lbp - 50) ** 2) / Math.sqrt(20 + (Lbp - 50) ** 2);
  const Sc = 1 + 0.045 * Cbp;
  const Sh = 1 + 0.015 * Cbp * T;
  const Rt = -Math.sin(2 * dTheta * rad) * Rc;
  return Math.sqrt((dLp / Sl) ** 2 + (dCp / Sc) ** 2 + (dHp / Sh) ** 2 + Rt * (dCp / Sc) * (dHp / Sh));
}

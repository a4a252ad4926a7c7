/**
 * The viewer's image controls, as maths: what the fragment shader (picture-shader.ts) does to each
 * pixel, written once more in TypeScript so it can be unit-tested and so the browser test can check
 * the pixels the GPU drew against it.
 *
 *   code value (what the browser decoded: display-referred, sRGB-encoded)
 *     -> linear light (sRGB EOTF)  -> x 2^exposure
 *     -> LUT (optional; on sRGB-encoded values, its output taken as sRGB-encoded)
 *     -> display encoding: sRGB, Rec.709 (BT.1886, 2.4), Rec.2020 (primaries + 2.4) or linear
 *     -> viewer gamma (^ 1/gamma)  -> channel (R, G, B, A or luminance as grey)
 *
 * With the defaults (sRGB, 0 stops, gamma 1, no LUT, RGB) it gives back the input: the viewer
 * then shows the plain <video> and no shader runs.
 */
import { applyLut, type Lut3d, type PictureChannel, type PictureLook } from '@loupe/shared';

export const Displays = ['srgb', 'rec709', 'rec2020', 'linear'] as const;
export type Display = (typeof Displays)[number];
export const DISPLAY_LABELS: Record<Display, string> = {
  srgb: 'sRGB',
  rec709: 'Rec.709 (BT.1886)',
  rec2020: 'Rec.2020',
  linear: 'Linear',
};
export const CHANNEL_LABELS: Record<PictureChannel, string> = { rgb: 'RGB', r: 'R', g: 'G', b: 'B', a: 'A', luma: 'Y' };

export const NO_LOOK: PictureLook = { channel: 'rgb', exposure: 0, gamma: 1, diffGain: 1, lut: null };

/** What the shader needs: the room's (or the member's) look, the member's display, the parsed LUT. */
export interface Grade {
  channel: PictureChannel;
  exposure: number;
  gamma: number;
  display: Display;
  lut: Lut3d | null;
}

/** The defaults change nothing: the plain <video> is shown. */
export function isIdentity(g: Grade): boolean {
  return g.channel === 'rgb' && g.exposure === 0 && g.gamma === 1 && g.display === 'srgb' && !g.lut;
}

export function srgbToLinear(v: number): number {
  const a = Math.abs(v);
  const l = a <= 0.04045 ? a / 12.92 : Math.pow((a + 0.055) / 1.055, 2.4);
  return Math.sign(v) * l;
}

export function linearToSrgb(v: number): number {
  const a = Math.abs(v);
  const e = a <= 0.0031308 ? a * 12.92 : 1.055 * Math.pow(a, 1 / 2.4) - 0.055;
  return Math.sign(v) * e;
}

/** Linear Rec.709 / sRGB primaries to Rec.2020 (ITU-R BT.2087), row-major. */
export const REC709_TO_REC2020 = [0.6274, 0.3293, 0.0433, 0.0691, 0.9195, 0.0114, 0.0164, 0.088, 0.8956] as const;
/** Rec.709 luminance weights. */
export const LUMA = [0.2126, 0.7152, 0.0722] as const;

const clamp01 = (v: number) => Math.min(1, Math.max(0, v));

/** One pixel, 0..1 RGBA in and out, as the shader computes it (before 8-bit rounding). */
export function gradePixel(rgba: [number, number, number, number], g: Grade): [number, number, number, number] {
  const gain = Math.pow(2, g.exposure);
  let lin = [srgbToLinear(rgba[0]) * gain, srgbToLinear(rgba[1]) * gain, srgbToLinear(rgba[2]) * gain];
  if (g.lut) {
    const out = applyLut(g.lut, [linearToSrgb(lin[0]), linearToSrgb(lin[1]), linearToSrgb(lin[2])]);
    lin = out.map(srgbToLinear);
  }
  let d: number[];
  switch (g.display) {
    case 'linear':
      d = lin;
      break;
    case 'rec709':
      d = lin.map((v) => Math.pow(Math.max(0, v), 1 / 2.4));
      break;
    case 'rec2020': {
      const m = REC709_TO_REC2020;
      const c = [0, 1, 2].map((i) => m[i * 3] * lin[0] + m[i * 3 + 1] * lin[1] + m[i * 3 + 2] * lin[2]);
      d = c.map((v) => Math.pow(Math.max(0, v), 1 / 2.4));
      break;
    }
    default:
      d = lin.map(linearToSrgb);
  }
  d = d.map((v) => Math.pow(Math.max(0, v), 1 / g.gamma));
  const a = rgba[3];
  switch (g.channel) {
    case 'r':
      return [clamp01(d[0]), clamp01(d[0]), clamp01(d[0]), 1];
    case 'g':
      return [clamp01(d[1]), clamp01(d[1]), clamp01(d[1]), 1];
    case 'b':
      return [clamp01(d[2]), clamp01(d[2]), clamp01(d[2]), 1];
    case 'a':
      return [a, a, a, 1];
    case 'luma': {
      const y = clamp01(LUMA[0] * d[0] + LUMA[1] * d[1] + LUMA[2] * d[2]);
      return [y, y, y, 1];
    }
    default:
      return [clamp01(d[0]), clamp01(d[1]), clamp01(d[2]), a];
  }
}

/** The same on 8-bit pixels (what a canvas holds): for tests that read pixels back. */
export function gradeBytes(rgba: ArrayLike<number>, g: Grade): Uint8ClampedArray {
  const out = new Uint8ClampedArray(rgba.length);
  for (let i = 0; i < rgba.length; i += 4) {
    const p = gradePixel([rgba[i] / 255, rgba[i + 1] / 255, rgba[i + 2] / 255, rgba[i + 3] / 255], g);
    for (let c = 0; c < 4; c++) out[i + c] = Math.round(p[c] * 255);
  }
  return out;
}

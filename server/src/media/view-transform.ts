/**
 * The view transform for scene-linear sources (OpenEXR): how Loupe turns linear light into the sRGB
 * picture the proxy and the full-quality frames show. Documented in docs/media.md; change the id when
 * the maths change, so that versions say which transform made their pictures.
 *
 *   1. Each channel (R, G, B; alpha is dropped) is read as linear light with Rec.709/sRGB primaries.
 *      NaN and negative values become 0.
 *   2. Highlights roll off instead of clipping: up to the knee (0.8) values are unchanged; above it,
 *      y = k + (1 - k) * (1 - exp(-(x - k) / (1 - k))), which is continuous with slope 1 at the knee
 *      and approaches 1.0 (so 1.0 -> 0.926, 2.0 -> 0.9995, +Inf -> 1.0).
 *   3. The sRGB encoding (IEC 61966-2-1) maps the result to display code values.
 *
 * Scene-linear 0.18 (mid grey) shows as sRGB 0.461 (118 of 255): not washed out, not crushed.
 */
export const VIEW_TRANSFORM_ID = 'loupe-linear-srgb-v1';

export const KNEE = 0.8;

/** Step 2: highlight roll-off (scene-linear -> 0..1). */
export function shoulder(x: number): number {
  if (!(x > 0)) return 0; // NaN and negatives
  if (x <= KNEE) return x;
  if (x === Infinity) return 1;
  return KNEE + (1 - KNEE) * (1 - Math.exp(-(x - KNEE) / (1 - KNEE)));
}

/** Step 3: the sRGB encoding of a 0..1 linear value. */
export function srgbEncode(y: number): number {
  return y <= 0.0031308 ? 12.92 * y : 1.055 * Math.pow(y, 1 / 2.4) - 0.055;
}

/** The whole transform for one value: scene-linear -> display 0..1. */
export function linearToDisplay(x: number): number {
  return srgbEncode(shoulder(x));
}

// sRGB codes (16-bit) for shoulder outputs above the linear toe, sampled finely enough that the
// table error stays under one 16-bit code.
const LUT_BITS = 18;
const LUT_SIZE = 1 << LUT_BITS;
let lut: Uint16Array | undefined;
function table(): Uint16Array {
  if (lut) return lut;
  lut = new Uint16Array(LUT_SIZE);
  for (let i = 0; i < LUT_SIZE; i++) lut[i] = Math.round(srgbEncode(i / (LUT_SIZE - 1)) * 65535);
  return lut;
}

function code16(x: number, t: Uint16Array): number {
  const y = shoulder(x);
  if (y <= 0.0031308) return Math.round(12.92 * y * 65535);
  return t[Math.round(y * (LUT_SIZE - 1))];
}

/**
 * One frame of planar float RGB (ffmpeg's gbrpf32le: the G plane, then B, then R) to interleaved
 * 16-bit RGB (rgb48le) through the view transform.
 */
export function gbrpf32ToRgb48(src: Buffer, width: number, height: number, out?: Buffer): Buffer {
  const n = width * height;
  if (src.length < n * 12) throw new Error(`expected ${n * 12} bytes of gbrpf32le, got ${src.length}`);
  const aligned = src.byteOffset % 4 === 0 ? src : Buffer.from(src.subarray(0, n * 12));
  const f = new Float32Array(aligned.buffer, aligned.byteOffset, n * 3);
  const dst = out && out.byteOffset % 2 === 0 ? out : Buffer.alloc(n * 6);
  const o = new Uint16Array(dst.buffer, dst.byteOffset, n * 3);
  const t = table();
  for (let i = 0; i < n; i++) {
    o[i * 3] = code16(f[2 * n + i], t);
    o[i * 3 + 1] = code16(f[i], t);
    o[i * 3 + 2] = code16(f[n + i], t);
  }
  return dst;
}

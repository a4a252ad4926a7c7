/**
 * White balance: which light a set of frames was shot under, as gains on linear sRGB.
 *
 * 'auto' is deliberately shy. It looks for grey surfaces: the densest cluster of pixel chromaticities
 * that a plausible light (near the Planckian locus, 2700-10000 K, a small green/magenta tint) would
 * give a grey. It corrects only when such surfaces make up a large part of the picture and sit
 * clearly off white. Otherwise the picture is left as it is: a warm autumn scene or a sunset looks the
 * same as a neutral scene under warm light, and "fixing" the first (a blue leaf) costs far more than
 * leaving a mild cast in the second. Grey-world, which the first version used, fails exactly there.
 * Pure functions, no I/O; every estimator takes a SET of thumbnails (frames spread over a shot) and
 * returns one answer.
 */
import { LINEAR8, locusUv, luminance, type Thumb, type Vec3 } from './space.js';

/** A pixel is used when its brightest channel is inside this range (code values): neither black nor clipped. */
const MIN_CODE = 12;
const MAX_CODE = 245;

/** Log-chromaticity u = ln(R/G), v = ln(B/G) of linear light; white is (0, 0). */
export type Uv = [number, number];

/** Gains that turn light of chromaticity `uv` into white and keep a grey's luminance. */
export function gainsFromUv([u, v]: Uv): Vec3 {
  const raw: Vec3 = [Math.exp(-u), 1, Math.exp(-v)];
  const y = luminance(raw[0], raw[1], raw[2]);
  return [raw[0] / y, raw[1] / y, raw[2] / y];
}

/** Chromaticity of a set of gains' light (the inverse of gainsFromUv, up to brightness). */
export const uvFromGains = (g: Vec3): Uv => [Math.log(g[1] / g[0]), Math.log(g[1] / g[2])];

// The locus relative to D65 (6504 K maps to white), sampled in mireds so that steps are even to the eye.
const WHITE = locusUv(6504);
const MIRED_STEP = 10;
const LOCUS: Uv[] = [];
for (let mired = 1e6 / 10000; mired <= 1e6 / 2700 + 1e-9; mired += MIRED_STEP) {
  const [u, v] = locusUv(1e6 / mired);
  LOCUS.push([u - WHITE[0], v - WHITE[1]]);
}

/** Nearest point of the plausible-light band, its correlated colour temperature and the signed tint off the locus. */
export function nearestLight([u, v]: Uv): { uv: Uv; kelvin: number; tint: number; offBand: number } {
  let best = { d: Infinity, uv: LOCUS[0], i: 0, t: 0 };
  for (let i = 0; i + 1 < LOCUS.length; i++) {
    const [a, b] = [LOCUS[i], LOCUS[i + 1]];
    const du = b[0] - a[0], dv = b[1] - a[1];
    const t = Math.max(0, Math.min(1, ((u - a[0]) * du + (v - a[1]) * dv) / (du * du + dv * dv)));
    const p: Uv = [a[0] + t * du, a[1] + t * dv];
    const d = Math.hypot(u - p[0], v - p[1]);
    if (d < best.d) best = { d, uv: p, i, t };
  }
  // Tint: how far across the locus, along the green-magenta axis (1, 1)/√2; positive towards magenta.
  const tint = (u - best.uv[0] + (v - best.uv[1])) / Math.SQRT2;
  const clippedTint = Math.max(-MAX_TINT, Math.min(MAX_TINT, tint));
  // Move from the locus point across it by the clipped tint, along (1, 1)/√2 (the green-magenta axis).
  const uv: Uv = [best.uv[0] + clippedTint / Math.SQRT2, best.uv[1] + clippedTint / Math.SQRT2];
  const mired = 1e6 / 10000 + MIRED_STEP * (best.i + best.t);
  return { uv, kelvin: Math.round(1e6 / mired), tint, offBand: Math.hypot(u - uv[0], v - uv[1]) };
}

/** How far off the locus (green-magenta) a light may be: fluorescent and LED greens, magenta filters. */
const MAX_TINT = 0.35;

/** The thresholds of the auto decision (exported for the tests that explain them). */
export const AUTO_WB = {
  /** Chromaticities within this radius (log-chromaticity) of the light count as grey under it. */
  radius: 0.08,
  /** Lights closer to white than this are left alone (a grey then moves by well under ΔE 2). */
  deadZone: 0.06,
  /**
   * Share of the picture (by brightness) that must look grey under the estimated light. Walls, floors,
   * roads, fog and grey cards reach 0.7-1; natural scenes without grey surfaces stay under 0.2
   * (sky and storm clouds included, measured on the photos in server/test/fixtures/photos).
   */
  minSupport: 0.3,
  /** A chromaticity may lie at most this far outside the band of plausible lights to count. */
  maxOffBand: 0.1,
};

export interface AutoWhiteBalance {
  /** Gains applied (1, 1, 1 when left alone). */
  gains: Vec3;
  applied: boolean;
  /** Why it was applied or left alone, in words for the provenance. */
  reason: string;
  /** The estimated light, when one was found. */
  light?: { kelvin: number; tint: number; uv: Uv; support: number };
}

const round = (uv: Uv): Uv => [+uv[0].toFixed(3), +uv[1].toFixed(3)];

/**
 * The automatic white balance of a set of frames: the densest cluster of chromaticities that a
 * plausible light would give a grey surface. It acts only when that cluster is a large part of the
 * picture and off white; a picture without grey surfaces (foliage, a sunset, autumn leaves) is left alone.
 */
export function autoWhiteBalance(frames: Thumb[]): AutoWhiteBalance {
  const none = (reason: string, light?: AutoWhiteBalance['light']): AutoWhiteBalance => ({ gains: [1, 1, 1], applied: false, reason, ...(light ? { light } : {}) });
  const mode = neutralMode(frames, AUTO_WB.radius);
  if (!mode) return none('no usable pixels (all clipped, black, or far from any grey)');
  const light = nearestLight(mode.uv);
  const found = { kelvin: light.kelvin, tint: +light.tint.toFixed(3), uv: round(light.uv), support: +mode.support.toFixed(3) };
  if (mode.support < AUTO_WB.minSupport) return none(`left alone: only ${(100 * mode.support).toFixed(0)}% of the picture could be grey under one light; its colours belong to the scene`, found);
  if (Math.hypot(light.uv[0], light.uv[1]) < AUTO_WB.deadZone) return none('left alone: already balanced', found);
  return { gains: gainsFromUv(light.uv), applied: true, reason: `removed the cast of a ${light.kelvin} K light (tint ${light.tint >= 0 ? '+' : ''}${light.tint.toFixed(2)})`, light: found };
}

/** Gains that make the picked patch (mean linear colour of its unclipped pixels) neutral; the light is limited to the plausible band. */
export function neutralFromPatch(patch: Thumb): { gains: Vec3; uv: Uv; limited: boolean } {
  const sum = [0, 0, 0];
  let n = 0;
  for (let i = 0; i < patch.width * patch.height; i++) {
    const r = patch.rgb[i * 3], g = patch.rgb[i * 3 + 1], b = patch.rgb[i * 3 + 2];
    if (Math.max(r, g, b) > MAX_CODE || Math.min(r, g, b) < 2) continue;
    sum[0] += LINEAR8[r];
    sum[1] += LINEAR8[g];
    sum[2] += LINEAR8[b];
    n++;
  }
  if (n === 0) return { gains: [1, 1, 1], uv: [0, 0], limited: true };
  const uv: Uv = [Math.log(sum[0] / sum[1]), Math.log(sum[2] / sum[1])];
  const light = nearestLight(uv);
  // A picked light far outside the band is a coloured object, not a grey: the pick is limited to the band.
  const limited = light.offBand > AUTO_WB.maxOffBand;
  const used = limited ? light.uv : uv;
  return { gains: gainsFromUv(used), uv: round(used), limited };
}

// Chromaticities are binned on a fine grid; which bins lie in the band of plausible lights is computed once.
const BIN = 0.01;
const HALF = 120; // the grid covers -1.2..1.2 on both axes
const SIDE = 2 * HALF + 1;
// The band mask is coarser (0.02): computing it costs a few milliseconds once per process, not 300.
const MASK_BIN = 0.02;
const MASK_HALF = 60;
const MASK_SIDE = 2 * MASK_HALF + 1;
let bandMask: Uint8Array | null = null;
function inBand(): Uint8Array {
  if (bandMask) return bandMask;
  const coarse = new Uint8Array(MASK_SIDE * MASK_SIDE);
  for (let a = 0; a < MASK_SIDE; a++)
    for (let c = 0; c < MASK_SIDE; c++) coarse[a * MASK_SIDE + c] = nearestLight([(a - MASK_HALF) * MASK_BIN, (c - MASK_HALF) * MASK_BIN]).offBand <= AUTO_WB.maxOffBand ? 1 : 0;
  bandMask = new Uint8Array(SIDE * SIDE);
  const at = (i: number) => Math.max(0, Math.min(MASK_SIDE - 1, Math.round(((i - HALF) * BIN) / MASK_BIN) + MASK_HALF));
  for (let a = 0; a < SIDE; a++) for (let c = 0; c < SIDE; c++) bandMask[a * SIDE + c] = coarse[at(a) * MASK_SIDE + at(c)];
  return bandMask;
}
const LN8 = Float64Array.from(LINEAR8, (v) => Math.log(Math.max(v, 1e-6)));

/**
 * The densest cluster of chromaticities inside the band of plausible lights (pixels weighted by the
 * square root of their luminance): where the grey surfaces of the scene sit if it has any. The
 * histogram's densest square, then mean shift on a disc of `radius`.
 */
export function neutralMode(frames: Thumb[], radius = AUTO_WB.radius): { uv: Uv; support: number } | null {
  const band = inBand();
  const hist = new Float64Array(SIDE * SIDE);
  let all = 0;
  for (const { rgb, width, height } of frames)
    for (let i = 0; i < width * height; i++) {
      const r = rgb[i * 3], g = rgb[i * 3 + 1], b = rgb[i * 3 + 2];
      const max = Math.max(r, g, b);
      if (max > MAX_CODE || max < MIN_CODE || Math.min(r, g, b) < 2) continue;
      const w = Math.sqrt(luminance(LINEAR8[r], LINEAR8[g], LINEAR8[b]));
      all += w;
      const iu = Math.round((LN8[r] - LN8[g]) / BIN) + HALF, iv = Math.round((LN8[b] - LN8[g]) / BIN) + HALF;
      if (iu < 0 || iv < 0 || iu >= SIDE || iv >= SIDE || !band[iu * SIDE + iv]) continue;
      hist[iu * SIDE + iv] += w;
    }
  if (all === 0) return null;
  // Densest (2k+1)² square, from a summed-area table.
  const k = Math.round(radius / BIN);
  const S = new Float64Array((SIDE + 1) * (SIDE + 1));
  for (let a = 0; a < SIDE; a++) for (let c = 0; c < SIDE; c++) S[(a + 1) * (SIDE + 1) + c + 1] = hist[a * SIDE + c] + S[a * (SIDE + 1) + c + 1] + S[(a + 1) * (SIDE + 1) + c] - S[a * (SIDE + 1) + c];
  let best = 0, ba = HALF, bc = HALF;
  for (let a = k; a < SIDE - k; a++)
    for (let c = k; c < SIDE - k; c++) {
      const s = S[(a + k + 1) * (SIDE + 1) + c + k + 1] - S[(a - k) * (SIDE + 1) + c + k + 1] - S[(a + k + 1) * (SIDE + 1) + c - k] + S[(a - k) * (SIDE + 1) + c - k];
      if (s > best) (best = s), (ba = a), (bc = c);
    }
  if (best === 0) return null;
  // Mean shift on the disc, from the centroid of the densest square.
  let ca = 0, cc = 0, mass = 0;
  for (let a = ba - k; a <= ba + k; a++) for (let c = bc - k; c <= bc + k; c++) (ca += a * hist[a * SIDE + c]), (cc += c * hist[a * SIDE + c]);
  (ca /= best), (cc /= best);
  for (let it = 0; it < 8; it++) {
    let sa = 0, sc = 0;
    mass = 0;
    const a0 = Math.round(ca), c0 = Math.round(cc);
    for (let a = Math.max(0, a0 - k); a <= Math.min(SIDE - 1, a0 + k); a++)
      for (let c = Math.max(0, c0 - k); c <= Math.min(SIDE - 1, c0 + k); c++) {
        if ((a - ca) ** 2 + (c - cc) ** 2 > k * k) continue;
        const w = hist[a * SIDE + c];
        (sa += a * w), (sc += c * w), (mass += w);
      }
    if (mass === 0) break;
    const na = sa / mass, nc = sc / mass;
    const moved = Math.hypot(na - ca, nc - cc);
    (ca = na), (cc = nc);
    if (moved < 0.05) break;
  }
  return { uv: [(ca - HALF) * BIN, (cc - HALF) * BIN], support: mass / all };
}

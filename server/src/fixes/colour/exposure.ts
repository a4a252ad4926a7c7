/**
 * The exposure & white balance fix: from its parameters and a SET of sample thumbnails (frames spread
 * over a shot, or the one frame of a single-frame fix), the coefficients of the colour graph
 * (models/src/graphs/colour.ts). Planned once, applied to every tile (and, for a shot, every frame).
 * Pure functions, no I/O.
 */
import type { ExposureParams } from '@loupe/shared';
import { LINEAR8, linearToSrgb, srgbToLinear, type Thumb, type Vec3 } from './space.js';
import { autoWhiteBalance, neutralFromPatch, type AutoWhiteBalance, type Uv } from './white-balance.js';
import { PRE, POST, table, type ColourInputs } from './graph-inputs.js';

/**
 * Auto exposure only lifts frames whose highlights are dark. The brightest 0.5% of a frame's pixels
 * (brightest channel, linear light) sit at 0.3-1.0 in every natural photo of the test set, the dark
 * forest included (0.30); a frame is lifted only when they are below HIGHLIGHT_FLOOR, by LIFT_SHARE of
 * the shortfall (in stops; continuous, and a darker frame never ends brighter than a lighter one), and
 * never by more than the user's maxStops. Lowered only when the frame's log-average is above
 * KEY_CEILING (brighter than any natural photo of the set by 2/3 stop).
 */
export const AUTO_EXPOSURE = { highlightQuantile: 0.995, highlightFloor: 0.25, liftShare: 0.75, keyCeiling: 0.4 };

export interface ExposureDecision {
  stops: number;
  /** In words, for the provenance. */
  reason: string;
  highlight: number;
  logAverage: number;
}

/** Stops auto exposure moves a set of frames after `gains` (see AUTO_EXPOSURE), limited to ±maxStops. */
export function autoExposureStops(frames: Thumb[], gains: Vec3, maxStops: number): ExposureDecision {
  const hist = new Float64Array(4096);
  let logSum = 0;
  let n = 0;
  for (const { rgb, width, height } of frames)
    for (let i = 0; i < width * height; i++) {
      const r = gains[0] * LINEAR8[rgb[i * 3]], g = gains[1] * LINEAR8[rgb[i * 3 + 1]], b = gains[2] * LINEAR8[rgb[i * 3 + 2]];
      hist[Math.min(4095, Math.floor(4096 * Math.min(1, Math.max(r, g, b))))]++;
      logSum += Math.log(0.2126 * r + 0.7152 * g + 0.0722 * b + 1e-4);
      n++;
    }
  if (n === 0) return { stops: 0, reason: 'no pixels', highlight: 0, logAverage: 0 };
  let need = (1 - AUTO_EXPOSURE.highlightQuantile) * n;
  let k = 4095;
  while (k > 0 && need > hist[k]) need -= hist[k--];
  const highlight = (k + 0.5) / 4096;
  const logAverage = Math.exp(logSum / n);
  const { highlightFloor: floor, liftShare, keyCeiling } = AUTO_EXPOSURE;
  const limit = (s: number) => Math.max(-maxStops, Math.min(maxStops, s));
  const facts = { highlight: +highlight.toFixed(4), logAverage: +logAverage.toFixed(4) };
  if (highlight < floor) {
    const stops = limit(liftShare * Math.log2(floor / highlight));
    return { stops, reason: `lifted: its brightest parts are at ${(100 * highlight).toFixed(0)}% (under ${100 * floor}%)${stops === maxStops ? `, limited to ${maxStops} stops` : ''}`, ...facts };
  }
  if (logAverage > keyCeiling) {
    const stops = limit(Math.log2(keyCeiling / logAverage));
    return { stops, reason: `lowered: its average brightness is ${(100 * logAverage).toFixed(0)}% (over ${100 * keyCeiling}%)${stops === -maxStops ? `, limited to ${maxStops} stops` : ''}`, ...facts };
  }
  return { stops: 0, reason: 'left alone: its highlights and its average are where natural pictures have them (a low-key frame stays low-key)', ...facts };
}

export interface ExposurePlan {
  inputs: ColourInputs;
  computed: {
    whiteBalance: ExposureParams['whiteBalance'];
    /** Gains applied in linear light: white balance times temperature/tint. */
    gains: Vec3;
    /** The white-balance part alone. */
    balanceGains: Vec3;
    /** Why auto white balance acted or not; the estimated light. */
    balance?: Pick<AutoWhiteBalance, 'applied' | 'reason' | 'light'>;
    /** The picked neutral's chromaticity (limited to plausible lights when `limited`). */
    neutral?: { uv: Uv; limited: boolean };
    stops: number;
    autoStops: number;
    exposure?: ExposureDecision;
  };
}

const r4 = (g: Vec3): Vec3 => g.map((v) => +v.toFixed(4)) as Vec3;

/**
 * Coefficients for the colour graph. `frames`: thumbnails of the region on the frames the fix covers
 * (one for a single frame); `neutralPatch`: the pixels at the picked neutral point, when whiteBalance is
 * 'neutral'; `width`/`height`: the region's size in pixels (for the relight ramp).
 */
export function planExposure(params: ExposureParams, frames: Thumb[], width: number, height: number, neutralPatch?: Thumb): ExposurePlan {
  let balanceGains: Vec3 = [1, 1, 1];
  const computed: Partial<ExposurePlan['computed']> = { whiteBalance: params.whiteBalance };
  if (params.whiteBalance === 'auto') {
    const a = autoWhiteBalance(frames);
    balanceGains = a.gains;
    computed.balance = { applied: a.applied, reason: a.reason, ...(a.light ? { light: a.light } : {}) };
  } else if (params.whiteBalance === 'neutral') {
    if (!neutralPatch) throw new Error('white balance on a neutral point needs the pixels at that point');
    const n = neutralFromPatch(neutralPatch);
    balanceGains = n.gains;
    computed.neutral = { uv: n.uv, limited: n.limited };
  }
  const t = params.temperature / 200;
  const g = -params.tint / 200;
  const gains: Vec3 = [balanceGains[0] * 2 ** t, balanceGains[1] * 2 ** g, balanceGains[2] * 2 ** -t];
  const decision = params.autoExposure ? autoExposureStops(frames, gains, params.maxStops) : undefined;
  const autoStops = decision?.stops ?? 0;
  const stops = autoStops + params.exposure;
  const ramp = new Float32Array([stops, 0, 0]);
  if (params.relight && params.relight.amount !== 0) {
    const a = params.relight.amount;
    const span = (n: number) => Math.max(1, n - 1);
    // log2 gain = stops + a at the lit side, falling linearly to `stops` at the opposite side.
    if (params.relight.side === 'left') (ramp[0] += a), (ramp[1] = -a / span(width));
    if (params.relight.side === 'right') ramp[1] = a / span(width);
    if (params.relight.side === 'top') (ramp[0] += a), (ramp[2] = -a / span(height));
    if (params.relight.side === 'bottom') ramp[2] = a / span(height);
  }
  return {
    inputs: {
      pre_lut: table(PRE, srgbToLinear, 255),
      matrix: Float32Array.from([gains[0], 0, 0, 0, gains[1], 0, 0, 0, gains[2]]),
      offset: new Float32Array(3),
      ramp,
      post_lut: table(POST, linearToSrgb, POST - 1),
    },
    computed: { ...computed, gains: r4(gains), balanceGains: r4(balanceGains), stops: +stops.toFixed(4), autoStops: +autoStops.toFixed(4), ...(decision ? { exposure: decision } : {}) } as ExposurePlan['computed'],
  };
}

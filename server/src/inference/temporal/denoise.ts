/**
 * Temporal denoise of one frame from its neighbours: each neighbour is aligned to the frame by the
 * shot's global motion (a pan), then averaged in, pixel by pixel, with a weight that falls to zero
 * where the aligned neighbour differs from the frame by more than noise can explain (an object
 * moving on its own, a new reveal): there the frame keeps its own pixels and nothing ghosts.
 * The average leaves less noise than the frame had; the spatial denoise that follows is told how
 * much (`residualSigma`). Pure, no I/O.
 */
import type { Pixels } from '../tiling.js';
import { globalShift, greyOf, pyramid, shiftRgb, type Grey } from './motion.js';

export interface TemporalResult {
  /** The averaged frame, interleaved RGB at the frame's depth. */
  rgb: Pixels;
  /** Noise left, on the 8-bit scale (the frame's sigma divided by the root of the frames averaged in, on average). */
  residualSigma: number;
  /** Mean number of frames averaged per pixel (1 = none). */
  meanFrames: number;
  /** The shift found to each neighbour, in the order given. */
  shifts: { dx: number; dy: number; residual: number }[];
}

/** 3x3 box mean of a single-channel float image (edges clamped). */
function box3(src: Float32Array, w: number, h: number): Float32Array {
  const tmp = new Float32Array(w * h);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    const r = y * w;
    for (let x = 0; x < w; x++) tmp[r + x] = (src[r + Math.max(0, x - 1)] + src[r + x] + src[r + Math.min(w - 1, x + 1)]) / 3;
  }
  for (let y = 0; y < h; y++) {
    const up = Math.max(0, y - 1) * w, dn = Math.min(h - 1, y + 1) * w, r = y * w;
    for (let x = 0; x < w; x++) out[r + x] = (tmp[up + x] + tmp[r + x] + tmp[dn + x]) / 3;
  }
  return out;
}

/**
 * `frame` denoised with `neighbours` (any order; typically t-2..t+2 without t). `sigma` is the frame's
 * noise level on the 8-bit scale (measured or given). Pyramids may be passed in when the caller
 * keeps them across frames (each frame is a neighbour of several others).
 */
export function temporalDenoise(
  frame: Pixels,
  neighbours: Pixels[],
  width: number,
  height: number,
  sigma: number,
  pyramids?: { frame: Grey[]; neighbours: Grey[][] },
): TemporalResult {
  const deep = frame instanceof Uint16Array;
  const unit = deep ? 257 : 1;
  const n = width * height;
  const pf = pyramids?.frame ?? pyramid(greyOf(frame, width, height));
  const sum = new Float32Array(n * 3);
  const wsum = new Float32Array(n);
  const w2sum = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    sum[i * 3] = frame[i * 3];
    sum[i * 3 + 1] = frame[i * 3 + 1];
    sum[i * 3 + 2] = frame[i * 3 + 2];
    wsum[i] = 1;
    w2sum[i] = 1;
  }
  // Two noisy samples of the same point differ by N(0, sqrt(2)·sigma) per channel, whose absolute value
  // has mean 2·sigma/sqrt(π); averaged over 3x3 pixels and 3 channels it stays within about ±30 % of
  // that. Well beyond it, the difference is picture (motion), not noise.
  const s = Math.max(1, sigma) * unit;
  const calm = (2 * s) / Math.sqrt(Math.PI);
  const shifts: TemporalResult['shifts'] = [];
  neighbours.forEach((nb, k) => {
    const pn = pyramids?.neighbours[k] ?? pyramid(greyOf(nb, width, height));
    const t = globalShift(pf, pn);
    shifts.push({ dx: +t.dx.toFixed(3), dy: +t.dy.toFixed(3), residual: +t.residual.toFixed(2) });
    const { rgb, valid } = shiftRgb(nb, width, height, t.dx, t.dy);
    const diff = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const j = i * 3;
      diff[i] = valid[i] ? (Math.abs(rgb[j] - frame[j]) + Math.abs(rgb[j + 1] - frame[j + 1]) + Math.abs(rgb[j + 2] - frame[j + 2])) / 3 : Infinity;
    }
    const d = box3(diff, width, height);
    for (let i = 0; i < n; i++) {
      if (!valid[i]) continue;
      // Full weight while the difference is what noise makes; none from about twice that.
      const e = d[i] / calm;
      const wgt = e <= 1.4 ? 1 : e >= 2.2 ? 0 : (2.2 - e) / 0.8;
      if (wgt === 0) continue;
      const j = i * 3;
      sum[j] += wgt * rgb[j];
      sum[j + 1] += wgt * rgb[j + 1];
      sum[j + 2] += wgt * rgb[j + 2];
      wsum[i] += wgt;
      w2sum[i] += wgt * wgt;
    }
  });
  const out = deep ? new Uint16Array(n * 3) : new Uint8Array(n * 3);
  const max = deep ? 65535 : 255;
  let variance = 0;
  let frames = 0;
  for (let i = 0; i < n; i++) {
    const inv = 1 / wsum[i];
    const j = i * 3;
    out[j] = Math.min(max, Math.max(0, Math.round(sum[j] * inv)));
    out[j + 1] = Math.min(max, Math.max(0, Math.round(sum[j + 1] * inv)));
    out[j + 2] = Math.min(max, Math.max(0, Math.round(sum[j + 2] * inv)));
    // A weighted mean of independent samples keeps sigma²·Σw²/(Σw)² of the variance.
    variance += w2sum[i] * inv * inv;
    frames += wsum[i];
  }
  return { rgb: out, residualSigma: sigma * Math.sqrt(variance / n), meanFrames: frames / n, shifts };
}

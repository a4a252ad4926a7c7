/**
 * Global motion between two frames (a pan or a tilt): the translation that best aligns them,
 * found coarse to fine on grey pyramids and refined to a fraction of a pixel. Pure, no I/O.
 * Local motion (an object crossing) is not modelled here: the temporal filters detect it per pixel
 * and fall back to the frame's own pixels there.
 */
import type { Pixels } from '../tiling.js';

export interface Grey {
  data: Float32Array;
  width: number;
  height: number;
}

/** Luma (Rec.709 weights) of interleaved RGB, 0..255 whatever the depth. */
export function greyOf(rgb: Pixels, width: number, height: number): Grey {
  const k = rgb instanceof Uint16Array ? 1 / 257 : 1;
  const data = new Float32Array(width * height);
  for (let i = 0, j = 0; i < data.length; i++, j += 3) data[i] = k * (0.2126 * rgb[j] + 0.7152 * rgb[j + 1] + 0.0722 * rgb[j + 2]);
  return { data, width, height };
}

/** Half size by 2x2 averaging. */
export function halve(g: Grey): Grey {
  const w = g.width >> 1;
  const h = g.height >> 1;
  const data = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    const r0 = 2 * y * g.width;
    const r1 = r0 + g.width;
    for (let x = 0; x < w; x++) data[y * w + x] = 0.25 * (g.data[r0 + 2 * x] + g.data[r0 + 2 * x + 1] + g.data[r1 + 2 * x] + g.data[r1 + 2 * x + 1]);
  }
  return { data, width: w, height: h };
}

/** Levels down to at least `minSide` pixels on the shorter side. */
export function pyramid(g: Grey, minSide = 48): Grey[] {
  const levels = [g];
  while (Math.min(levels[levels.length - 1].width, levels[levels.length - 1].height) >= 2 * minSide) levels.push(halve(levels[levels.length - 1]));
  return levels;
}

/**
 * Mean absolute difference of a(x, y) and b(x + dx, y + dy) over their overlap, on every `step`-th
 * pixel; with `ignore`, leaving out the pixels either frame's mask covers (nonzero there).
 */
function cost(a: Grey, b: Grey, dx: number, dy: number, step: number, ignore?: { a: Grey; b: Grey }): number {
  const { width: w, height: h } = a;
  const x0 = Math.max(0, -dx), x1 = Math.min(w, w - dx);
  const y0 = Math.max(0, -dy), y1 = Math.min(h, h - dy);
  if (x1 - x0 < w / 2 || y1 - y0 < h / 2) return Infinity;
  let sum = 0;
  let n = 0;
  for (let y = y0; y < y1; y += step) {
    const ra = y * w;
    const rb = (y + dy) * w + dx;
    for (let x = x0; x < x1; x += step) {
      if (ignore && (ignore.a.data[ra + x] > 0 || ignore.b.data[rb + x] > 0)) continue;
      sum += Math.abs(a.data[ra + x] - b.data[rb + x]);
      n++;
    }
  }
  return n ? sum / n : Infinity;
}

export interface Translation {
  dx: number;
  dy: number;
  /** Mean absolute grey difference left after aligning (0..255): high means the frames do not match by a shift. */
  residual: number;
}

/**
 * The shift (dx, dy) such that b(x + dx, y + dy) ≈ a(x, y), searching ±`radius` pixels at the
 * coarsest level (around `opts.start`, full-size pixels), then ±1 at each finer one, and a parabola
 * through the costs for the sub-pixel part. `opts.masks` (pyramids like pa's and pb's, nonzero =
 * moving object) leaves those pixels out: the background's motion, not the object's.
 */
export function globalShift(pa: Grey[], pb: Grey[], radius = 4, opts: { start?: { dx: number; dy: number }; masks?: { a: Grey[]; b: Grey[] } } = {}): Translation {
  const top = pa.length - 1;
  let dx = Math.round((opts.start?.dx ?? 0) / 2 ** top);
  let dy = Math.round((opts.start?.dy ?? 0) / 2 ** top);
  for (let l = top; l >= 0; l--) {
    const a = pa[l];
    const b = pb[l];
    const ignore = opts.masks ? { a: opts.masks.a[l], b: opts.masks.b[l] } : undefined;
    const r = l === top ? radius : 1;
    const step = l === 0 ? 2 : 1;
    let best = { dx, dy, c: Infinity };
    for (let y = dy - r; y <= dy + r; y++) for (let x = dx - r; x <= dx + r; x++) {
      const c = cost(a, b, x, y, step, ignore);
      if (c < best.c) best = { dx: x, dy: y, c };
    }
    dx = best.dx;
    dy = best.dy;
    if (l > 0) {
      dx *= 2;
      dy *= 2;
    } else {
      const sub = (c0: number, c1: number, c2: number) => {
        const den = c0 - 2 * c1 + c2;
        return Number.isFinite(den) && den > 1e-9 ? Math.max(-0.5, Math.min(0.5, (0.5 * (c0 - c2)) / den)) : 0;
      };
      const c = best.c;
      const fx = sub(cost(a, b, dx - 1, dy, step, ignore), c, cost(a, b, dx + 1, dy, step, ignore));
      const fy = sub(cost(a, b, dx, dy - 1, step, ignore), c, cost(a, b, dx, dy + 1, step, ignore));
      return { dx: dx + fx, dy: dy + fy, residual: c };
    }
  }
  return { dx, dy, residual: Infinity };
}

/**
 * `src` (interleaved RGB as float) resampled at (x + dx, y + dy), bilinear; `valid` is 0 where the
 * sample falls outside the frame.
 */
export function shiftRgb(src: Pixels, width: number, height: number, dx: number, dy: number): { rgb: Float32Array; valid: Uint8Array } {
  const rgb = new Float32Array(width * height * 3);
  const valid = new Uint8Array(width * height);
  const ix = Math.floor(dx);
  const iy = Math.floor(dy);
  const ax = dx - ix;
  const ay = dy - iy;
  const w00 = (1 - ax) * (1 - ay), w10 = ax * (1 - ay), w01 = (1 - ax) * ay, w11 = ax * ay;
  for (let y = 0; y < height; y++) {
    const sy = y + iy;
    if (sy < 0 || sy + 1 >= height) continue;
    for (let x = 0; x < width; x++) {
      const sx = x + ix;
      if (sx < 0 || sx + 1 >= width) continue;
      const p = (sy * width + sx) * 3;
      const q = p + width * 3;
      const o = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) rgb[o + c] = w00 * src[p + c] + w10 * src[p + 3 + c] + w01 * src[q + c] + w11 * src[q + 3 + c];
      valid[y * width + x] = 1;
    }
  }
  return { rgb, valid };
}

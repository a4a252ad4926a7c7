/**
 * A drawn mask carried over a range of frames by tracking the object under it: the translation of
 * the masked region, found coarse to fine on grey pyramids (temporal/motion.ts) by matching the
 * keyframe's pixels inside the mask (not the background's shift), sub-pixel by a parabola. Each frame
 * is matched against the keyframe itself, starting from the motion so far, so the track does not
 * drift. A keyframe always wins; between two keyframes the frame is tracked forward from the one
 * before and backward from the one after, and the two masks are blended by how near each keyframe is.
 * Pure, no I/O.
 */
import { halve, pyramid, type Grey } from '../temporal/motion.js';
import { boxOf } from './edge.js';

export interface MaskKey {
  /** Index of the frame in the range (0 = the range's first frame). */
  index: number;
  /** Coverage 0..255, width x height (the drawn mask rasterised on that frame). */
  mask: Uint8Array;
}

/** Where a frame's mask comes from: keyframes' masks shifted by (dx, dy), blended by weight (summing to 1). */
export interface TrackedFrame {
  index: number;
  parts: { key: number; dx: number; dy: number; weight: number }[];
  /** Mean absolute grey difference (0..255) left after matching, the worst of the parts: high = lost. */
  residual: number;
}

/** Fewest interior points a pyramid level needs to be matched on: coarser, a small object is a few pixels and matches anything. */
const MIN_POINTS = 48;

/**
 * Pixels fully inside the mask at each pyramid level (eroded by one pixel there), at most `max` of
 * them; the levels stop where the mask has fewer than MIN_POINTS inside (the finest level always stays).
 */
function levelPoints(mask: Uint8Array, w: number, h: number, levels: number, max = 12000): Int32Array[] {
  const cover = new Float32Array(w * h);
  for (let i = 0; i < cover.length; i++) cover[i] = mask[i] / 255;
  let m: Grey = { data: cover, width: w, height: h };
  const out: Int32Array[] = [];
  for (let l = 0; l < levels; l++) {
    if (l > 0) m = halve(m);
    const { data, width, height } = m;
    const inside: number[] = [];
    for (let y = 1; y < height - 1; y++)
      for (let x = 1; x < width - 1; x++) {
        const i = y * width + x;
        if (data[i] > 0.99 && data[i - 1] > 0.99 && data[i + 1] > 0.99 && data[i - width] > 0.99 && data[i + width] > 0.99) inside.push(i);
      }
    if (l > 0 && inside.length < MIN_POINTS) break;
    // A mask too thin to erode: all of it.
    if (inside.length < 16) for (let i = 0; i < data.length; i++) if (data[i] >= 0.5) inside.push(i);
    const step = Math.max(1, Math.ceil(inside.length / max));
    out.push(Int32Array.from(inside.filter((_, k) => k % step === 0)));
  }
  return out;
}

/** Mean |a(p) - b(p + d)| over the points (a's pixels); Infinity when fewer than half land inside b. */
function cost(a: Grey, b: Grey, pts: Int32Array, dx: number, dy: number): number {
  const { width: w, height: h } = a;
  let sum = 0, n = 0;
  for (let k = 0; k < pts.length; k++) {
    const p = pts[k];
    const x = (p % w) + dx, y = ((p / w) | 0) + dy;
    if (x < 0 || y < 0 || x >= w || y >= h) continue;
    sum += Math.abs(a.data[p] - b.data[y * w + x]);
    n++;
  }
  return n * 2 < pts.length || n === 0 ? Infinity : sum / n;
}

/** The shift d with frame(p + d) ≈ key(p) over the key's mask, searched around `guess`. */
export function matchRegion(key: Grey[], frame: Grey[], pts: Int32Array[], guess: { dx: number; dy: number }, radius = 4): { dx: number; dy: number; residual: number } {
  const top = Math.min(key.length, frame.length, pts.length) - 1;
  let dx = Math.round(guess.dx / 2 ** top), dy = Math.round(guess.dy / 2 ** top);
  for (let l = top; l >= 0; l--) {
    const r = l === top ? radius : 2;
    let best = { dx, dy, c: Infinity };
    for (let y = dy - r; y <= dy + r; y++)
      for (let x = dx - r; x <= dx + r; x++) {
        const c = cost(key[l], frame[l], pts[l], x, y);
        if (c < best.c) best = { dx: x, dy: y, c };
      }
    dx = best.dx;
    dy = best.dy;
    if (l > 0) {
      dx *= 2;
      dy *= 2;
      continue;
    }
    const sub = (c0: number, c1: number, c2: number) => {
      const den = c0 - 2 * c1 + c2;
      return Number.isFinite(den) && den > 1e-9 ? Math.max(-0.5, Math.min(0.5, (0.5 * (c0 - c2)) / den)) : 0;
    };
    const c = best.c;
    const fx = sub(cost(key[0], frame[0], pts[0], dx - 1, dy), c, cost(key[0], frame[0], pts[0], dx + 1, dy));
    const fy = sub(cost(key[0], frame[0], pts[0], dx, dy - 1), c, cost(key[0], frame[0], pts[0], dx, dy + 1));
    return { dx: dx + fx, dy: dy + fy, residual: c };
  }
  return { dx, dy, residual: Infinity };
}

/** Pyramid levels for tracking: down to ~24 px on the short side, so fast objects are found. */
export const trackPyramid = (g: Grey) => pyramid(g, 24);

/**
 * The mask of every frame of a range (`pyramids[i]`: frame i's grey pyramid from trackPyramid), from
 * masks drawn on keyframes. `onFrame` is told each frame as its track is known (for progress).
 */
export function trackMasks(pyramids: Grey[][], keys: MaskKey[], onFrame?: (done: number, total: number) => void): TrackedFrame[] {
  if (!keys.length) throw new Error('tracking needs at least one keyframe');
  const sorted = [...keys].sort((a, b) => a.index - b.index);
  const n = pyramids.length;
  const { width: w, height: h } = pyramids[0][0];
  const levels = pyramids[0].length;
  const pts = sorted.map((k) => levelPoints(k.mask, w, h, levels));
  /** Track from keyframe `k` over `indices` (in the order walked); returns each frame's shift. */
  const walk = (k: number, indices: number[]) => {
    const found = new Map<number, { dx: number; dy: number; residual: number }>();
    let prev = { dx: 0, dy: 0 }, before = { dx: 0, dy: 0 };
    /** The residual of a good match on this track so far (a running mean). */
    let typical = Infinity;
    for (const t of indices) {
      const guess = { dx: 2 * prev.dx - before.dx, dy: 2 * prev.dy - before.dy };
      let m = matchRegion(pyramids[sorted[k].index], pyramids[t], pts[k], guess);
      // A wrong prediction (the object stopped or turned): search again, wider, around the last position.
      if (!Number.isFinite(m.residual) || m.residual > 2 * typical + 2) {
        const again = matchRegion(pyramids[sorted[k].index], pyramids[t], pts[k], prev, 8);
        if (again.residual < m.residual) m = again;
      }
      if (Number.isFinite(m.residual)) typical = typical === Infinity ? m.residual : 0.8 * typical + 0.2 * Math.min(m.residual, 2 * typical + 2);
      found.set(t, m);
      before = prev;
      prev = m;
    }
    return found;
  };
  const forward = sorted.map((k, i) => walk(i, span(k.index + 1, i + 1 < sorted.length ? sorted[i + 1].index - 1 : n - 1)));
  const backward = sorted.map((k, i) => walk(i, span(i > 0 ? sorted[i - 1].index + 1 : 0, k.index - 1).reverse()));
  const out: TrackedFrame[] = [];
  let done = 0;
  for (let t = 0; t < n; t++) {
    const at = sorted.findIndex((k) => k.index === t);
    if (at >= 0) out.push({ index: t, parts: [{ key: at, dx: 0, dy: 0, weight: 1 }], residual: 0 });
    else {
      const after = sorted.findIndex((k) => k.index > t);
      const prevKey = after < 0 ? sorted.length - 1 : after - 1;
      const parts: TrackedFrame['parts'] = [];
      let residual = 0;
      if (prevKey >= 0 && after >= 0) {
        const wAfter = (t - sorted[prevKey].index) / (sorted[after].index - sorted[prevKey].index);
        const f = forward[prevKey].get(t)!, b = backward[after].get(t)!;
        parts.push({ key: prevKey, dx: f.dx, dy: f.dy, weight: 1 - wAfter }, { key: after, dx: b.dx, dy: b.dy, weight: wAfter });
        residual = Math.max(f.residual, b.residual);
      } else if (prevKey >= 0) {
        const f = forward[prevKey].get(t)!;
        parts.push({ key: prevKey, dx: f.dx, dy: f.dy, weight: 1 });
        residual = f.residual;
      } else {
        const b = backward[after].get(t)!;
        parts.push({ key: after, dx: b.dx, dy: b.dy, weight: 1 });
        residual = b.residual;
      }
      out.push({ index: t, parts, residual });
    }
    onFrame?.(++done, n);
  }
  return out;
}

/** first, first + 1 ... last (empty when last < first). */
function span(first: number, last: number): number[] {
  return Array.from({ length: Math.max(0, last - first + 1) }, (_, i) => first + i);
}

/** A coverage mask (0..255) moved by (dx, dy): out(x) = mask(x - d), bilinear. */
export function shiftMask(mask: Uint8Array, w: number, h: number, dx: number, dy: number): Float32Array {
  const out = new Float32Array(w * h);
  const ix = Math.floor(-dx), iy = Math.floor(-dy);
  const ax = -dx - ix, ay = -dy - iy;
  const at = (x: number, y: number) => (x < 0 || y < 0 || x >= w || y >= h ? 0 : mask[y * w + x]);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const sx = x + ix, sy = y + iy;
      out[y * w + x] = (1 - ay) * ((1 - ax) * at(sx, sy) + ax * at(sx + 1, sy)) + ay * ((1 - ax) * at(sx, sy + 1) + ax * at(sx + 1, sy + 1));
    }
  return out;
}

const keyBoxes = new WeakMap<Uint8Array, ReturnType<typeof boxOf>>();
/** A keyframe's mask's box, found once per mask (a scan of the whole frame). */
function keyBox(mask: Uint8Array, w: number, h: number) {
  if (!keyBoxes.has(mask)) keyBoxes.set(mask, boxOf(mask, w, h));
  return keyBoxes.get(mask)!;
}

/** The frame's mask (coverage 0..255) from its track: the keyframes' masks shifted and blended. */
export function maskOf(frame: TrackedFrame, keys: MaskKey[], w: number, h: number): Uint8Array {
  const sorted = [...keys].sort((a, b) => a.index - b.index);
  const only = frame.parts.length === 1 && frame.parts[0].dx === 0 && frame.parts[0].dy === 0 ? frame.parts[0] : null;
  if (only) return new Uint8Array(sorted[only.key].mask);
  const acc = new Float32Array(w * h);
  // Where any part lands: only that is written back (a plain loop: TypedArray.from with a map function is slow on a frame).
  let ux0 = w, uy0 = h, ux1 = 0, uy1 = 0;
  for (const p of frame.parts) {
    const box = keyBox(sorted[p.key].mask, w, h);
    if (!box) continue;
    // Only where the shifted mask can land: its box moved by the shift (bilinear: one pixel more).
    const x0 = Math.max(0, Math.floor(box.x0 + p.dx)), x1 = Math.min(w, Math.ceil(box.x1 + p.dx) + 1);
    const y0 = Math.max(0, Math.floor(box.y0 + p.dy)), y1 = Math.min(h, Math.ceil(box.y1 + p.dy) + 1);
    ux0 = Math.min(ux0, x0); uy0 = Math.min(uy0, y0); ux1 = Math.max(ux1, x1); uy1 = Math.max(uy1, y1);
    const m = sorted[p.key].mask;
    const ix = Math.floor(-p.dx), iy = Math.floor(-p.dy), ax = -p.dx - ix, ay = -p.dy - iy;
    const at = (x: number, y: number) => (x < 0 || y < 0 || x >= w || y >= h ? 0 : m[y * w + x]);
    for (let y = y0; y < y1; y++)
      for (let x = x0; x < x1; x++) {
        const sx = x + ix, sy = y + iy;
        acc[y * w + x] += p.weight * ((1 - ay) * ((1 - ax) * at(sx, sy) + ax * at(sx + 1, sy)) + ay * ((1 - ax) * at(sx, sy + 1) + ax * at(sx + 1, sy + 1)));
      }
  }
  const out = new Uint8Array(w * h);
  for (let y = uy0; y < uy1; y++)
    for (let i = y * w + ux0; i < y * w + ux1; i++) out[i] = acc[i] <= 0 ? 0 : acc[i] >= 255 ? 255 : Math.round(acc[i]);
  return out;
}

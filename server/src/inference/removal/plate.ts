/**
 * The fill of a shot with a clean plate: what the object hides on one frame, other frames show,
 * because the object or the camera moves. The background's motion (a pan, measured outside the masks,
 * each frame against a reference frame so it does not drift) aligns the frames; each hole pixel is the
 * mean of the nearest frames in time that show the background there. What no frame ever shows is
 * synthesised once, on the reference frame's plate (PatchMatch, colour matched to its surroundings),
 * and carried along the background's motion, so the fill does not boil.
 *
 * The motion is found on reduced frames (a quarter of a 1080p frame's width) coarse to fine, then
 * refined at full resolution by a few Lucas-Kanade steps on a band around the holes only; and it is
 * found lazily, outward from the reference, so the reference frame (the frame on screen) is filled
 * from its nearest frames before the far ones are looked at. Pure, no I/O.
 */
import { patchMatchFill } from '../inpaint/patchmatch.js';
import { globalShift, halve, pyramid, type Grey } from '../temporal/motion.js';
import { boxOf, matchBoundary } from './edge.js';

/** Where the background of frame t sits: frame_t(x + d_t) ≈ reference(x). */
export interface BackgroundShift {
  dx: number;
  dy: number;
}

/** Mask pyramid matching a grey pyramid: nonzero where any pixel below is in the hole. */
function maskPyramid(hole: Grey, levels: Grey[]): Grey[] {
  const out: Grey[] = [hole];
  while (out.length < levels.length) out.push(halve(out[out.length - 1]));
  return out;
}

/** How much the frames are reduced to measure the motion: halved while at least 400 px stay across. */
export function motionReduction(width: number): number {
  let f = 1;
  while (width / (2 * f) >= 400) f *= 2;
  return f;
}

/** Luma (Rec.709) of RGB8 averaged over f x f blocks. */
function greyReduced(rgb: Uint8Array, w: number, h: number, f: number): Grey {
  const rw = Math.floor(w / f), rh = Math.floor(h / f);
  const data = new Float32Array(rw * rh);
  const k = 1 / (f * f);
  for (let y = 0; y < rh; y++)
    for (let yy = 0; yy < f; yy++) {
      const row = (y * f + yy) * w;
      for (let x = 0; x < rw; x++) {
        let s = 0;
        for (let xx = 0, p = (row + x * f) * 3; xx < f; xx++, p += 3) s += 0.2126 * rgb[p] + 0.7152 * rgb[p + 1] + 0.0722 * rgb[p + 2];
        data[y * rw + x] += k * s;
      }
    }
  return { data, width: rw, height: rh };
}

/** 1 where any pixel of the f x f block is in the hole. */
function holeReduced(hole: Uint8Array, w: number, h: number, f: number, box: Box | null): Grey {
  const rw = Math.floor(w / f), rh = Math.floor(h / f);
  const data = new Float32Array(rw * rh);
  if (box)
    for (let y = box.y0; y < box.y1; y++) {
      const ry = Math.floor(y / f);
      if (ry >= rh) break;
      for (let x = box.x0; x < box.x1; x++) if (hole[y * w + x] && x < rw * f) data[ry * rw + Math.floor(x / f)] = 1;
    }
  return { data, width: rw, height: rh };
}

interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** Luma of the RGB8 frame over a box (clipped to the frame); `at(x, y)` reads it in frame coordinates. */
function greyBox(rgb: Uint8Array, w: number, h: number, b: Box) {
  const x0 = Math.max(0, b.x0), y0 = Math.max(0, b.y0), x1 = Math.min(w, b.x1), y1 = Math.min(h, b.y1);
  const bw = Math.max(0, x1 - x0), bh = Math.max(0, y1 - y0);
  const data = new Float32Array(bw * bh);
  for (let y = 0; y < bh; y++)
    for (let x = 0, p = ((y + y0) * w + x0) * 3; x < bw; x++, p += 3) data[y * bw + x] = 0.2126 * rgb[p] + 0.7152 * rgb[p + 1] + 0.0722 * rgb[p + 2];
  return { data, x0, y0, x1, y1, bw };
}

/** Margin (full-resolution pixels) of the band around the holes the motion is refined on. */
const BAND = 64;

/**
 * A few Lucas-Kanade steps at full resolution refining the background's shift `d` of `frame`
 * against `ref` (frame(x + d) ≈ ref(x)) on the band `box`, leaving out the pixels either hole covers
 * (and their neighbours, whose gradients see the object). Returns `d` itself when the steps do not
 * lower the mismatch or wander further than `maxMove`.
 */
function refineShift(ref: Uint8Array, frame: Uint8Array, refHole: Uint8Array, hole: Uint8Array, w: number, h: number, d: BackgroundShift, box: Box, maxMove: number): BackgroundShift {
  const R = greyBox(ref, w, h, { x0: box.x0 - 1, y0: box.y0 - 1, x1: box.x1 + 1, y1: box.y1 + 1 });
  const span = Math.ceil(maxMove) + 3;
  const F = greyBox(frame, w, h, { x0: Math.floor(box.x0 + d.dx) - span, y0: Math.floor(box.y0 + d.dy) - span, x1: Math.ceil(box.x1 + d.dx) + span, y1: Math.ceil(box.y1 + d.dy) + span });
  // The points: on every other pixel of the band, clear of the reference's hole, with their gradient.
  const px: number[] = [], py: number[] = [], gx: number[] = [], gy: number[] = [], rv: number[] = [];
  const r = (x: number, y: number) => R.data[(y - R.y0) * R.bw + x - R.x0];
  for (let y = Math.max(1, box.y0); y < Math.min(h - 1, box.y1); y += 2)
    for (let x = Math.max(1, box.x0); x < Math.min(w - 1, box.x1); x += 2) {
      const i = y * w + x;
      if (refHole[i] || refHole[i - 1] || refHole[i + 1] || refHole[i - w] || refHole[i + w]) continue;
      const ax = 0.5 * (r(x + 1, y) - r(x - 1, y)), ay = 0.5 * (r(x, y + 1) - r(x, y - 1));
      px.push(x); py.push(y); gx.push(ax); gy.push(ay); rv.push(r(x, y));
    }
  /** Bilinear grey of the frame at (x, y), NaN outside the read box or on its hole. */
  const sampleF = (x: number, y: number) => {
    const ix = Math.floor(x), iy = Math.floor(y);
    if (ix < F.x0 || iy < F.y0 || ix + 1 >= F.x1 || iy + 1 >= F.y1) return NaN;
    const i = iy * w + ix;
    if (hole[i] || hole[i + 1] || hole[i + w] || hole[i + w + 1]) return NaN;
    const ax = x - ix, ay = y - iy, p = (iy - F.y0) * F.bw + ix - F.x0;
    return (1 - ay) * ((1 - ax) * F.data[p] + ax * F.data[p + 1]) + ay * ((1 - ax) * F.data[p + F.bw] + ax * F.data[p + F.bw + 1]);
  };
  /** Mean absolute mismatch at shift s, over the points both frames show. */
  const mismatch = (s: BackgroundShift) => {
    let sum = 0, n = 0;
    for (let k = 0; k < px.length; k++) {
      const v = sampleF(px[k] + s.dx, py[k] + s.dy);
      if (v !== v) continue;
      sum += Math.abs(v - rv[k]);
      n++;
    }
    return n >= 64 ? sum / n : Infinity;
  };
  if (px.length < 64) return d;
  let cur = { ...d };
  for (let it = 0; it < 6; it++) {
    let hxx = 0, hxy = 0, hyy = 0, bx = 0, by = 0, n = 0;
    for (let k = 0; k < px.length; k++) {
      const v = sampleF(px[k] + cur.dx, py[k] + cur.dy);
      if (v !== v) continue;
      const e = rv[k] - v;
      hxx += gx[k] * gx[k]; hxy += gx[k] * gy[k]; hyy += gy[k] * gy[k];
      bx += gx[k] * e; by += gy[k] * e;
      n++;
    }
    const det = hxx * hyy - hxy * hxy;
    if (n < 64 || !(det > 1e-6)) break;
    const ux = (hyy * bx - hxy * by) / det, uy = (hxx * by - hxy * bx) / det;
    cur = { dx: cur.dx + ux, dy: cur.dy + uy };
    if (Math.abs(cur.dx - d.dx) > maxMove || Math.abs(cur.dy - d.dy) > maxMove) return d;
    if (Math.abs(ux) < 0.01 && Math.abs(uy) < 0.01) break;
  }
  return mismatch(cur) < mismatch(d) ? cur : d;
}

/**
 * The background's motion of a range against its reference frame, found lazily: `shift(t)` measures
 * the frames from the reference out to t (each from the motion so far, directly against the
 * reference, so it does not drift) and remembers them.
 */
export class BackgroundMotion {
  /** Frame t's shift once measured (sparse until `all()`). */
  readonly shifts: BackgroundShift[] = [];
  readonly reduction: number;
  private readonly levels: Grey[][] = [];
  private readonly masks: Grey[][] = [];
  private readonly boxes: (Box | null)[] = [];

  constructor(
    private readonly frames: Uint8Array[],
    private readonly holeOf: (t: number) => Uint8Array,
    private readonly width: number,
    private readonly height: number,
    readonly reference: number,
  ) {
    this.reduction = motionReduction(width);
    this.shifts[reference] = { dx: 0, dy: 0 };
  }

  private boxOf(t: number): Box | null {
    if (this.boxes[t] === undefined) this.boxes[t] = boxOf(this.holeOf(t), this.width, this.height);
    return this.boxes[t];
  }

  private reduced(t: number) {
    if (!this.levels[t]) {
      const f = this.reduction;
      this.levels[t] = pyramid(greyReduced(this.frames[t], this.width, this.height, f));
      this.masks[t] = maskPyramid(holeReduced(this.holeOf(t), this.width, this.height, f, this.boxOf(t)), this.levels[t]);
    }
    return { levels: this.levels[t], masks: this.masks[t] };
  }

  shift(t: number): BackgroundShift {
    if (this.shifts[t]) return this.shifts[t];
    const ref = this.reference;
    const dir = t > ref ? 1 : -1;
    let s = ref + dir;
    while (this.shifts[s]) s += dir;
    for (; dir > 0 ? s <= t : s >= t; s += dir) this.shifts[s] = this.measure(s, dir);
    return this.shifts[t];
  }

  all(): BackgroundShift[] {
    for (let t = 0; t < this.frames.length; t++) this.shift(t);
    return this.shifts;
  }

  private measure(t: number, dir: number): BackgroundShift {
    const ref = this.reference;
    const f = this.reduction;
    const prev = this.shifts[t - dir];
    const before = Math.abs(t - ref) >= 2 ? this.shifts[t - 2 * dir] : prev;
    const start = { dx: 2 * prev.dx - before.dx, dy: 2 * prev.dy - before.dy };
    const a = this.reduced(ref), b = this.reduced(t);
    const direct = globalShift(a.levels, b.levels, 3, { start: { dx: start.dx / f, dy: start.dy / f }, masks: { a: a.masks, b: b.masks } });
    if (!Number.isFinite(direct.residual)) return start;
    const coarse = { dx: direct.dx * f, dy: direct.dy * f };
    // Refined at full resolution on a band around the reference's and this frame's holes.
    const ra = this.boxOf(ref), rb = this.boxOf(t);
    const w = this.width, h = this.height;
    const box = ra || rb
      ? {
          x0: Math.max(1, Math.min(ra?.x0 ?? w, rb?.x0 ?? w) - BAND),
          y0: Math.max(1, Math.min(ra?.y0 ?? h, rb?.y0 ?? h) - BAND),
          x1: Math.min(w - 1, Math.max(ra?.x1 ?? 0, rb?.x1 ?? 0) + BAND),
          y1: Math.min(h - 1, Math.max(ra?.y1 ?? 0, rb?.y1 ?? 0) + BAND),
        }
      : { x0: 1, y0: 1, x1: w - 1, y1: h - 1 };
    return refineShift(this.frames[ref], this.frames[t], this.holeOf(ref), this.holeOf(t), w, h, coarse, box, Math.max(1, f));
  }
}

/**
 * The background's shift of every frame against `reference`, measured outside the holes (see
 * BackgroundMotion).
 */
export function backgroundShifts(frames: Uint8Array[], holes: Uint8Array[], width: number, height: number, reference: number): BackgroundShift[] {
  return new BackgroundMotion(frames, (t) => holes[t], width, height, reference).all();
}

/** Bilinear sample of interleaved RGB at (x, y) into out[o..o+2]; false when outside. */
function sample(rgb: Uint8Array | Float32Array, w: number, h: number, x: number, y: number, out: Float32Array, o: number): boolean {
  const ix = Math.floor(x), iy = Math.floor(y);
  if (ix < 0 || iy < 0 || ix + 1 >= w || iy + 1 >= h) return false;
  const ax = x - ix, ay = y - iy;
  const p = (iy * w + ix) * 3, q = p + w * 3;
  for (let c = 0; c < 3; c++) out[o + c] = (1 - ay) * ((1 - ax) * rgb[p + c] + ax * rgb[p + 3 + c]) + ay * ((1 - ax) * rgb[q + c] + ax * rgb[q + 3 + c]);
  return true;
}

/** True where the bilinear footprint at (x, y) is clear of the hole and inside the frame. */
function clear(hole: Uint8Array, w: number, h: number, x: number, y: number): boolean {
  const ix = Math.floor(x), iy = Math.floor(y);
  if (ix < 0 || iy < 0 || ix + 1 >= w || iy + 1 >= h) return false;
  const i = iy * w + ix;
  return !hole[i] && !hole[i + 1] && !hole[i + w] && !hole[i + w + 1];
}

export interface ShotPlate {
  width: number;
  height: number;
  reference: number;
  /** The background's shifts measured so far (every frame's, from buildPlate; a lazy plate fills them in as frames need them). */
  shifts: BackgroundShift[];
  /** A lazy plate's motion: measures a frame's shift when a fill first needs it. */
  motion?: BackgroundMotion;
  /** The reference frame with its whole hole filled: revealed pixels from the other frames, the rest synthesised. */
  plate: Float32Array;
  /** Share of the reference's hole no frame shows (synthesised). */
  synthesised: number;
}

export interface PlateOptions {
  /** Frames (at most this many, nearest in time first) averaged for a revealed pixel. */
  nearest?: number;
  seed?: number;
  /** Only the hole's pixels of the filled frame are written (the rest is 0): for a blend by the hole's alpha, without copying the frame. */
  holeOnly?: boolean;
}

/** A range's holes: one per frame, or made when first asked for. */
export type Holes = Uint8Array[] | ((t: number) => Uint8Array);

/**
 * Frame t's hole filled from the other frames (where none shows it, the reference plate carried by
 * the background's motion). Returns the filled frame (float RGB), how many hole pixels were revealed
 * and how many carried from the plate.
 */
export function fillFrame(t: number, frames: Uint8Array[], holes: Holes, plate: ShotPlate, opts: PlateOptions = {}): { rgb: Float32Array; revealed: number; carried: number } {
  const shiftOf = plate.motion ? (s: number) => plate.motion!.shift(s) : (s: number) => plate.shifts[s];
  const { rgb, revealed, carried } = fillWith(t, frames, holes, shiftOf, plate, opts, plate.width);
  return { rgb, revealed, carried };
}

function fillWith(t: number, frames: Uint8Array[], holes: Holes, shiftOf: (s: number) => BackgroundShift, plate: ShotPlate | null, opts: PlateOptions, w: number): { rgb: Float32Array; revealed: number; carried: number; unseen: Uint8Array } {
  const n = frames.length;
  const h = frames[0].length / 3 / w;
  const K = opts.nearest ?? 4;
  const holeOf = typeof holes === 'function' ? holes : (s: number) => holes[s];
  const rgb = opts.holeOnly ? new Float32Array(frames[t].length) : new Float32Array(frames[t]);
  const hole = holeOf(t);
  const unseen = new Uint8Array(w * h);
  // Other frames, nearest in time first; their holes and shifts looked up once each, when first needed.
  const order = Array.from({ length: n - 1 }, (_, k) => k + 1)
    .flatMap((d) => [t + d, t - d])
    .filter((s) => s >= 0 && s < n && s !== t);
  const H: Uint8Array[] = [], D: BackgroundShift[] = [];
  const px = new Float32Array(3);
  let revealed = 0, carried = 0;
  const dt = shiftOf(t);
  const box = boxOf(hole, w, h);
  if (!box) return { rgb, revealed, carried, unseen };
  for (let y = box.y0; y < box.y1; y++)
    for (let x = box.x0; x < box.x1; x++) {
      const i = y * w + x;
      if (!hole[i]) continue;
      // In reference coordinates, then in frame s's.
      const X = x - dt.dx, Y = y - dt.dy;
      let r = 0, g = 0, b = 0, got = 0;
      for (const s of order) {
        if (!H[s]) {
          H[s] = holeOf(s);
          D[s] = shiftOf(s);
        }
        const sx = X + D[s].dx, sy = Y + D[s].dy;
        if (!clear(H[s], w, h, sx, sy)) continue;
        sample(frames[s], w, h, sx, sy, px, 0);
        r += px[0]; g += px[1]; b += px[2];
        if (++got >= K) break;
      }
      if (got) {
        rgb[i * 3] = r / got; rgb[i * 3 + 1] = g / got; rgb[i * 3 + 2] = b / got;
        revealed++;
      } else if (plate) {
        const ok = sample(plate.plate, w, h, Math.max(0, Math.min(w - 1.001, X)), Math.max(0, Math.min(h - 1.001, Y)), rgb, i * 3);
        if (ok) carried++;
        else {
          unseen[i] = 1;
          if (opts.holeOnly) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = frames[t][i * 3 + c];
        }
      } else unseen[i] = 1;
    }
  return { rgb, revealed, carried, unseen };
}

/**
 * PatchMatch (then the boundary's colour matched) on a crop around the unseen pixels with a margin as
 * wide as their box: the sources near the hole, and no full-frame pyramid.
 */
function synthesise(rgb: Float32Array, w: number, h: number, unseen: Uint8Array, seed: number): void {
  const b = boxOf(unseen, w, h);
  if (!b) return;
  const m = Math.max(48, b.x1 - b.x0, b.y1 - b.y0);
  const x0 = Math.max(0, b.x0 - m), y0 = Math.max(0, b.y0 - m), x1 = Math.min(w, b.x1 + m), y1 = Math.min(h, b.y1 + m);
  const cw = x1 - x0, ch = y1 - y0;
  const data = new Float32Array(cw * ch * 3);
  const hole = new Uint8Array(cw * ch);
  for (let y = 0; y < ch; y++) {
    data.set(rgb.subarray(((y + y0) * w + x0) * 3, ((y + y0) * w + x1) * 3), y * cw * 3);
    hole.set(unseen.subarray((y + y0) * w + x0, (y + y0) * w + x1), y * cw);
  }
  const pic = { data, width: cw, height: ch };
  patchMatchFill(pic, hole, { seed });
  matchBoundary(pic, hole);
  for (let y = 0; y < ch; y++) rgb.set(data.subarray(y * cw * 3, (y + 1) * cw * 3), ((y + y0) * w + x0) * 3);
}

/**
 * The shot's plate: the background's motion, and the reference frame (the middle one unless given)
 * filled, its never-seen pixels synthesised once. `frames` are the range's frames (RGB8), `holes` the
 * grown masks (1 = object) on each. Every frame's shift is measured now unless `lazy` (then a fill
 * measures those it needs, outward from the reference).
 */
export function buildPlate(frames: Uint8Array[], holes: Holes, size: { width: number; height: number }, opts: PlateOptions & { reference?: number; lazy?: boolean } = {}): ShotPlate {
  const { width: w, height: h } = size;
  const reference = opts.reference ?? Math.floor(frames.length / 2);
  const holeOf = typeof holes === 'function' ? holes : (s: number) => holes[s];
  const motion = new BackgroundMotion(frames, holeOf, w, h, reference);
  if (!opts.lazy) motion.all();
  const first = fillWith(reference, frames, holeOf, (s) => motion.shift(s), null, opts, w);
  let holeCount = 0, unseenCount = 0;
  const refHole = holeOf(reference);
  for (let i = 0; i < refHole.length; i++) {
    holeCount += refHole[i] ? 1 : 0;
    unseenCount += first.unseen[i];
  }
  if (unseenCount) synthesise(first.rgb, w, h, first.unseen, opts.seed ?? 1);
  return { width: w, height: h, reference, shifts: motion.shifts, ...(opts.lazy ? { motion } : {}), plate: first.rgb, synthesised: holeCount ? unseenCount / holeCount : 0 };
}

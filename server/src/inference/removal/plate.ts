/**
 * The fill of a shot with a clean plate: what the object hides on one frame, other frames show,
 * because the object or the camera moves. The background's motion (a pan: temporal/motion.ts, measured
 * outside the masks, each frame against a reference frame so it does not drift) aligns the frames;
 * each hole pixel is the mean of the nearest frames in time that show the background there. What no
 * frame ever shows is synthesised once, on the reference frame's plate (PatchMatch, colour matched to
 * its surroundings), and carried along the background's motion, so the fill does not boil.
 * Pure, no I/O.
 */
import { patchMatchFill } from '../inpaint/patchmatch.js';
import { globalShift, halve, pyramid, type Grey } from '../temporal/motion.js';
import { matchBoundary } from './edge.js';

/** Where the background of frame t sits: frame_t(x + d_t) ≈ reference(x). */
export interface BackgroundShift {
  dx: number;
  dy: number;
}

/** Mask pyramid matching a grey pyramid: nonzero where any pixel below is in the hole. */
function maskPyramid(hole: Uint8Array, levels: Grey[]): Grey[] {
  const out: Grey[] = [{ data: new Float32Array(hole), width: levels[0].width, height: levels[0].height }];
  while (out.length < levels.length) out.push(halve(out[out.length - 1]));
  return out;
}

/**
 * The background's shift of every frame against `reference`, measured outside the holes: chained
 * frame to frame for a start, then refined against the reference directly.
 */
export function backgroundShifts(greys: Grey[], holes: Uint8Array[], reference: number): BackgroundShift[] {
  const pyr = greys.map((g) => pyramid(g));
  const masks = holes.map((h, i) => maskPyramid(h, pyr[i]));
  const n = greys.length;
  const out: BackgroundShift[] = new Array<BackgroundShift>(n);
  out[reference] = { dx: 0, dy: 0 };
  for (const dir of [1, -1]) {
    for (let t = reference + dir; t >= 0 && t < n; t += dir) {
      // Against the reference directly (no drift), starting from where the motion so far predicts.
      const prev = out[t - dir];
      const before = t - 2 * dir >= 0 && t - 2 * dir < n && out[t - 2 * dir] ? out[t - 2 * dir] : prev;
      const start = { dx: 2 * prev.dx - before.dx, dy: 2 * prev.dy - before.dy };
      const direct = globalShift(pyr[reference], pyr[t], 3, { start, masks: { a: masks[reference], b: masks[t] } });
      out[t] = Number.isFinite(direct.residual) ? { dx: direct.dx, dy: direct.dy } : start;
    }
  }
  return out;
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
  shifts: BackgroundShift[];
  /** The reference frame with its whole hole filled: revealed pixels from the other frames, the rest synthesised. */
  plate: Float32Array;
  /** Share of the reference's hole no frame shows (synthesised). */
  synthesised: number;
}

export interface PlateOptions {
  /** Frames (at most this many, nearest in time first) averaged for a revealed pixel. */
  nearest?: number;
  seed?: number;
}

/**
 * Frame t's hole filled from the other frames (where none shows it, the reference plate carried by
 * the background's motion). Returns the filled frame (float RGB), how many hole pixels were revealed
 * and how many carried from the plate.
 */
export function fillFrame(t: number, frames: Uint8Array[], holes: Uint8Array[], plate: ShotPlate, opts: PlateOptions = {}): { rgb: Float32Array; revealed: number; carried: number } {
  const { rgb, revealed, carried } = fillWith(t, frames, holes, plate.shifts, plate, opts, plate.width);
  return { rgb, revealed, carried };
}

function fillWith(t: number, frames: Uint8Array[], holes: Uint8Array[], shifts: BackgroundShift[], plate: ShotPlate | null, opts: PlateOptions, w: number): { rgb: Float32Array; revealed: number; carried: number; unseen: Uint8Array } {
  const n = frames.length;
  const h = frames[0].length / 3 / w;
  const K = opts.nearest ?? 4;
  const rgb = new Float32Array(frames[t]);
  const hole = holes[t];
  const unseen = new Uint8Array(w * h);
  // Other frames, nearest in time first.
  const order = Array.from({ length: n - 1 }, (_, k) => k + 1)
    .flatMap((d) => [t + d, t - d])
    .filter((s) => s >= 0 && s < n && s !== t);
  const px = new Float32Array(3);
  let revealed = 0, carried = 0;
  const dt = shifts[t];
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (!hole[i]) continue;
      // In reference coordinates, then in frame s's.
      const X = x - dt.dx, Y = y - dt.dy;
      let r = 0, g = 0, b = 0, got = 0;
      for (const s of order) {
        const sx = X + shifts[s].dx, sy = Y + shifts[s].dy;
        if (!clear(holes[s], w, h, sx, sy)) continue;
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
        else unseen[i] = 1;
      } else unseen[i] = 1;
    }
  return { rgb, revealed, carried, unseen };
}

/**
 * The shot's plate: the background's motion, and the reference frame (the middle one unless given)
 * filled, its never-seen pixels synthesised once. `frames` are the range's frames (RGB8), `holes` the
 * grown masks (1 = object) on each.
 */
export function buildPlate(frames: Uint8Array[], holes: Uint8Array[], greys: Grey[], opts: PlateOptions & { reference?: number } = {}): ShotPlate {
  const { width: w, height: h } = greys[0];
  const reference = opts.reference ?? Math.floor(frames.length / 2);
  const shifts = backgroundShifts(greys, holes, reference);
  const first = fillWith(reference, frames, holes, shifts, null, opts, w);
  const holeCount = holes[reference].reduce((a, v) => a + (v ? 1 : 0), 0);
  const unseenCount = first.unseen.reduce((a, v) => a + v, 0);
  if (unseenCount) {
    const pic = { data: first.rgb, width: w, height: h };
    patchMatchFill(pic, first.unseen, { seed: opts.seed ?? 1 });
    matchBoundary(pic, first.unseen);
  }
  return { width: w, height: h, reference, shifts, plate: first.rgb, synthesised: holeCount ? unseenCount / holeCount : 0 };
}

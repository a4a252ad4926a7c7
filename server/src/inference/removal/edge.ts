/**
 * The edge of a removal: the drawn mask grown outward by `grow` pixels, every pixel inside the drawn
 * line fully replaced and the soft edge lying outside it; and the fill's colour matched to the picture
 * around the hole (a membrane correction of the boundary mismatch, the gradient-domain idea of
 * Pérez et al. 2003 on local means). Pure, no I/O.
 */
import { diffuseFill, type Picture } from '../inpaint/diffuse.js';
import { patchMatchFill } from '../inpaint/patchmatch.js';

/** Distance (chamfer 3-4, in pixels) from each pixel to the nearest pixel of `mask` (0 on it). */
export function distanceTo(mask: Uint8Array, w: number, h: number): Float32Array {
  const INF = 1e9;
  const d = new Float32Array(w * h);
  for (let i = 0; i < d.length; i++) d[i] = mask[i] ? 0 : INF;
  const at = (x: number, y: number) => (x < 0 || y < 0 || x >= w || y >= h ? INF : d[y * w + x]);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (d[i] === 0) continue;
      d[i] = Math.min(d[i], at(x - 1, y) + 3, at(x, y - 1) + 3, at(x - 1, y - 1) + 4, at(x + 1, y - 1) + 4);
    }
  for (let y = h - 1; y >= 0; y--)
    for (let x = w - 1; x >= 0; x--) {
      const i = y * w + x;
      if (d[i] === 0) continue;
      d[i] = Math.min(d[i], at(x + 1, y) + 3, at(x, y + 1) + 3, at(x + 1, y + 1) + 4, at(x - 1, y + 1) + 4);
    }
  for (let i = 0; i < d.length; i++) d[i] /= 3;
  return d;
}

export interface GrownHole {
  /** 1 = filled: the drawn mask and every pixel within `grow` of it. */
  hole: Uint8Array;
  /** 0..255 blend of the fill: 255 inside the drawn mask and on the first half of the grown band, falling to 0 at its outer edge. */
  alpha: Uint8Array;
}

/**
 * The hole to fill and the alpha to blend the fill by, from the drawn mask (`drawn` nonzero = inside
 * the drawn line, any coverage counts). With grow 0 the edge is hard, on the drawn line.
 */
export function growHole(drawn: Uint8Array, w: number, h: number, grow: number): GrownHole {
  const hole = new Uint8Array(w * h);
  const alpha = new Uint8Array(w * h);
  const box = boxOf(drawn, w, h, Math.ceil(grow) + 1);
  if (!box) return { hole, alpha };
  // Distances on the box around the mask only (exact: a shortest chamfer path stays in the box of its ends).
  const cw = box.x1 - box.x0, ch = box.y1 - box.y0;
  const inside = new Uint8Array(cw * ch);
  for (let y = 0; y < ch; y++) for (let x = 0; x < cw; x++) inside[y * cw + x] = drawn[(y + box.y0) * w + x + box.x0] ? 1 : 0;
  const d = distanceTo(inside, cw, ch);
  // Fully the fill up to `solid` pixels out (at least 2, so no outline of a soft object edge is left), then a ramp.
  const solid = Math.min(grow, Math.max(2, grow / 2));
  for (let y = 0; y < ch; y++)
    for (let x = 0; x < cw; x++) {
      const v = d[y * cw + x];
      if (v > grow + 1e-6) continue;
      const i = (y + box.y0) * w + x + box.x0;
      hole[i] = 1;
      alpha[i] = v <= solid + 1e-6 ? 255 : Math.round((255 * (grow + 1 - v)) / (grow + 1 - solid));
    }
  return { hole, alpha };
}

/** The box (x1, y1 exclusive) around the nonzero pixels of `mask`, grown by `margin` inside the frame; null when empty. */
export function boxOf(mask: ArrayLike<number>, w: number, h: number, margin = 0): { x0: number; y0: number; x1: number; y1: number } | null {
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++)
      if (mask[row + x]) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
  }
  if (x1 < 0) return null;
  return { x0: Math.max(0, x0 - margin), y0: Math.max(0, y0 - margin), x1: Math.min(w, x1 + 1 + margin), y1: Math.min(h, y1 + 1 + margin) };
}

/** Box sums over (2r+1)^2 windows of `v` (w x h), clamped at the borders: by a summed-area table. */
function boxSums(v: Float64Array, w: number, h: number, r: number): (x: number, y: number) => number {
  const S = new Float64Array((w + 1) * (h + 1));
  for (let y = 0; y < h; y++) {
    let row = 0;
    for (let x = 0; x < w; x++) {
      row += v[y * w + x];
      S[(y + 1) * (w + 1) + x + 1] = S[y * (w + 1) + x + 1] + row;
    }
  }
  return (x, y) => {
    const x0 = Math.max(0, x - r), y0 = Math.max(0, y - r), x1 = Math.min(w, x + r + 1), y1 = Math.min(h, y + r + 1);
    return S[y1 * (w + 1) + x1] - S[y0 * (w + 1) + x1] - S[y1 * (w + 1) + x0] + S[y0 * (w + 1) + x0];
  };
}

/**
 * Matches a filled hole's brightness and colour to its surroundings, in place: at each pixel of the
 * hole's edge, the mean of the known pixels near it minus the mean of the fill near it; that mismatch
 * spread over the hole as a membrane (harmonic, smooth), added to the fill. The fill keeps its texture.
 */
export function matchBoundary(img: Picture, hole: Uint8Array, radius = 4): void {
  const { width: w, height: h, data } = img;
  const edge: number[] = [];
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (!hole[i]) continue;
      if ((x > 0 && !hole[i - 1]) || (x < w - 1 && !hole[i + 1]) || (y > 0 && !hole[i - w]) || (y < h - 1 && !hole[i + w])) edge.push(i);
    }
  if (!edge.length) return;
  const known = new Float64Array(w * h);
  const inHole = new Float64Array(w * h);
  for (let i = 0; i < w * h; i++) (hole[i] ? inHole : known)[i] = 1;
  const nKnown = boxSums(known, w, h, radius);
  const nHole = boxSums(inHole, w, h, radius);
  const corr = new Float32Array(w * h * 3);
  const chan = new Float64Array(w * h);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < w * h; i++) chan[i] = known[i] * data[i * 3 + c];
    const sKnown = boxSums(chan, w, h, radius);
    for (let i = 0; i < w * h; i++) chan[i] = inHole[i] * data[i * 3 + c];
    const sHole = boxSums(chan, w, h, radius);
    for (const i of edge) {
      const x = i % w, y = (i - x) / w;
      const k = nKnown(x, y), f = nHole(x, y);
      corr[i * 3 + c] = k && f ? sKnown(x, y) / k - sHole(x, y) / f : 0;
    }
  }
  // The edge's mismatch is known; the inside of the hole takes the membrane through it.
  const inner = new Uint8Array(hole);
  for (const i of edge) inner[i] = 0;
  diffuseFill({ data: corr, width: w, height: h }, inner, 80);
  for (let i = 0; i < w * h; i++) {
    if (!hole[i]) continue;
    for (let c = 0; c < 3; c++) data[i * 3 + c] += corr[i * 3 + c];
  }
  // Then the fill's mean colour matched to the ring around it (RING px wide): the eye compares the
  // two as a whole, and on strong textures (stripes, bricks) the edge's local means are too noisy to
  // set the fill's overall level.
  const near = boxSums(inHole, w, h, RING);
  const ringSum = [0, 0, 0], holeSum = [0, 0, 0];
  let nRing = 0, nIn = 0;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (hole[i]) {
        for (let c = 0; c < 3; c++) holeSum[c] += data[i * 3 + c];
        nIn++;
      } else if (near(x, y) > 0) {
        for (let c = 0; c < 3; c++) ringSum[c] += data[i * 3 + c];
        nRing++;
      }
    }
  if (!nRing || !nIn) return;
  const shift = ringSum.map((v, c) => v / nRing - holeSum[c] / nIn);
  for (let i = 0; i < w * h; i++) if (hole[i]) for (let c = 0; c < 3; c++) data[i * 3 + c] += shift[c];
}

/** Width of the ring around a hole whose mean colour the fill takes (px). */
const RING = 8;

/** `fill` blended over `source` (both interleaved RGB) by `alpha` (0..255, one per pixel). */
export function blendByAlpha(source: Uint8Array, fill: Float32Array | Uint8Array, alpha: Uint8Array): Uint8Array {
  const out = new Uint8Array(source);
  for (let i = 0; i < alpha.length; i++) {
    const a = alpha[i];
    if (!a) continue;
    const k = a / 255;
    for (let c = 0; c < 3; c++) out[i * 3 + c] = Math.max(0, Math.min(255, Math.round(k * fill[i * 3 + c] + (1 - k) * source[i * 3 + c])));
  }
  return out;
}

/**
 * One frame, the object gone: the drawn mask grown by `grow`, filled by PatchMatch, its colour
 * matched to the surroundings, blended in by the grown hole's alpha. `drawn` nonzero = the object.
 */
export function removeFromStill(rgb: Uint8Array, w: number, h: number, drawn: Uint8Array, opts: { grow?: number; seed?: number } = {}): { rgb: Uint8Array } & GrownHole {
  const { hole, alpha } = growHole(drawn, w, h, opts.grow ?? 4);
  const pic = { data: new Float32Array(rgb), width: w, height: h };
  patchMatchFill(pic, hole, { seed: opts.seed ?? 1 });
  matchBoundary(pic, hole);
  return { rgb: blendByAlpha(rgb, pic.data, alpha), hole, alpha };
}

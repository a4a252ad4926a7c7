/**
 * Object removal without a neural network: multi-scale PatchMatch (Barnes et al. 2009) with the
 * expectation-maximisation fill of Wexler et al. (2007). Each hole pixel ends up a weighted vote of
 * the known patches that best match the patches around it, refined coarse to fine, so structure
 * (stripes, bricks, edges) is rebuilt from the rest of the picture rather than smeared inwards.
 * Plain TypeScript; runs in the inference worker process, never on the server's event loop.
 */
import { diffuseFill, holeThickness, type Picture } from './diffuse.js';

export interface PatchMatchOptions {
  /** Patch side in pixels (odd). */
  patch?: number;
  /** EM iterations at the coarsest level and at the finest; levels between interpolate. */
  coarseIterations?: number;
  fineIterations?: number;
  seed?: number;
  /** Called after each level with that level's filled picture (coarsest first; the last call is the result). */
  onLevel?: (level: { picture: Picture; hole: Uint8Array; index: number; count: number }) => void;
}

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Level {
  pic: Picture;
  hole: Uint8Array;
}

function downsample({ pic, hole }: Level): Level {
  const w = Math.max(1, pic.width >> 1);
  const h = Math.max(1, pic.height >> 1);
  const data = new Float32Array(w * h * 3);
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let n = 0, anyHole = 0;
      const acc = [0, 0, 0];
      for (let dy = 0; dy < 2; dy++)
        for (let dx = 0; dx < 2; dx++) {
          const sx = Math.min(pic.width - 1, 2 * x + dx);
          const sy = Math.min(pic.height - 1, 2 * y + dy);
          const i = sy * pic.width + sx;
          if (hole[i]) { anyHole = 1; continue; }
          for (let c = 0; c < 3; c++) acc[c] += pic.data[i * 3 + c];
          n++;
        }
      const o = y * w + x;
      out[o] = anyHole;
      for (let c = 0; c < 3; c++) data[o * 3 + c] = n ? acc[c] / n : 0;
    }
  return { pic: { data, width: w, height: h }, hole: out };
}

/** Chessboard dilation of a 0/1 mask by r pixels (separable running max). */
function dilate(mask: Uint8Array, w: number, h: number, r: number): Uint8Array {
  const tmp = new Uint8Array(w * h);
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    let last = -1e9;
    for (let x = 0; x < w; x++) if (mask[y * w + x]) last = x; else if (x - last <= r) tmp[y * w + x] = 1;
    last = 1e9;
    for (let x = w - 1; x >= 0; x--) {
      if (mask[y * w + x]) { last = x; tmp[y * w + x] = 1; } else if (last - x <= r) tmp[y * w + x] = 1;
    }
  }
  for (let x = 0; x < w; x++) {
    let last = -1e9;
    for (let y = 0; y < h; y++) if (tmp[y * w + x]) { last = y; out[y * w + x] = 1; } else if (y - last <= r) out[y * w + x] = 1;
    last = 1e9;
    for (let y = h - 1; y >= 0; y--) if (tmp[y * w + x]) last = y; else if (last - y <= r) out[y * w + x] = 1;
  }
  return out;
}

/** Fills `hole` (1 = unknown) of `img` in place. */
export function patchMatchFill(img: Picture, hole: Uint8Array, opts: PatchMatchOptions = {}): void {
  const patch = opts.patch ?? 7;
  const r = patch >> 1;
  const random = rng(opts.seed ?? 1);
  const levels: Level[] = [{ pic: { data: Float32Array.from(img.data), width: img.width, height: img.height }, hole: Uint8Array.from(hole) }];
  while (levels.length < 7) {
    const top = levels[levels.length - 1];
    if (Math.min(top.pic.width, top.pic.height) < 6 * patch) break;
    if (holeThickness(top.hole, top.pic.width, top.pic.height) <= 2) break;
    levels.push(downsample(top));
  }
  const count = levels.length;
  let prev: { nx: Int32Array; ny: Int32Array; w: number; h: number } | null = null;

  for (let li = count - 1; li >= 0; li--) {
    const { pic, hole: H } = levels[li];
    const { width: w, height: h, data } = pic;
    const near = dilate(H, w, h, r); // patch centred here overlaps the hole
    const isSource = (x: number, y: number) => x >= r && y >= r && x < w - r && y < h - r && !near[y * w + x];
    const sources: number[] = [];
    for (let y = r; y < h - r; y++) for (let x = r; x < w - r; x++) if (!near[y * w + x]) sources.push(y * w + x);
    const targets: number[] = [];
    for (let i = 0; i < w * h; i++) if (near[i]) targets.push(i);
    if (!sources.length || !targets.length) {
      if (li === count - 1 || !sources.length) diffuseFill(pic, H);
      prev = null;
      opts.onLevel?.({ picture: pic, hole: H, index: count - 1 - li, count });
      continue;
    }
    const nx = new Int32Array(w * h);
    const ny = new Int32Array(w * h);
    const cost = new Float32Array(w * h);
    const randomSource = (i: number) => {
      const s = sources[Math.floor(random() * sources.length)];
      nx[i] = s % w;
      ny[i] = (s - nx[i]) / w;
    };
    for (const i of targets) {
      const x = i % w;
      const y = (i - x) / w;
      if (prev) {
        const px = Math.min(prev.w - 1, x >> 1);
        const py = Math.min(prev.h - 1, y >> 1);
        const sx = 2 * prev.nx[py * prev.w + px] + (x & 1);
        const sy = 2 * prev.ny[py * prev.w + px] + (y & 1);
        if (prev.nx[py * prev.w + px] >= 0 && isSource(sx, sy)) {
          nx[i] = sx;
          ny[i] = sy;
          continue;
        }
      }
      randomSource(i);
    }

    /** Sum of squared differences between the patch at (x, y) and the source patch at (sx, sy); stops early past `limit`. */
    const distance = (x: number, y: number, sx: number, sy: number, limit: number): number => {
      let d = 0;
      let n = 0;
      for (let oy = -r; oy <= r; oy++) {
        const ty = y + oy;
        if (ty < 0 || ty >= h) continue;
        for (let ox = -r; ox <= r; ox++) {
          const tx = x + ox;
          if (tx < 0 || tx >= w) continue;
          const a = (ty * w + tx) * 3;
          const b = ((sy + oy) * w + sx + ox) * 3;
          const d0 = data[a] - data[b];
          const d1 = data[a + 1] - data[b + 1];
          const d2 = data[a + 2] - data[b + 2];
          d += d0 * d0 + d1 * d1 + d2 * d2;
          n++;
        }
        if (d > limit * n) return Infinity;
      }
      return d / n;
    };

    const vote = (weighted: boolean) => {
      const acc = new Float64Array(w * h * 3);
      const wsum = new Float64Array(w * h);
      let sigma2 = 1;
      if (weighted) {
        const cs = targets.map((i) => cost[i]).filter(Number.isFinite).sort((a, b) => a - b);
        sigma2 = (cs[Math.floor(cs.length * 0.75)] ?? 1) + 1;
      }
      for (const i of targets) {
        const x = i % w;
        const y = (i - x) / w;
        const wt = weighted ? Math.exp(-cost[i] / (2 * sigma2)) + 1e-6 : 1;
        const sx = nx[i];
        const sy = ny[i];
        for (let oy = -r; oy <= r; oy++) {
          const ty = y + oy;
          if (ty < 0 || ty >= h) continue;
          for (let ox = -r; ox <= r; ox++) {
            const tx = x + ox;
            if (tx < 0 || tx >= w) continue;
            const q = ty * w + tx;
            if (!H[q]) continue;
            const s = ((sy + oy) * w + sx + ox) * 3;
            acc[q * 3] += wt * data[s];
            acc[q * 3 + 1] += wt * data[s + 1];
            acc[q * 3 + 2] += wt * data[s + 2];
            wsum[q] += wt;
          }
        }
      }
      for (let q = 0; q < w * h; q++) {
        if (!H[q] || !wsum[q]) continue;
        data[q * 3] = acc[q * 3] / wsum[q];
        data[q * 3 + 1] = acc[q * 3 + 1] / wsum[q];
        data[q * 3 + 2] = acc[q * 3 + 2] / wsum[q];
      }
    };

    if (li === count - 1) diffuseFill(pic, H);
    else vote(false);

    const t = count > 1 ? li / (count - 1) : 0;
    const iterations = Math.round((opts.fineIterations ?? 3) * (1 - t) + (opts.coarseIterations ?? 8) * t);
    const maxRadius = Math.max(w, h);
    for (let it = 0; it < iterations; it++) {
      for (const i of targets) cost[i] = distance(i % w, Math.floor(i / w), nx[i], ny[i], Infinity);
      const forward = it % 2 === 0;
      const step = forward ? 1 : -1;
      for (let k = 0; k < targets.length; k++) {
        const i = targets[forward ? k : targets.length - 1 - k];
        const x = i % w;
        const y = (i - x) / w;
        const tryCandidate = (sx: number, sy: number) => {
          if (!isSource(sx, sy) || (sx === nx[i] && sy === ny[i])) return;
          const d = distance(x, y, sx, sy, cost[i]);
          if (d < cost[i]) {
            cost[i] = d;
            nx[i] = sx;
            ny[i] = sy;
          }
        };
        // Propagation: a good match of the neighbour, shifted by one, is often good here too.
        const xl = x - step;
        if (xl >= 0 && xl < w && near[y * w + xl]) tryCandidate(nx[y * w + xl] + step, ny[y * w + xl]);
        const yu = y - step;
        if (yu >= 0 && yu < h && near[yu * w + x]) tryCandidate(nx[yu * w + x], ny[yu * w + x] + step);
        // Random search around the current best, at halving radii.
        for (let R = maxRadius; R >= 1; R >>= 1) {
          tryCandidate(nx[i] + Math.round((random() * 2 - 1) * R), ny[i] + Math.round((random() * 2 - 1) * R));
        }
      }
      vote(true);
    }
    prev = { nx, ny, w, h };
    opts.onLevel?.({ picture: pic, hole: H, index: count - 1 - li, count });
  }
  const finest = levels[0].pic.data;
  for (let i = 0; i < img.width * img.height; i++) {
    if (!hole[i]) continue;
    img.data[i * 3] = finest[i * 3];
    img.data[i * 3 + 1] = finest[i * 3 + 1];
    img.data[i * 3 + 2] = finest[i * 3 + 2];
  }
}

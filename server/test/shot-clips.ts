/**
 * Moving clips the shot tests generate: a textured picture seen through a window that pans by a
 * fraction of a pixel per frame (as a slow camera move does), optionally with an object crossing it
 * on its own path, and the truth for each frame (background alone, object mask). Seeded, no I/O.
 */
import { meanDeltaE, rng, svgScene, type Rgb } from './fix-scenes.js';

/** Multi-octave value noise, 0..1, for texture that is not flat colour (bark, grass, concrete). */
export function valueNoise(width: number, height: number, seed: number, octaves = 5, base = 64): Float32Array {
  const out = new Float32Array(width * height);
  const r = rng(seed);
  let amp = 1;
  let total = 0;
  for (let o = 0; o < octaves; o++) {
    const cell = Math.max(2, base >> o);
    const gw = Math.ceil(width / cell) + 2;
    const gh = Math.ceil(height / cell) + 2;
    const grid = Float32Array.from({ length: gw * gh }, () => r());
    for (let y = 0; y < height; y++) {
      const fy = y / cell, y0 = Math.floor(fy), ty = fy - y0, sy = ty * ty * (3 - 2 * ty);
      for (let x = 0; x < width; x++) {
        const fx = x / cell, x0 = Math.floor(fx), tx = fx - x0, sx = tx * tx * (3 - 2 * tx);
        const g = (xx: number, yy: number) => grid[yy * gw + xx];
        const v = (1 - sy) * ((1 - sx) * g(x0, y0) + sx * g(x0 + 1, y0)) + sy * ((1 - sx) * g(x0, y0 + 1) + sx * g(x0 + 1, y0 + 1));
        out[y * width + x] += amp * v;
      }
    }
    total += amp;
    amp *= 0.55;
  }
  for (let i = 0; i < out.length; i++) out[i] /= total;
  return out;
}

/** A natural-looking still: the SVG scene with fine texture and a lighting gradient over it. */
export async function texturedScene(width: number, height: number, seed: number): Promise<Rgb> {
  const scene = await svgScene(seed, width, height);
  const tex = valueNoise(width, height, seed + 7, 5, 48);
  const data = new Uint8Array(scene.data.length);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const light = 0.85 + 0.3 * (x / width);
      const t = 0.75 + 0.5 * tex[i];
      for (let c = 0; c < 3; c++) data[i * 3 + c] = Math.max(0, Math.min(255, Math.round(scene.data[i * 3 + c] * light * t)));
    }
  return { data, width, height };
}

/** `src` sampled bilinearly at (x + ox, y + oy) for a width x height window. */
export function window(src: Rgb, ox: number, oy: number, width: number, height: number): Rgb {
  const data = new Uint8Array(width * height * 3);
  const ix = Math.floor(ox), iy = Math.floor(oy), ax = ox - ix, ay = oy - iy;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const sx = Math.min(src.width - 2, x + ix), sy = Math.min(src.height - 2, y + iy);
      const p = (sy * src.width + sx) * 3, q = p + src.width * 3;
      for (let c = 0; c < 3; c++) {
        const v = (1 - ay) * ((1 - ax) * src.data[p + c] + ax * src.data[p + 3 + c]) + ay * ((1 - ax) * src.data[q + c] + ax * src.data[q + 3 + c]);
        data[(y * width + x) * 3 + c] = Math.round(v);
      }
    }
  return { data, width, height };
}

export interface Clip {
  frames: Rgb[];
  /** Each frame without the object. */
  background: Rgb[];
  /** Each frame's object coverage, 0..255 (empty without an object). */
  objectMask: Uint8Array[];
}

/**
 * `count` frames of a `width` x `height` window panning over a textured scene by (vx, vy) pixels per
 * frame; with `object`, a disc of another texture and colour (soft edge) moves by its own velocity.
 */
export async function panClip(opts: {
  width: number;
  height: number;
  count: number;
  seed: number;
  vx?: number;
  vy?: number;
  object?: { radius: number; x: number; y: number; vx: number; vy: number };
}): Promise<Clip> {
  const { width, height, count, seed, vx = 0.6, vy = 0.25 } = opts;
  const margin = Math.ceil(Math.max(Math.abs(vx), Math.abs(vy)) * count) + 4;
  const big = await texturedScene(width + 2 * margin, height + 2 * margin, seed);
  const objTex = valueNoise(width, height, seed + 99, 4, 16);
  const frames: Rgb[] = [];
  const background: Rgb[] = [];
  const objectMask: Uint8Array[] = [];
  for (let t = 0; t < count; t++) {
    const bg = window(big, margin + vx * t, margin + vy * t, width, height);
    background.push(bg);
    const mask = new Uint8Array(width * height);
    const f = { ...bg, data: bg.data.slice() };
    const o = opts.object;
    if (o) {
      const cx = o.x + o.vx * t, cy = o.y + o.vy * t;
      for (let y = Math.max(0, Math.floor(cy - o.radius - 2)); y < Math.min(height, cy + o.radius + 2); y++)
        for (let x = Math.max(0, Math.floor(cx - o.radius - 2)); x < Math.min(width, cx + o.radius + 2); x++) {
          const d = Math.hypot(x + 0.5 - cx, y + 0.5 - cy);
          const a = Math.max(0, Math.min(1, o.radius + 0.5 - d));
          if (a <= 0) continue;
          const i = y * width + x;
          mask[i] = Math.round(a * 255);
          // The object's texture moves with it.
          const tx = Math.min(width - 1, Math.max(0, Math.round(x - cx + o.x))), ty = Math.min(height - 1, Math.max(0, Math.round(y - cy + o.y)));
          const tone = 0.6 + 0.4 * objTex[ty * width + tx];
          const col = [200 * tone, 60 * tone, 40 * tone];
          for (let c = 0; c < 3; c++) f.data[i * 3 + c] = Math.round(a * col[c] + (1 - a) * bg.data[i * 3 + c]);
        }
    }
    frames.push(f);
    objectMask.push(mask);
  }
  return { frames, background, objectMask };
}

/**
 * Temporal flicker of a result against a reference clip (the source, or another method's result): the
 * mean over consecutive frames of |ΔE(result t, t+1) − ΔE(reference t, t+1)|, ΔE the mean CIEDE2000.
 * A fix that changes the clip the same way on every frame leaves the frame-to-frame change as it was.
 */
export function flicker(result: Uint8Array[], reference: Uint8Array[]): number {
  let sum = 0;
  for (let t = 0; t + 1 < result.length; t++) sum += Math.abs(meanDeltaE(result[t], result[t + 1]) - meanDeltaE(reference[t], reference[t + 1]));
  return sum / Math.max(1, result.length - 1);
}

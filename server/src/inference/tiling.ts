/** Tile maths for running a fully convolutional model over an image piece by piece. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface TilePlan {
  /** The part of the input this tile is responsible for. Cores cover the image exactly once. */
  core: Rect;
  /** core grown by `context` pixels on each side (clamped to the image): what the model sees. */
  padded: Rect;
}

/**
 * Splits width x height into tiles of at most `size` pixels, each computed with `context` pixels of
 * surrounding picture so that the result is seamless once each tile is cropped back to its core.
 */
export function planTiles(width: number, height: number, size: number, context: number): TilePlan[] {
  if (size <= 0 || width <= 0 || height <= 0) throw new Error('planTiles: sizes must be positive');
  const plans: TilePlan[] = [];
  for (let y = 0; y < height; y += size) {
    for (let x = 0; x < width; x += size) {
      const core = { x, y, width: Math.min(size, width - x), height: Math.min(size, height - y) };
      const px = Math.max(0, x - context);
      const py = Math.max(0, y - context);
      const padded = {
        x: px,
        y: py,
        width: Math.min(width, x + core.width + context) - px,
        height: Math.min(height, y + core.height + context) - py,
      };
      plans.push({ core, padded });
    }
  }
  return plans;
}

/** Interleaved RGB samples, 8 or 16 bits. */
export type Pixels = Uint8Array | Uint16Array;

/**
 * Interleaved RGB (HWC, 8 or 16 bits) of a rect -> planar float32 (CHW) written into `out` at
 * `offset`, each value mapped to `v * scale + bias` (values kept as they are by default).
 */
export function rgbToPlanarInto(out: Float32Array, offset: number, rgb: Pixels, stride: number, r: Rect, scale = 1, bias = 0): void {
  const plane = r.width * r.height;
  for (let y = 0; y < r.height; y++) {
    let src = ((r.y + y) * stride + r.x) * 3;
    let o = offset + y * r.width;
    const end = o + r.width;
    if (scale === 1 && bias === 0) {
      for (; o < end; o++, src += 3) {
        out[o] = rgb[src];
        out[plane + o] = rgb[src + 1];
        out[2 * plane + o] = rgb[src + 2];
      }
    } else {
      for (; o < end; o++, src += 3) {
        out[o] = rgb[src] * scale + bias;
        out[plane + o] = rgb[src + 1] * scale + bias;
        out[2 * plane + o] = rgb[src + 2] * scale + bias;
      }
    }
  }
}

/** Interleaved RGB (HWC) of a rect -> planar float32 (CHW), values kept as they are. */
export function rgbToPlanar(rgb: Pixels, stride: number, r: Rect): Float32Array {
  const out = new Float32Array(r.width * r.height * 3);
  rgbToPlanarInto(out, 0, rgb, stride, r);
  return out;
}

/**
 * Copies the `crop` part of a planar float32 output (width `w`) into interleaved RGB8, each value
 * mapped to `v * scale + bias` (identity by default), rounded and clamped to 0..255.
 */
export function planarToRgb(planar: Float32Array, w: number, h: number, crop: Rect, scale = 1, bias = 0): Uint8Array {
  return planarToInterleaved(new Uint8Array(crop.width * crop.height * 3), 255, planar, w, h, crop, scale, bias);
}

/** As planarToRgb, into 16 bits: `scale` and `bias` map the model's output to 0..65535. */
export function planarToRgb16(planar: Float32Array, w: number, h: number, crop: Rect, scale: number, bias: number): Uint16Array {
  return planarToInterleaved(new Uint16Array(crop.width * crop.height * 3), 65535, planar, w, h, crop, scale, bias);
}

function planarToInterleaved<T extends Pixels>(out: T, max: number, planar: Float32Array, w: number, h: number, crop: Rect, scale: number, bias: number): T {
  const plane = w * h;
  let o = 0;
  // Rounded half up, like Math.round, for the non-negative values that survive the clamp.
  const half = bias + 0.5;
  for (let y = 0; y < crop.height; y++) {
    const row = (crop.y + y) * w + crop.x;
    const end = row + crop.width;
    for (let i = row; i < end; i++) {
      const r = planar[i] * scale + half;
      const g = planar[plane + i] * scale + half;
      const b = planar[2 * plane + i] * scale + half;
      out[o++] = r < 0 ? 0 : r >= max ? max : r | 0;
      out[o++] = g < 0 ? 0 : g >= max ? max : g | 0;
      out[o++] = b < 0 ? 0 : b >= max ? max : b | 0;
    }
  }
  return out;
}

/** Writes an interleaved RGB tile into a bigger image of the same depth at (x, y). */
export function blit<T extends Pixels>(dst: T, dstWidth: number, tile: T, r: Rect): void {
  for (let y = 0; y < r.height; y++) {
    dst.set(tile.subarray(y * r.width * 3, (y + 1) * r.width * 3), ((r.y + y) * dstWidth + r.x) * 3);
  }
}

/** Tiles ordered so the middle of the picture paints first and the rest spreads outwards. */
export function centreFirst<T extends { core: Rect }>(plans: T[], width: number, height: number): T[] {
  const cx = width / 2;
  const cy = height / 2;
  const d = (p: T) => Math.hypot(p.core.x + p.core.width / 2 - cx, p.core.y + p.core.height / 2 - cy);
  return plans
    .map((p, i) => ({ p, i, d: d(p) }))
    .sort((a, b) => a.d - b.d || a.i - b.i)
    .map((e) => e.p);
}

/**
 * Groups tiles into batches of at most `max` whose padded sizes are equal (one tensor per batch),
 * keeping the given order as far as possible: each batch starts with the next tile in order and
 * takes the following ones of the same size.
 */
export function batchTiles<T extends { padded: Rect }>(plans: T[], max: number): T[][] {
  const left = [...plans];
  const batches: T[][] = [];
  while (left.length) {
    const first = left.shift()!;
    const batch = [first];
    for (let i = 0; i < left.length && batch.length < max; ) {
      if (left[i].padded.width === first.padded.width && left[i].padded.height === first.padded.height) batch.push(...left.splice(i, 1));
      else i++;
    }
    batches.push(batch);
  }
  return batches;
}

/**
 * Planar float32 of several equal-sized rects, stacked along the batch axis, each value mapped to
 * `v * scale + bias`. With `fed` larger than the rects, each one is extended on the right and at the
 * bottom to that size by mirroring it (a model of fixed size, or one that needs multiples of 64):
 * the tile's own pixels stay where they are, so its output is cropped as if nothing was added.
 */
export function rgbToPlanarBatch(rgb: Pixels, stride: number, rects: Rect[], scale = 1, bias = 0, fed?: { width: number; height: number }): Float32Array {
  const { width, height } = rects[0];
  const fw = fed?.width ?? width;
  const fh = fed?.height ?? height;
  if (fw < width || fh < height) throw new Error(`a ${width}x${height} tile does not fit the model's ${fw}x${fh} input`);
  const size = 3 * fw * fh;
  const out = new Float32Array(size * rects.length);
  if (fw === width && fh === height) {
    rects.forEach((r, k) => rgbToPlanarInto(out, k * size, rgb, stride, r, scale, bias));
    return out;
  }
  const xs = Int32Array.from({ length: fw }, (_, x) => mirror(x, width));
  const ys = Int32Array.from({ length: fh }, (_, y) => mirror(y, height));
  const plane = fw * fh;
  rects.forEach((r, k) => {
    const base = k * size;
    for (let y = 0; y < fh; y++) {
      const row = (r.y + ys[y]) * stride + r.x;
      for (let x = 0; x < fw; x++) {
        const src = (row + xs[x]) * 3;
        const o = base + y * fw + x;
        out[o] = rgb[src] * scale + bias;
        out[plane + o] = rgb[src + 1] * scale + bias;
        out[2 * plane + o] = rgb[src + 2] * scale + bias;
      }
    }
  });
  return out;
}

/** Index i of a row of n pixels extended by reflection about its edge pixels (…2 1 0 1 2…n-1 n-2…), for any i >= 0. */
export function mirror(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  const m = i % period;
  return m < n ? m : period - m;
}

/** The input size a model is fed for a tile: its fixed size, or the tile rounded up to a multiple. */
export function fedSize(tile: { width: number; height: number }, model: { size?: [number, number]; multipleOf?: number }): { width: number; height: number } {
  if (model.size) return { width: model.size[1], height: model.size[0] };
  const m = model.multipleOf ?? 1;
  return { width: Math.ceil(tile.width / m) * m, height: Math.ceil(tile.height / m) * m };
}

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

/** Interleaved RGB8 (HWC) of a rect -> planar float32 (CHW), values kept 0..255. */
export function rgbToPlanar(rgb: Uint8Array, stride: number, r: Rect): Float32Array {
  const plane = r.width * r.height;
  const out = new Float32Array(plane * 3);
  for (let y = 0; y < r.height; y++) {
    let src = ((r.y + y) * stride + r.x) * 3;
    const row = y * r.width;
    for (let x = 0; x < r.width; x++, src += 3) {
      out[row + x] = rgb[src];
      out[plane + row + x] = rgb[src + 1];
      out[2 * plane + row + x] = rgb[src + 2];
    }
  }
  return out;
}

/**
 * Copies the `crop` part of a planar float32 output (width `w`) into interleaved RGB8, rounded and
 * clamped to 0..255.
 */
export function planarToRgb(planar: Float32Array, w: number, h: number, crop: Rect): Uint8Array {
  const plane = w * h;
  const out = new Uint8Array(crop.width * crop.height * 3);
  let o = 0;
  for (let y = 0; y < crop.height; y++) {
    const row = (crop.y + y) * w + crop.x;
    for (let x = 0; x < crop.width; x++) {
      for (let c = 0; c < 3; c++) {
        const v = Math.round(planar[c * plane + row + x]);
        out[o++] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
  return out;
}

/** Writes an RGB8 tile into a bigger RGB8 image at (x, y). */
export function blit(dst: Uint8Array, dstWidth: number, tile: Uint8Array, r: Rect): void {
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

/** Planar float32 of several equal-sized rects, stacked along the batch axis. */
export function rgbToPlanarBatch(rgb: Uint8Array, stride: number, rects: Rect[], map?: (v: number) => number): Float32Array {
  const { width, height } = rects[0];
  const size = 3 * width * height;
  const out = new Float32Array(size * rects.length);
  rects.forEach((r, k) => out.set(rgbToPlanar(rgb, stride, r), k * size));
  if (map) for (let i = 0; i < out.length; i++) out[i] = map(out[i]);
  return out;
}

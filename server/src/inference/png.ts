/**
 * Pixels in and out of image files, shared by the server (FixRunner) and the inference worker:
 * reading RGB at 8 or 16 bits, and PNG encoding at either depth with an optional mask alpha.
 */
import sharp, { type Sharp } from 'sharp';
import type { Pixels, Rect } from './tiling.js';

/** Final results: zlib level 6 with adaptive row filters (smaller than no filter, and faster on grainy pictures). */
export const FINAL_PNG = { compressionLevel: 6, adaptiveFiltering: true };
/** Tiles for the room: the fastest encoding. */
export const TILE_PNG = { compressionLevel: 1, adaptiveFiltering: false };

/** Interleaved 8-bit sRGB of an image (alpha dropped). */
export async function readRgb(img: Sharp): Promise<{ rgb: Uint8Array; width: number; height: number }> {
  const { data, info } = await img.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}

/** RGB at 16 bits when `deep` (libvips' rgb16, native byte order), else 8 bits. */
export async function readPixels(img: Sharp, deep: boolean): Promise<{ rgb: Pixels; width: number; height: number }> {
  if (!deep) return readRgb(img);
  const { data, info } = await img.removeAlpha().toColourspace('rgb16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
  const rgb = data.byteOffset % 2 ? new Uint16Array(new Uint8Array(data).buffer) : new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
  return { rgb, width: info.width, height: info.height };
}

/** 16 -> 8 bits, rounded (v / 257). */
export function to8(rgb: Uint16Array): Uint8Array {
  const out = new Uint8Array(rgb.length);
  for (let i = 0; i < rgb.length; i++) out[i] = (rgb[i] + 128) / 257;
  return out;
}

/** PNG of interleaved RGB (8 or 16 bits) with an optional 8-bit alpha (scaled to 16 bits for a 16-bit picture). */
export function encodePng(
  rgb: Pixels,
  width: number,
  height: number,
  alpha: Uint8Array | null,
  options: { compressionLevel: number; adaptiveFiltering: boolean } = TILE_PNG,
): Promise<Uint8Array> {
  const deep = rgb instanceof Uint16Array;
  // sharp takes a raw input's depth from the array's type: Uint16Array is 16 bits.
  let img = sharp(rgb, { raw: { width, height, channels: 3 } });
  if (deep) img = img.toColourspace('rgb16');
  if (alpha) img = img.joinChannel((deep ? Uint16Array.from(alpha, (a) => a * 257) : Buffer.from(alpha.buffer, alpha.byteOffset, alpha.byteLength)) as Buffer, { raw: { width, height, channels: 1 } });
  return img.png(options).toBuffer().then((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
}

/** The `r` part of a one-channel plane of width `stride`. */
export function cropAlpha(alpha: Uint8Array, stride: number, r: Rect): Uint8Array {
  const out = new Uint8Array(r.width * r.height);
  for (let y = 0; y < r.height; y++) out.set(alpha.subarray((r.y + y) * stride + r.x, (r.y + y) * stride + r.x + r.width), y * r.width);
  return out;
}

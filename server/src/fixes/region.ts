import sharp from 'sharp';
import { ErrorCode, Limits, LoupeError, type Region } from '@loupe/shared';

export interface PixelRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

const EPS = 1e-6;

/**
 * The source pixels a region covers (rounded outwards), or a LoupeError saying why the region cannot
 * be fixed: outside the frame, too small or too large.
 */
export function sourceRect(region: Region, width: number, height: number): PixelRect {
  const { x, y, width: w, height: h } = region;
  if (x < -EPS || y < -EPS || w <= 0 || h <= 0 || x + w > 1 + EPS || y + h > 1 + EPS) {
    throw new LoupeError(ErrorCode.REGION_OUT_OF_FRAME, 'The region must lie inside the frame (x, y, width, height in 0..1).');
  }
  if (region.mask?.some(([mx, my]) => mx < x - EPS || my < y - EPS || mx > x + w + EPS || my > y + h + EPS)) {
    throw new LoupeError(ErrorCode.REGION_OUT_OF_FRAME, 'The mask must lie inside its region.');
  }
  const x0 = Math.max(0, Math.floor(x * width + EPS));
  const y0 = Math.max(0, Math.floor(y * height + EPS));
  const x1 = Math.min(width, Math.ceil((x + w) * width - EPS));
  const y1 = Math.min(height, Math.ceil((y + h) * height - EPS));
  const rect = { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
  if (rect.width < Limits.minFixRegionSide || rect.height < Limits.minFixRegionSide) {
    throw new LoupeError(ErrorCode.REGION_TOO_SMALL, `The region is ${rect.width}x${rect.height} pixels; select at least ${Limits.minFixRegionSide}x${Limits.minFixRegionSide}.`);
  }
  if (rect.width * rect.height > Limits.maxFixRegionPixels) {
    throw new LoupeError(ErrorCode.REGION_TOO_LARGE, `The region is ${rect.width}x${rect.height} pixels; at most ${Limits.maxFixRegionPixels} pixels can be fixed at once.`);
  }
  return rect;
}

/** `rect` grown by `by` pixels on every side, inside the frame. */
export function growRect(rect: PixelRect, by: number, width: number, height: number): PixelRect {
  const x0 = Math.max(0, rect.x - by), y0 = Math.max(0, rect.y - by);
  const x1 = Math.min(width, rect.x + rect.width + by), y1 = Math.min(height, rect.y + rect.height + by);
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** The mask polygon rasterised at the result's size (255 inside), with a one-pixel feathered edge. */
export async function maskAlpha(region: Region, rect: PixelRect, srcW: number, srcH: number, outW: number, outH: number): Promise<Uint8Array> {
  const sx = outW / rect.width;
  const sy = outH / rect.height;
  const pts = region.mask!.map(([mx, my]) => `${((mx * srcW - rect.x) * sx).toFixed(2)},${((my * srcH - rect.y) * sy).toFixed(2)}`).join(' ');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${outW}" height="${outH}"><rect width="100%" height="100%" fill="black"/><polygon points="${pts}" fill="white"/></svg>`;
  const buf = await sharp(Buffer.from(svg)).blur(1).extractChannel(0).raw().toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

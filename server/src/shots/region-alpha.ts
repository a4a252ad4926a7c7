import sharp from 'sharp';
import type { Region } from '@loupe/shared';
import type { PixelRect } from '../fixes/region.js';

/**
 * The part of the frame a shot render computes and how its result is blended in: the region's rect
 * (grown by the feather, inside the frame) and an alpha over it, 255 inside the region or its mask,
 * falling off outward over `feather` pixels, 0 beyond. Null alpha: a plain rect pasted as it is.
 * The soft edge lies outside the drawn line, so every pixel inside it is fully the fix's.
 */
export async function regionAlpha(region: Region, rect: PixelRect, feather: number, srcW: number, srcH: number): Promise<{ rect: PixelRect; alpha: Uint8Array | null }> {
  const f = Math.ceil(feather);
  if (f === 0 && !region.mask) return { rect, alpha: null };
  const x0 = Math.max(0, rect.x - f), y0 = Math.max(0, rect.y - f);
  const x1 = Math.min(srcW, rect.x + rect.width + f), y1 = Math.min(srcH, rect.y + rect.height + f);
  const grown = { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
  let base: Uint8Array;
  if (region.mask) {
    const pts = region.mask.map(([mx, my]) => `${(mx * srcW - x0).toFixed(2)},${(my * srcH - y0).toFixed(2)}`).join(' ');
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${grown.width}" height="${grown.height}"><rect width="100%" height="100%" fill="black"/><polygon points="${pts}" fill="white"/></svg>`;
    const buf = await sharp(Buffer.from(svg)).extractChannel(0).raw().toBuffer();
    base = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } else {
    base = new Uint8Array(grown.width * grown.height);
    for (let y = rect.y - y0; y < rect.y - y0 + rect.height; y++) base.fill(255, y * grown.width + rect.x - x0, y * grown.width + rect.x - x0 + rect.width);
  }
  if (f === 0) return { rect: grown, alpha: base };
  const d = outsideDistance(base, grown.width, grown.height);
  const alpha = new Uint8Array(base.length);
  for (let i = 0; i < alpha.length; i++) alpha[i] = Math.max(base[i], d[i] <= feather ? Math.round(255 * (1 - d[i] / (feather + 1))) : 0);
  return { rect: grown, alpha };
}

/** A mask polygon (normalised points) rasterised over a whole width x height frame: coverage 0..255. */
export async function polygonCoverage(mask: [number, number][], width: number, height: number): Promise<Uint8Array> {
  const pts = mask.map(([mx, my]) => `${(mx * width).toFixed(2)},${(my * height).toFixed(2)}`).join(' ');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="black"/><polygon points="${pts}" fill="white"/></svg>`;
  const buf = await sharp(Buffer.from(svg)).extractChannel(0).raw().toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Distance (chamfer 3-4, in pixels) from each pixel to the nearest pixel at least half inside. */
function outsideDistance(base: Uint8Array, w: number, h: number): Float32Array {
  const INF = 1e9;
  const d = new Float32Array(w * h);
  for (let i = 0; i < d.length; i++) d[i] = base[i] >= 128 ? 0 : INF;
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

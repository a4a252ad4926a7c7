/** Pure maths for turning gestures into regions the server accepts. */
import { Limits, type Region } from '@loupe/shared';

export const clamp01 = (v: number) => Math.min(1, Math.max(0, v));

/** Normalised rectangle between two normalised corners, clamped to the picture. */
export function rectBetween(a: readonly number[], b: readonly number[]): Region {
  const x0 = clamp01(Math.min(a[0], b[0]));
  const y0 = clamp01(Math.min(a[1], b[1]));
  const x1 = clamp01(Math.max(a[0], b[0]));
  const y1 = clamp01(Math.max(a[1], b[1]));
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** A lasso as a region: its bounding box plus the polygon, thinned to the point limit. */
export function regionFromLasso(points: readonly (readonly number[])[]): Region | null {
  const poly = points.map((p) => [clamp01(p[0]), clamp01(p[1])] as [number, number]);
  if (poly.length < 3) return null;
  const step = Math.ceil(poly.length / Limits.maxStrokePoints);
  const mask = step > 1 ? poly.filter((_, i) => i % step === 0) : poly;
  const xs = mask.map((p) => p[0]);
  const ys = mask.map((p) => p[1]);
  const x = Math.min(...xs);
  const y = Math.min(...ys);
  return { x, y, width: Math.max(...xs) - x, height: Math.max(...ys) - y, mask };
}

/** Size of a region in source pixels. */
export function regionPixels(r: Region, width: number, height: number) {
  return { width: Math.round(r.width * width), height: Math.round(r.height * height) };
}

/** Why a region cannot be sent, or null when it can. Mirrors the server's limits to refuse early. */
export function regionProblem(r: Region, width: number, height: number): { code: string; message: string } | null {
  const px = regionPixels(r, width, height);
  if (px.width < Limits.minFixRegionSide || px.height < Limits.minFixRegionSide) {
    return {
      code: 'REGION_TOO_SMALL',
      message: `The region is ${px.width}×${px.height} px; drag at least ${Limits.minFixRegionSide}×${Limits.minFixRegionSide} px.`,
    };
  }
  if (px.width * px.height > Limits.maxFixRegionPixels) {
    return {
      code: 'REGION_TOO_LARGE',
      message: `The region is ${px.width}×${px.height} px; a fix reads at most ${Limits.maxFixRegionPixels.toLocaleString('en')} source pixels.`,
    };
  }
  return null;
}

/**
 * Shift while dragging a shape: rectangles and ellipses become squares and circles, lines and arrows
 * snap to 45°. Works in picture pixels (w x h) so a square looks square on a wide picture.
 */
export function constrain(kind: string, a: readonly number[], b: readonly number[], w: number, h: number): [number, number] {
  const dx = (b[0] - a[0]) * w;
  const dy = (b[1] - a[1]) * h;
  if (kind === 'rect' || kind === 'ellipse') {
    const side = Math.max(Math.abs(dx), Math.abs(dy));
    return [a[0] + (Math.sign(dx) || 1) * (side / w), a[1] + (Math.sign(dy) || 1) * (side / h)];
  }
  if (kind === 'line' || kind === 'arrow') {
    const len = Math.hypot(dx, dy);
    const angle = Math.round(Math.atan2(dy, dx) / (Math.PI / 4)) * (Math.PI / 4);
    return [a[0] + (Math.cos(angle) * len) / w, a[1] + (Math.sin(angle) * len) / h];
  }
  return [b[0], b[1]];
}

/**
 * Zoom and pan of the picture: one transform (a scale and the picture point at the centre of the
 * viewer) for the picture and every layer over it, so drawings, tiles, masks, the wipe and the laser
 * stay on their pixel by construction.
 *
 * `scale` is in device pixels per picture pixel (the picture's full-quality size, which regions and
 * drawings refer to), so "1:1" means the same on a laptop and on a 4K monitor, and the presenter's
 * 2:1 is everyone's 2:1. `null` is "fit": the whole picture in the viewer, whatever its size.
 */
import type { PictureView } from '@loupe/shared';

export type { PictureView };

export interface Size {
  width: number;
  height: number;
}

export interface Rect extends Size {
  left: number;
  top: number;
}

export const FIT: PictureView = { scale: null, x: 0.5, y: 0.5 };

/** Device pixels per picture pixel: the closest a member can zoom in and out. */
export const MAX_SCALE = 32;
export const MIN_SCALE = 0.02;
/** The presets RV and Frame.io users reach for (device pixels per displayed pixel). */
export const PIXEL_PRESETS = [1, 2, 4] as const;
/** One wheel notch (deltaY 100) zooms by this factor. */
const WHEEL_BASE = 1.2;

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/** CSS pixels per picture pixel when the picture fits the box. */
export function fitScale(picture: Size, box: Size): number {
  if (picture.width <= 0 || picture.height <= 0 || box.width <= 0 || box.height <= 0) return 1;
  return Math.min(box.width / picture.width, box.height / picture.height);
}

/** CSS pixels per picture pixel for a view. */
export function cssScale(view: PictureView, picture: Size, box: Size, dpr: number): number {
  return view.scale === null ? fitScale(picture, box) : view.scale / dpr;
}

/** Where the picture lies in the box (CSS pixels), for a view. Fit is centred like object-fit: contain. */
export function placePicture(view: PictureView, picture: Size, box: Size, dpr: number): Rect {
  const s = cssScale(view, picture, box, dpr);
  const width = picture.width * s;
  const height = picture.height * s;
  if (view.scale === null) return { left: (box.width - width) / 2, top: (box.height - height) / 2, width, height };
  return { left: box.width / 2 - view.x * width, top: box.height / 2 - view.y * height, width, height };
}

/** The view that puts the picture at `rect` (the inverse of placePicture), kept within limits. */
export function viewOfRect(rect: Rect, picture: Size, box: Size, dpr: number): PictureView {
  const scale = clamp((rect.width / picture.width) * dpr, MIN_SCALE, MAX_SCALE);
  return {
    scale,
    // The centre of the viewer stays on the picture: panning cannot lose it off screen.
    x: clamp((box.width / 2 - rect.left) / rect.width, 0, 1),
    y: clamp((box.height / 2 - rect.top) / rect.height, 0, 1),
  };
}

/**
 * Zoom by `factor` keeping the picture point under the anchor (box CSS pixels) where it is: the
 * wheel and the pinch zoom towards the pointer.
 */
export function zoomAt(view: PictureView, factor: number, anchor: [number, number], picture: Size, box: Size, dpr: number): PictureView {
  const r = placePicture(view, picture, box, dpr);
  const s0 = r.width / picture.width;
  const s1 = clamp(s0 * factor * dpr, MIN_SCALE, MAX_SCALE) / dpr;
  const u = (anchor[0] - r.left) / r.width;
  const v = (anchor[1] - r.top) / r.height;
  const width = picture.width * s1;
  const height = picture.height * s1;
  return viewOfRect({ left: anchor[0] - u * width, top: anchor[1] - v * height, width, height }, picture, box, dpr);
}

/** Zoom to a scale (device pixels per picture pixel), about the centre of the viewer. */
export function zoomTo(view: PictureView, scale: number, picture: Size, box: Size, dpr: number): PictureView {
  const now = cssScale(view, picture, box, dpr) * dpr;
  return zoomAt(view, scale / now, [box.width / 2, box.height / 2], picture, box, dpr);
}

/** Move the picture by (dx, dy) CSS pixels. */
export function panBy(view: PictureView, dx: number, dy: number, picture: Size, box: Size, dpr: number): PictureView {
  const r = placePicture(view, picture, box, dpr);
  return viewOfRect({ ...r, left: r.left + dx, top: r.top + dy }, picture, box, dpr);
}

/** The zoom factor for a wheel event's deltaY (in pixels; lines count as 40 px). */
export function wheelFactor(deltaY: number, deltaMode = 0): number {
  const px = deltaMode === 1 ? deltaY * 40 : deltaMode === 2 ? deltaY * 800 : deltaY;
  return Math.pow(WHEEL_BASE, clamp(-px / 100, -5, 5));
}

/**
 * The scale at which one displayed pixel covers `n` device pixels. The browser plays a proxy that
 * may be smaller than the source: then "1:1" is one proxy pixel per device pixel (the finest detail
 * the browser has), which is a fraction of a source pixel.
 */
export function pixelScale(n: number, picture: Size, proxy?: Size | null): number {
  const ratio = proxy && proxy.width > 0 && proxy.width < picture.width ? proxy.width / picture.width : 1;
  return n * ratio;
}

/** The preset a view is at (1, 2, 4), if any. */
export function presetOf(view: PictureView, picture: Size, proxy?: Size | null): number | null {
  if (view.scale === null) return null;
  for (const n of PIXEL_PRESETS) if (Math.abs(view.scale - pixelScale(n, picture, proxy)) < 1e-6) return n;
  return null;
}

/** "Fit · 42%", "100%", "2:1 proxy": the zoom as a person reads it (percent of source pixels). */
export function zoomLabel(view: PictureView, picture: Size, box: Size, dpr: number, proxy?: Size | null): string {
  const pc = Math.round(cssScale(view, picture, box, dpr) * dpr * 100);
  if (view.scale === null) return `Fit · ${pc}%`;
  const n = presetOf(view, picture, proxy);
  const ofProxy = !!proxy && proxy.width < picture.width;
  if (n !== null) return ofProxy ? `${n}:1 proxy` : `${n}:1`;
  return `${pc}%`;
}

/** Same view (within rounding): avoids re-sending and re-applying what is already there. */
export function sameView(a: PictureView, b: PictureView): boolean {
  if (a.scale === null || b.scale === null) return a.scale === b.scale;
  return Math.abs(a.scale - b.scale) < 1e-6 && Math.abs(a.x - b.x) < 1e-6 && Math.abs(a.y - b.y) < 1e-6;
}

/**
 * The CSS transform that takes a layer laid out at the fit rectangle to the view's rectangle
 * (transform-origin at the fit rectangle's top-left corner).
 */
export function layerTransform(fit: Rect, placed: Rect): string {
  const s = fit.width > 0 ? placed.width / fit.width : 1;
  return `translate(${placed.left - fit.left}px, ${placed.top - fit.top}px) scale(${s})`;
}

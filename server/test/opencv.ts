/**
 * OpenCV (opencv.js, a devDependency) for the tests and benchmarks only, never the product: the
 * classical baselines Loupe's fills are measured against.
 */
import { createRequire } from 'node:module';
import type { Rgb } from './fix-scenes.js';

let cv: any;

/** Loads opencv.js once (Node's own require: through vitest's transform the 10 MB WASM bundle takes minutes). */
export async function loadOpenCv(): Promise<void> {
  if (cv) return;
  const m: any = createRequire(import.meta.url)('@techstark/opencv-js');
  // The WASM build initialises asynchronously; it is ready once Mat exists. (Awaiting the module
  // object itself never settles: it is a thenable that resolves to itself.)
  for (let waited = 0; !m.Mat || !m.inpaint; waited += 20) {
    if (waited > 30_000) throw new Error('opencv-js did not initialise');
    await new Promise((r) => setTimeout(r, 20));
  }
  cv = m;
}

/** OpenCV's Telea inpainting (radius 3) of `hole` (1 = fill) in an RGB8 picture; loadOpenCv() first. */
export function telea(img: Rgb, hole: Uint8Array): Uint8Array {
  const src = cv.matFromArray(img.height, img.width, cv.CV_8UC3, Array.from(img.data));
  const mask = cv.matFromArray(img.height, img.width, cv.CV_8UC1, Array.from(hole, (v) => v * 255));
  const dst = new cv.Mat();
  cv.inpaint(src, mask, dst, 3, cv.INPAINT_TELEA);
  const out = new Uint8Array(dst.data);
  src.delete();
  mask.delete();
  dst.delete();
  return out;
}

import { patchMatchFill } from './src/inference/inpaint/patchmatch.ts';
import { matchBoundary } from './src/inference/removal/edge.ts';
import { textureScene, ellipseHole, psnr, svgScene } from './test/fix-scenes.ts';
import { loadOpenCv, telea } from './test/opencv.ts';
await loadOpenCv();
const W = 480, H = 320;
const rect = (x0: number, y0: number, w: number, h: number) => { const m = new Uint8Array(W * H); for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) m[y * W + x] = 1; return m; };
let sumP = 0, sumT = 0, n = 0;
for (const kind of ['stripes', 'bricks', 'gradient', 'noise'] as const) for (const seed of [1, 2]) for (const shape of ['rect', 'disc']) {
  const img = textureScene(kind, seed, W, H);
  const hole = shape === 'rect' ? rect(140, 100, 200, 120) : ellipseHole(W, H, 240, 160, 40, 40);
  const pic = { data: Float32Array.from(img.data), width: W, height: H };
  const t0 = performance.now();
  patchMatchFill(pic, hole, { seed: 1 });
  matchBoundary(pic, hole);
  const ms = performance.now() - t0;
  const out = Uint8Array.from(pic.data, (v) => Math.max(0, Math.min(255, Math.round(v))));
  const a = Math.min(60, psnr(out, img.data, hole)), b = Math.min(60, psnr(telea(img, hole), img.data, hole));
  sumP += a; sumT += b; n++;
  console.log(kind, seed, shape, 'PM', a.toFixed(1), 'Telea', b.toFixed(1), `${ms.toFixed(0)} ms`);
}
console.log('mean PM', (sumP / n).toFixed(2), 'Telea', (sumT / n).toFixed(2));

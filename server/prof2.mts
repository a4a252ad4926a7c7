import sharp from 'sharp';
import { planGrade, align, pairs, fitTransform, pairError, transferGrade, reinhard, pool } from './src/fixes/colour/grade.ts';
const W = 1920, H = 1080;
const rgb = new Uint8Array(W * H * 3);
for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) { const i = (y * W + x) * 3; const v = 128 + 60 * Math.sin(x / 37) * Math.cos(y / 23) + ((x * 7 + y * 13) % 17); rgb[i] = v; rgb[i + 1] = (v * 0.8 + x / 20) & 255; rgb[i + 2] = (v * 0.6 + y / 10) & 255; }
const graded = Uint8Array.from(rgb, (v, i) => Math.max(0, Math.min(255, Math.round(128 + (v - 128) * 1.15 + [12, 0, -10][i % 3]))));
const thumb = async (b: Uint8Array) => { const { data, info } = await sharp(Buffer.from(b), { raw: { width: W, height: H, channels: 3 } }).resize(128, 72, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true }); return { rgb: new Uint8Array(data), width: info.width, height: info.height }; };
const a = await thumb(rgb), b = await thumb(graded);
const T: Record<string, number[]> = {};
const time = (k: string, f: () => unknown) => { const t = performance.now(); const r = f(); (T[k] ??= []).push(performance.now() - t); return r as any; };
for (let k = 0; k < 30; k++) {
  time('plan', () => planGrade([a], [b], 'auto', 1));
  const al = time('align', () => align(a, b));
  const pr = time('pairs', () => pairs(a, b, al));
  const fr = time('fit', () => fitTransform(pr.src, pr.ref));
  time('pairError', () => pairError(fr, pr.src, pr.ref));
  const pa = time('pool', () => pool([a], 1)), pb = pool([b], 1);
  time('transfer', () => transferGrade(pa, pb));
  time('reinhard', () => reinhard(pa, pb));
}
for (const [k, v] of Object.entries(T)) console.log(k, Math.min(...v).toFixed(1), 'min', v.sort((x, y) => x - y)[15].toFixed(1), 'median');

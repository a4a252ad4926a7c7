/**
 * Pictures the fix quality tests generate: seeded, small, with known ground truth. Rendered from SVG
 * by sharp (anti-aliased edges, gradients, text) or drawn pixel by pixel (stripes, bricks, noise).
 */
import sharp from 'sharp';

export interface Rgb {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Mulberry32: small, fast, seeded. */
export function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gaussian(r: () => number) {
  return () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
}

const hex = (r: () => number, lo = 20, hi = 235) =>
  '#' + [0, 1, 2].map(() => Math.round(lo + r() * (hi - lo)).toString(16).padStart(2, '0')).join('');

/** A "natural-ish" still: gradient sky, ground, shapes with soft and hard edges, some text. */
export async function svgScene(seed: number, width: number, height: number, layoutSeed = seed): Promise<Rgb> {
  const r = rng(seed);
  const p = layoutSeed === seed ? r : rng(layoutSeed);
  const shapes: string[] = [];
  for (let i = 0; i < 14; i++) {
    const x = p() * width;
    const y = p() * height;
    const s = (0.05 + p() * 0.2) * Math.min(width, height);
    const fill = hex(r);
    if (i % 3 === 0) shapes.push(`<circle cx="${x}" cy="${y}" r="${s / 2}" fill="${fill}"/>`);
    else if (i % 3 === 1) shapes.push(`<rect x="${x}" y="${y}" width="${s}" height="${s * (0.4 + p())}" fill="${fill}" transform="rotate(${p() * 40 - 20} ${x} ${y})"/>`);
    else shapes.push(`<ellipse cx="${x}" cy="${y}" rx="${s}" ry="${s / 3}" fill="${fill}" opacity="0.8"/>`);
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="sky" x1="0" y1="0" x2="0.3" y2="1"><stop offset="0" stop-color="${hex(r, 60, 200)}"/><stop offset="1" stop-color="${hex(r, 60, 200)}"/></linearGradient>
    <radialGradient id="glow"><stop offset="0" stop-color="${hex(r, 150, 250)}"/><stop offset="1" stop-color="${hex(r, 20, 120)}"/></radialGradient></defs>
    <rect width="100%" height="100%" fill="url(#sky)"/>
    <rect y="${height * 0.62}" width="100%" height="${height * 0.38}" fill="url(#glow)"/>
    ${shapes.join('\n')}
    <text x="${width * 0.08}" y="${height * 0.9}" font-size="${height / 9}" font-family="sans-serif" fill="${hex(r)}">LOUPE ${seed}</text>
  </svg>`;
  const { data, info } = await sharp(Buffer.from(svg)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}

export function addNoise(img: Rgb, sigma: number, seed: number): Rgb {
  const n = gaussian(rng(seed));
  const data = new Uint8Array(img.data.length);
  for (let i = 0; i < data.length; i++) data[i] = Math.max(0, Math.min(255, Math.round(img.data[i] + sigma * n())));
  return { ...img, data };
}

export function psnr(a: Uint8Array, b: Uint8Array, mask?: Uint8Array): number {
  let se = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    if (mask && !mask[Math.floor(i / 3)]) continue;
    const d = a[i] - b[i];
    se += d * d;
    n++;
  }
  return se === 0 ? Infinity : 10 * Math.log10((255 * 255) / (se / n));
}

/** Textures with known content under any hole, for the remove-object tests. */
export function textureScene(kind: 'stripes' | 'bricks' | 'gradient' | 'noise', seed: number, width: number, height: number): Rgb {
  const r = rng(seed);
  const data = new Uint8Array(width * height * 3);
  const g = gaussian(r);
  const c1 = [40 + r() * 80, 40 + r() * 80, 40 + r() * 80];
  const c2 = [140 + r() * 100, 140 + r() * 100, 140 + r() * 100];
  const angle = r() * Math.PI;
  const period = 10 + r() * 10;
  const brickW = 24 + Math.floor(r() * 10);
  const brickH = 10 + Math.floor(r() * 5);
  const gx = r() * 2 - 1;
  const gy = r() * 2 - 1;
  // Smooth noise: a few random sinusoids per channel plus fine grain.
  const waves = Array.from({ length: 3 }, () => Array.from({ length: 4 }, () => [r() * 0.3, r() * 0.3, r() * 6.28, 10 + r() * 25]));
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        let v: number;
        if (kind === 'stripes') {
          const t = (x * Math.cos(angle) + y * Math.sin(angle)) / period;
          const s = 0.5 + 0.5 * Math.sin(2 * Math.PI * t);
          v = c1[c] + (c2[c] - c1[c]) * s;
        } else if (kind === 'bricks') {
          const row = Math.floor(y / brickH);
          const off = row % 2 ? brickW / 2 : 0;
          const mortar = y % brickH < 2 || (x + off) % brickW < 2;
          v = mortar ? 200 : c1[c] + 40 + 20 * Math.sin(row * 1.7 + Math.floor((x + off) / brickW) * 2.3 + c);
        } else if (kind === 'gradient') {
          v = 128 + 90 * (gx * (x / width - 0.5) + gy * (y / height - 0.5)) + c * 10;
        } else {
          v = 128;
          for (const [fx, fy, ph, amp] of waves[c]) v += amp * Math.sin(fx * x + fy * y + ph);
          v += 6 * g();
        }
        data[i + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  return { data, width, height };
}

/** A filled ellipse hole (1 = hole), as an artist would circle an object. */
export function ellipseHole(width: number, height: number, cx: number, cy: number, rx: number, ry: number): Uint8Array {
  const m = new Uint8Array(width * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) if (((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1) m[y * width + x] = 1;
  return m;
}

const lin = (v: number) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);

/** sRGB 8-bit -> CIE Lab (D65). */
export function lab(r: number, g: number, b: number): [number, number, number] {
  const R = lin(r / 255), G = lin(g / 255), B = lin(b / 255);
  const X = (0.4124 * R + 0.3576 * G + 0.1805 * B) / 0.95047;
  const Y = 0.2126 * R + 0.7152 * G + 0.0722 * B;
  const Z = (0.0193 * R + 0.1192 * G + 0.9505 * B) / 1.08883;
  const f = (t: number) => (t > 216 / 24389 ? Math.cbrt(t) : (841 / 108) * t + 4 / 29);
  return [116 * f(Y) - 16, 500 * (f(X) - f(Y)), 200 * (f(Y) - f(Z))];
}

/** CIEDE2000 colour difference (Sharma, Wu, Dalal 2005). */
export function deltaE2000([L1, a1, b1]: number[], [L2, a2, b2]: number[]): number {
  const rad = Math.PI / 180;
  const C1 = Math.hypot(a1, b1), C2 = Math.hypot(a2, b2);
  const Cb = (C1 + C2) / 2;
  const G = 0.5 * (1 - Math.sqrt(Cb ** 7 / (Cb ** 7 + 25 ** 7)));
  const a1p = (1 + G) * a1, a2p = (1 + G) * a2;
  const C1p = Math.hypot(a1p, b1), C2p = Math.hypot(a2p, b2);
  const hp = (b: number, a: number) => (b === 0 && a === 0 ? 0 : ((Math.atan2(b, a) / rad) + 360) % 360);
  const h1p = hp(b1, a1p), h2p = hp(b2, a2p);
  const dLp = L2 - L1;
  const dCp = C2p - C1p;
  let dhp = 0;
  if (C1p * C2p !== 0) {
    dhp = h2p - h1p;
    if (dhp > 180) dhp -= 360;
    else if (dhp < -180) dhp += 360;
  }
  const dHp = 2 * Math.sqrt(C1p * C2p) * Math.sin((dhp / 2) * rad);
  const Lbp = (L1 + L2) / 2;
  const Cbp = (C1p + C2p) / 2;
  let hbp = h1p + h2p;
  if (C1p * C2p !== 0) {
    if (Math.abs(h1p - h2p) > 180) hbp = h1p + h2p < 360 ? (h1p + h2p + 360) / 2 : (h1p + h2p - 360) / 2;
    else hbp = (h1p + h2p) / 2;
  }
  const T = 1 - 0.17 * Math.cos((hbp - 30) * rad) + 0.24 * Math.cos(2 * hbp * rad) + 0.32 * Math.cos((3 * hbp + 6) * rad) - 0.2 * Math.cos((4 * hbp - 63) * rad);
  const dTheta = 30 * Math.exp(-(((hbp - 275) / 25) ** 2));
  const Rc = 2 * Math.sqrt(Cbp ** 7 / (Cbp ** 7 + 25 ** 7));
  const Sl = 1 + (0.015 * (Lbp - 50) ** 2) / Math.sqrt(20 + (Lbp - 50) ** 2);
  const Sc = 1 + 0.045 * Cbp;
  const Sh = 1 + 0.015 * Cbp * T;
  const Rt = -Math.sin(2 * dTheta * rad) * Rc;
  return Math.sqrt((dLp / Sl) ** 2 + (dCp / Sc) ** 2 + (dHp / Sh) ** 2 + Rt * (dCp / Sc) * (dHp / Sh));
}

/** Mean CIEDE2000 between two RGB8 pictures. */
export function meanDeltaE(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  const n = a.length / 3;
  for (let i = 0; i < n; i++) s += deltaE2000(lab(a[i * 3], a[i * 3 + 1], a[i * 3 + 2]), lab(b[i * 3], b[i * 3 + 1], b[i * 3 + 2]));
  return s / n;
}

/** Applies f to every pixel (0..1 floats in and out), rounding back to 8 bits. */
export function mapPixels(img: Rgb, f: (rgb: [number, number, number]) => [number, number, number]): Rgb {
  const data = new Uint8Array(img.data.length);
  for (let i = 0; i < data.length; i += 3) {
    const o = f([img.data[i] / 255, img.data[i + 1] / 255, img.data[i + 2] / 255]);
    for (let c = 0; c < 3; c++) data[i + c] = Math.max(0, Math.min(255, Math.round(o[c] * 255)));
  }
  return { ...img, data };
}

import { ensureModel, type EnsuredModel } from '@loupe/models';
import { Engine } from '../src/inference/engine.js';
import { tileRunFor, type InferenceRun, type TileRun, type WorkerReply } from '../src/inference/messages.js';
import { blit } from '../src/inference/tiling.js';

/** Runs a worker request in this process; returns the result and every message the worker would have sent. */
export async function runInProcess(engine: Engine, run: InferenceRun) {
  const messages: WorkerReply[] = [];
  await engine.run('test', run, (m) => messages.push(m));
  const done = messages.find((m) => m.type === 'done');
  if (!done || done.type !== 'done') throw new Error('no result');
  if (done.rgb) return { rgb: done.rgb, messages };
  // Tile runs: the final tiles cover the result once, as the server assembles it.
  const started = messages.find((m) => m.type === 'started');
  if (!started || started.type !== 'started') throw new Error('no start');
  const tiles = messages.filter((m) => m.type === 'tile' && !m.preview) as Extract<WorkerReply, { type: 'tile' }>[];
  const rgb = new Uint8Array(started.width * started.height * 3);
  const deep = tiles[0]?.rgb instanceof Uint16Array ? new Uint16Array(rgb.length) : null;
  for (const t of tiles) blit(deep ?? rgb, started.width, t.rgb!, t.rect);
  if (deep) for (let i = 0; i < deep.length; i++) rgb[i] = Math.round(deep[i] / 257);
  return { rgb, rgb16: deep, messages };
}

/** A tile request for a catalogue model over a whole picture. */
export function tileRun(model: EnsuredModel, img: Rgb, extra: Record<string, Float32Array> = {}, over: Partial<TileRun> = {}): TileRun {
  return { ...tileRunFor(model, { rgb: img.data, width: img.width, height: img.height }, extra), ...over };
}

export const model = (id: string) => ensureModel(id);

export async function thumb(img: Rgb, width: number, height: number): Promise<{ rgb: Uint8Array; width: number; height: number }> {
  const buf = await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } }).resize(width, height, { fit: 'fill' }).raw().toBuffer();
  return { rgb: new Uint8Array(buf), width, height };
}

/**
 * A set as a camera sees it: mostly neutral surfaces (walls, floor, a grey card) under soft light,
 * with a few coloured props. The kind of frame white balance is judged on.
 */
export async function setScene(seed: number, width: number, height: number, propCount = 6): Promise<Rgb> {
  const r = rng(seed);
  const grey = (lo: number, hi: number) => {
    const v = Math.round(lo + r() * (hi - lo));
    const t = Math.round((r() - 0.5) * 10);
    return `rgb(${v + t},${v},${v - t})`;
  };
  const props: string[] = [];
  for (let i = 0; i < propCount; i++) {
    const x = r() * width, y = height * (0.3 + r() * 0.6), s = ((0.06 + r() * 0.12) * width * 6) / propCount;
    const hue = Math.round(r() * 360);
    const fill = `hsl(${hue}, ${Math.round(25 + r() * 45)}%, ${Math.round(30 + r() * 40)}%)`;
    props.push(i % 2 ? `<circle cx="${x}" cy="${y}" r="${s / 2}" fill="${fill}"/>` : `<rect x="${x}" y="${y - s}" width="${s}" height="${s * 1.4}" fill="${fill}"/>`);
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="wall" x1="0" y1="0" x2="1" y2="0.4"><stop offset="0" stop-color="${grey(150, 210)}"/><stop offset="1" stop-color="${grey(70, 130)}"/></linearGradient>
    <linearGradient id="floor" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${grey(90, 140)}"/><stop offset="1" stop-color="${grey(30, 70)}"/></linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#wall)"/>
    <rect y="${height * 0.7}" width="100%" height="${height * 0.3}" fill="url(#floor)"/>
    <rect x="${width * 0.05}" y="${height * 0.1}" width="${width * 0.12}" height="${height * 0.18}" fill="rgb(118,118,118)"/>
    ${props.join('\n')}
  </svg>`;
  const { data, info } = await sharp(Buffer.from(svg)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}

/** Two pictures of different content from one set: the same palette and light, objects placed elsewhere. */
export async function twoViews(seed: number, width: number, height: number): Promise<[Rgb, Rgb]> {
  return [await svgScene(seed, width, height, seed + 1000), await svgScene(seed, width, height, seed + 2000)];
}

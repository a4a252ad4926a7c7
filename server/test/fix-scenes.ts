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

/** sRGB 8-bit -> CIE Lab (D65), and CIEDE2000: the server's own definitions, tested against published pairs in fix-colour.spec.ts. */
export { deltaE2000, lab8 as lab } from '../src/fixes/colour/space.js';
import { deltaE2000, lab8 as lab } from '../src/fixes/colour/space.js';

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

/** A natural photograph of server/test/fixtures/photos (see its README for origin and licence), at `width` px wide. */
export async function photo(name: string, width?: number, crop?: { left: number; top: number; width: number; height: number }): Promise<Rgb> {
  let img = sharp(new URL(`./fixtures/photos/${name}.jpg`, import.meta.url).pathname);
  if (crop) img = img.extract(crop);
  if (width) img = img.resize(width);
  const { data, info } = await img.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}

/** The photos of server/test/fixtures/photos, all of them (the ladybird pair counts once). */
export const PHOTOS = ['fallen-leaf', 'forest-path', 'cold-ripple', 'evening-glow', 'moss', 'dune', 'garden', 'storm', 'ladybird-a'] as const;

/** Gains in linear light (a cast or an exposure change), back to 8-bit sRGB, clipped as a camera would. */
export function applyGains(img: Rgb, gains: number[]): Rgb {
  const lin = (v: number) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
  const enc = (v: number) => (v <= 0.0031308 ? 12.92 * v : 1.055 * v ** (1 / 2.4) - 0.055);
  const table = [0, 1, 2].map((c) => Uint8Array.from({ length: 256 }, (_, i) => Math.round(255 * enc(Math.min(1, lin(i / 255) * gains[c])))));
  return { ...img, data: Uint8Array.from(img.data, (v, i) => table[i % 3][v]) };
}

/** A cast that changes colour, not brightness: raw gains scaled so that a grey keeps its luminance. */
export const cast = (raw: [number, number, number]) => {
  const y = 0.2126 * raw[0] + 0.7152 * raw[1] + 0.0722 * raw[2];
  return raw.map((g) => g / y) as [number, number, number];
};

const clamp01 = (v: number) => Math.max(0, Math.min(1, v));

/**
 * Grades a colourist might apply, on 0..1 code values: a 3x3 matrix with offset and contrast, a
 * split-tone (teal shadows, orange highlights), desaturation with lifted blacks, per-channel gamma
 * curves, more saturation with a warm offset.
 */
export const GRADES: Record<string, (rgb: [number, number, number]) => [number, number, number]> = {
  'matrix+contrast': ([r, g, b]) => {
    const m = [[1.1, 0.05, -0.05], [0.02, 0.95, 0.03], [-0.08, 0.1, 0.9]];
    return [0, 1, 2].map((c) => clamp01(0.5 + (clamp01(m[c][0] * r + m[c][1] * g + m[c][2] * b + [0.03, -0.02, 0][c]) - 0.5) * 1.15)) as [number, number, number];
  },
  'teal-orange': ([r, g, b]) => {
    const l = 0.3 * r + 0.6 * g + 0.1 * b;
    return [r, g, b].map((v, c) => clamp01(v + [0.06, -0.01, -0.07][c] * (l - 0.45) * 2)) as [number, number, number];
  },
  'desaturate+lift': ([r, g, b]) => {
    const l = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    return [r, g, b].map((v) => clamp01(0.06 + 0.92 * (l + 0.6 * (v - l)))) as [number, number, number];
  },
  'gamma curves': ([r, g, b]) => [clamp01(r * 0.92) ** 1.15, clamp01(g) ** 1.05, clamp01(b * 1.05 + 0.03) ** 0.9],
  'saturate+warm': ([r, g, b]) => {
    const l = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    return [r, g, b].map((v, c) => clamp01(l + 1.3 * (v - l) + [0.04, 0.01, -0.04][c])) as [number, number, number];
  },
};

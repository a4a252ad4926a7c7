/**
 * The model catalogue: every `models/<id>/manifest.json`, and the code that builds each model's ONNX file.
 * ONNX files are build outputs (gitignored); `ensureModel` makes them on demand and is cheap once they exist.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { convertEsrganLayersModel } from './esrgan/convert.js';

/** Absolute path of the models/ workspace folder. */
export const MODELS_DIR = path.resolve(fileURLToPath(new URL('..', import.meta.url)));

const Range = z.tuple([z.number(), z.number()]);

export const ModelManifestSchema = z.object({
  /** Also the folder name under models/. */
  id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
  name: z.string().min(1),
  /** Version of the upstream weights, not of Loupe. */
  version: z.string().min(1),
  task: z.enum(['upscale']),
  scale: z.number().int().positive(),
  /** File name inside the model's folder; a bare name so a manifest cannot point outside it. */
  file: z.string().regex(/^[\w.-]+\.onnx$/),
  licence: z.string().min(1),
  licenceFile: z.string().regex(/^[\w.-]+$/),
  source: z.string().min(1),
  input: z.object({
    name: z.string(),
    layout: z.literal('NCHW'),
    channels: z.number().int().positive(),
    range: Range,
    size: z.union([z.literal('dynamic'), z.tuple([z.number().int().positive(), z.number().int().positive()])]),
  }),
  output: z.object({ name: z.string(), layout: z.literal('NCHW'), range: Range }),
  /** Tiles the server feeds the model: `size` input pixels per side plus `context` pixels of overlap on each side. */
  tile: z.object({ size: z.number().int().positive(), context: z.number().int().nonnegative() }),
  /** ONNX Runtime execution providers to try, in order. */
  providers: z.array(z.enum(['cuda', 'cpu'])).min(1),
});
export type ModelManifest = z.infer<typeof ModelManifestSchema>;

export interface EnsuredModel {
  manifest: ModelManifest;
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
  build: () => Promise<Uint8Array>;
}

/** How to make each model's ONNX file; keyed by manifest id. */
const BUILDERS: Record<string, () => Builder> = {
  'esrgan-slim-x2': () => ({
    action: 'converting TF.js -> ONNX',
    build: () =>
      convertEsrganLayersModel(path.join(packageRoot('@upscalerjs/esrgan-slim'), 'models/x2/model.json'), {
        docString: 'ESRGAN slim x2 (RDN) from npm @upscalerjs/esrgan-slim@1.0.0 (MIT, Kevin Scott), converted by Loupe.',
      }),
  }),
};

export async function listManifests(): Promise<ModelManifest[]> {
  const entries = await readdir(MODELS_DIR, { withFileTypes: true });
  const manifests: ModelManifest[] = [];
  for (const entry of entries.filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
    const file = path.join(MODELS_DIR, entry.name, 'manifest.json');
    if (!existsSync(file)) continue;
    const parsed = ModelManifestSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
    if (!parsed.success) throw new Error(`${file}: ${z.prettifyError(parsed.error)}`);
    if (parsed.data.id !== entry.name) throw new Error(`${file}: id ${parsed.data.id} does not match its folder`);
    manifests.push(parsed.data);
  }
  return manifests;
}

export async function getManifest(id: string): Promise<ModelManifest> {
  const manifest = (await listManifests()).find((m) => m.id === id);
  if (!manifest) throw new Error(`unknown model ${id}`);
  return manifest;
}

/** Absolute path of the model's ONNX file (which may not exist yet). */
export function modelFile(manifest: ModelManifest): string {
  return path.join(MODELS_DIR, manifest.id, manifest.file);
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const describe = (bytes: Uint8Array, hash: string) => `${(bytes.length / 1e6).toFixed(1)} MB, sha256 ${hash.slice(0, 12)}…`;

async function ensure(manifest: ModelManifest, { log = () => {}, force = false }: EnsureOptions): Promise<EnsuredModel> {
  const file = modelFile(manifest);
  if (!force && existsSync(file)) {
    const bytes = await readFile(file);
    const hash = sha256(bytes);
    log(`model ${manifest.id}: up to date (${describe(bytes, hash)})`);
    return { manifest, path: file, sha256: hash, bytes: bytes.length };
  }
  const builder = BUILDERS[manifest.id]?.();
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
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  log(`model ${manifest.id}: ${builder.action} ... done (${describe(bytes, hash)}) in ${seconds} s`);
  return { manifest, path: file, sha256: hash, bytes: bytes.length };
}

/** Builds the model's ONNX file if it is missing; returns where it is and its hash. */
export async function ensureModel(id: string, options: EnsureOptions = {}): Promise<EnsuredModel> {
  return ensure(await getManifest(id), options);
}

export async function ensureAllModels(options: EnsureOptions = {}): Promise<EnsuredModel[]> {
  const results: EnsuredModel[] = [];
  for (const manifest of await listManifests()) results.push(await ensure(manifest, options));
  return results;
}

/**
 * Fix benchmark: per fix on a 1080p frame, time to the first tile, total time, and the pipeline's
 * overhead against bare `session.run` on the same tiles in the same run (time inside session.run,
 * measured by the engine). Runs the worker's Engine in-process on the CPU (LOUPE_PROVIDERS to change).
 *
 *   node --import tsx server/bench/fixes.bench.ts [--quick]
 *
 * Exported `runFixBench()` returns the rows for a runner (server/bin/bench.mjs) to print or store.
 */
import sharp from 'sharp';
import { ensureModel } from '@loupe/models';
import { DenoiseParamsSchema, ExposureParamsSchema } from '@loupe/shared';
import { Engine } from '../src/inference/engine.js';
import type { InferenceRun, WorkerReply } from '../src/inference/messages.js';
import { estimateNoiseSigma, planExposure } from '../src/fixes/colour.js';

export interface FixBenchRow {
  fix: string;
  input: string;
  firstTileMs: number;
  totalMs: number;
  sessionRunMs: number | null;
  /** total / session.run time (null for JS algorithms, which have no session.run). */
  overhead: number | null;
  tiles: number;
}

async function frame(width: number, height: number): Promise<Uint8Array> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><defs><linearGradient id="g" x1="0" x2="1" y1="0" y2="1"><stop offset="0" stop-color="#8aa"/><stop offset="1" stop-color="#433"/></linearGradient></defs>
  <rect width="100%" height="100%" fill="url(#g)"/>${Array.from({ length: 60 }, (_, i) => `<circle cx="${(i * 331) % width}" cy="${(i * 197) % height}" r="${20 + ((i * 7) % 90)}" fill="hsl(${(i * 47) % 360},50%,50%)"/>`).join('')}</svg>`;
  return new Uint8Array(await sharp(Buffer.from(svg)).removeAlpha().raw().toBuffer());
}

async function measure(engine: Engine, fix: string, input: string, run: InferenceRun): Promise<FixBenchRow> {
  let first = 0;
  let tiles = 0;
  const t0 = performance.now();
  await engine.run('bench', run, (m: WorkerReply) => {
    if (m.type === 'tile' && !m.preview) {
      tiles++;
      if (!first) first = performance.now() - t0;
    }
  });
  const total = performance.now() - t0;
  const bare = run.kind === 'tiles' || run.method === 'model' ? engine.lastRunMs : null;
  return { fix, input, firstTileMs: Math.round(first), totalMs: Math.round(total), sessionRunMs: bare && Math.round(bare), overhead: bare ? +(total / bare).toFixed(2) : null, tiles };
}

export async function runFixBench(opts: { quick?: boolean; providers?: string[] } = {}): Promise<FixBenchRow[]> {
  const engine = new Engine(opts.providers ?? (process.env.LOUPE_PROVIDERS ?? 'cpu').split(','));
  const W = 1920;
  const H = 1080;
  const rgb = await frame(W, H);
  const rows: FixBenchRow[] = [];
  const tiles = async (id: string, img: Uint8Array, w: number, h: number, extra: Record<string, Float32Array> = {}): Promise<InferenceRun> => {
    const model = await ensureModel(id);
    const m = model.manifest;
    return {
      kind: 'tiles', modelPath: model.path, inputName: m.input.name, outputName: m.output.name, inputRange: m.input.range, outputRange: m.output.range,
      rgb: img, width: w, height: h, scale: m.scale, tileSize: m.tile.size, context: m.tile.context, tileOrigin: m.tileOrigin,
      batch: m.input.batch === 'dynamic' ? 4 : 1,
      extraInputs: Object.fromEntries(m.extraInputs.filter((e) => extra[e.name]).map((e) => [e.name, { dims: e.dims, data: extra[e.name] }])),
    };
  };
  // Warm the sessions so the rows measure steady-state runs.
  for (const id of ['loupe-colour', 'loupe-denoise', 'esrgan-slim-x2']) await engine.session((await ensureModel(id)).path);

  const exposure = planExposure(ExposureParamsSchema.parse({ relight: { side: 'left', amount: 1 } }), rgb, W, H);
  rows.push(await measure(engine, 'exposure', '1920x1080', await tiles('loupe-colour', rgb, W, H, { ...exposure.inputs })));
  const sigma = estimateNoiseSigma(rgb.subarray(0, 256 * 256 * 3), 256, 256) || DenoiseParamsSchema.parse({}).strength * 10;
  rows.push(await measure(engine, 'denoise', '1920x1080', await tiles('loupe-denoise', rgb, W, H, { sigma: Float32Array.of(sigma) })));
  // Upscale x2 of a quarter of the frame gives a 1080p result.
  const qw = opts.quick ? 480 : 960;
  const qh = opts.quick ? 270 : 540;
  const quarter = new Uint8Array(await sharp(Buffer.from(rgb), { raw: { width: W, height: H, channels: 3 } }).extract({ left: 0, top: 0, width: qw, height: qh }).raw().toBuffer());
  rows.push(await measure(engine, 'upscale-x2 (slim)', `${qw}x${qh} -> ${2 * qw}x${2 * qh}`, await tiles('esrgan-slim-x2', quarter, qw, qh)));
  // Remove object: a 400x200 hole, on its crop with margin.
  const cw = 800;
  const ch = 500;
  const crop = new Uint8Array(await sharp(Buffer.from(rgb), { raw: { width: W, height: H, channels: 3 } }).extract({ left: 560, top: 290, width: cw, height: ch }).raw().toBuffer());
  const hole = new Uint8Array(cw * ch);
  for (let y = 150; y < 350; y++) for (let x = 200; x < 600; x++) hole[y * cw + x] = 1;
  rows.push(await measure(engine, 'remove-object (patchmatch)', '400x200 hole', { kind: 'inpaint', method: 'patchmatch', rgb: crop, width: cw, height: ch, hole, out: { x: 150, y: 100, width: 500, height: 300 }, tileSize: 256 }));
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await runFixBench({ quick: process.argv.includes('--quick') });
  console.table(rows);
}

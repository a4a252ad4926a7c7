/**
 * The inference worker process: ONNX Runtime sessions, execution-provider choice and tiling, off the
 * server's event loop. A child process rather than a thread, so that a native crash in a provider, or
 * stopping it mid-run, cannot take the server down. Each finished tile is sent back as soon as it is ready.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import ort from 'onnxruntime-node';
import { blit, planTiles, planarToRgb, rgbToPlanar } from './tiling.js';
import type { WorkerReply, WorkerRequest } from './messages.js';

const require = createRequire(import.meta.url);
const sessions = new Map<string, Promise<{ session: ort.InferenceSession; provider: string }>>();

/** onnxruntime-node does not fall back by itself: try each provider in order, catching failures. */
async function openSession(modelPath: string, providers: string[]) {
  const errors: string[] = [];
  for (const provider of providers) {
    const missing = missingProviderLibrary(provider);
    if (missing) {
      errors.push(`${provider}: ${missing}`);
      continue;
    }
    try {
      const session = await ort.InferenceSession.create(modelPath, {
        executionProviders: [provider],
        graphOptimizationLevel: 'all',
      });
      return { session, provider, errors };
    } catch (e) {
      errors.push(`${provider}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(`no execution provider could load ${modelPath} (${errors.join('; ')})`);
}

/**
 * The CUDA and TensorRT providers are separate libraries that onnxruntime-node's install script
 * downloads (skipped here: see .npmrc). Without them ORT prints a native error; check first.
 */
function missingProviderLibrary(provider: string): string | null {
  if (provider !== 'cuda' && provider !== 'tensorrt') return null;
  const dir = path.join(path.dirname(require.resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch);
  const lib = path.join(dir, `libonnxruntime_providers_${provider}.so`);
  return fs.existsSync(lib) ? null : `provider library not installed (${lib})`;
}

function session(modelPath: string, providers: string[]) {
  const key = `${modelPath}|${providers.join(',')}`;
  let s = sessions.get(key);
  if (!s) {
    s = openSession(modelPath, providers).then(({ session, provider, errors }) => {
      post({ type: 'log', message: `model ${modelPath} on ${provider}${errors.length ? ` (tried: ${errors.join('; ')})` : ''}` });
      return { session, provider };
    });
    s.catch(() => sessions.delete(key));
    sessions.set(key, s);
  }
  return s;
}

function post(msg: WorkerReply) {
  process.send!(msg);
}

async function run(req: WorkerRequest) {
  const { jobId, width, height, scale, tileSize, context } = req;
  const rgb = req.rgb;
  const { session: s, provider } = await session(req.modelPath, req.providers);
  const plans = planTiles(width, height, tileSize, context);
  const outW = width * scale;
  const outH = height * scale;
  post({ type: 'started', jobId, provider, tiles: plans.length, width: outW, height: outH });
  const out = new Uint8Array(outW * outH * 3);
  const [inputName] = s.inputNames;
  const [outputName] = s.outputNames;
  for (let i = 0; i < plans.length; i++) {
    const { core, padded } = plans[i];
    const input = new ort.Tensor('float32', rgbToPlanar(rgb, width, padded), [1, 3, padded.height, padded.width]);
    const result = await s.run({ [inputName]: input });
    const t = result[outputName];
    const crop = {
      x: (core.x - padded.x) * scale,
      y: (core.y - padded.y) * scale,
      width: core.width * scale,
      height: core.height * scale,
    };
    const tile = planarToRgb(t.data as Float32Array, padded.width * scale, padded.height * scale, crop);
    const rect = { x: core.x * scale, y: core.y * scale, width: crop.width, height: crop.height };
    blit(out, outW, tile, rect);
    post({ type: 'tile', jobId, index: i, rect, rgb: tile });
    input.dispose?.();
    t.dispose?.();
  }
  post({ type: 'done', jobId, provider, rgb: out });
}

// The server went away: nothing left to work for.
process.on('disconnect', () => process.exit(0));
process.on('message', (req: WorkerRequest) => {
  run(req).catch((e: Error) => post({ type: 'error', jobId: req.jobId, message: e.message }));
});

/**
 * A TF.js graph model (model.json + weight shards) loaded into TF.js itself, without tfjs-node
 * (which downloads libtensorflow at install and cannot be had here). The converter uses it to fold
 * the graph's shape arithmetic; the tests use it to run the package's own model next to ours.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';

export { tf };

/** What a TF.js graph-model model.json holds (the parts Loupe reads). */
export interface GraphModelJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string;
  signature?: {
    inputs?: Record<string, { name: string; dtype?: string; tensorShape?: { dim?: { size?: string }[] } }>;
    outputs?: Record<string, { name: string }>;
  };
  modelTopology: { node: TfNode[]; library?: { function?: unknown[] }; versions?: unknown };
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
}

export interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttr>;
}

export interface TfAttr {
  s?: string;
  i?: string;
  f?: number;
  b?: boolean;
  type?: string;
  list?: { i?: string[]; s?: string[]; f?: number[] };
  shape?: { dim?: { size?: string }[] };
}

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: 'uint8' | 'uint16' | 'float16'; scale?: number; min?: number };
}

export function readGraphModelJson(modelJsonPath: string): GraphModelJson {
  const json = JSON.parse(readFileSync(modelJsonPath, 'utf8')) as GraphModelJson;
  if (json.format !== 'graph-model') throw new Error(`${modelJsonPath}: format ${json.format} is not a graph-model`);
  if (json.modelTopology.library?.function?.length) throw new Error(`${modelJsonPath}: graphs with functions (control flow) are not supported`);
  return json;
}

/** The weight shards of every group, concatenated in manifest order (what TF.js itself reads). */
export function readWeightData(json: GraphModelJson, dir: string): Buffer {
  return Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(path.join(dir, p)))));
}

let wasmReady: Promise<void> | null = null;

/** Selects a TF.js backend: 'cpu' (plain JS) or 'wasm' (XNNPACK, about ten times faster on these graphs). */
export async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  if (name === 'wasm') {
    wasmReady ??= (async () => {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      const require = createRequire(import.meta.url);
      wasm.setWasmPaths(`${path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
    })();
    await wasmReady;
  }
  // Production mode: no debug checks, and no banner asking for tfjs-node on every process.
  tf.enableProdMode();
  if (!(await tf.setBackend(name))) throw new Error(`TF.js backend ${name} failed to start`);
  routeEinsum();
}

let routed = false;
/**
 * TF.js computes Einsum as a broadcast multiply and a sum over the whole outer product: minutes for
 * one MAXIM layer on the CPU backends (the WASM one has no Einsum at all). The three equations the
 * MAXIM graphs use are matrix products, so they go to matMul: the same sums, in another order.
 */
function routeEinsum() {
  if (routed) return;
  routed = true;
  const engine = tf.engine();
  const run = engine.runKernel.bind(engine);
  engine.runKernel = ((name: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap) =>
    name === 'Einsum' ? tf.tidy(() => einsumAsMatMul(attrs.equation as string, inputs[0] as tf.Tensor, inputs[1] as tf.Tensor)) : run(name, inputs, attrs)) as typeof engine.runKernel;
}

function einsumAsMatMul(equation: string, a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  switch (equation) {
    case 'abcg,gf->abcf':
      return tf.reshape(tf.matMul(tf.reshape(a, [-1, a.shape[3]!]), b as tf.Tensor2D), [...a.shape.slice(0, 3), b.shape[1]!]);
    case 'abgd,gf->abdf':
      return tf.reshape(tf.matMul(tf.reshape(tf.transpose(a, [0, 1, 3, 2]), [-1, a.shape[2]!]), b as tf.Tensor2D), [a.shape[0]!, a.shape[1]!, a.shape[3]!, b.shape[1]!]);
    case 'gb,cgef->bcef': {
      const [c, g, e, f] = b.shape;
      return tf.reshape(tf.matMul(a as tf.Tensor2D, tf.reshape(tf.transpose(b, [1, 0, 2, 3]), [g, -1]), true, false), [a.shape[1]!, c, e, f]);
    }
    default:
      throw new Error(`Einsum ${equation}: no matMul form in the TF.js runner`);
  }
}

/** Loads the graph model into TF.js from the file system (the backend must be chosen first). */
export async function loadTfjsGraph(modelJsonPath: string): Promise<GraphModel> {
  const json = readGraphModelJson(modelJsonPath);
  const data = readWeightData(json, path.dirname(modelJsonPath));
  const weightData = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  return loadGraphModel({
    load: async () => ({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights) as never,
      weightData,
      format: json.format,
      generatedBy: json.generatedBy,
      convertedBy: json.convertedBy,
      signature: json.signature,
    }),
  });
}

/**
 * TF.js layers-model (Keras Functional) -> ONNX, for the layer types used by @upscalerjs/esrgan-slim
 * (x2, x3, x4 and x8 all use the same set: InputLayer, Conv2D, Activation, Concatenate, Add, UpSampling2D).
 *
 * The Keras graph is NHWC; we emit the whole graph in NCHW instead of wrapping it in transposes, so only the
 * weights (HWIO -> OIHW) and the concat axis change. Anything outside the supported set throws rather than
 * converting into something subtly different.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

const { onnx } = onnxProto;
const { DataType } = onnx.TensorProto;
const { AttributeType } = onnx.AttributeProto;

/** ORT 1.16+ supports opset 17 and IR 8; onnx-proto 8 (onnx 1.10 schema) knows IR 8. */
const OPSET = 17;
const IR_VERSION = 8;

type InboundRef = [layerName: string, nodeIndex: number, tensorIndex: number, kwargs?: unknown];
interface KerasLayer {
  class_name: string;
  name: string;
  config: Record<string, any>;
  inbound_nodes: InboundRef[][];
}
interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: unknown;
}
interface LayersModelJson {
  format?: string;
  modelTopology: { model_config?: { class_name: string; config: any }; class_name?: string; config?: any };
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
}
interface Weight {
  shape: number[];
  data: Float32Array;
}

/** Reads the shards and slices them into named float32 tensors (little-endian, concatenated in manifest order). */
async function loadWeights(model: LayersModelJson, dir: string): Promise<Map<string, Weight>> {
  const weights = new Map<string, Weight>();
  for (const group of model.weightsManifest) {
    const shards = await Promise.all(group.paths.map((p) => readFile(path.join(dir, p))));
    const buf = Buffer.concat(shards);
    let offset = 0;
    for (const spec of group.weights) {
      if (spec.dtype !== 'float32' || spec.quantization) {
        throw new Error(`weight ${spec.name}: only unquantised float32 is supported (got ${spec.dtype}${spec.quantization ? ', quantised' : ''})`);
      }
      const count = spec.shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = buf.readFloatLE(offset + i * 4);
      offset += count * 4;
      weights.set(spec.name.replace(/:0$/, ''), { shape: spec.shape, data });
    }
    if (offset !== buf.length) throw new Error(`weights group ${group.paths.join(',')}: ${buf.length - offset} bytes left over`);
  }
  return weights;
}

/** Keras kernel [kh, kw, in, out] -> ONNX [out, in, kh, kw]. */
function hwioToOihw({ shape: [kh, kw, ci, co], data }: Weight): Weight {
  const out = new Float32Array(data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++)
        for (let o = 0; o < co; o++) out[((o * ci + i) * kh + y) * kw + x] = data[((y * kw + x) * ci + i) * co + o];
  return { shape: [co, ci, kh, kw], data: out };
}

function floatTensor(name: string, dims: number[], data: Float32Array): OnnxTypes.ITensorProto {
  // raw_data is defined as little-endian; copy so the bytes don't alias a larger buffer.
  const raw = new Uint8Array(data.byteLength);
  const view = new DataView(raw.buffer);
  data.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return { name, dims, dataType: DataType.FLOAT, rawData: raw };
}

type Attr = OnnxTypes.IAttributeProto;
const intsAttr = (name: string, ints: number[]): Attr => ({ name, type: AttributeType.INTS, ints });
const intAttr = (name: string, i: number): Attr => ({ name, type: AttributeType.INT, i });
const stringAttr = (name: string, s: string): Attr => ({ name, type: AttributeType.STRING, s: new TextEncoder().encode(s) });

/** NHWC axis -> NCHW axis (rank 4). */
function nhwcAxisToNchw(axis: number): number {
  const a = axis < 0 ? axis + 4 : axis;
  const map = [0, 2, 3, 1];
  if (!(a in map)) throw new Error(`axis ${axis} out of range for rank 4`);
  return map[a];
}

function shapeValueInfo(name: string, dims: (number | string)[]): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export interface ConvertOptions {
  /** Free text stored in the model's doc_string (where the weights came from). */
  docString?: string;
  /**
   * Iterative back-projection steps appended to the network (0: none). Each step downscales the
   * output (Catmull-Rom, antialiased: what a cubic downscale does), compares it with the input, and
   * adds the difference back, upscaled bilinearly: the result stays faithful to the picture it was
   * made from (Irani & Peleg, 1991). The @upscalerjs x4 weights trade fidelity for texture (about
   * 1 dB below Lanczos in PSNR); three steps put them 0.6-0.9 dB above it, whatever filter made the
   * small picture (server/test/fix-denoise-upscale.spec.ts, docs/gpu.md).
   */
  backProjection?: { steps: number; scale: number };
}

/** Catmull-Rom (libvips' "cubic"), the kernel a cubic downscale uses. */
function catmullRom(t: number): number {
  const a = Math.abs(t);
  if (a < 1) return 1.5 * a ** 3 - 2.5 * a ** 2 + 1;
  if (a < 2) return -0.5 * a ** 3 + 2.5 * a ** 2 - 4 * a + 2;
  return 0;
}

/**
 * The 1-D taps of an antialiased cubic downscale by `f` (an integer): 4f taps, the first 1.5f pixels
 * before the output pixel's first input pixel. Normalised to sum to 1.
 */
export function cubicDownTaps(f: number): Float32Array {
  const taps = Float32Array.from({ length: 4 * f }, (_, m) => catmullRom((m - 2 * f + 0.5) / f));
  const sum = taps.reduce((a, b) => a + b, 0);
  return taps.map((v) => v / sum);
}

export async function convertEsrganLayersModel(modelJsonPath: string, options: ConvertOptions = {}): Promise<Uint8Array> {
  const model = JSON.parse(await readFile(modelJsonPath, 'utf8')) as LayersModelJson;
  if (model.format && model.format !== 'layers-model') throw new Error(`${modelJsonPath}: format ${model.format} is not a layers-model`);
  const topology = model.modelTopology.model_config ?? (model.modelTopology as { class_name: string; config: any });
  if (topology.class_name !== 'Functional' && topology.class_name !== 'Model') {
    throw new Error(`${modelJsonPath}: only Keras Functional models are supported (got ${topology.class_name})`);
  }
  const { layers, input_layers, output_layers } = topology.config as {
    layers: KerasLayer[];
    input_layers: InboundRef[];
    output_layers: InboundRef[];
  };
  if (input_layers.length !== 1 || output_layers.length !== 1) throw new Error('only single-input, single-output models are supported');
  const weights = await loadWeights(model, path.dirname(modelJsonPath));
  const usedWeights = new Set<string>();
  const takeWeight = (key: string): Weight => {
    const w = weights.get(key);
    if (!w) throw new Error(`weight ${key} missing from the manifest`);
    usedWeights.add(key);
    return w;
  };

  const nodes: OnnxTypes.INodeProto[] = [];
  const initializers: OnnxTypes.ITensorProto[] = [];
  // Keras tensor "layer:node:index" -> ONNX value name. Layers are listed in topological order in the config.
  const values = new Map<string, string>();
  const ref = ([layer, node, index]: InboundRef) => {
    const v = values.get(`${layer}:${node}:${index}`);
    if (!v) throw new Error(`tensor ${layer}:${node}:${index} used before it is defined`);
    return v;
  };
  const node = (opType: string, name: string, input: string[], output: string, attribute: Attr[] = []) =>
    nodes.push({ opType, name, input, output: [output], attribute });
  /** Emits the activation after `input` and returns the value holding its result. */
  const activation = (kind: string, name: string, input: string, output: string): string => {
    const ops: Record<string, string> = { relu: 'Relu', sigmoid: 'Sigmoid', tanh: 'Tanh' };
    if (kind === 'linear') return input;
    if (!ops[kind]) throw new Error(`${name}: activation ${kind} is not supported`);
    node(ops[kind], name, [input], output);
    return output;
  };

  for (const layer of layers) {
    const { class_name: kind, name, config } = layer;
    if (layer.inbound_nodes.length > 1) throw new Error(`${name}: shared layers (called more than once) are not supported`);
    const inputs = (layer.inbound_nodes[0] ?? []).map(ref);
    if (config.data_format && config.data_format !== 'channels_last') throw new Error(`${name}: data_format ${config.data_format}`);
    let out: string;

    switch (kind) {
      case 'InputLayer': {
        const shape = config.batch_input_shape ?? config.batch_shape;
        if (shape?.length !== 4 || shape[3] !== 3) throw new Error(`${name}: expected an NHWC RGB input, got ${JSON.stringify(shape)}`);
        out = 'input';
        break;
      }
      case 'Conv2D': {
        const kernel = hwioToOihw(takeWeight(`${name}/kernel`));
        const [, , kh, kw] = kernel.shape;
        const strides: number[] = config.strides ?? [1, 1];
        const dilations: number[] = config.dilation_rate ?? [1, 1];
        const attrs = [
          intsAttr('kernel_shape', [kh, kw]),
          intsAttr('strides', strides),
          intsAttr('dilations', dilations),
          intAttr('group', config.groups ?? 1),
        ];
        if (config.padding === 'same') {
          if (strides.every((s) => s === 1)) {
            // TF puts the odd pixel of 'same' padding at the end; explicit pads keep that exact for any kernel.
            const total = [kh, kw].map((k, i) => (k - 1) * dilations[i]);
            const begin = total.map((t) => Math.floor(t / 2));
            attrs.push(intsAttr('pads', [...begin, ...total.map((t, i) => t - begin[i])]));
          } else {
            attrs.push(stringAttr('auto_pad', 'SAME_UPPER'));
          }
        } else if (config.padding !== 'valid') {
          throw new Error(`${name}: padding ${config.padding} is not supported`);
        }
        initializers.push(floatTensor(`${name}/kernel`, kernel.shape, kernel.data));
        const convInputs = [inputs[0], `${name}/kernel`];
        if (config.use_bias !== false) {
          const bias = takeWeight(`${name}/bias`);
          initializers.push(floatTensor(`${name}/bias`, bias.shape, bias.data));
          convInputs.push(`${name}/bias`);
        }
        const act = config.activation ?? 'linear';
        const convOut = act === 'linear' ? name : `${name}/conv`;
        node('Conv', name, convInputs, convOut, attrs);
        out = activation(act, `${name}/${act}`, convOut, name);
        break;
      }
      case 'Activation':
        out = activation(config.activation, name, inputs[0], name);
        break;
      case 'Concatenate':
        node('Concat', name, inputs, name, [intAttr('axis', nhwcAxisToNchw(config.axis ?? -1))]);
        out = name;
        break;
      case 'Add':
        node(inputs.length === 2 ? 'Add' : 'Sum', name, inputs, name);
        out = name;
        break;
      case 'UpSampling2D': {
        if ((config.interpolation ?? 'nearest') !== 'nearest') throw new Error(`${name}: only nearest upsampling is supported`);
        const [sh, sw] = config.size as number[];
        initializers.push(floatTensor(`${name}/scales`, [4], new Float32Array([1, 1, sh, sw])));
        // Keras/TF.js nearest upsampling by an integer factor copies source pixel floor(y / s); 'asymmetric' +
        // 'floor' states exactly that. (The ONNX default, half_pixel + round_prefer_floor, happens to pick the
        // same pixels for integer factors; we don't rely on the coincidence.)
        node('Resize', name, [inputs[0], '', `${name}/scales`], name, [
          stringAttr('mode', 'nearest'),
          stringAttr('coordinate_transformation_mode', 'asymmetric'),
          stringAttr('nearest_mode', 'floor'),
        ]);
        out = name;
        break;
      }
      default:
        throw new Error(`${name}: layer type ${kind} is not supported`);
    }
    values.set(`${name}:0:0`, out);
  }

  const unused = [...weights.keys()].filter((k) => !usedWeights.has(k));
  if (unused.length) throw new Error(`weights not used by any layer: ${unused.join(', ')}`);

  // The model is trained to output 0..255 but can overshoot; clamp so consumers can round straight to 8-bit.
  initializers.push(floatTensor('clip_min', [], new Float32Array([0])), floatTensor('clip_max', [], new Float32Array([255])));
  const steps = options.backProjection?.steps ?? 0;
  let result = ref(output_layers[0]);
  if (steps > 0) {
    const f = options.backProjection!.scale;
    const k = cubicDownTaps(f);
    const kernel = new Float32Array(3 * 16 * f * f);
    for (let c = 0; c < 3; c++) for (let y = 0; y < 4 * f; y++) for (let x = 0; x < 4 * f; x++) kernel[c * 16 * f * f + y * 4 * f + x] = k[y] * k[x];
    const pad = (3 * f) / 2;
    initializers.push(
      floatTensor('bp/down', [3, 1, 4 * f, 4 * f], kernel),
      { name: 'bp/pads', dims: [8], dataType: DataType.INT64, int64Data: [0, 0, pad, pad, 0, 0, pad, pad] },
      floatTensor('bp/scales', [4], new Float32Array([1, 1, f, f])),
    );
    let y = `bp/0`;
    node('Clip', 'bp/clip0', [result, 'clip_min', 'clip_max'], y);
    for (let i = 1; i <= steps; i++) {
      // Edge-padded, so that the borders downscale like the rest (libvips extends the edge pixels too).
      node('Pad', `bp/pad${i}`, [y, 'bp/pads'], `bp/padded${i}`, [stringAttr('mode', 'edge')]);
      node('Conv', `bp/down${i}`, [`bp/padded${i}`, 'bp/down'], `bp/small${i}`, [intsAttr('kernel_shape', [4 * f, 4 * f]), intsAttr('strides', [f, f]), intAttr('group', 3)]);
      node('Sub', `bp/error${i}`, ['input', `bp/small${i}`], `bp/error${i}`);
      node('Resize', `bp/up${i}`, [`bp/error${i}`, '', 'bp/scales'], `bp/correction${i}`, [
        stringAttr('mode', 'linear'),
        stringAttr('coordinate_transformation_mode', 'half_pixel'),
      ]);
      node('Add', `bp/step${i}`, [y, `bp/correction${i}`], `bp/${i}`);
      y = `bp/${i}`;
    }
    result = y;
  }
  node('Clip', 'output_clip', [result, 'clip_min', 'clip_max'], 'output');

  const modelProto = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'loupe-models',
    producerVersion: '1',
    docString: options.docString ?? '',
    graph: {
      name: path.basename(path.dirname(modelJsonPath)),
      node: nodes,
      initializer: initializers,
      // A symbolic batch lets the server run several equal-sized tiles in one call.
      input: [shapeValueInfo('input', ['batch', 3, 'height', 'width'])],
      output: [shapeValueInfo('output', ['batch', 3, 'out_height', 'out_width'])],
    },
  });
  return onnx.ModelProto.encode(modelProto).finish();
}

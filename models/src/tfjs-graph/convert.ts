/**
 * TF.js graph model (a frozen TensorFlow graph: model.json + weight shards) -> ONNX, specialised to
 * one input size. Written for the MAXIM networks of the @upscalerjs/maxim-* packages (jax2tf exports):
 * about 43k nodes, two thirds of them shape arithmetic on int32 (Shape, StridedSlice, Pack, Range,
 * Cast ...) that jax2tf emits so the graph accepts any size. For a fixed input size all of it is
 * constant: TF.js itself evaluates that part once (so its values are exactly what TF.js computes at
 * run time, resize weights included) and only the float work that depends on the picture becomes
 * ONNX nodes (13k for the three-stage networks). The ONNX graph is then fully static, which lets ONNX
 * Runtime plan every buffer and fuse freely.
 *
 * Layout: the graph stays NHWC as TensorFlow wrote it; each convolution is wrapped in the two
 * Transposes ONNX's NCHW Conv needs (ONNX Runtime's transpose optimiser cancels the pairs between
 * convolutions), and the model's input and output are NCHW like every Loupe model.
 * An op outside the supported set throws rather than converting into something subtly different.
 */
import path from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { loadTfjsGraph, readGraphModelJson, tf, useBackend, type TfAttr, type TfNode } from './tfjs.js';

const { onnx } = onnxProto;
const { DataType } = onnx.TensorProto;
const { AttributeType } = onnx.AttributeProto;

/** ORT 1.16+ runs opset 17 (Einsum needs 12+, ReduceSum's axes input 13+). */
const OPSET = 17;
const IR_VERSION = 8;
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

export interface GraphConvertOptions {
  /** Input [height, width] the graph is specialised to (the network's own rules apply: MAXIM wants multiples of 64). */
  size: [number, number];
  /** Free text stored in the model's doc_string (where the weights came from). */
  docString?: string;
}

interface Folded {
  dtype: string;
  shape: number[];
  values: Float32Array | Int32Array | Uint8Array;
}

type Attr = OnnxTypes.IAttributeProto;
type AttrValue = number | number[] | string | { float: number };
function attr(name: string, v: AttrValue): Attr {
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: v };
  if (typeof v === 'object') return { name, type: AttributeType.FLOAT, f: v.float };
  return { name, type: AttributeType.INT, i: v };
}

const decode = (s: string | undefined) => (s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8'));
const ints = (a: TfAttr | undefined) => (a?.list?.i ?? []).map(Number);
/** "name", "name:0", "^name" (a control edge) -> the producing node; only first outputs are supported. */
function source(input: string): { node: string; control: boolean } {
  const control = input.startsWith('^');
  const [node, index] = (control ? input.slice(1) : input).split(':');
  if (index !== undefined && index !== '0') throw new Error(`input ${input}: only a node's first output is supported`);
  return { node, control };
}

/** Nodes in an order where every input comes before its use (model.json need not be ordered). */
function topoOrder(nodes: Map<string, TfNode>): string[] {
  const order: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  for (const start of nodes.keys()) {
    if (state.has(start)) continue;
    const stack: [string, boolean][] = [[start, false]];
    while (stack.length) {
      const [name, leaving] = stack.pop()!;
      if (leaving) {
        state.set(name, 'done');
        order.push(name);
        continue;
      }
      if (state.get(name) === 'done') continue;
      if (state.get(name) === 'open') throw new Error(`the graph has a cycle through ${name}`);
      state.set(name, 'open');
      stack.push([name, true]);
      for (const i of nodes.get(name)!.input ?? []) {
        const { node } = source(i);
        if (!nodes.has(node)) throw new Error(`${name}: input ${node} is not in the graph`);
        if (!state.has(node)) stack.push([node, false]);
      }
    }
  }
  return order;
}

/** Little-endian bytes (raw_data's byte order) of float32 or int64 values. */
function le(values: ArrayLike<number | bigint>, as: 'float' | 'int64'): Uint8Array {
  const raw = new Uint8Array(values.length * (as === 'float' ? 4 : 8));
  const view = new DataView(raw.buffer);
  for (let i = 0; i < values.length; i++) {
    if (as === 'float') view.setFloat32(i * 4, values[i] as number, true);
    else view.setBigInt64(i * 8, BigInt(values[i]), true);
  }
  return raw;
}

function valueInfo(name: string, dims: number[]): OnnxTypes.IValueInfoProto {
  return { name, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } };
}

/** Ops of the picture-dependent part, by how they map. */
const UNARY: Record<string, string> = {
  Identity: 'Identity',
  Tanh: 'Tanh',
  Exp: 'Exp',
  Neg: 'Neg',
  Abs: 'Abs',
  Reciprocal: 'Reciprocal',
  Inv: 'Reciprocal',
  Sqrt: 'Sqrt',
  Relu: 'Relu',
  Sigmoid: 'Sigmoid',
  Floor: 'Floor',
  Log: 'Log',
  Erf: 'Erf',
  LogicalNot: 'Not',
};
const BINARY: Record<string, string> = {
  AddV2: 'Add',
  Add: 'Add',
  Sub: 'Sub',
  Mul: 'Mul',
  RealDiv: 'Div',
  Maximum: 'Max',
  Minimum: 'Min',
  Pow: 'Pow',
  Greater: 'Greater',
  GreaterEqual: 'GreaterOrEqual',
  Less: 'Less',
  LessEqual: 'LessOrEqual',
  Equal: 'Equal',
  LogicalAnd: 'And',
  LogicalOr: 'Or',
};

/**
 * Converts the graph model at `modelJsonPath` for one input size; returns the ONNX bytes.
 * Input `input` [1, 3, H, W] and output `output` [1, 3, H, W], float32, the model's own value range.
 */
export async function convertTfjsGraphModel(modelJsonPath: string, options: GraphConvertOptions): Promise<Uint8Array> {
  const json = readGraphModelJson(modelJsonPath);
  const [height, width] = options.size;
  const nodes = new Map(json.modelTopology.node.map((n) => [n.name, n]));
  const order = topoOrder(nodes);
  const placeholders = order.filter((n) => nodes.get(n)!.op === 'Placeholder');
  if (placeholders.length !== 1) throw new Error(`expected one input, found ${placeholders.length}`);
  const inputNode = placeholders[0];
  const inputShape = nodes.get(inputNode)!.attr?.shape?.shape?.dim?.map((d) => Number(d.size)) ?? [];
  if (inputShape.length !== 4 || inputShape[3] !== 3) throw new Error(`input ${inputNode}: expected NHWC RGB, got [${inputShape.join(', ')}]`);
  const outputs = Object.values(json.signature?.outputs ?? {}).map((o) => source(o.name).node);
  if (outputs.length !== 1) throw new Error(`expected one output, found ${outputs.length}`);

  // Which values do not depend on the picture once its size is fixed: constants, the input's shape,
  // and everything computed only from those.
  const isStatic = new Set<string>();
  for (const name of order) {
    const n = nodes.get(name)!;
    const inputs = (n.input ?? []).map(source).filter((s) => !s.control);
    if (n.op === 'Const' || (n.op === 'Shape' && inputs[0].node === inputNode)) isStatic.add(name);
    else if (n.op === 'Shape') throw new Error(`${name}: Shape of a computed tensor is not supported`);
    else if (n.op !== 'Placeholder' && inputs.length > 0 && inputs.every((s) => isStatic.has(s.node))) isStatic.add(name);
  }
  const dynamic = order.filter((n) => !isStatic.has(n) && n !== inputNode);
  const frontier = [...new Set(dynamic.flatMap((n) => (nodes.get(n)!.input ?? []).map(source).filter((s) => !s.control && isStatic.has(s.node)).map((s) => s.node)))].sort();

  // TF.js evaluates the static part (the picture's values do not matter, only its size).
  await useBackend('cpu');
  const model = await loadTfjsGraph(modelJsonPath);
  const folded = new Map<string, Folded>();
  const picture = tf.zeros([1, height, width, 3]);
  const results = model.execute({ [inputNode]: picture }, frontier) as tf.Tensor[];
  const list = Array.isArray(results) ? results : [results];
  list.forEach((t, k) => {
    folded.set(frontier[k], { dtype: t.dtype, shape: t.shape, values: t.dataSync() as Folded['values'] });
  });
  tf.dispose([picture, ...list]);
  model.dispose();

  const onnxNodes: OnnxTypes.INodeProto[] = [];
  const initializers: OnnxTypes.ITensorProto[] = [];
  const made = new Set<string>();
  let fresh = 0;
  const emit = (opType: string, input: string[], attrs: Record<string, AttrValue> = {}, output = `${opType.toLowerCase()}_${fresh++}`) => {
    onnxNodes.push({ opType, name: output, input, output: [output], attribute: Object.entries(attrs).map(([k, v]) => attr(k, v)) });
    return output;
  };
  const konst = (name: string): Folded => {
    const f = folded.get(name);
    if (!f) throw new Error(`${name} is not a constant here`);
    return f;
  };
  const constInts = (name: string) => Array.from(konst(name).values as Int32Array);
  /** A folded value as an initializer of the element type the ONNX op wants, made once per type. */
  const init = (name: string, as: 'float' | 'int64' | 'bool'): string => {
    const key = `${name}|${as}`;
    if (made.has(key)) return key;
    made.add(key);
    const f = konst(name);
    if (as === 'float') {
      if (f.dtype !== 'float32') throw new Error(`${name}: expected a float32 constant, got ${f.dtype}`);
      initializers.push({ name: key, dims: f.shape, dataType: DataType.FLOAT, rawData: le(f.values, 'float') });
    } else if (as === 'int64') {
      initializers.push({ name: key, dims: f.shape, dataType: DataType.INT64, rawData: le(f.values, 'int64') });
    } else {
      initializers.push({ name: key, dims: f.shape, dataType: DataType.BOOL, rawData: Uint8Array.from(f.values, (v) => (v ? 1 : 0)) });
    }
    return key;
  };
  const i64 = (values: (number | bigint)[], hint: string): string => {
    const name = `${hint}_${fresh++}`;
    initializers.push({ name, dims: [values.length], dataType: DataType.INT64, rawData: le(values, 'int64') });
    return name;
  };
  const f64 = (name: string, values: number[]): string => {
    const raw = new Uint8Array(values.length * 8);
    const view = new DataView(raw.buffer);
    values.forEach((v, i) => view.setFloat64(i * 8, v, true));
    initializers.push({ name, dims: [values.length], dataType: DataType.DOUBLE, rawData: raw });
    return name;
  };
  const f32 = (name: string, dims: number[], values: Float32Array): string => {
    initializers.push({ name, dims, dataType: DataType.FLOAT, rawData: le(values, 'float') });
    return name;
  };
  /** The ONNX value of a TF input: a dynamic value by its name, a folded one as a float or bool initializer. */
  const value = (tfName: string): string => {
    if (!isStatic.has(tfName)) return tfName;
    const f = konst(tfName);
    if (f.dtype === 'float32') return init(tfName, 'float');
    if (f.dtype === 'bool') return init(tfName, 'bool');
    throw new Error(`${tfName}: an ${f.dtype} constant used as data is not supported`);
  };

  // NCHW in, NHWC inside.
  emit('Transpose', ['input'], { perm: [0, 2, 3, 1] }, inputNode);
  const toNchw = new Map<string, string>();
  const nchw = (v: string) => {
    let t = toNchw.get(v);
    if (!t) toNchw.set(v, (t = emit('Transpose', [v], { perm: [0, 3, 1, 2] }, `${v}/nchw`)));
    return t;
  };

  for (const name of dynamic) {
    const n = nodes.get(name)!;
    const ins = (n.input ?? []).map(source).filter((s) => !s.control).map((s) => s.node);
    const a = n.attr ?? {};
    const op = n.op;
    if (UNARY[op]) emit(UNARY[op], [value(ins[0])], {}, name);
    else if (BINARY[op]) emit(BINARY[op], [value(ins[0]), value(ins[1])], {}, name);
    else if (op === 'NotEqual') emit('Not', [emit('Equal', [value(ins[0]), value(ins[1])])], {}, name);
    else if (op === 'Square') emit('Mul', [value(ins[0]), value(ins[0])], {}, name);
    else if (op === 'SquaredDifference') {
      const d = emit('Sub', [value(ins[0]), value(ins[1])]);
      emit('Mul', [d, d], {}, name);
    } else if (op === 'Rsqrt') emit('Reciprocal', [emit('Sqrt', [value(ins[0])])], {}, name);
    else if (op === 'Cast') {
      const to = a.DstT?.type;
      if (to === 'DT_FLOAT') emit(a.SrcT?.type === 'DT_FLOAT' ? 'Identity' : 'Cast', [value(ins[0])], a.SrcT?.type === 'DT_FLOAT' ? {} : { to: DataType.FLOAT }, name);
      else throw new Error(`${name}: Cast of the picture to ${to} is not supported`);
    } else if (op === 'SelectV2' || op === 'Select') emit('Where', ins.map(value), {}, name);
    else if (op === 'Reshape') emit('Reshape', [value(ins[0]), init(ins[1], 'int64')], {}, name);
    else if (op === 'BroadcastTo') emit('Expand', [value(ins[0]), init(ins[1], 'int64')], {}, name);
    else if (op === 'ExpandDims') emit('Unsqueeze', [value(ins[0]), init(ins[1], 'int64')], {}, name);
    else if (op === 'Squeeze') {
      const dims = ints(a.squeeze_dims);
      emit('Squeeze', dims.length ? [value(ins[0]), i64(dims, `${name}/axes`)] : [value(ins[0])], {}, name);
    } else if (op === 'Transpose') emit('Transpose', [value(ins[0])], { perm: constInts(ins[1]) }, name);
    else if (op === 'Sum' || op === 'Mean' || op === 'Max' || op === 'Min' || op === 'Prod') {
      const axes = constInts(ins[1]);
      const keepdims = a.keep_dims?.b ? 1 : 0;
      if (!axes.length) emit('Identity', [value(ins[0])], {}, name);
      else if (op === 'Sum') emit('ReduceSum', [value(ins[0]), i64(axes, `${name}/axes`)], { keepdims }, name);
      else emit({ Mean: 'ReduceMean', Max: 'ReduceMax', Min: 'ReduceMin', Prod: 'ReduceProd' }[op]!, [value(ins[0])], { axes, keepdims }, name);
    } else if (op === 'ConcatV2') {
      const axis = constInts(ins[ins.length - 1])[0];
      emit('Concat', ins.slice(0, -1).map(value), { axis }, name);
    } else if (op === 'Pack') {
      const axis = Number(a.axis?.i ?? 0);
      const parts = ins.map((i) => emit('Unsqueeze', [value(i), i64([axis], `${name}/axis`)]));
      emit('Concat', parts, { axis }, name);
    } else if (op === 'StridedSlice') stridedSlice(name, ins, a);
    else if (op === 'GatherV2') {
      if (Number(a.batch_dims?.i ?? 0) !== 0) throw new Error(`${name}: GatherV2 with batch_dims is not supported`);
      emit('Gather', [value(ins[0]), init(ins[1], 'int64')], { axis: constInts(ins[2])[0] }, name);
    } else if (op === 'Einsum') einsum(name, ins, decode(a.equation?.s)!);
    else if (op === 'Conv2D' || op === 'DepthwiseConv2dNative') conv(name, ins, a, op === 'DepthwiseConv2dNative');
    else if (op === 'Conv2DBackpropInput') convTranspose(name, ins, a);
    else if (op === 'ScaleAndTranslate') scaleAndTranslate(name, ins);
    else throw new Error(`${name}: op ${op} on the picture is not supported`);
  }

  function stridedSlice(name: string, ins: string[], a: Record<string, TfAttr>) {
    const mask = (k: string) => Number(a[k]?.i ?? 0);
    if (mask('ellipsis_mask') || mask('new_axis_mask')) throw new Error(`${name}: StridedSlice with ellipsis or new axes is not supported`);
    const [begin, end, strides] = ins.slice(1).map(constInts);
    const starts: bigint[] = [];
    const ends: bigint[] = [];
    const shrink: number[] = [];
    begin.forEach((b, i) => {
      const up = strides[i] > 0;
      const bit = 1 << i;
      starts.push(mask('begin_mask') & bit ? (up ? 0n : INT64_MAX) : BigInt(b));
      if (mask('shrink_axis_mask') & bit) {
        shrink.push(i);
        ends.push(b === -1 ? INT64_MAX : BigInt(b + 1));
      } else ends.push(mask('end_mask') & bit ? (up ? INT64_MAX : INT64_MIN) : BigInt(end[i]));
    });
    const axes = begin.map((_, i) => i);
    const sliced = emit('Slice', [value(ins[0]), i64(starts, `${name}/starts`), i64(ends, `${name}/ends`), i64(axes, `${name}/axes`), i64(strides, `${name}/steps`)], {}, shrink.length ? undefined : name);
    if (shrink.length) emit('Squeeze', [sliced, i64(shrink, `${name}/shrink`)], {}, name);
  }

  function einsum(name: string, ins: string[], equation: string) {
    // The dense layers of the MLP mixers: a plain matrix product, which ONNX Runtime fuses and runs fastest.
    const [lhs, rhs] = equation.split('->');
    const [x, w] = lhs.split(',');
    if (w?.length === 2 && x.endsWith(w[0]) && rhs === x.slice(0, -1) + w[1] && isStatic.has(ins[1]) && !isStatic.has(ins[0])) {
      emit('MatMul', [value(ins[0]), value(ins[1])], {}, name);
    } else emit('Einsum', ins.map(value), { equation }, name);
  }

  function conv(name: string, ins: string[], a: Record<string, TfAttr>, depthwise: boolean) {
    if (decode(a.data_format?.s) !== 'NHWC') throw new Error(`${name}: only NHWC convolutions are supported`);
    if (!isStatic.has(ins[1])) throw new Error(`${name}: the filter must be constant`);
    const f = konst(ins[1]);
    const [kh, kw, ci, co] = f.shape;
    const src = f.values as Float32Array;
    // TF filters are [kh, kw, in, out] (depthwise: [kh, kw, in, multiplier]); ONNX wants [out, in/group, kh, kw].
    const outs = depthwise ? ci * co : co;
    const w = new Float32Array(src.length);
    for (let y = 0; y < kh; y++)
      for (let x = 0; x < kw; x++)
        for (let i = 0; i < ci; i++)
          for (let o = 0; o < co; o++) {
            const s = src[((y * kw + x) * ci + i) * co + o];
            if (depthwise) w[((i * co + o) * kh + y) * kw + x] = s;
            else w[((o * ci + i) * kh + y) * kw + x] = s;
          }
    const weight = f32(`${name}/weight`, [outs, depthwise ? 1 : ci, kh, kw], w);
    const strides = ints(a.strides).slice(1, 3);
    const dilations = a.dilations ? ints(a.dilations).slice(1, 3) : [1, 1];
    const attrs: Record<string, AttrValue> = { kernel_shape: [kh, kw], strides, dilations, group: depthwise ? ci : 1 };
    const padding = decode(a.padding?.s);
    // TF's SAME puts the odd pixel at the end, as ONNX's SAME_UPPER does, for any stride.
    if (padding === 'SAME') attrs.auto_pad = 'SAME_UPPER';
    else if (padding === 'EXPLICIT') {
      const p = ints(a.explicit_paddings); // [N0, N1, H0, H1, W0, W1, C0, C1]
      attrs.pads = [p[2], p[4], p[3], p[5]];
    } else if (padding !== 'VALID') throw new Error(`${name}: padding ${padding}`);
    const out = emit('Conv', [nchw(value(ins[0])), weight], attrs, `${name}/conv`);
    emit('Transpose', [out], { perm: [0, 2, 3, 1] }, name);
  }

  function convTranspose(name: string, ins: string[], a: Record<string, TfAttr>) {
    // Conv2DBackpropInput(input_sizes, filter, out_backprop): the gradient of a Conv2D, i.e. a transposed convolution.
    if (decode(a.data_format?.s) !== 'NHWC') throw new Error(`${name}: only NHWC is supported`);
    const sizes = constInts(ins[0]);
    const f = konst(ins[1]);
    const [kh, kw, co, ci] = f.shape; // [kh, kw, out channels of this op, its in channels]
    const src = f.values as Float32Array;
    const w = new Float32Array(src.length); // ONNX: [in, out, kh, kw]
    for (let y = 0; y < kh; y++)
      for (let x = 0; x < kw; x++)
        for (let o = 0; o < co; o++)
          for (let i = 0; i < ci; i++) w[((i * co + o) * kh + y) * kw + x] = src[((y * kw + x) * co + o) * ci + i];
    const weight = f32(`${name}/weight`, [ci, co, kh, kw], w);
    const attrs: Record<string, AttrValue> = {
      kernel_shape: [kh, kw],
      strides: ints(a.strides).slice(1, 3),
      dilations: a.dilations ? ints(a.dilations).slice(1, 3) : [1, 1],
      output_shape: sizes.slice(1, 3),
    };
    const padding = decode(a.padding?.s);
    if (padding === 'SAME') attrs.auto_pad = 'SAME_UPPER';
    else if (padding !== 'VALID') throw new Error(`${name}: padding ${padding}`);
    const out = emit('ConvTranspose', [nchw(value(ins[2])), weight], attrs, `${name}/conv`);
    emit('Transpose', [out], { perm: [0, 2, 3, 1] }, name);
  }

  function scaleAndTranslate(name: string, ins: string[]) {
    // The custom op as @upscalerjs/maxim-* registers it (registerOps.js): tf.image.resizeNearestNeighbor(x, size),
    // no align-corners, no half-pixel centres: source row floor((in / out) * r), at most in - 1, computed in
    // doubles as TF.js does. ONNX Resize divides by a float32 scale instead and picks other pixels where
    // (in / out) * r is an integer, so the same sums are made here in DOUBLE and the rows and columns gathered.
    const [h, w] = constInts(ins[1]);
    const shape = emit('Shape', [value(ins[0])]);
    let x = value(ins[0]);
    [h, w].forEach((out, k) => {
      const axis = k + 1;
      const size = emit('Slice', [shape, i64([axis], `${name}/from`), i64([axis + 1], `${name}/to`)]);
      const ratio = emit('Div', [emit('Cast', [size], { to: DataType.DOUBLE }), f64(`${name}/out${axis}`, [out])]);
      const rows = emit('Floor', [emit('Mul', [f64(`${name}/range${axis}`, Array.from({ length: out }, (_, i) => i)), ratio])]);
      const index = emit('Min', [emit('Cast', [rows], { to: DataType.INT64 }), emit('Sub', [size, i64([1], `${name}/one`)])]);
      x = emit('Gather', [x, index], { axis }, k === 1 ? name : undefined);
    });
  }

  emit('Transpose', [outputs[0]], { perm: [0, 3, 1, 2] }, 'output');
  const modelProto = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'loupe-models',
    producerVersion: '1',
    docString: options.docString ?? '',
    graph: {
      name: path.basename(path.dirname(path.dirname(modelJsonPath))),
      node: onnxNodes,
      initializer: initializers,
      input: [valueInfo('input', [1, 3, height, width])],
      output: [valueInfo('output', [1, 3, height, width])],
    },
  });
  return onnx.ModelProto.encode(modelProto).finish();
}

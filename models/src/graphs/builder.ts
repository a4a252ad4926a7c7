/**
 * A small helper for writing ONNX graphs by hand with onnx-proto: named values, constants and nodes,
 * then one deterministic ModelProto. Used by the colour and denoise graphs (the ESRGAN converter has
 * its own, older code).
 */
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

const { onnx } = onnxProto;
const { DataType } = onnx.TensorProto;
const { AttributeType } = onnx.AttributeProto;

export const OPSET = 17;
export const IR_VERSION = 8;

type Attr = OnnxTypes.IAttributeProto;
export type AttrValue = number | number[] | string | { float: number };

function attr(name: string, v: AttrValue): Attr {
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: v };
  if (typeof v === 'object') return { name, type: AttributeType.FLOAT, f: v.float };
  return { name, type: AttributeType.INT, i: v };
}

function le(data: Float32Array | BigInt64Array): Uint8Array {
  const raw = new Uint8Array(data.byteLength);
  const view = new DataView(raw.buffer);
  if (data instanceof Float32Array) data.forEach((v, i) => view.setFloat32(i * 4, v, true));
  else data.forEach((v, i) => view.setBigInt64(i * 8, v, true));
  return raw;
}

export type Dim = number | string;

export class GraphBuilder {
  private nodes: OnnxTypes.INodeProto[] = [];
  private inits: OnnxTypes.ITensorProto[] = [];
  private inputs: OnnxTypes.IValueInfoProto[] = [];
  private outputs: OnnxTypes.IValueInfoProto[] = [];
  private n = 0;

  constructor(private readonly name: string) {}

  private fresh(hint: string) {
    return `${hint}_${this.n++}`;
  }

  input(name: string, dims: Dim[], elemType: number = DataType.FLOAT): string {
    this.inputs.push(valueInfo(name, dims, elemType));
    return name;
  }

  output(value: string, name: string, dims: Dim[]): void {
    this.op('Identity', [value], {}, name);
    this.outputs.push(valueInfo(name, dims, DataType.FLOAT));
  }

  /** A float32 constant (initializer). */
  f32(values: number[] | Float32Array, dims: number[] = [values.length], hint = 'c'): string {
    const name = this.fresh(hint);
    this.inits.push({ name, dims, dataType: DataType.FLOAT, rawData: le(Float32Array.from(values)) });
    return name;
  }

  /** A scalar float32 constant. */
  scalar(v: number): string {
    return this.f32([v], [], 's');
  }

  /** An int64 constant. */
  i64(values: number[], dims: number[] = [values.length]): string {
    const name = this.fresh('i');
    this.inits.push({ name, dims, dataType: DataType.INT64, rawData: le(BigInt64Array.from(values.map(BigInt))) });
    return name;
  }

  /** Adds a node; returns its (first) output's name. */
  op(opType: string, input: string[], attrs: Record<string, AttrValue> = {}, out?: string): string {
    const output = out ?? this.fresh(opType.toLowerCase());
    this.nodes.push({ opType, name: output, input, output: [output], attribute: Object.entries(attrs).map(([k, v]) => attr(k, v)) });
    return output;
  }

  /** Adds a node with several outputs. */
  opN(opType: string, input: string[], outputs: number, attrs: Record<string, AttrValue> = {}): string[] {
    const names = Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase()));
    this.nodes.push({ opType, name: names[0], input, output: names, attribute: Object.entries(attrs).map(([k, v]) => attr(k, v)) });
    return names;
  }

  add = (a: string, b: string) => this.op('Add', [a, b]);
  sub = (a: string, b: string) => this.op('Sub', [a, b]);
  mul = (a: string, b: string) => this.op('Mul', [a, b]);
  div = (a: string, b: string) => this.op('Div', [a, b]);
  clip = (a: string, lo: number, hi: number) => this.op('Clip', [a, this.scalar(lo), this.scalar(hi)]);

  encode(docString = ''): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: 'loupe-models',
      producerVersion: '1',
      docString,
      graph: { name: this.name, node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(name: string, dims: Dim[], elemType: number): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

export const ElemType = { FLOAT: DataType.FLOAT, INT64: DataType.INT64 };

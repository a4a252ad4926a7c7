/**
 * The colour graph behind exposure / white balance / relight and match grade. Pointwise, so tiles
 * give exactly the whole-frame result:
 *
 *   x    = pre_lut[c][round(image)]                     per-channel 256-entry curve on the 8-bit input
 *   y    = matrix · x + offset                          3x3 colour matrix (white balance, exposure, grade)
 *   y   *= 2^(ramp0 + ramp1·X + ramp2·Y)                exposure gain and a gradient relight; X, Y are the
 *                                                       pixel's column and row in the job's region (origin + i)
 *   out  = 255 · post_lut[c](clip(y, 0, 1))             per-channel curve, 1024 entries, linear interpolation
 *
 * Every coefficient is a graph input, computed per job by the server (grey-world, sliders, or the
 * statistics of a reference frame), so one ONNX file serves every colour fix.
 */
import { GraphBuilder, ElemType } from './builder.js';

export const PRE_LUT_SIZE = 256;
export const POST_LUT_SIZE = 1024;

export function buildColourGraph(): Uint8Array {
  const g = new GraphBuilder('loupe-colour');
  const image = g.input('image', ['batch', 3, 'height', 'width']);
  const preLut = g.input('pre_lut', [3, PRE_LUT_SIZE]);
  const matrix = g.input('matrix', [3, 3]);
  const offset = g.input('offset', [3]);
  const ramp = g.input('ramp', [3]);
  const origin = g.input('origin', [2]);
  const postLut = g.input('post_lut', [3, POST_LUT_SIZE]);

  // Pre curve: exact table look-up on the 8-bit code value.
  const code = g.op('Cast', [g.op('Round', [g.clip(image, 0, 255)])], { to: ElemType.INT64 });
  const preIdx = g.add(code, g.i64([0, PRE_LUT_SIZE, 2 * PRE_LUT_SIZE], [1, 3, 1, 1]));
  const x = g.op('Gather', [g.op('Reshape', [preLut, g.i64([3 * PRE_LUT_SIZE])]), preIdx], { axis: 0 });

  // Colour matrix + offset as a 1x1 convolution whose weights are graph inputs.
  const weight = g.op('Reshape', [matrix, g.i64([3, 3, 1, 1])]);
  const y0 = g.op('Conv', [x, weight, offset], { kernel_shape: [1, 1] });

  // Gain plane 2^(r0 + r1·X + r2·Y), X and Y absolute in the region.
  const shape = g.op('Shape', [image]);
  const h = g.op('Gather', [shape, g.i64([2], [])], { axis: 0 });
  const w = g.op('Gather', [shape, g.i64([3], [])], { axis: 0 });
  const zero = g.i64([0], []);
  const one = g.i64([1], []);
  const cols = g.op('Cast', [g.op('Range', [zero, w, one])], { to: ElemType.FLOAT });
  const rows = g.op('Cast', [g.op('Range', [zero, h, one])], { to: ElemType.FLOAT });
  const [ox, oy] = g.opN('Split', [origin, g.i64([1, 1])], 2, { axis: 0 });
  const [r0, r1, r2] = g.opN('Split', [ramp, g.i64([1, 1, 1])], 3, { axis: 0 });
  const X = g.op('Reshape', [g.add(cols, ox), g.i64([1, 1, 1, -1])]);
  const Y = g.op('Reshape', [g.add(rows, oy), g.i64([1, 1, -1, 1])]);
  const logGain = g.add(g.add(g.mul(X, r1), g.mul(Y, r2)), r0);
  const gain = g.op('Pow', [g.scalar(2), logGain]);
  const y = g.clip(g.mul(y0, gain), 0, 1);

  // Post curve: piecewise-linear table on 0..1.
  const t = g.mul(y, g.scalar(POST_LUT_SIZE - 1));
  const i0f = g.clip(g.op('Floor', [t]), 0, POST_LUT_SIZE - 2);
  const frac = g.sub(t, i0f);
  const base = g.add(g.op('Cast', [i0f], { to: ElemType.INT64 }), g.i64([0, POST_LUT_SIZE, 2 * POST_LUT_SIZE], [1, 3, 1, 1]));
  const flat = g.op('Reshape', [postLut, g.i64([3 * POST_LUT_SIZE])]);
  const a = g.op('Gather', [flat, base], { axis: 0 });
  const b = g.op('Gather', [flat, g.add(base, g.i64([1], []))], { axis: 0 });
  const v = g.add(a, g.mul(g.sub(b, a), frac));
  g.output(g.clip(g.mul(v, g.scalar(255)), 0, 255), 'output', ['batch', 3, 'height', 'width']);
  return g.encode('Loupe colour graph: pre curve, 3x3 matrix + offset, gain ramp, post curve. Built by models/src/graphs/colour.ts.');
}

/** Identity coefficients: the graph then returns its input (to within float rounding). */
export function identityColourInputs() {
  const pre = new Float32Array(3 * PRE_LUT_SIZE);
  const post = new Float32Array(3 * POST_LUT_SIZE);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < PRE_LUT_SIZE; i++) pre[c * PRE_LUT_SIZE + i] = i / 255;
    for (let i = 0; i < POST_LUT_SIZE; i++) post[c * POST_LUT_SIZE + i] = i / (POST_LUT_SIZE - 1);
  }
  return {
    pre_lut: pre,
    matrix: Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]),
    offset: new Float32Array(3),
    ramp: new Float32Array(3),
    origin: new Float32Array(2),
    post_lut: post,
  };
}

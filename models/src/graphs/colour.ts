/**
 * The colour graph behind exposure / white balance / relight and match grade. Pointwise, so tiles
 * give exactly the whole-frame result:
 *
 *   x    = pre_lut[c](image)                            per-channel 256-entry curve on the 0..255 input,
 *                                                       linearly interpolated: 8-bit code values hit the
 *                                                       entries exactly, 16-bit sources (fractional values)
 *                                                       fall between them
 *   y    = matrix · x + offset                          3x3 colour matrix (white balance, exposure, grade)
 *   y   *= 2^(ramp0 + ramp1·X) · 2^(ramp2·Y)            exposure gain and a gradient relight; X, Y are the
 *                                                       pixel's column and row in the job's region: the
 *                                                       tile's origin (one [x, y] per batch item) + i
 *   out  = 255 · post_lut[c](clip(y, 0, 1))             per-channel curve, 4096 entries, linear interpolation
 *
 * Every coefficient is a graph input, computed per job by the server (grey-world, sliders, or the
 * statistics of a reference frame), so one ONNX file serves every colour fix. `origin` is [N, 2], so
 * tiles of equal size run together in one batch.
 */
import { GraphBuilder, ElemType } from './builder.js';

export const PRE_LUT_SIZE = 256;
export const POST_LUT_SIZE = 4096;

export function buildColourGraph(): Uint8Array {
  const g = new GraphBuilder('loupe-colour');
  const image = g.input('image', ['batch', 3, 'height', 'width']);
  const preLut = g.input('pre_lut', [3, PRE_LUT_SIZE]);
  const matrix = g.input('matrix', [3, 3]);
  const offset = g.input('offset', [3]);
  const ramp = g.input('ramp', [3]);
  const origin = g.input('origin', ['batch', 2]);
  const postLut = g.input('post_lut', [3, POST_LUT_SIZE]);

  // A per-channel table on 0..1 scaled by `size - 1`, read with linear interpolation.
  const lookup = (table: string, size: number, t: string) => {
    const i0f = g.clip(g.op('Floor', [t]), 0, size - 2);
    const frac = g.sub(t, i0f);
    const base = g.add(g.op('Cast', [i0f], { to: ElemType.INT64 }), g.i64([0, size, 2 * size], [1, 3, 1, 1]));
    const flat = g.op('Reshape', [table, g.i64([3 * size])]);
    const a = g.op('Gather', [flat, base], { axis: 0 });
    const b = g.op('Gather', [flat, g.add(base, g.i64([1], []))], { axis: 0 });
    return g.add(a, g.mul(g.sub(b, a), frac));
  };

  // Pre curve on the code value (exact table entries for 8-bit codes).
  const x = lookup(preLut, PRE_LUT_SIZE, g.clip(image, 0, 255));

  // Colour matrix + offset as a 1x1 convolution whose weights are graph inputs.
  const weight = g.op('Reshape', [matrix, g.i64([3, 3, 1, 1])]);
  const y0 = g.op('Conv', [x, weight, offset], { kernel_shape: [1, 1] });

  // Gain 2^(r0 + r1·X) · 2^(r2·Y), X and Y absolute in the region: a row and a column per batch item.
  const shape = g.op('Shape', [image]);
  const h = g.op('Gather', [shape, g.i64([2], [])], { axis: 0 });
  const w = g.op('Gather', [shape, g.i64([3], [])], { axis: 0 });
  const zero = g.i64([0], []);
  const one = g.i64([1], []);
  const cols = g.op('Reshape', [g.op('Cast', [g.op('Range', [zero, w, one])], { to: ElemType.FLOAT }), g.i64([1, 1, 1, -1])]);
  const rows = g.op('Reshape', [g.op('Cast', [g.op('Range', [zero, h, one])], { to: ElemType.FLOAT }), g.i64([1, 1, -1, 1])]);
  const [ox, oy] = g.opN('Split', [origin, g.i64([1, 1])], 2, { axis: 1 });
  const [r0, r1, r2] = g.opN('Split', [ramp, g.i64([1, 1, 1])], 3, { axis: 0 });
  const X = g.add(cols, g.op('Reshape', [ox, g.i64([-1, 1, 1, 1])]));
  const Y = g.add(rows, g.op('Reshape', [oy, g.i64([-1, 1, 1, 1])]));
  const two = g.scalar(2);
  const gainX = g.op('Pow', [two, g.add(g.mul(X, r1), r0)]);
  const gainY = g.op('Pow', [two, g.mul(Y, r2)]);
  const y = g.clip(g.mul(y0, g.mul(gainY, gainX)), 0, 1);

  // Post curve: piecewise-linear table on 0..1.
  const v = lookup(postLut, POST_LUT_SIZE, g.mul(y, g.scalar(POST_LUT_SIZE - 1)));
  g.output(g.clip(g.mul(v, g.scalar(255)), 0, 255), 'output', ['batch', 3, 'height', 'width']);
  return g.encode('Loupe colour graph: pre curve, 3x3 matrix + offset, gain ramp, post curve. Built by models/src/graphs/colour.ts.');
}

/** Identity coefficients for `batch` items at origin (0, 0): the graph then returns its input (to within float rounding). */
export function identityColourInputs(batch = 1) {
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
    origin: new Float32Array(2 * batch),
    post_lut: post,
  };
}

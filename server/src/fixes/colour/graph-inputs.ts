/**
 * The inputs of the colour graph (models/src/graphs/colour.ts) that every colour fix fills:
 * pre curve, 3x3 matrix + offset, gain ramp, post curve.
 */
export const PRE = 256;
export const POST = 4096;

export interface ColourInputs {
  pre_lut: Float32Array;
  matrix: Float32Array;
  offset: Float32Array;
  ramp: Float32Array;
  post_lut: Float32Array;
}

/** A per-channel table of `size` entries: entry i holds f(i / over), the same for the three channels. */
export function table(size: number, f: (v: number) => number, over: number): Float32Array {
  const t = new Float32Array(3 * size);
  for (let c = 0; c < 3; c++) for (let i = 0; i < size; i++) t[c * size + i] = f(i / over);
  return t;
}
export const identityPre = () => table(PRE, (v) => v, 255);
export const identityPost = () => table(POST, (v) => v, POST - 1);

/**
 * The denoise graph: an edge-preserving guided filter (He et al., self-guided) in an orthonormal
 * opponent colour space. Gaussian noise stays Gaussian with the same sigma in an orthonormal basis,
 * while natural pictures carry little fine detail in the two chroma channels, so chroma is smoothed
 * over a wider window than luma. Box means are separable AveragePools that count only the pixels
 * inside the picture, so a tile computed with `context` >= 2 * max radius equals the whole-frame result.
 *
 * Inputs: image [N,3,H,W] 0..255 and sigma [1], the noise's standard deviation on the 8-bit scale
 * (estimated by the server, times the user's strength). eps = (alpha * sigma / 255)^2 per channel group.
 */
import { GraphBuilder } from './builder.js';

export interface DenoiseSettings {
  lumaRadius: number;
  chromaRadius: number;
  lumaAlpha: number;
  chromaAlpha: number;
  /** Passes of the guided filter (each one a fresh estimate of a, b from the last output). */
  passes: number;
}

export const DENOISE_DEFAULTS: DenoiseSettings = { lumaRadius: 3, chromaRadius: 4, lumaAlpha: 1.3, chromaAlpha: 1.2, passes: 2 };

/** Pixels of context a tile needs for an exact result. */
export const denoiseContext = (s: DenoiseSettings = DENOISE_DEFAULTS) => 2 * Math.max(s.lumaRadius, s.chromaRadius) * s.passes;

const S3 = 1 / Math.sqrt(3);
const S2 = 1 / Math.sqrt(2);
const S6 = 1 / Math.sqrt(6);
/** Rows: Y, C1, C2. Orthonormal, so its inverse is its transpose. */
const OPPONENT = [S3, S3, S3, S2, 0, -S2, S6, -2 * S6, S6];

export function buildDenoiseGraph(s: DenoiseSettings = DENOISE_DEFAULTS): Uint8Array {
  const g = new GraphBuilder('loupe-denoise');
  const image = g.input('image', ['batch', 3, 'height', 'width']);
  const sigma = g.input('sigma', [1]);
  const x = g.op('Conv', [g.mul(image, g.scalar(1 / 255)), g.f32(OPPONENT, [3, 3, 1, 1])], { kernel_shape: [1, 1] });

  const box = (t: string, r: number) => {
    const k = 2 * r + 1;
    const h = g.op('AveragePool', [t], { kernel_shape: [1, k], pads: [0, r, 0, r], count_include_pad: 0 });
    return g.op('AveragePool', [h], { kernel_shape: [k, 1], pads: [r, 0, r, 0], count_include_pad: 0 });
  };
  const guided = (t: string, r: number, alpha: number) => {
    const e = g.mul(sigma, g.scalar(alpha / 255));
    const eps = g.add(g.mul(e, e), g.scalar(1e-10));
    let out = t;
    for (let p = 0; p < s.passes; p++) {
      const mean = box(out, r);
      const meanSq = box(g.mul(out, out), r);
      const variance = g.op('Relu', [g.sub(meanSq, g.mul(mean, mean))]);
      const a = g.div(variance, g.add(variance, eps));
      const b = g.sub(mean, g.mul(a, mean));
      out = g.add(g.mul(box(a, r), out), box(b, r));
    }
    return out;
  };
  const [luma, chroma] = g.opN('Split', [x, g.i64([1, 2])], 2, { axis: 1 });
  const y = g.op('Concat', [guided(luma, s.lumaRadius, s.lumaAlpha), guided(chroma, s.chromaRadius, s.chromaAlpha)], { axis: 1 });
  const inverse = [0, 1, 2].flatMap((r) => [0, 1, 2].map((c) => OPPONENT[c * 3 + r]));
  const rgb = g.op('Conv', [y, g.f32(inverse, [3, 3, 1, 1])], { kernel_shape: [1, 1] });
  g.output(g.clip(g.mul(rgb, g.scalar(255)), 0, 255), 'output', ['batch', 3, 'height', 'width']);
  return g.encode(`Loupe denoise graph: self-guided filter in opponent colour space ${JSON.stringify(s)}. Built by models/src/graphs/denoise.ts.`);
}

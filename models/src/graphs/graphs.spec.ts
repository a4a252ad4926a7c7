import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { ensureModel, listManifests } from '../catalogue.js';
import { checkManifest } from '../check.js';
import { buildColourGraph, identityColourInputs } from './colour.js';

describe('built-in graphs and manifests', () => {
  it('every built-in model matches its manifest (names, ranks, channels, batch, size)', async () => {
    for (const m of await listManifests()) {
      const model = await ensureModel(m.id);
      const s = await ort.InferenceSession.create(model.path);
      expect({ id: m.id, problems: checkManifest(m, s.inputMetadata, s.outputMetadata) }).toEqual({ id: m.id, problems: [] });
    }
  });

  it('refuses a manifest that does not match, saying why', async () => {
    const m = (await listManifests()).find((x) => x.id === 'loupe-colour')!;
    const s = await ort.InferenceSession.create(buildColourGraph());
    const wrong = { ...m, input: { ...m.input, name: 'rgb', size: [512, 512] as [number, number] }, extraInputs: m.extraInputs.slice(1) };
    const problems = checkManifest(wrong, s.inputMetadata, s.outputMetadata);
    expect(problems).toContain('input "rgb" is missing (the model has "image", "pre_lut", "matrix", "offset", "ramp", "origin", "post_lut")');
    expect(problems).toContain('input "pre_lut" is not described in the manifest');
  });

  it('the colour graph with identity coefficients returns its input', async () => {
    const s = await ort.InferenceSession.create(buildColourGraph());
    const pixels = Float32Array.from({ length: 2 * 3 * 5 * 7 }, (_, i) => (i * 37) % 256);
    const feeds: Record<string, ort.Tensor> = { image: new ort.Tensor('float32', pixels, [2, 3, 5, 7]) };
    const id = identityColourInputs();
    const dims: Record<string, number[]> = { pre_lut: [3, 256], matrix: [3, 3], offset: [3], ramp: [3], origin: [2], post_lut: [3, 1024] };
    for (const [k, v] of Object.entries(id)) feeds[k] = new ort.Tensor('float32', v, dims[k]);
    const { output } = await s.run(feeds);
    const out = output.data as Float32Array;
    expect(Math.max(...out.map((v, i) => Math.abs(v - pixels[i])))).toBeLessThan(0.01);
  });
});

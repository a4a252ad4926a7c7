/**
 * Does an ONNX file really have the inputs and outputs its manifest promises? Compared against the
 * metadata ONNX Runtime reports for the loaded session, so a wrong manifest (a studio's LaMa export
 * with another input name, a fixed 512x512 model declared dynamic ...) is refused at start with a
 * clear message instead of failing in the middle of a job.
 */
import type { ModelManifest } from './catalogue.js';

/** What onnxruntime-node's `session.inputMetadata` / `outputMetadata` entries carry. */
export interface TensorMeta {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: readonly (number | string)[];
}

const symbolic = (d: number | string | undefined) => typeof d === 'string' || d === undefined || d < 0;

/** Problems found, one readable sentence each; empty when the model matches its manifest. */
export function checkManifest(m: ModelManifest, inputs: readonly TensorMeta[], outputs: readonly TensorMeta[]): string[] {
  const problems: string[] = [];
  const byName = new Map(inputs.map((i) => [i.name, i]));
  const expected = [m.input.name, ...(m.mask ? [m.mask.name] : []), ...m.extraInputs.map((e) => e.name), ...(m.tileOrigin ? [m.tileOrigin] : [])];
  for (const name of expected) if (!byName.has(name)) problems.push(`input "${name}" is missing (the model has ${inputs.map((i) => `"${i.name}"`).join(', ') || 'none'})`);
  for (const i of inputs) if (!expected.includes(i.name)) problems.push(`input "${i.name}" is not described in the manifest`);

  const tensor4 = (meta: TensorMeta | undefined, what: string, channels: number, size: ModelManifest['input']['size'], batch: ModelManifest['input']['batch']) => {
    if (!meta) return;
    if (!meta.isTensor || (meta.type && meta.type !== 'float32')) return problems.push(`${what} "${meta.name}" must be a float32 tensor (it is ${meta.type ?? 'not a tensor'})`);
    const shape = meta.shape ?? [];
    if (shape.length !== 4) return problems.push(`${what} "${meta.name}" must be NCHW (rank 4; it has rank ${shape.length})`);
    const [n, c, h, w] = shape;
    if (!symbolic(c) && c !== channels) problems.push(`${what} "${meta.name}" has ${c} channels; the manifest says ${channels}`);
    if (batch === 'dynamic' && !symbolic(n)) problems.push(`${what} "${meta.name}" has a fixed batch of ${n}; the manifest says dynamic`);
    if (batch === 1 && !symbolic(n) && n !== 1) problems.push(`${what} "${meta.name}" has batch ${n}; the manifest says 1`);
    if (size === 'dynamic') {
      if (!symbolic(h) || !symbolic(w)) problems.push(`${what} "${meta.name}" has a fixed size ${w}x${h}; the manifest says dynamic`);
    } else {
      const [sh, sw] = size;
      if (!symbolic(h) && h !== sh) problems.push(`${what} "${meta.name}" is ${h} pixels high; the manifest says ${sh}`);
      if (!symbolic(w) && w !== sw) problems.push(`${what} "${meta.name}" is ${w} pixels wide; the manifest says ${sw}`);
    }
  };
  tensor4(byName.get(m.input.name), 'input', m.input.channels, m.input.size, m.input.batch);
  if (m.mask) tensor4(byName.get(m.mask.name), 'mask input', 1, m.input.size, m.input.batch);
  for (const e of m.extraInputs) {
    const meta = byName.get(e.name);
    if (!meta) continue;
    const shape = meta.shape ?? [];
    if (shape.length !== e.dims.length || shape.some((d, k) => !symbolic(d) && d !== e.dims[k])) {
      problems.push(`input "${e.name}" has shape [${shape.join(', ')}]; the manifest says [${e.dims.join(', ')}]`);
    }
  }
  const origin = m.tileOrigin ? byName.get(m.tileOrigin) : undefined;
  if (origin) {
    const shape = origin.shape ?? [];
    if (!origin.isTensor || (origin.type && origin.type !== 'float32')) problems.push(`tile origin input "${origin.name}" must be a float32 tensor`);
    else if (shape.length !== 2 || (!symbolic(shape[1]) && shape[1] !== 2)) problems.push(`tile origin input "${origin.name}" must have shape [N, 2] (it has [${shape.join(', ')}])`);
    else if (m.input.batch === 'dynamic' && !symbolic(shape[0])) problems.push(`tile origin input "${origin.name}" has a fixed batch of ${shape[0]}; the picture input's batch is dynamic`);
  }
  const out = outputs.find((o) => o.name === m.output.name);
  if (!out) problems.push(`output "${m.output.name}" is missing (the model has ${outputs.map((o) => `"${o.name}"`).join(', ') || 'none'})`);
  else {
    const shape = out.shape ?? [];
    if (!out.isTensor || (out.type && out.type !== 'float32')) problems.push(`output "${out.name}" must be a float32 tensor`);
    else if (shape.length !== 4) problems.push(`output "${out.name}" must be NCHW (rank 4; it has rank ${shape.length})`);
    else {
      const [, c, h, w] = shape;
      if (!symbolic(c) && c !== 3) problems.push(`output "${out.name}" has ${c} channels; Loupe expects 3`);
      if (m.input.size !== 'dynamic') {
        const [sh, sw] = m.input.size;
        if (!symbolic(h) && h !== sh * m.scale) problems.push(`output "${out.name}" is ${h} pixels high; with scale ${m.scale} the manifest implies ${sh * m.scale}`);
        if (!symbolic(w) && w !== sw * m.scale) problems.push(`output "${out.name}" is ${w} pixels wide; with scale ${m.scale} the manifest implies ${sw * m.scale}`);
      }
    }
  }
  if (m.task === 'inpaint' && !m.mask) problems.push('an inpaint model needs a "mask" input in its manifest');
  if (m.task !== 'inpaint' && m.mask) problems.push(`a ${m.task} model cannot take a mask`);
  return problems;
}

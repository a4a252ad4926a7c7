import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MODELS_DIR, ensureModel, listManifests, modelFile } from './catalogue.js';

describe('model catalogue', () => {
  it('lists every manifest, each with its licence file', async () => {
    expect(path.basename(MODELS_DIR)).toBe('models');
    const manifests = await listManifests();
    expect(manifests.map((m) => m.id)).toContain('esrgan-slim-x2');
    for (const m of manifests) {
      expect(existsSync(path.join(MODELS_DIR, m.id, m.licenceFile))).toBe(true);
      expect(modelFile(m)).toBe(path.join(MODELS_DIR, m.id, m.file));
    }
  });

  it('every built-in model says whether it is learned or an algorithm, and how it works (the room labels them differently)', async () => {
    const byId = Object.fromEntries((await listManifests()).map((m) => [m.id, m]));
    for (const m of Object.values(byId)) {
      expect(['learned', 'algorithm'], m.id).toContain(m.kind);
      expect(m.technique, m.id).toBeTruthy();
    }
    expect(byId['esrgan-slim-x2']).toMatchObject({ kind: 'learned', technique: 'ESRGAN (RDN) network' });
    expect(byId['loupe-denoise']).toMatchObject({ kind: 'algorithm', technique: 'guided filter' });
    expect(byId['loupe-colour']).toMatchObject({ kind: 'algorithm' });
  });

  it('refuses an unknown model id', async () => {
    await expect(ensureModel('no-such-model')).rejects.toThrow(/unknown model/);
  });

  it('builds the ONNX file once and then reuses it', async () => {
    const first = await ensureModel('esrgan-slim-x2');
    const mtime = statSync(first.path).mtimeMs;
    const lines: string[] = [];
    const second = await ensureModel('esrgan-slim-x2', { log: (l) => lines.push(l) });
    expect(second.path).toBe(first.path);
    expect(second.sha256).toBe(first.sha256);
    expect(statSync(second.path).mtimeMs).toBe(mtime); // not rewritten
    expect(lines).toEqual([expect.stringMatching(/^model esrgan-slim-x2: up to date \(0\.\d MB, sha256 [0-9a-f]{12}…\)$/)]);
    const onDisk = readFileSync(second.path);
    expect(second.bytes).toBe(onDisk.length);
    expect(createHash('sha256').update(onDisk).digest('hex')).toBe(second.sha256);
  });
});

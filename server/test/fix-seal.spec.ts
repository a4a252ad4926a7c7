/**
 * A sealed result (TileRun.result.sealed), through the real worker process: once the picture is
 * encoded the worker asks for the text the file carries, writes the file with it once, and says the
 * sha256 of what it wrote; the server stores it without reading it back. A seal that fails fails the
 * run, leaves no file, and the next run works.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { identityColourInputs } from '@loupe/models';
import { createLogger } from '../src/log.js';
import { InferenceService } from '../src/inference/inference.service.js';
import { readPngText } from '../src/fixes/png-text.js';
import { model, svgScene, tileRun } from './fix-scenes.js';
import { autoCleanup, tmpDataDir } from './helpers.js';

const cleanup = autoCleanup();

describe('a sealed result file', () => {
  it('carries the text asked for once the picture is encoded, right after IHDR, and is what its sha256 says; a failed seal leaves nothing', async () => {
    const inference = new InferenceService(['cpu'], createLogger('silent'));
    cleanup.push(() => inference.close());
    const dir = tmpDataDir();
    const img = await svgScene(3, 640, 400);
    const colour = await model('loupe-colour');
    const { origin: _o, ...inputs } = identityColourInputs();
    const run = (file: string) => tileRun(colour, img, inputs, { result: { path: file, sealed: true } });

    // The seal is asked for after every tile has left the worker, with the provider and depth.
    const file = path.join(dir, 'sealed.png');
    let tiles = 0;
    let tilesAtSeal = -1;
    let sealInfo: { provider: string; depth: number } | null = null;
    const result = await inference.run('seal-1', run(file), {
      onStart() {},
      onTile: () => void tiles++,
      seal: async (info) => {
        tilesAtSeal = tiles;
        sealInfo = info;
        return { keyword: 'loupe:test', text: JSON.stringify({ hello: 'wörld', tiles }) };
      },
    });
    expect(sealInfo).toEqual({ provider: 'cpu', depth: 8 });
    expect(tilesAtSeal).toBe(tiles);
    expect(result.resultPath).toBe(file);
    const png = fs.readFileSync(file);
    expect(crypto.createHash('sha256').update(png).digest('hex')).toBe(result.sha256);
    expect(png.toString('latin1', 37, 41)).toBe('iTXt');
    expect(JSON.parse(readPngText(new Uint8Array(png))['loupe:test'])).toEqual({ hello: 'wörld', tiles });
    // The identity colour graph: the picture itself, within float rounding.
    const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    let off = 0;
    for (let i = 0; i < data.length; i++) off = Math.max(off, Math.abs(data[i] - img.data[i]));
    expect(off).toBeLessThanOrEqual(1);

    // A seal that fails: the run fails with its message, the worker is stopped, no file is left.
    const failed = path.join(dir, 'failed.png');
    await expect(
      inference.run('seal-2', run(failed), {
        onStart() {},
        onTile() {},
        seal: async () => {
          throw new Error('the store is gone');
        },
      }),
    ).rejects.toThrow('the store is gone');
    expect(fs.existsSync(failed)).toBe(false);

    // The next run gets a fresh worker and works.
    const next = await inference.run('seal-3', run(path.join(dir, 'next.png')), { onStart() {}, onTile() {}, seal: async () => ({ keyword: 'k', text: 'v' }) });
    expect(crypto.createHash('sha256').update(fs.readFileSync(next.resultPath!)).digest('hex')).toBe(next.sha256);
  }, 60_000);
});

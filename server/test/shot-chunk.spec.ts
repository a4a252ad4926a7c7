/**
 * A chunk of a shot render in the real inference worker process: frames decoded once from a real
 * movie, fixed, written at full quality with a preview and a proxy segment; pixels outside the region
 * are the source's, bit for bit; a frame already stored is not computed again.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureModel } from '@loupe/models';
import { ExposureParamsSchema } from '@loupe/shared';
import { InferenceService, type ChunkFrameWritten } from '../src/inference/inference.service.js';
import { tileRunFor } from '../src/inference/messages.js';
import type { ChunkRun } from '../src/inference/messages.js';
import { planExposure } from '../src/fixes/colour/exposure.js';
import { countFrames } from '../src/media/proxy.js';
import { createLogger } from '../src/log.js';
import { panClip } from './shot-clips.js';
import { ffmpeg } from './media-helpers.js';

const W = 320, H = 180, N = 24;
let dir: string;
let movie: string;
let inference: InferenceService;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-chunk-'));
  // A textured pan with the frame index burned in as a row of blocks (bit b white when set).
  const clip = await panClip({ width: W, height: H, count: N, seed: 3 });
  for (const [i, f] of clip.frames.entries()) {
    for (let bit = 0; bit < 8; bit++)
      for (let y = 0; y < 12; y++)
        for (let x = 0; x < 20; x++) {
          const o = (y * W + bit * 20 + x) * 3;
          const v = (i >> bit) & 1 ? 255 : 0;
          f.data[o] = f.data[o + 1] = f.data[o + 2] = v;
        }
    await sharp(f.data, { raw: { width: W, height: H, channels: 3 } }).png().toFile(path.join(dir, `src_${String(i).padStart(4, '0')}.png`));
  }
  movie = path.join(dir, 'shot.mp4');
  await ffmpeg(['-framerate', '24', '-i', path.join(dir, 'src_%04d.png'), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-g', '6', '-bf', '0', '-y', movie]);
  inference = new InferenceService(['cpu'], createLogger('error'));
}, 120_000);

afterAll(async () => {
  await inference?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Frame n of the movie as FrameService extracts it (the H.264 blob, counted by decoding). */
async function sourceFrame(n: number): Promise<Buffer> {
  const png = await ffmpeg(['-i', movie, '-vf', `select=eq(n\\,${n})`, '-fps_mode', 'passthrough', '-frames:v', '1', '-f', 'image2pipe', '-c:v', 'png', '-']);
  return sharp(png).raw().toBuffer();
}

const readBits = (rgb: Buffer) => {
  let n = 0;
  for (let bit = 0; bit < 8; bit++) if (rgb[(6 * W + bit * 20 + 10) * 3] > 127) n |= 1 << bit;
  return n;
};

async function exposureChunk(outDir: string, frames: ChunkRun['frames'], region: ChunkRun['region']): Promise<ChunkRun> {
  const model = await ensureModel('loupe-colour');
  const plan = planExposure(ExposureParamsSchema.parse({ exposure: 1 }), [{ rgb: new Uint8Array(3 * 16), width: 4, height: 4 }], 4, 4);
  const { kind: _k, rgb: _r, source: _s, width: _w, height: _h, result: _res, ...run } = tileRunFor(model, { width: W, height: H }, { ...plan.inputs });
  return {
    kind: 'chunk',
    feeds: [{ kind: 'video', file: movie, first: frames[0].frame, count: frames.length }],
    width: W,
    height: H,
    depth: 8,
    frames,
    fix: { kind: 'tiles', run },
    region,
    out: { dir: outDir, preview: { width: 160, height: 90 }, segment: { gop: 6, rate: { num: 24, den: 1 } } },
  };
}

describe('a shot render chunk in the inference worker', () => {
  it('fixes each frame in its region only, keeps the rest bit-exact, and writes previews and a segment in order', async () => {
    const out = fs.mkdtempSync(path.join(dir, 'out-'));
    const region = { rect: { x: 160, y: 60, width: 120, height: 100 }, alpha: null };
    const frames = Array.from({ length: 8 }, (_, i) => ({ frame: 6 + i }));
    const seen: ChunkFrameWritten[] = [];
    const r = await inference.chunk('job-a', await exposureChunk(out, frames, region), (f) => seen.push(f));
    expect(seen.map((f) => f.frame)).toEqual(frames.map((f) => f.frame));
    for (const f of seen) {
      const result = await sharp(f.png).raw().toBuffer({ resolveWithObject: true });
      expect(result.info).toMatchObject({ width: W, height: H, channels: 3 });
      const src = await sourceFrame(f.frame);
      expect(readBits(result.data)).toBe(f.frame);
      let outside = 0, inside = 0, brighter = 0;
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const i = (y * W + x) * 3;
          const inRegion = x >= 160 && x < 280 && y >= 60 && y < 160;
          const same = result.data[i] === src[i] && result.data[i + 1] === src[i + 1] && result.data[i + 2] === src[i + 2];
          if (!inRegion && !same) outside++;
          if (inRegion) (inside++, result.data[i + 1] > src[i + 1] && brighter++);
        }
      expect(outside).toBe(0);
      expect(brighter / inside).toBeGreaterThan(0.9);
      const preview = await sharp(f.preview).metadata();
      expect([preview.format, preview.width, preview.height]).toEqual(['jpeg', 160, 90]);
    }
    expect(r.provider).toBe('cpu');
    expect(await countFrames(r.segment)).toBe(8);
  });

  it('a retried chunk computes only the frames not stored yet, and its segment still has them all', async () => {
    const first = fs.mkdtempSync(path.join(dir, 'out-'));
    const frames = Array.from({ length: 6 }, (_, i) => ({ frame: 12 + i }));
    const done: ChunkFrameWritten[] = [];
    await inference.chunk('job-b', await exposureChunk(first, frames, null), (f) => done.push(f));
    const again = fs.mkdtempSync(path.join(dir, 'out-'));
    const retried = frames.map((f, i) => (i < 3 ? { frame: f.frame, reuse: done[i].png } : f));
    const seen: ChunkFrameWritten[] = [];
    const r = await inference.chunk('job-c', await exposureChunk(again, retried, null), (f) => seen.push(f));
    expect(seen.map((f) => f.frame)).toEqual([15, 16, 17]);
    expect(await countFrames(r.segment)).toBe(6);
    // The segment shows frames 12..17 in order, whichever way each came.
    for (let k = 0; k < 6; k++) {
      const png = await ffmpeg(['-i', r.segment, '-vf', `select=eq(n\\,${k}),scale=${W}:${H}`, '-fps_mode', 'passthrough', '-frames:v', '1', '-f', 'image2pipe', '-c:v', 'png', '-']);
      expect(readBits(await sharp(png).raw().toBuffer())).toBe(12 + k);
    }
  });
});

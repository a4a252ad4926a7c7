import fs from 'node:fs';
import path from 'node:path';
import type { BlobRepository } from '../store/blob.repository.js';
import { probe, runFfmpeg, type Probe } from './ffmpeg.js';

export const DEMO = { width: 1920, height: 1080, fps: 24, seconds: 4 } as const;

/**
 * Generates the demo shot: ffmpeg's test source at 1920x1080, 24 fps, with a moving pattern and
 * detail to upscale, encoded as a short-GOP H.264 mp4 so that scrubbing is smooth.
 */
export async function generateDemoShot(
  blobs: BlobRepository,
  tmpDir: string,
  onProgress?: (done: number, total: number) => void,
): Promise<{ sha256: string; probe: Probe }> {
  fs.mkdirSync(tmpDir, { recursive: true });
  const out = path.join(tmpDir, `demo-${process.pid}-${Date.now()}.mp4`);
  const total = DEMO.fps * DEMO.seconds;
  await runFfmpeg(
    [
      '-f', 'lavfi', '-i', `testsrc2=size=${DEMO.width}x${DEMO.height}:rate=${DEMO.fps}:duration=${DEMO.seconds}`,
      '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '16', '-g', '12', '-pix_fmt', 'yuv420p',
      '-color_primaries', 'bt709', '-color_trc', 'bt709', '-colorspace', 'bt709',
      '-movflags', '+faststart', '-y', out,
    ],
    (p) => onProgress?.(p.frame, total),
  );
  const info = await probe(out);
  const sha256 = await blobs.putFile(out);
  return { sha256, probe: info };
}

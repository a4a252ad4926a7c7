import sharp from 'sharp';
import type { Version } from '@loupe/shared';
import { runFfmpeg } from './ffmpeg.js';

export interface Sample {
  frame: number;
  rgb: Uint8Array;
  width: number;
  height: number;
}

/**
 * Small pictures of some frames of a version, from its browser proxy (8-bit, fast): what a shot's
 * colour transform is estimated on. When every frame asked for is a keyframe of the proxy (a multiple
 * of its GOP), only keyframes are decoded.
 */
export async function proxySamples(file: string, version: Version, frames: number[], width = 256, fileGop?: number): Promise<Sample[]> {
  if (version.media.type !== 'video' || frames.length === 0) return [];
  const { width: w, height: h } = version.media.proxy ?? version.media;
  const height = Math.max(2, 2 * Math.round((width * h) / w / 2));
  const sorted = [...new Set(frames)].sort((a, b) => a - b);
  // `file` may be a rung of the proxy ladder (same frames, its own keyframe interval).
  const gop = fileGop ?? version.media.proxy?.gop;
  const keysOnly = !!gop && sorted.every((f) => f % gop === 0);
  // With only keyframes decoded, ffmpeg's frame counter counts keyframes.
  const select = sorted.map((f) => `eq(n\\,${keysOnly ? f / gop! : f})`).join('+');
  const raw = await runFfmpeg([
    ...(keysOnly ? ['-skip_frame', 'nokey'] : []),
    '-i', file, '-vf', `select='${select}',scale=${width}:${height}`, '-fps_mode', 'passthrough',
    '-frames:v', String(sorted.length), '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1',
  ]);
  const size = width * height * 3;
  const out: Sample[] = [];
  for (let i = 0; i < sorted.length && (i + 1) * size <= raw.length; i++) out.push({ frame: sorted[i], rgb: new Uint8Array(raw.subarray(i * size, (i + 1) * size)), width, height });
  return out;
}

/** The part of a sample inside a region (normalised 0..1), at least 2x2 pixels. */
export function cropSample(s: Sample, r: { x: number; y: number; width: number; height: number }): Sample {
  const x0 = Math.min(s.width - 2, Math.max(0, Math.floor(r.x * s.width)));
  const y0 = Math.min(s.height - 2, Math.max(0, Math.floor(r.y * s.height)));
  const x1 = Math.max(x0 + 2, Math.min(s.width, Math.ceil((r.x + r.width) * s.width)));
  const y1 = Math.max(y0 + 2, Math.min(s.height, Math.ceil((r.y + r.height) * s.height)));
  const w = x1 - x0, h = y1 - y0;
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) rgb.set(s.rgb.subarray(((y0 + y) * s.width + x0) * 3, ((y0 + y) * s.width + x1) * 3), y * w * 3);
  return { frame: s.frame, rgb, width: w, height: h };
}

/** Several samples as one picture's worth of pixels (stacked), for estimators that pool statistics. */
export function pooled(samples: Sample[]): Uint8Array {
  const out = new Uint8Array(samples.reduce((n, s) => n + s.rgb.length, 0));
  let o = 0;
  for (const s of samples) out.set(s.rgb, o), (o += s.rgb.length);
  return out;
}

/**
 * Samples from the version's filmstrip (the timeline's sprite of keyframes, made at upload): no
 * decoding at all, which matters for the first frame of a render. Up to `count` tiles of frames within
 * [first, last], spread evenly; empty when the version has no filmstrip or too few tiles in the range.
 */
export async function filmstripSamples(path: string, version: Version, first: number, last: number, count: number): Promise<Sample[]> {
  const strip = version.media.type === 'video' ? version.media.filmstrip : undefined;
  if (!strip) return [];
  const inRange = strip.frames.map((f, i) => ({ f, i })).filter(({ f }) => f >= first && f <= last);
  if (inRange.length < Math.min(count, 3)) return [];
  const picks = inRange.length <= count ? inRange : Array.from({ length: count }, (_, k) => inRange[Math.round((k * (inRange.length - 1)) / (count - 1))]);
  const { data, info } = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const { tileWidth: w, tileHeight: h } = strip;
  return picks.map(({ f, i }) => {
    const x0 = (i % strip.columns) * w;
    const y0 = Math.floor(i / strip.columns) * h;
    const rgb = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) rgb.set(data.subarray(((y0 + y) * info.width + x0) * 3, ((y0 + y) * info.width + x0 + w) * 3), y * w * 3);
    return { frame: f, rgb, width: w, height: h };
  });
}

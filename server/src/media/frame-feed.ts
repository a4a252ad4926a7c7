/**
 * Reading many consecutive frames of a version at full quality, decoded once: what a shot render's
 * chunk reads. A feed is one way in (a movie decoded by one ffmpeg from the right keyframe, or one
 * file per frame); a version's frames first..last may need several (a render's own frames, then its
 * parent's). The pixels are the same as FrameService.frame gives for each frame, bit for bit: the same
 * conversions, only without the PNG in between.
 */
import sharp from 'sharp';
import type { FileFormat, FrameFeed } from './feeds.js';
import type { Pixels } from '../inference/tiling.js';
import { readPixels } from '../inference/png.js';
import { spawnFfmpeg } from './ffmpeg.js';
import { exrFramePng, ffmpegFramePng, movieDecodeArgs } from './frame.service.js';

export interface DecodedFrame {
  frame: number;
  rgb: Pixels;
}

export const feedCount = (f: FrameFeed) => (f.kind === 'files' ? f.files.length : f.count);

/** Every frame of the feeds in order, at `depth` bits, width x height. */
export async function* readFrames(feeds: FrameFeed[], width: number, height: number, depth: 8 | 16, signal?: AbortSignal): AsyncGenerator<DecodedFrame> {
  for (const feed of feeds) {
    if (feed.kind === 'files') {
      for (const [i, f] of feed.files.entries()) {
        signal?.throwIfAborted();
        yield { frame: feed.first + i, rgb: await readFile(f.path, f.format, depth) };
      }
      continue;
    }
    const args = feed.kind === 'movie' ? movieDecodeArgs(feed.file, feed.source, feed.first, feed.count, depth) : videoDecodeArgs(feed.file, feed.first, feed.count);
    let frame = feed.first;
    const rawDepth = feed.kind === 'movie' && depth === 16 && feed.source.bitDepth > 8 ? 16 : 8;
    for await (const rgb of rawFrames(args, width, height, rawDepth, signal)) {
      yield { frame: frame++, rgb: depth === 16 && rgb instanceof Uint8Array ? widen(rgb) : rgb };
    }
    if (frame !== feed.first + feed.count) throw new Error(`ffmpeg gave ${frame - feed.first} of ${feed.count} frames from ${feed.first}`);
  }
}

/** The demo's and older versions' frames: decoded from the H.264 blob and counted, as FrameService does. */
function videoDecodeArgs(file: string, first: number, count: number): string[] {
  return ['-i', file, '-vf', `select=between(n\\,${first}\\,${first + count - 1})`, '-fps_mode', 'passthrough', '-frames:v', String(count), '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
}

/** Raw frames from an ffmpeg writing rgb24 (or rgb48le) to stdout, one buffer per frame. */
async function* rawFrames(args: string[], width: number, height: number, depth: 8 | 16, signal?: AbortSignal): AsyncGenerator<Pixels> {
  const bytes = width * height * 3 * (depth === 16 ? 2 : 1);
  const { child, done } = spawnFfmpeg(args);
  const stop = () => child.kill('SIGKILL');
  signal?.addEventListener('abort', stop, { once: true });
  let finished = false;
  try {
    let buf = Buffer.allocUnsafe(bytes);
    let have = 0;
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      let off = 0;
      while (off < chunk.length) {
        const n = Math.min(bytes - have, chunk.length - off);
        chunk.copy(buf, have, off, off + n);
        have += n;
        off += n;
        if (have === bytes) {
          yield depth === 16 ? new Uint16Array(buf.buffer, buf.byteOffset, bytes / 2) : new Uint8Array(buf.buffer, buf.byteOffset, bytes);
          buf = Buffer.allocUnsafe(bytes);
          have = 0;
        }
      }
    }
    await done;
    finished = true;
  } finally {
    signal?.removeEventListener('abort', stop);
    if (!finished) {
      stop();
      await done.catch(() => {});
    }
    signal?.throwIfAborted();
  }
}

async function readFile(path: string, format: FileFormat, depth: 8 | 16): Promise<Pixels> {
  const deep = depth === 16;
  switch (format) {
    case 'png':
    case 'jpeg':
    case 'tiff': {
      const meta = await sharp(path, { limitInputPixels: false }).metadata();
      if (format === 'png' || meta.depth === 'uchar' || meta.depth === 'ushort') return (await readPixels(sharp(path, { limitInputPixels: false }), deep)).rgb;
      return (await readPixels(sharp(await ffmpegFramePng(path, 'tiff', true)), deep)).rgb;
    }
    case 'dpx':
      return (await readPixels(sharp(await ffmpegFramePng(path, 'dpx', deep)), deep)).rgb;
    case 'exr':
      return (await readPixels(sharp(await exrFramePng(path)), deep)).rgb;
  }
}

/** 8-bit samples on the 16-bit scale (v * 257), for a deep render whose feed has 8-bit frames. */
function widen(rgb: Uint8Array): Uint16Array {
  const out = new Uint16Array(rgb.length);
  for (let i = 0; i < rgb.length; i++) out[i] = rgb[i] * 257;
  return out;
}

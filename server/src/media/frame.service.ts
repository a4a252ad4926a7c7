import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { ErrorCode, LoupeError, type MediaSource, type Version } from '@loupe/shared';
import { localPaths, type BlobStore } from '../store/blob.repository.js';
import type { FrameRepository } from '../store/frame.repository.js';
import { ffprobeJson, runFfmpeg, spawnFfmpeg } from './ffmpeg.js';
import type { SequenceManifest } from './ingest.service.js';
import { pipeDemuxer } from './probe.js';
import { gbrpf32ToRgb48 } from './view-transform.js';
import type { FrameFeed } from './feeds.js';

const MATRIX: Record<string, string> = { bt709: 'bt709', bt470bg: 'bt601', smpte170m: 'bt601', bt2020nc: 'bt2020', bt2020c: 'bt2020', smpte240m: 'smpte240m', fcc: 'fcc' };

/**
 * Full-quality frames of a version, extracted exactly (by frame index, not by a guess of time) and
 * cached as PNG blobs. Uploaded movies are read from the original upload (not the proxy); image
 * sequences from the original frame file (a missing frame holds the one before it, as in the proxy).
 * Sources deeper than 8 bits give 16-bit PNGs; OpenEXR goes through the view transform.
 */
export class FrameService {
  private inflight = new Map<string, Promise<string>>();
  private manifests = new Map<string, SequenceManifest>();
  /** Extractions running now, and those waiting for a slot: at most `maxParallel` ffmpegs at once. */
  private running = 0;
  private waiting: (() => void)[] = [];
  constructor(
    private readonly blobs: BlobStore,
    private readonly frames: FrameRepository,
    private readonly maxParallel = 2,
    /** Finds a render's parent version (its frames outside the render's range are the parent's). */
    private readonly versionOf: (id: string) => Version | undefined | Promise<Version | undefined> = () => undefined,
  ) {}

  private async slot<T>(fn: () => Promise<T>): Promise<T> {
    // A finished extraction hands its slot straight to the next in line.
    if (this.running >= this.maxParallel) await new Promise<void>((r) => this.waiting.push(r));
    else this.running++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  /** The PNG blob (sha256) of frame `frame` (0-based) of a video version. */
  async frame(version: Version, frame: number): Promise<string> {
    if (version.media.type !== 'video') throw new LoupeError(ErrorCode.NOT_FIXABLE, 'Only video versions have frames.');
    if (!Number.isInteger(frame) || frame < 0 || frame >= version.media.frameCount) {
      throw new LoupeError(ErrorCode.FRAME_OUT_OF_RANGE, `Frame ${frame} is outside 0..${version.media.frameCount - 1}.`);
    }
    const src = version.media.source;
    if (src?.kind === 'render') {
      // A render's own frames are stored PNGs; the others are its parent's, bit for bit.
      if (frame >= src.range!.in && frame <= src.range!.out) return frameFile(await this.manifest(src.manifest!), frame);
      return this.frame(await this.parentOf(version), frame);
    }
    const cached = await this.frames.get(version.id, frame);
    if (cached && (await this.blobs.has(cached))) return cached;
    const key = `${version.id}:${frame}`;
    let p = this.inflight.get(key);
    if (!p) {
      const media = version.media;
      p = this.slot(() => (media.source ? this.fromSource(media.source, frame) : this.extract(media.blob, frame).then((png) => this.blobs.put(png))))
        .then(async (sha) => {
          await this.frames.put(version.id, frame, sha);
          return sha;
        })
        .finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  /** Demo and older versions: frame N of the video blob, counted by decoding. */
  private async extract(blob: string, frame: number): Promise<Buffer> {
    return runFfmpeg([
      '-i', await this.blobs.localPath(blob),
      '-vf', `select=eq(n\\,${frame})`, '-fps_mode', 'passthrough', '-frames:v', '1',
      '-f', 'image2pipe', '-c:v', 'png', '-compression_level', '1', '-',
    ]);
  }

  private async parentOf(version: Version): Promise<Version> {
    const id = version.media.type === 'video' ? version.media.source?.parentVersionId : undefined;
    const parent = id ? await this.versionOf(id) : undefined;
    if (!parent) throw new LoupeError(ErrorCode.VERSION_NOT_FOUND, `The version ${version.id} was rendered from is gone.`);
    return parent;
  }

  /**
   * How to read frames `first`..`last` of a version at full quality, decoded once: one feed per way in
   * (the movie from the keyframe before `first`, the sequence's files, a render's own frames and its
   * parent's around them).
   */
  async feeds(version: Version, first: number, last: number): Promise<FrameFeed[]> {
    if (version.media.type !== 'video') throw new LoupeError(ErrorCode.NOT_FIXABLE, 'Only video versions have frames.');
    if (!(first >= 0 && last < version.media.frameCount && first <= last)) {
      throw new LoupeError(ErrorCode.FRAME_OUT_OF_RANGE, `Frames ${first}-${last} are outside 0..${version.media.frameCount - 1}.`);
    }
    const src = version.media.source;
    const count = last - first + 1;
    if (!src) return [{ kind: 'video', file: await this.blobs.localPath(version.media.blob), first, count }];
    if (src.kind === 'movie') return [{ kind: 'movie', file: await this.blobs.localPath(src.blob!), source: src, first, count }];
    const m = await this.manifest(src.manifest!);
    if (src.kind === 'sequence') {
      const paths = await localPaths(this.blobs, Array.from({ length: count }, (_, i) => frameFile(m, m.firstFrame + first + i)));
      const files = paths.map((p) => ({ path: p, format: m.format }));
      return [{ kind: 'files', first, files }];
    }
    // A render: its range from its own frames, the rest from its parent's feeds.
    const { in: a, out: b } = src.range!;
    const feeds: FrameFeed[] = [];
    if (first < a) feeds.push(...(await this.feeds(await this.parentOf(version), first, Math.min(last, a - 1))));
    const lo = Math.max(first, a);
    const hi = Math.min(last, b);
    if (lo <= hi) {
      const paths = await localPaths(this.blobs, Array.from({ length: hi - lo + 1 }, (_, i) => frameFile(m, lo + i)));
      feeds.push({ kind: 'files', first: lo, files: paths.map((p) => ({ path: p, format: 'png' as const })) });
    }
    if (last > b) feeds.push(...(await this.feeds(await this.parentOf(version), Math.max(first, b + 1), last)));
    return feeds;
  }

  private async fromSource(src: MediaSource, frame: number): Promise<string> {
    if (src.kind === 'movie') return this.blobs.put(await movieFrame(await this.blobs.localPath(src.blob!), src, frame));
    const m = await this.manifest(src.manifest!);
    const file = frameFile(m, m.firstFrame + frame);
    const path = await this.blobs.localPath(file);
    switch (m.format) {
      case 'png': {
        // The original file is the frame when it is plain RGB(A): no re-encoding at all.
        const meta = await sharp(path).metadata();
        if ((meta.channels ?? 0) >= 3 && !meta.isPalette) return file;
        return this.blobs.put(await sharp(path).toColourspace(meta.depth === 'ushort' ? 'rgb16' : 'srgb').png({ compressionLevel: 1 }).toBuffer());
      }
      case 'jpeg':
      case 'tiff': {
        const meta = await sharp(path, { limitInputPixels: false }).metadata();
        if (meta.depth === 'uchar' || meta.depth === 'ushort') {
          const png = await sharp(path, { limitInputPixels: false }).toColourspace(meta.depth === 'ushort' ? 'rgb16' : 'srgb').png({ compressionLevel: 1 }).toBuffer();
          return this.blobs.put(png);
        }
        return this.blobs.put(await ffmpegFrame(path, m.format, m.bitDepth > 8));
      }
      case 'dpx':
        return this.blobs.put(await ffmpegFrame(path, 'dpx', m.bitDepth > 8));
      case 'exr':
        return this.blobs.put(await exrFrame(path));
    }
  }

  private async manifest(sha: string): Promise<SequenceManifest> {
    let m = this.manifests.get(sha);
    if (!m) {
      m = JSON.parse(await readFile(await this.blobs.localPath(sha), 'utf8')) as SequenceManifest;
      if (this.manifests.size > 64) this.manifests.clear();
      this.manifests.set(sha, m);
    }
    return m;
  }
}

/** The file showing frame number `n`: the last file at or before it (gaps hold the previous frame). */
export function frameFile(m: Pick<SequenceManifest, 'frames'>, n: number): string {
  const f = m.frames;
  let lo = 0;
  let hi = f.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (f[mid].frame <= n) lo = mid;
    else hi = mid - 1;
  }
  return f[lo].sha256;
}

type MovieSource = Pick<MediaSource, 'pixFmt' | 'colour' | 'rate' | 'bitDepth' | 'frameLookup'>;

/**
 * The ffmpeg input and filter that give frames `first`.. of a movie at its full quality: 16 bits for
 * sources deeper than 8, YUV read with the source's matrix and range, the first frame found by
 * seeking to the keyframe before it (when the file allows) rather than decoding from the start.
 */
function movieInput(file: string, src: MovieSource, first: number, fmt: string): string[] {
  const matrix = MATRIX[src.colour.matrix ?? ''] ?? 'bt709';
  const range = src.colour.range === 'pc' || /^yuvj/.test(src.pixFmt) ? 'pc' : 'tv';
  const convert = `scale=in_color_matrix=${matrix}:in_range=${range}:flags=accurate_rnd+full_chroma_int,format=${fmt}`;
  const lookup = src.frameLookup;
  if (lookup?.mode === 'seek') {
    // Jump to the keyframe before the frame (the position counts from the file's start, which is never
    // after the first video frame), decode from there keeping the original time stamps, and take the
    // frames at or after the first frame's exact time.
    const step = src.rate.den / src.rate.num;
    const target = lookup.firstPts + first * step;
    const rough = Math.max(0, (first - 1) * step);
    return ['-noaccurate_seek', '-ss', rough.toFixed(6), '-copyts', '-i', file, '-vf', `select='gte(t\\,${(target - step / 2).toFixed(6)})',${convert}`, '-fps_mode', 'passthrough'];
  }
  return ['-i', file, '-vf', `select=gte(n\\,${first}),${convert}`, '-fps_mode', 'passthrough'];
}

/** Frame `frame` of a movie as PNG (16-bit for sources deeper than 8 bits). */
export function movieFrame(file: string, src: MovieSource, frame: number): Promise<Buffer> {
  const fmt = src.bitDepth > 8 ? 'rgb48be' : 'rgb24';
  return runFfmpeg([...movieInput(file, src, frame, fmt), '-frames:v', '1', '-f', 'image2pipe', '-c:v', 'png', '-pix_fmt', fmt, '-compression_level', '1', '-']);
}

/** ffmpeg arguments writing `count` raw frames from `first` of a movie to stdout (rgb24, or rgb48le at 16 bits). */
export function movieDecodeArgs(file: string, src: MovieSource, first: number, count: number, depth: 8 | 16): string[] {
  // The conversion is the one movieFrame makes; a deep render of an 8-bit source widens afterwards.
  const fmt = src.bitDepth > 8 ? 'rgb48le' : 'rgb24';
  const outFmt = depth === 16 && src.bitDepth > 8 ? 'rgb48le' : 'rgb24';
  return [...movieInput(file, src, first, fmt), '-frames:v', String(count), '-f', 'rawvideo', '-pix_fmt', outFmt, 'pipe:1'];
}

/** A DPX (or float TIFF) frame through ffmpeg, as PNG. */
export function ffmpegFramePng(file: string, format: string, deep: boolean): Promise<Buffer> {
  return ffmpegFrame(file, format, deep);
}

/** An OpenEXR frame through the view transform, as a 16-bit PNG. */
export function exrFramePng(file: string): Promise<Buffer> {
  return exrFrame(file);
}

function ffmpegFrame(file: string, format: string, deep: boolean): Promise<Buffer> {
  const fmt = deep ? 'rgb48be' : 'rgb24';
  return runFfmpeg(['-f', pipeDemuxer(format), '-i', file, '-vf', `format=${fmt}`, '-frames:v', '1', '-f', 'image2pipe', '-c:v', 'png', '-pix_fmt', fmt, '-compression_level', '1', '-']);
}

/** An OpenEXR frame through the view transform, as a 16-bit PNG. */
async function exrFrame(file: string): Promise<Buffer> {
  const raw = await runFfmpeg(['-f', 'exr_pipe', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'gbrpf32le', '-frames:v', '1', '-']);
  const probe = await exrSize(file);
  const rgb = gbrpf32ToRgb48(raw, probe.width, probe.height);
  const enc = spawnFfmpeg(['-f', 'rawvideo', '-pix_fmt', 'rgb48le', '-s', `${probe.width}x${probe.height}`, '-i', 'pipe:0', '-f', 'image2pipe', '-c:v', 'png', '-pix_fmt', 'rgb48be', '-compression_level', '1', 'pipe:1']);
  const chunks: Buffer[] = [];
  enc.child.stdout.on('data', (c: Buffer) => chunks.push(c));
  enc.child.stdin.end(rgb);
  await enc.done;
  return Buffer.concat(chunks);
}

async function exrSize(file: string): Promise<{ width: number; height: number }> {
  const j = await ffprobeJson(['-f', 'exr_pipe', '-show_entries', 'stream=width,height', file]);
  return { width: Number(j.streams[0].width), height: Number(j.streams[0].height) };
}

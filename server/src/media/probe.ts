import { ErrorCode, LoupeError, isDropFrameRate, type MediaSource } from '@loupe/shared';
import { FfmpegError, ffprobeJson } from './ffmpeg.js';

export interface Rational {
  num: number;
  den: number;
}

/** The rate as the exact fraction cameras and editors use (23.976 -> 24000/1001, 29.97 -> 30000/1001). */
export function toRational(fps: number): Rational {
  for (const base of [24, 30, 48, 60, 120]) {
    if (Math.abs(fps - (base * 1000) / 1001) < 0.005) return { num: base * 1000, den: 1001 };
  }
  if (Math.abs(fps - Math.round(fps)) < 0.001) return { num: Math.round(fps), den: 1 };
  return { num: Math.round(fps * 1000), den: 1000 };
}

export function parseRational(s: unknown): Rational | undefined {
  const m = /^(\d+)\/(\d+)$/.exec(String(s ?? ''));
  if (!m) return undefined;
  const num = Number(m[1]);
  const den = Number(m[2]);
  if (!num || !den) return undefined;
  return toRational(num / den).den === 1001 ? toRational(num / den) : { num, den };
}

export const fpsOf = (r: Rational) => r.num / r.den;

const STANDARD_RATES: Rational[] = [
  { num: 24000, den: 1001 }, { num: 24, den: 1 }, { num: 25, den: 1 }, { num: 30000, den: 1001 }, { num: 30, den: 1 },
  { num: 48, den: 1 }, { num: 50, den: 1 }, { num: 60000, den: 1001 }, { num: 60, den: 1 },
];

/**
 * The rate of a movie: the stream's base rate (ffprobe's r_frame_rate) when it is plausible and the
 * average rate is within 10 % of it (constant rate, or variable around a nominal rate); else the
 * average, snapped to a standard rate within 2 %.
 */
export function movieRate(r: Rational | undefined, avg: Rational | undefined): Rational | undefined {
  if (r && fpsOf(r) <= 240 && (!avg || Math.abs(fpsOf(r) - fpsOf(avg)) / fpsOf(avg) < 0.1)) return r;
  if (!avg) return undefined;
  const a = fpsOf(avg);
  const near = STANDARD_RATES.map((s) => ({ s, d: Math.abs(fpsOf(s) - a) / a })).sort((x, y) => x.d - y.d)[0];
  return near.d < 0.02 ? near.s : toRational(Math.round(a * 1000) / 1000);
}

/** Bits per channel from an ffmpeg pixel format name. */
export function bitDepthOf(pixFmt: string, bitsPerRawSample?: unknown): number {
  const raw = Number(bitsPerRawSample);
  if (raw > 0 && raw <= 32) return raw;
  if (/f32/.test(pixFmt)) return 32;
  if (/f16/.test(pixFmt)) return 16;
  const m = /(?:p|le|be)?(9|10|12|14|16)(?:le|be)?$/.exec(pixFmt) ?? /(9|10|12|14|16)(le|be)$/.exec(pixFmt);
  if (m) return Number(m[1]);
  if (/^(rgb48|rgba64|bgr48|bgra64|gray16|ya16)/.test(pixFmt)) return 16;
  return 8;
}

export function isRgbPixFmt(pixFmt: string): boolean {
  return /^(rgb|bgr|gbr|argb|abgr|rgba|bgra|0rgb|rgb0|0bgr|bgr0|x2rgb|x2bgr|gray|ya)/.test(pixFmt);
}

export interface MovieProbe {
  codec: string;
  profile?: string;
  pixFmt: string;
  width: number;
  height: number;
  /** Sample aspect ratio (1 for square pixels). */
  sar: number;
  rate: Rational;
  /** Frames the container says it has (may be missing: 0). */
  frameCount: number;
  durationS: number;
  startTimecode: string;
  dropFrame: boolean;
  /** The reel (QuickTime `reel_name`, on the timecode track or the video stream), when the file names one. */
  reel?: string;
  bitDepth: number;
  colour: MediaSource['colour'];
  hasAudio: boolean;
}

const tag = (v: unknown) => (typeof v === 'string' && v && v !== 'unknown' && v !== 'unspecified' ? v : null);

/** Probes a movie's first video stream. CORRUPT_MEDIA when ffprobe cannot read it. */
export async function probeMovie(file: string, name: string): Promise<MovieProbe> {
  let j: Record<string, any>;
  try {
    j = await ffprobeJson(['-show_streams', '-show_format', file]);
  } catch (e) {
    throw new LoupeError(ErrorCode.CORRUPT_MEDIA, `${name} cannot be read as a movie (${e instanceof FfmpegError ? e.message.replace(/^ffprobe failed: /, '') : (e as Error).message})`);
  }
  const streams: Record<string, any>[] = j.streams ?? [];
  const v = streams.find((s) => s.codec_type === 'video' && !(s.disposition?.attached_pic > 0));
  if (!v) throw new LoupeError(ErrorCode.UNSUPPORTED_CODEC, `${name} has no video stream`);
  const usable = movieRate(parseRational(v.r_frame_rate), parseRational(v.avg_frame_rate));
  if (!usable) throw new LoupeError(ErrorCode.CORRUPT_MEDIA, `${name}: the video stream has no frame rate`);
  // The timecode and reel live on the video stream, the QuickTime timecode (tmcd) track, or the container.
  const tagged = [v, ...streams.filter((s) => s.codec_type === 'data'), j.format ?? {}].map((s) => s.tags ?? {});
  const tc = tagged.map((t) => t.timecode).find((t) => typeof t === 'string' && /^\d\d:\d\d:\d\d[:;.]\d\d$/.test(t)) ?? null;
  const reel = tagged.map((t) => t.reel_name).find((r) => typeof r === 'string' && r.trim());
  const dropFrame = !!tc && /[;.]/.test(tc) && isDropFrameRate(fpsOf(usable));
  const [sn, sd] = String(v.sample_aspect_ratio ?? '1:1').split(':').map(Number);
  const durationS = Number(v.duration ?? j.format?.duration ?? 0) || 0;
  return {
    codec: String(v.codec_name ?? 'unknown'),
    profile: v.profile ? String(v.profile) : undefined,
    pixFmt: String(v.pix_fmt ?? 'unknown'),
    width: Number(v.width) || 0,
    height: Number(v.height) || 0,
    sar: sn > 0 && sd > 0 ? sn / sd : 1,
    rate: usable,
    frameCount: Number(v.nb_frames) || Math.round(durationS * fpsOf(usable)) || 0,
    durationS,
    startTimecode: tc ? (dropFrame ? tc.replace(/[:.](\d\d)$/, ';$1') : tc.replace(/[;.](\d\d)$/, ':$1')) : '00:00:00:00',
    dropFrame,
    ...(reel ? { reel: String(reel).trim().slice(0, 64) } : {}),
    bitDepth: bitDepthOf(String(v.pix_fmt ?? ''), v.bits_per_raw_sample),
    colour: { primaries: tag(v.color_primaries), transfer: tag(v.color_transfer), matrix: tag(v.color_space), range: tag(v.color_range) },
    hasAudio: streams.some((s) => s.codec_type === 'audio'),
  };
}

/** Probes one image file through ffmpeg's decoder: codec and pixel format. CORRUPT_MEDIA when unreadable. */
export async function probeImage(file: string, name: string, format: string): Promise<{ codec: string; pixFmt: string; width: number; height: number; colour: MediaSource['colour'] }> {
  let j: Record<string, any>;
  try {
    // Uploaded files have no extension to go by: name the format (its single-image demuxer).
    j = await ffprobeJson(['-f', pipeDemuxer(format), '-show_streams', file]);
  } catch (e) {
    throw new LoupeError(ErrorCode.CORRUPT_MEDIA, `${name} cannot be decoded as ${format.toUpperCase()} (${(e as Error).message.replace(/^ffprobe failed: /, '')})`);
  }
  const s = (j.streams ?? [])[0];
  if (!s || !s.width || !s.height) throw new LoupeError(ErrorCode.CORRUPT_MEDIA, `${name} has no picture`);
  return {
    codec: String(s.codec_name),
    pixFmt: String(s.pix_fmt ?? 'unknown'),
    width: Number(s.width),
    height: Number(s.height),
    colour: { primaries: tag(s.color_primaries), transfer: tag(s.color_transfer), matrix: tag(s.color_space), range: tag(s.color_range) },
  };
}

/** ffmpeg's single-image demuxer for a format: reads one file whatever its name. */
export function pipeDemuxer(format: string): string {
  return `${format === 'jpeg' ? 'jpeg' : format}_pipe`;
}

export function decoderFor(format: string): string {
  return format === 'jpeg' ? 'mjpeg' : format;
}

/**
 * The presentation times of a movie's video frames, from its packets (no decoding). Used to decide
 * whether frame N can be found by seeking to its time (constant rate) or only by counting frames.
 */
export async function packetTimes(file: string): Promise<number[]> {
  const j = await ffprobeJson(['-select_streams', 'v:0', '-show_entries', 'packet=pts_time', file], 600_000);
  return ((j.packets ?? []) as { pts_time?: string }[])
    .map((p) => Number(p.pts_time))
    .filter((t) => Number.isFinite(t))
    .sort((a, b) => a - b);
}

/**
 * How to find frame N of a movie exactly: by time (`first + N / fps`) when every frame sits on the
 * constant-rate grid and there are exactly `frames` of them, else by decoding and counting.
 */
export function frameIndexMode(times: number[], rate: Rational, frames: number): { mode: 'seek'; firstPts: number } | { mode: 'decode' } {
  if (times.length !== frames || frames === 0) return { mode: 'decode' };
  const step = rate.den / rate.num;
  const first = times[0];
  for (let i = 0; i < times.length; i++) if (Math.abs(times[i] - (first + i * step)) > step / 4) return { mode: 'decode' };
  return { mode: 'seek', firstPts: first };
}

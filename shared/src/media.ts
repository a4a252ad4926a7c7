/**
 * Media ingest: the formats Loupe takes, how image-sequence file names carry frame numbers, and the
 * progress a room sees while an upload is processed. Browser-safe (the room UI groups dropped files
 * with the same functions the server uses).
 */

/** Movies: one file, ISO base media (MP4 / QuickTime). Codecs checked after upload. */
export const MovieExtensions = ['mp4', 'mov', 'm4v'] as const;
/** Image-sequence frames. */
export const ImageExtensions = ['png', 'jpg', 'jpeg', 'tif', 'tiff', 'exr', 'dpx'] as const;
/** An archive holding one image sequence. */
export const ArchiveExtensions = ['zip'] as const;
/** Video codecs (ffprobe names) a movie may carry. DNxHR reports as dnxhd. */
export const MovieCodecs = ['h264', 'hevc', 'prores', 'dnxhd'] as const;

export type MediaFileKind = 'movie' | 'image' | 'archive';

/** The extension of a file name, lower case, without the dot ('' when there is none). */
export function extensionOf(name: string): string {
  const i = name.lastIndexOf('.');
  return i > 0 ? name.slice(i + 1).toLowerCase() : '';
}

export function mediaKindOf(name: string): MediaFileKind | null {
  const ext = extensionOf(name);
  if ((MovieExtensions as readonly string[]).includes(ext)) return 'movie';
  if ((ImageExtensions as readonly string[]).includes(ext)) return 'image';
  if ((ArchiveExtensions as readonly string[]).includes(ext)) return 'archive';
  return null;
}

/** Image formats by family: jpg and jpeg (tif and tiff) are one format. */
export function imageFormatOf(name: string): 'png' | 'jpeg' | 'tiff' | 'exr' | 'dpx' | null {
  const ext = extensionOf(name);
  if (ext === 'jpg' || ext === 'jpeg') return 'jpeg';
  if (ext === 'tif' || ext === 'tiff') return 'tiff';
  if (ext === 'png' || ext === 'exr' || ext === 'dpx') return ext;
  return null;
}

/**
 * Why a file name is not acceptable as an upload (path separators, control characters, dot files,
 * too long), or null when it is fine. Names are names, never paths.
 */
export function badFileName(name: string): string | null {
  if (typeof name !== 'string' || name.length === 0) return 'the file name is empty';
  if (name.length > 255) return 'the file name is longer than 255 characters';
  if (/[/\\]/.test(name)) return `"${name}" contains a path separator; send file names, not paths`;
   
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'the file name contains control characters';
  if (name === '.' || name === '..' || name.startsWith('.')) return `"${name}" is a hidden or relative name`;
  if (/^[a-zA-Z]:/.test(name)) return `"${name}" looks like a drive path`;
  return null;
}

/** One frame file of a sequence: `shot_v003.1001.exr` -> prefix `shot_v003.`, frame 1001, padding 4. */
export interface SequenceName {
  prefix: string;
  frame: number;
  padding: number;
  ext: string;
}

/** The frame number is the last run of digits right before the extension. Null if there is none. */
export function parseSequenceName(name: string): SequenceName | null {
  const m = /^(.*?)(\d+)\.([A-Za-z0-9]+)$/.exec(name);
  if (!m) return null;
  const [, prefix, digits, ext] = m;
  if (digits.length > 9) return null;
  return { prefix, frame: Number(digits), padding: digits.length, ext: ext.toLowerCase() };
}

/** A run of missing frame numbers, inclusive. */
export interface FrameGap {
  from: number;
  to: number;
}

export interface SequenceLayout {
  prefix: string;
  ext: string;
  firstFrame: number;
  lastFrame: number;
  /** File names ordered by frame number. */
  files: string[];
  /** Frame number of each file, same order. */
  frames: number[];
  gaps: FrameGap[];
}

export class SequenceError extends Error {}

/**
 * Orders the frame files of one sequence and finds its gaps. Throws a SequenceError when the names
 * do not make one sequence (two prefixes or extensions, the same frame twice, too many missing frames).
 * A single file without a frame number is a one-frame sequence at frame 1.
 */
export function layoutSequence(names: string[], { maxFrames = 100_000 }: { maxFrames?: number } = {}): SequenceLayout {
  if (names.length === 0) throw new SequenceError('no image files');
  const parsed = names.map((n) => ({ name: n, seq: parseSequenceName(n) }));
  if (names.length === 1 && !parsed[0].seq) {
    const n = names[0];
    return { prefix: n.slice(0, n.lastIndexOf('.')), ext: extensionOf(n), firstFrame: 1, lastFrame: 1, files: [n], frames: [1], gaps: [] };
  }
  const unnumbered = parsed.find((p) => !p.seq);
  if (unnumbered) throw new SequenceError(`"${unnumbered.name}" has no frame number (expected names like shot_v003.1001.exr)`);
  const first = parsed[0].seq!;
  const family = (ext: string) => imageFormatOf(`x.${ext}`) ?? ext;
  for (const p of parsed) {
    if (p.seq!.prefix !== first.prefix || family(p.seq!.ext) !== family(first.ext)) {
      throw new SequenceError(`"${p.name}" does not belong to the sequence ${first.prefix}####.${first.ext}: upload one sequence at a time`);
    }
  }
  parsed.sort((a, b) => a.seq!.frame - b.seq!.frame);
  for (let i = 1; i < parsed.length; i++) {
    if (parsed[i].seq!.frame === parsed[i - 1].seq!.frame) {
      throw new SequenceError(`"${parsed[i - 1].name}" and "${parsed[i].name}" are both frame ${parsed[i].seq!.frame}`);
    }
  }
  const frames = parsed.map((p) => p.seq!.frame);
  const firstFrame = frames[0];
  const lastFrame = frames[frames.length - 1];
  if (lastFrame - firstFrame + 1 > maxFrames) {
    throw new SequenceError(`frames ${firstFrame}-${lastFrame} span more than ${maxFrames} frames`);
  }
  const gaps: FrameGap[] = [];
  for (let i = 1; i < frames.length; i++) {
    if (frames[i] > frames[i - 1] + 1) gaps.push({ from: frames[i - 1] + 1, to: frames[i] - 1 });
  }
  return { prefix: first.prefix, ext: first.ext, firstFrame, lastFrame, files: parsed.map((p) => p.name), frames, gaps };
}

/** `shot_v003.[1001-1048].exr` */
export function sequenceLabel(s: Pick<SequenceLayout, 'prefix' | 'ext' | 'firstFrame' | 'lastFrame'>): string {
  return s.firstFrame === s.lastFrame ? `${s.prefix}${s.firstFrame}.${s.ext}` : `${s.prefix}[${s.firstFrame}-${s.lastFrame}].${s.ext}`;
}

/** What the room sees of an upload while it is received and processed. */
export const IngestStages = ['uploading', 'queued', 'unpacking', 'probing', 'proxy', 'ladder', 'thumbnails', 'done', 'failed', 'cancelled'] as const;
export type IngestStage = (typeof IngestStages)[number];

export interface MediaProgress {
  /** The ingest (one upload of one movie, one zip or the files of one sequence). */
  uploadId: string;
  room: string;
  /** Label of what is being ingested: the file name or the sequence pattern. */
  name: string;
  stage: IngestStage;
  /** 0..100 within the stage. */
  percent: number;
  /** Who uploads. */
  by: { id: string; name: string };
  /** The shot the upload adds a version to (null: a new shot, known once done). */
  shotId: string | null;
  /** Set when stage is 'done'. */
  versionId?: string;
  /** Missing frame numbers of an image sequence (shown on screen as the previous frame held). */
  gaps?: FrameGap[];
  /** Set when stage is 'failed'. */
  error?: { code: string; message: string };
}

/** Where a version's full-quality pixels come from (the browser plays `media.blob`, the proxy). */
export interface MediaSource {
  /** 'render': a fix rendered over a range of a shot; frames outside `range` are the parent version's. */
  kind: 'movie' | 'sequence' | 'render';
  /** The file name as uploaded (or the sequence pattern). */
  name: string;
  /** Movie: the original upload, served by /blobs. */
  blob?: string;
  /** Sequence: a JSON blob `{ frames: [{ frame, sha256 }] }` of the original frame files (server-side);
   *  render: the same for the rendered frames, by frame index. */
  manifest?: string;
  /** Render: the version it was rendered from, and the frames it fixed (the rest are that version's). */
  parentVersionId?: string;
  range?: { in: number; out: number };
  /** ffprobe codec name (h264, prores, exr, dpx, png ...). */
  codec: string;
  profile?: string;
  pixFmt: string;
  /** Bits per channel of the source (8, 10, 12, 16, 32). */
  bitDepth: number;
  colour: { primaries: string | null; transfer: string | null; matrix: string | null; range: string | null };
  /** Exact frame rate as a fraction, e.g. 24000/1001. */
  rate: { num: number; den: number };
  durationS: number;
  startTimecode: string;
  dropFrame: boolean;
  /** The tape or camera reel the media came from (QuickTime `reel_name`, OpenEXR `reelName`), when it says. */
  reel?: string;
  /** Sequences: the frame numbers in the file names. Frame index 0 is `firstFrame`. */
  firstFrame?: number;
  lastFrame?: number;
  gaps?: FrameGap[];
  /** True for scene-linear sources (OpenEXR) shown through `viewTransform`. */
  sceneLinear: boolean;
  viewTransform: string | null;
  sizeBytes: number;
  /** Movies: how the server finds frame N in the original (server-side detail). */
  frameLookup?: { mode: 'seek'; firstPts: number } | { mode: 'decode' };
}

/** A sprite of `frames.length` tiles in one row; tile i shows frame `frames[i]`. */
export interface Filmstrip {
  blob: string;
  frames: number[];
  tileWidth: number;
  tileHeight: number;
  columns: number;
}

// ---------------------------------------------------------------------------------------------
// The proxy ladder: smaller proxies for slow links (docs/media.md, "Proxy ladder").

/** The rungs below the full proxy, smallest first: the height box each fits in and its video bitrate. */
export const ProxyLadderSpec = [
  { name: '360p', height: 360, bitrate: 500_000 },
  { name: '720p', height: 720, bitrate: 1_800_000 },
] as const;
export type ProxyRungName = (typeof ProxyLadderSpec)[number]['name'];
/** What a member may pin: Auto (the player chooses), a rung, or the full proxy. */
export const ProxyChoices = ['auto', '360p', '720p', 'full'] as const;
export type ProxyChoice = (typeof ProxyChoices)[number];
/** Keyframe interval of every rung, in frames: a seek decodes at most this many frames. */
export const LADDER_GOP = 12;
/** Audio bitrate of every rung (the full proxy keeps 192 kbit/s). */
export const LADDER_AUDIO_BITRATE = 96_000;

/** One rung: an H.264 mp4 like the proxy (same frames, same times, audio kept), smaller and at a set bitrate. */
export interface ProxyRung {
  name: ProxyRungName;
  width: number;
  height: number;
  /** Video bitrate it was encoded at, bits per second (audio adds LADDER_AUDIO_BITRATE). */
  bitrate: number;
  gop: number;
  /** The rung's mp4, content-addressed; the player reads it from `proxyUrl(version, name)`. */
  blob: string;
}
/** The rungs of a version, smallest first; only those smaller than the full proxy exist. */
export type ProxyLadder = ProxyRung[];

/** Where the player reads a version's proxy of one rung ('full': the full proxy), with Range. */
export function proxyUrl(versionId: string, rung: ProxyRungName | 'full'): string {
  return `/api/versions/${encodeURIComponent(versionId)}/proxy/${rung}`;
}

export function isProxyRungName(s: string): s is ProxyRungName {
  return ProxyLadderSpec.some((r) => r.name === s);
}

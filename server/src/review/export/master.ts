import { extensionOf, versionLabel, type MediaClock, type Version } from '@loupe/shared';

/**
 * The files that carry a version at source quality in approved.zip, where the EDL and OTIO point:
 * - an uploaded movie: the original upload (ProRes, DNxHR ... as it came);
 * - an uploaded image sequence: its original frame files (DPX, EXR ... at their depth), a missing
 *   frame holding the one before it as in the room;
 * - any other version with a source (a shot render): its frames as PNG at the source's depth (16
 *   bits above 8), read through FrameService, numbered by timecode (file number = the frame count of
 *   the start timecode + frame), so tools that time a PNG sequence by its frame numbers conform it;
 * - a demo or older version without a source: the H.264 proxy, the only file there is.
 */
export type MasterMedia =
  | { kind: 'movie'; from: 'original' | 'proxy'; path: string; blob: string }
  | {
      kind: 'frames';
      from: 'sequence' | 'render';
      /** The folder the frames are in: `shot/shot_v003`. */
      folder: string;
      /** File name before the frame number: `shot_v003.` */
      prefix: string;
      ext: string;
      padding: number;
      /** The number in the first frame's file name (frame index 0). */
      firstNumber: number;
      count: number;
      /** Bits per channel of the files (renders: 16 for deep sources, else 8). */
      bitDepth: number;
    };

/** `shot_v003` */
export const versionStem = (folder: string, v: Version) => `${folder}_${versionLabel(v)}`;

/** Where a video version's master media goes in the bundle (`folder` is the shot's folder). */
export function masterOf(folder: string, v: Version, clock: MediaClock): MasterMedia | null {
  const media = v.media;
  if (media.type !== 'video') return null;
  const stem = versionStem(folder, v);
  const src = media.source;
  if (!src) return { kind: 'movie', from: 'proxy', path: `${folder}/${stem}.mp4`, blob: media.blob };
  if (src.kind === 'movie') {
    if (!src.blob) return { kind: 'movie', from: 'proxy', path: `${folder}/${stem}.mp4`, blob: media.blob };
    const ext = extensionOf(src.name);
    return { kind: 'movie', from: 'original', path: `${folder}/${stem}.${/^[a-z0-9]{2,4}$/.test(ext) ? ext : 'mov'}`, blob: src.blob };
  }
  // A sequence's frames are its original files, listed in its manifest.
  const sequence = src.kind === 'sequence' && !!src.manifest;
  const firstNumber = sequence ? (src.firstFrame ?? 1) : clock.startFrame;
  const count = Math.max(1, media.frameCount);
  return {
    kind: 'frames',
    from: sequence ? 'sequence' : 'render',
    folder: `${folder}/${stem}`,
    prefix: `${stem}.`,
    ext: sequence ? extensionOf(src.name) || 'img' : 'png',
    padding: Math.max(4, String(firstNumber + count - 1).length),
    firstNumber,
    count,
    bitDepth: sequence ? src.bitDepth : src.bitDepth > 8 ? 16 : 8,
  };
}

/** The path of frame `index` (0-based) of a frame-sequence master. */
export function framePath(m: Extract<MasterMedia, { kind: 'frames' }>, index: number): string {
  return `${m.folder}/${m.prefix}${String(m.firstNumber + index).padStart(m.padding, '0')}.${m.ext}`;
}

/** One name for the whole master: the movie's path, or `shot/shot_v003/shot_v003.[86400-86495].dpx`. */
export function masterLabel(m: MasterMedia): string {
  if (m.kind === 'movie') return m.path;
  const pad = (n: number) => String(n).padStart(m.padding, '0');
  return `${m.folder}/${m.prefix}[${pad(m.firstNumber)}-${pad(m.firstNumber + m.count - 1)}].${m.ext}`;
}

/** Where an approved AI still (a fixed region of one frame) goes: `shot/shot_v002.png`. */
export const stillPath = (folder: string, v: Version) => `${folder}/${versionStem(folder, v)}.png`;

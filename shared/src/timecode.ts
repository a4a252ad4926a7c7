import type { Shot, VersionMedia } from './protocol.js';

/** SMPTE timecode for a frame index, drop-frame for 29.97 and 59.94. */
export interface Rate {
  /** Frames per second, e.g. 24, 23.976, 29.97. */
  fps: number;
  /** Use drop-frame counting (only meaningful for 29.97 and 59.94). */
  dropFrame?: boolean;
}

/** The integer frame count a timecode counts in (24 for 23.976, 30 for 29.97). */
export function timebase(fps: number): number {
  return Math.round(fps);
}

export function isDropFrameRate(fps: number): boolean {
  return Math.abs(fps - 29.97) < 0.01 || Math.abs(fps - 59.94) < 0.01;
}

const pad = (n: number) => String(n).padStart(2, '0');

export function frameToTimecode(frame: number, rate: Rate): string {
  const base = timebase(rate.fps);
  const drop = !!rate.dropFrame && isDropFrameRate(rate.fps);
  let f = Math.max(0, Math.floor(frame));
  if (drop) {
    // Drop 2 (or 4 at 59.94) frame numbers each minute except every tenth minute.
    const dropped = base === 60 ? 4 : 2;
    const perMinute = base * 60 - dropped;
    const perTenMinutes = base * 600 - dropped * 9;
    const tens = Math.floor(f / perTenMinutes);
    const rem = f % perTenMinutes;
    f += dropped * 9 * tens + (rem > dropped ? dropped * Math.floor((rem - dropped) / perMinute) : 0);
  }
  const ff = f % base;
  const totalSeconds = Math.floor(f / base);
  const ss = totalSeconds % 60;
  const mm = Math.floor(totalSeconds / 60) % 60;
  const hh = Math.floor(totalSeconds / 3600) % 24;
  return `${pad(hh)}:${pad(mm)}:${pad(ss)}${drop ? ';' : ':'}${pad(ff)}`;
}

export function timecodeToFrame(tc: string, rate: Rate): number {
  const m = /^(\d{2}):(\d{2}):(\d{2})[:;.](\d{2})$/.exec(tc);
  if (!m) throw new Error(`not a timecode: ${tc}`);
  const [hh, mm, ss, ff] = m.slice(1).map(Number);
  const base = timebase(rate.fps);
  const drop = !!rate.dropFrame && isDropFrameRate(rate.fps);
  const totalMinutes = hh * 60 + mm;
  let frames = (totalMinutes * 60 + ss) * base + ff;
  if (drop) {
    const dropped = base === 60 ? 4 : 2;
    frames -= dropped * (totalMinutes - Math.floor(totalMinutes / 10));
  }
  return frames;
}

/**
 * The clock a video version's frames are counted on: its media's own start timecode, rate,
 * drop-frame flag and reel (as probed at upload, or carried over by a render), else its shot's
 * (demo and older versions). Versions of one shot may start at different timecodes.
 */
export interface MediaClock {
  fps: number;
  dropFrame: boolean;
  startTimecode: string;
  /** The frame count of `startTimecode` (0 when it is unreadable). */
  startFrame: number;
  reel: string | null;
}

export function mediaClock(shot: Pick<Shot, 'fps' | 'dropFrame' | 'startTimecode'> | null | undefined, media?: VersionMedia | null): MediaClock {
  const video = media?.type === 'video' ? media : undefined;
  const src = video?.source;
  const fps = video && video.fps > 0 ? video.fps : (shot?.fps ?? 24);
  const dropFrame = (src ? src.dropFrame : shot?.dropFrame) ?? false;
  const startTimecode = src?.startTimecode || shot?.startTimecode || '00:00:00:00';
  let startFrame = 0;
  try {
    startFrame = timecodeToFrame(startTimecode, { fps, dropFrame });
  } catch {
    startFrame = 0;
  }
  return { fps, dropFrame, startTimecode, startFrame, reel: src?.reel || null };
}

/** The SMPTE timecode of frame `frame` (0-based) on a media clock. */
export function clockTimecode(clock: MediaClock, frame: number): string {
  return frameToTimecode(clock.startFrame + frame, clock);
}

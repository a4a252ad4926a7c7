/**
 * How a member reads frame numbers: from 0 (Loupe's own index, what the wire and exports use),
 * from 1 (editorial), or from a start frame such as 1001 (VFX plates); and the timecode counted from
 * the source's start timecode or from zero. Only the display changes: frames stay 0-based inside.
 */
import { frameToTimecode, timecodeToFrame, type Rate } from '@loupe/shared';

export const CounterBases = ['0', '1', 'start'] as const;
export type CounterBase = (typeof CounterBases)[number];

export interface CounterOptions {
  base: CounterBase;
  /** The number shown for the first frame when base is 'start'. */
  start: number;
  /** Timecode from the shot's source start timecode, or from 00:00:00:00. */
  timecode: 'source' | 'zero';
}

export const DEFAULT_COUNTER: CounterOptions = { base: '0', start: 1001, timecode: 'source' };
export const MAX_START_FRAME = 9_999_999;

/** The number shown for frame index `index`. */
export function displayFrame(index: number, o: CounterOptions): number {
  return index + offsetOf(o);
}

/** The frame index for a number typed as shown. */
export function frameIndex(shown: number, o: CounterOptions): number {
  return shown - offsetOf(o);
}

function offsetOf(o: CounterOptions): number {
  return o.base === '1' ? 1 : o.base === 'start' ? o.start : 0;
}

/** "12" or "1012–1020": a frame or a range as shown. */
export function displayRange(from: number, to: number, o: CounterOptions): string {
  return to > from ? `${displayFrame(from, o)}–${displayFrame(to, o)}` : `${displayFrame(from, o)}`;
}

/** SMPTE timecode of a frame index, from the source's start timecode or from zero. */
export function displayTimecode(index: number, rate: Rate, startTimecode: string | null | undefined, o: CounterOptions): string {
  let start = 0;
  if (o.timecode === 'source' && startTimecode) {
    try {
      start = timecodeToFrame(startTimecode, rate);
    } catch {
      start = 0;
    }
  }
  return frameToTimecode(start + index, rate);
}

/** Options read back from storage, anything odd replaced by the default. */
export function cleanCounter(v: unknown): CounterOptions {
  const o = (v && typeof v === 'object' ? v : {}) as Partial<CounterOptions>;
  const start = Number(o.start);
  return {
    base: CounterBases.includes(o.base as CounterBase) ? (o.base as CounterBase) : DEFAULT_COUNTER.base,
    start: Number.isInteger(start) && start >= 0 && start <= MAX_START_FRAME ? start : DEFAULT_COUNTER.start,
    timecode: o.timecode === 'zero' ? 'zero' : 'source',
  };
}

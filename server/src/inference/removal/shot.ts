/**
 * Remove object from a range of frames: the drawn masks (keyframes) tracked to every frame
 * (track.ts), grown outward (edge.ts), and the holes filled from the clean plate (plate.ts), each
 * frame blended in by its grown hole's alpha. Pure, no I/O; the steps are separate so a render can
 * show the tracked masks before the fill runs.
 *
 * Everything is made when first needed: the reference frame (the frame on screen) is filled from the
 * masks and the background's motion of its nearest frames only, so it can go to the room before the
 * rest of the range is looked at.
 */
import { greyOf } from '../temporal/motion.js';
import { blendByAlpha, growHole, type GrownHole } from './edge.js';
import { buildPlate, fillFrame, type ShotPlate } from './plate.js';
import { maskOf, trackMasks, trackPyramid, type MaskKey, type TrackedFrame } from './track.js';

export class ShotRemoval {
  private readonly maskMemo: Uint8Array[] = [];
  private readonly grownMemo: GrownHole[] = [];
  private plateMemo: ShotPlate | null = null;
  /** The frame the plate is made on (its never-seen part synthesised there and carried to the others). */
  readonly reference: number;

  constructor(
    private readonly frames: Uint8Array[],
    private readonly width: number,
    private readonly height: number,
    readonly keys: MaskKey[],
    readonly track: TrackedFrame[],
    private readonly grow: number,
    reference?: number,
  ) {
    this.reference = Math.max(0, Math.min(frames.length - 1, reference ?? Math.floor(frames.length / 2)));
  }

  /** Frame t's tracked mask (coverage 0..255). */
  maskAt(t: number): Uint8Array {
    return (this.maskMemo[t] ??= maskOf(this.track[t], this.keys, this.width, this.height));
  }

  /** Frame t's hole: its mask (half covered or more) grown by `grow`, and the alpha it is blended by. */
  grownAt(t: number): GrownHole {
    return (this.grownMemo[t] ??= growHole(halfCovered(this.maskAt(t)), this.width, this.height, this.grow));
  }

  get masks(): Uint8Array[] {
    return this.frames.map((_, t) => this.maskAt(t));
  }

  get grown(): GrownHole[] {
    return this.frames.map((_, t) => this.grownAt(t));
  }

  /** The plate, made on the reference frame; the background's motion of the other frames measured as fills need it. */
  get plate(): ShotPlate {
    return (this.plateMemo ??= buildPlate(this.frames, (t) => this.grownAt(t).hole, { width: this.width, height: this.height }, { reference: this.reference, lazy: true }));
  }

  /** Frame `t` of the range with the object removed (RGB8). */
  removed(t: number): Uint8Array {
    return blendByAlpha(this.frames[t], fillFrame(t, this.frames, (s) => this.grownAt(s).hole, this.plate, { holeOnly: true }).rgb, this.grownAt(t).alpha);
  }
}

/** Tracks the keyframes' masks over `frames` (RGB8, the range in order); the fill is made as frames are asked for. */
export function planRemoval(frames: Uint8Array[], width: number, height: number, keys: MaskKey[], grow: number, onTracked?: (done: number, total: number) => void, reference?: number): ShotRemoval {
  const track = trackMasks(frames.map((f) => trackPyramid(greyOf(f, width, height))), keys, onTracked);
  return new ShotRemoval(frames, width, height, keys, track, grow, reference);
}

/**
 * The same from a track made elsewhere (on the proxy, by the render's plan): the keyframes' masks
 * moved and blended by each frame's track parts. `reference`: the frame the plate is made on (the
 * frame on screen, filled first; default the middle one).
 */
export function removalFromTrack(frames: Uint8Array[], width: number, height: number, t: { keys: MaskKey[]; track: TrackedFrame['parts'][]; grow: number; reference?: number }): ShotRemoval {
  const onKey = new Set(t.keys.map((k) => k.index));
  // On a keyframe, its own mask exactly.
  const track: TrackedFrame[] = t.track.map((parts, index) => ({ index, parts: onKey.has(index) ? parts.map((p) => ({ ...p, dx: 0, dy: 0 })) : parts, residual: 0 }));
  return new ShotRemoval(frames, width, height, t.keys, track, t.grow, t.reference);
}

/** 1 where the coverage is at least half (a plain loop: TypedArray.from with a map function is slow on a frame). */
function halfCovered(m: Uint8Array): Uint8Array {
  const out = new Uint8Array(m.length);
  for (let i = 0; i < m.length; i++) out[i] = m[i] >= 128 ? 1 : 0;
  return out;
}

/** Frame `t` of the range with the object removed (RGB8). */
export function removedFrame(t: number, _frames: Uint8Array[], removal: ShotRemoval): Uint8Array {
  return removal.removed(t);
}

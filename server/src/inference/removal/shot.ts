/**
 * Remove an object from a range of frames: the drawn masks (keyframes) tracked to every frame
 * (track.ts), grown outward (edge.ts), and the holes filled from the clean plate (plate.ts), each
 * frame blended in by its grown hole's alpha. Pure, no I/O; the steps are separate so a render can
 * show the tracked masks before the fill runs.
 */
import { greyOf } from '../temporal/motion.js';
import { blendByAlpha, growHole, type GrownHole } from './edge.js';
import { buildPlate, fillFrame, type ShotPlate } from './plate.js';
import { maskOf, trackMasks, trackPyramid, type MaskKey, type TrackedFrame } from './track.js';

export interface ShotRemoval {
  track: TrackedFrame[];
  /** Each frame's tracked mask (coverage 0..255). */
  masks: Uint8Array[];
  grown: GrownHole[];
  plate: ShotPlate;
}

/** Tracks the keyframes' masks over `frames` (RGB8, the range in order) and builds the plate. */
export function planRemoval(frames: Uint8Array[], width: number, height: number, keys: MaskKey[], grow: number, onTracked?: (done: number, total: number) => void): ShotRemoval {
  const greys = frames.map((f) => greyOf(f, width, height));
  const track = trackMasks(greys.map(trackPyramid), keys, onTracked);
  const masks = track.map((t) => maskOf(t, keys, width, height));
  const grown = masks.map((m) => growHole(Uint8Array.from(m, (v) => (v >= 128 ? 1 : 0)), width, height, grow));
  const plate = buildPlate(frames, grown.map((g) => g.hole), greys);
  return { track, masks, grown, plate };
}

/** Frame `t` of the range with the object removed (RGB8). */
export function removedFrame(t: number, frames: Uint8Array[], removal: ShotRemoval): Uint8Array {
  const holes = removal.grown.map((g) => g.hole);
  return blendByAlpha(frames[t], fillFrame(t, frames, holes, removal.plate).rgb, removal.grown[t].alpha);
}

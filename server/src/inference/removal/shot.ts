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
  const grown = masks.map((m) => growHole(halfCovered(m), width, height, grow));
  const plate = buildPlate(frames, grown.map((g) => g.hole), greys);
  return { track, masks, grown, plate };
}

/**
 * The same from a track made elsewhere (on the proxy, by the render's plan): the keyframes' masks
 * moved and blended by each frame's track parts, grown, and the plate built.
 */
export function removalFromTrack(frames: Uint8Array[], width: number, height: number, t: { keys: MaskKey[]; track: TrackedFrame['parts'][]; grow: number }): ShotRemoval {
  const keys = t.keys;
  const onKey = new Set(keys.map((k) => k.index));
  // On a keyframe, its own mask exactly.
  const track: TrackedFrame[] = t.track.map((parts, index) => ({ index, parts: onKey.has(index) ? parts.map((p) => ({ ...p, dx: 0, dy: 0 })) : parts, residual: 0 }));
  const masks = track.map((f) => maskOf(f, keys, width, height));
  const grown = masks.map((m) => growHole(halfCovered(m), width, height, t.grow));
  const plate = buildPlate(frames, grown.map((g) => g.hole), frames.map((f) => greyOf(f, width, height)));
  return { track, masks, grown, plate };
}

/** 1 where the coverage is at least half (a plain loop: TypedArray.from with a map function is slow on a frame). */
function halfCovered(m: Uint8Array): Uint8Array {
  const out = new Uint8Array(m.length);
  for (let i = 0; i < m.length; i++) out[i] = m[i] >= 128 ? 1 : 0;
  return out;
}

/** Frame `t` of the range with the object removed (RGB8). */
export function removedFrame(t: number, frames: Uint8Array[], removal: ShotRemoval): Uint8Array {
  const holes = removal.grown.map((g) => g.hole);
  return blendByAlpha(frames[t], fillFrame(t, frames, holes, removal.plate).rgb, removal.grown[t].alpha);
}

import { describe, expect, it } from 'vitest';
import { addNoise } from '../../../test/fix-scenes.js';
import { panClip, type Clip } from '../../../test/shot-clips.js';
import { greyOf } from '../temporal/motion.js';
import { maskOf, trackMasks, trackPyramid, type MaskKey } from './track.js';

const W = 192, H = 108, N = 48;

function iou(a: Uint8Array, b: Uint8Array): number {
  let inter = 0, union = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] >= 128, y = b[i] >= 128;
    if (x && y) inter++;
    if (x || y) union++;
  }
  return union ? inter / union : 1;
}

async function movingObject(): Promise<Clip> {
  // The background pans one way, a textured object crosses another way, faster, with noise on every frame.
  const clip = await panClip({ width: W, height: H, count: N, seed: 41, vx: 0.6, vy: 0.25, object: { radius: 18, x: 36, y: 40, vx: 2.35, vy: 0.55 } });
  return { ...clip, frames: clip.frames.map((f, t) => addNoise(f, 4, 100 + t)) };
}

function track(clip: Clip, keyIdx: number[]) {
  const pyramids = clip.frames.map((f) => trackPyramid(greyOf(f.data, W, H)));
  const keys: MaskKey[] = keyIdx.map((index) => ({ index, mask: clip.objectMask[index] }));
  const seen: number[] = [];
  const tracked = trackMasks(pyramids, keys, (done) => seen.push(done));
  expect(seen).toEqual(Array.from({ length: N }, (_, i) => i + 1));
  return tracked.map((t) => maskOf(t, keys, W, H));
}

describe('mask tracking', () => {
  it('follows an object moving across a panning textured background: IoU > 0.9 with the true mask on all 48 frames (one keyframe)', async () => {
    const clip = await movingObject();
    const masks = track(clip, [0]);
    const ious = masks.map((m, t) => iou(m, clip.objectMask[t]));
    console.log(`tracked mask IoU from one keyframe: min ${Math.min(...ious).toFixed(3)}, mean ${(ious.reduce((a, b) => a + b, 0) / N).toFixed(3)}`);
    for (const v of ious) expect(v).toBeGreaterThan(0.9);
    // Not the background's motion: the mask held still, or moved with the pan, would lose the object.
    expect(iou(clip.objectMask[0], clip.objectMask[N - 1])).toBeLessThan(0.1);
  });

  it('a keyframe always wins, and between two keyframes (tracked from the middle both ways) every frame holds', async () => {
    const clip = await movingObject();
    const masks = track(clip, [10, 40]);
    expect(masks[10]).toEqual(clip.objectMask[10]);
    expect(masks[40]).toEqual(clip.objectMask[40]);
    const ious = masks.map((m, t) => iou(m, clip.objectMask[t]));
    console.log(`tracked mask IoU from keyframes 10 and 40: min ${Math.min(...ious).toFixed(3)}`);
    for (const v of ious) expect(v).toBeGreaterThan(0.9);
  });

  it('keeps a small, fast object on a larger frame (too few pixels on the coarse levels to match there)', async () => {
    const w = 480, h = 270, n = 24;
    const raw = await panClip({ width: w, height: h, count: n, seed: 71, vx: 0.3, vy: 0.1, object: { radius: 15, x: 100, y: 140, vx: 3.5, vy: 0.5 } });
    const frames = raw.frames.map((f, t) => addNoise(f, 3, 400 + t));
    const keys: MaskKey[] = [{ index: 12, mask: raw.objectMask[12] }];
    const tracked = trackMasks(frames.map((f) => trackPyramid(greyOf(f.data, w, h))), keys);
    const ious = tracked.map((t, i) => iou(maskOf(t, keys, w, h), raw.objectMask[i]));
    console.log(`small fast object: min IoU ${Math.min(...ious).toFixed(3)}`);
    for (const v of ious) expect(v).toBeGreaterThan(0.9);
  });
});

import { describe, expect, it } from 'vitest';
import { addNoise, psnr } from '../../../test/fix-scenes.js';
import { panClip } from '../../../test/shot-clips.js';
import { temporalDenoise } from './denoise.js';
import { globalShift, greyOf, pyramid } from './motion.js';

describe('global motion', () => {
  it('finds a sub-pixel pan between two frames of a textured clip, noise and all', async () => {
    const clip = await panClip({ width: 192, height: 128, count: 3, seed: 5, vx: 1.4, vy: -0.6 });
    const a = addNoise(clip.frames[0], 10, 1);
    const b = addNoise(clip.frames[2], 10, 2);
    const t = globalShift(pyramid(greyOf(a.data, 192, 128)), pyramid(greyOf(b.data, 192, 128)));
    // Frame 2 is the window moved by 2 x (1.4, -0.6): a(x) ≈ b(x - (2.8, -1.2)).
    expect(t.dx).toBeCloseTo(-2.8, 0);
    expect(t.dy).toBeCloseTo(1.2, 0);
  });
});

describe('temporal denoise', () => {
  it('leaves far less noise than the frame alone on a panning clip (sigma 15)', async () => {
    const W = 192, H = 128;
    const clip = await panClip({ width: W, height: H, count: 5, seed: 11 });
    const noisy = clip.frames.map((f, i) => addNoise(f, 15, 100 + i));
    const r = temporalDenoise(noisy[2].data, [noisy[0].data, noisy[1].data, noisy[3].data, noisy[4].data], W, H, 15);
    const before = psnr(noisy[2].data, clip.frames[2].data);
    const after = psnr(r.rgb as Uint8Array, clip.frames[2].data);
    console.log(`temporal denoise (5 frames, sigma 15): ${before.toFixed(2)} -> ${after.toFixed(2)} dB, ${r.meanFrames.toFixed(2)} frames per pixel, residual sigma ${r.residualSigma.toFixed(2)}`);
    expect(r.meanFrames).toBeGreaterThan(4);
    expect(after - before).toBeGreaterThan(4);
    expect(r.residualSigma).toBeLessThan(9);
  });

  it('does not ghost a moving object: where it moves on its own, the frame keeps its pixels', async () => {
    const W = 192, H = 128;
    const clip = await panClip({ width: W, height: H, count: 5, seed: 12, object: { radius: 18, x: 40, y: 64, vx: 9, vy: 0 } });
    const noisy = clip.frames.map((f, i) => addNoise(f, 8, 200 + i));
    const r = temporalDenoise(noisy[2].data, [noisy[0].data, noisy[1].data, noisy[3].data, noisy[4].data], W, H, 8);
    // Where the object is in frame 2, and where it was in the other frames (its trail): no other frame's object or background bleeds in.
    const inObject = clip.objectMask[2].map((v) => (v === 255 ? 1 : 0));
    const trail = clip.objectMask[0].map((v, i) => (v === 255 && !clip.objectMask[2][i] && !clip.objectMask[1][i] && !clip.objectMask[3][i] ? 1 : 0));
    const inObj = psnr(r.rgb as Uint8Array, clip.frames[2].data, inObject);
    const inTrail = psnr(r.rgb as Uint8Array, clip.frames[2].data, trail);
    const noisyObj = psnr(noisy[2].data, clip.frames[2].data, inObject);
    console.log(`moving object: in object ${noisyObj.toFixed(2)} -> ${inObj.toFixed(2)} dB, in its trail ${inTrail.toFixed(2)} dB`);
    // A ghost (the background averaged into the object, or the object into its trail) costs far more than noise does.
    expect(inObj).toBeGreaterThan(noisyObj - 0.5);
    expect(inTrail).toBeGreaterThan(noisyObj);
  });
});

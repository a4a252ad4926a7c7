import { describe, expect, it } from 'vitest';
import { addNoise, deltaE2000, lab, textureScene, type Rgb } from '../../../test/fix-scenes.js';
import { texturedScene, valueNoise } from '../../../test/shot-clips.js';
import { growHole, removeFromStill } from './edge.js';

const W = 160, H = 120;

/** A magenta textured disc over `bg` whose soft edge spills `spill` pixels past the drawn circle of radius r; the drawn mask is the circle. */
function withObject(bg: Rgb, cx: number, cy: number, r: number, spill: number): { frame: Rgb; drawn: Uint8Array; touched: Uint8Array } {
  const tex = valueNoise(W, H, 3, 4, 12);
  const data = bg.data.slice();
  const drawn = new Uint8Array(W * H);
  const touched = new Uint8Array(W * H);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const d = Math.hypot(x + 0.5 - cx, y + 0.5 - cy);
      if (d <= r) drawn[i] = 255;
      const a = Math.max(0, Math.min(1, r + spill - d));
      if (a <= 0) continue;
      touched[i] = 1;
      const tone = 0.75 + 0.25 * tex[i];
      const col = [235 * tone, 25 * tone, 225 * tone];
      for (let c = 0; c < 3; c++) data[i * 3 + c] = Math.round(a * col[c] + (1 - a) * bg.data[i * 3 + c]);
    }
  return { frame: { data, width: W, height: H }, drawn, touched };
}

/** Magenta-ness of a pixel: how far its red and blue both stand above its green (the object's colour). */
const magenta = (p: Uint8Array, i: number) => Math.min(p[i * 3], p[i * 3 + 2]) - p[i * 3 + 1];

/** Pixels of `mask` that keep the object's colour: more magenta than anything in the true background. */
function objectLeft(out: Uint8Array, truth: Uint8Array, mask: Uint8Array): number {
  let most = -255;
  for (let i = 0; i < mask.length; i++) most = Math.max(most, magenta(truth, i));
  expect(most).toBeLessThan(80); // else the background itself has the object's colour: a useless fixture
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] && magenta(out, i) > most + 15) n++;
  return n;
}

function meanLab(rgb: Uint8Array, mask: Uint8Array): [number, number, number] {
  const s = [0, 0, 0];
  let n = 0;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    const l = lab(rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2]);
    for (let c = 0; c < 3; c++) s[c] += l[c];
    n++;
  }
  return s.map((v) => v / n) as [number, number, number];
}

describe('removal edge', () => {
  it('grows the drawn mask outward: the soft edge lies outside the drawn line, inside it is fully replaced', () => {
    const drawn = new Uint8Array(40 * 40);
    for (let y = 10; y < 30; y++) drawn.fill(255, y * 40 + 10, y * 40 + 30);
    const { hole, alpha } = growHole(drawn, 40, 40, 4);
    for (let i = 0; i < drawn.length; i++) if (drawn[i]) expect(alpha[i]).toBe(255);
    // Two pixels out still fully replaced, four out still in the hole but blended, five out untouched.
    expect(alpha[20 * 40 + 31]).toBe(255);
    expect(alpha[20 * 40 + 33]).toBeGreaterThan(0);
    expect(alpha[20 * 40 + 33]).toBeLessThan(255);
    expect(hole[20 * 40 + 33]).toBe(1);
    expect(hole[20 * 40 + 35]).toBe(0);
    const hard = growHole(drawn, 40, 40, 0);
    expect(hard.hole.reduce((a, b) => a + b, 0)).toBe(400);
  });

  it('leaves nothing of the object inside the drawn mask or on a 2 px ring around it (grow 4); without growing, the spill stays', async () => {
    const backgrounds = [addNoise(textureScene('stripes', 4, W, H), 4, 1), await texturedScene(W, H, 11)];
    for (const bg of backgrounds) {
      const { frame, drawn, touched } = withObject(bg, 80, 60, 26, 1.6);
      const inside = Uint8Array.from(drawn, (v) => (v ? 1 : 0));
      const { hole: ring2 } = growHole(drawn, W, H, 2);
      const grown = removeFromStill(frame.data, W, H, drawn, { grow: 4 });
      expect(objectLeft(grown.rgb, bg.data, inside)).toBe(0);
      expect(objectLeft(grown.rgb, bg.data, ring2)).toBe(0);
      const hard = removeFromStill(frame.data, W, H, drawn, { grow: 0 });
      // The test can fail: on the drawn line, the object's spill is left as an outline.
      const spill = Uint8Array.from(touched, (t, i) => (t && !drawn[i] ? 1 : 0));
      expect(objectLeft(hard.rgb, bg.data, spill)).toBeGreaterThan(20);
    }
  });

  it("matches the fill's mean colour to the ring around it within ΔE 2, on dark and on textured ground", async () => {
    const dark = await texturedScene(W, H, 23);
    for (let i = 0; i < dark.data.length; i++) dark.data[i] = Math.round(dark.data[i] * 0.35);
    const cases = [dark, addNoise(textureScene('bricks', 8, W, H), 5, 2), addNoise(textureScene('stripes', 9, W, H), 5, 3)];
    for (const bg of cases) {
      const { frame, drawn } = withObject(bg, 76, 64, 34, 1);
      const out = removeFromStill(frame.data, W, H, drawn, { grow: 4 });
      const { hole: outer } = growHole(out.hole, W, H, 8);
      const ring = Uint8Array.from(outer, (v, i) => (v && !out.hole[i] ? 1 : 0));
      const dE = deltaE2000(meanLab(out.rgb, out.hole), meanLab(out.rgb, ring));
      console.log(`fill mean vs ring ΔE2000 ${dE.toFixed(2)} (truth: ${deltaE2000(meanLab(bg.data, out.hole), meanLab(bg.data, ring)).toFixed(2)})`);
      expect(dE).toBeLessThan(2);
      // A fixture whose truth differs from its own surroundings by more than that would measure nothing.
      expect(deltaE2000(meanLab(bg.data, out.hole), meanLab(bg.data, ring))).toBeLessThan(2);
    }
  });
});

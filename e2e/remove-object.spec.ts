/**
 * Remove object on a shot, in the room: the artist masks a moving object on one frame of a panning
 * shot, corrects the mask on another frame and tracks it; the director sees the track on the frames
 * before any fill, then watches the render land; the result is the shot's next version, made by an
 * algorithm, that plays with the object gone (checked on the pixels on screen and in the stored
 * frames), and a difference view against the source shows only where the object was.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { Job, Version } from '@loupe/shared';
import { startServer, type RunningServer } from '../server/src/main.js';
import { createLogger } from '../server/src/log.js';
import { WEB_BUILD } from '../server/src/http/routes.js';
import { fullFrame, uploadAndWait } from '../server/test/media-helpers.js';
import { psnr } from '../server/test/fix-scenes.js';
import { panClip, type Clip } from '../server/test/shot-clips.js';
import { launch, person, screenshot } from './browser.js';

const W = 320, H = 180, N = 24;
const OBJ = { radius: 20, x: 60, y: 80, vx: 4.5, vy: 0.5 };
let server: RunningServer;
let browser: Browser;
let source: string;
let artist: Page, director: Page;
let clip: Clip;
let viewerToken: string;

const jobs = (p: Page): Promise<Job[]> => p.evaluate(() => (window as any).__loupe.state.jobs);
const versions = (p: Page): Promise<Version[]> => p.evaluate(() => (window as any).__loupe.state.versions);

/** The artist's lasso around the object on frame `t`, 2 px outside its edge. */
function lassoAt(t: number) {
  const cx = OBJ.x + OBJ.vx * t, cy = OBJ.y + OBJ.vy * t, r = OBJ.radius + 2;
  const mask = Array.from({ length: 32 }, (_, k) => [(cx + r * Math.cos((k * Math.PI) / 16)) / W, (cy + r * Math.sin((k * Math.PI) / 16)) / H] as [number, number]);
  return { x: (cx - r - 1) / W, y: (cy - r - 1) / H, width: (2 * r + 2) / W, height: (2 * r + 2) / H, mask };
}

beforeAll(async () => {
  if (!fs.existsSync(path.join(WEB_BUILD, 'handler.js'))) throw new Error('apps/web is not built: run `npm run build` first (npm test does).');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-e2e-remove-'));
  server = await startServer({ port: 0, host: '127.0.0.1', dataDir }, { log: createLogger('warn') });
  const { room, invites } = await server.services.roomService.create('Remove room', { demo: false });
  const token = (role: string) => invites.find((i) => i.role === role)!.token;
  clip = await panClip({ width: W, height: H, count: N, seed: 61, vx: 0.6, vy: 0.25, object: OBJ });
  const files = await Promise.all(
    clip.frames.map(async (f, i) => ({ name: `walk.${String(i + 1).padStart(4, '0')}.png`, data: await sharp(f.data, { raw: { width: W, height: H, channels: 3 } }).png().toBuffer() })),
  );
  const ingest = await uploadAndWait(server.url, token('artist'), files);
  source = ingest.result!.versionId;
  viewerToken = token('viewer');
  browser = await launch();
  const link = (role: string) => `${server.url}/room/${room.id}?token=${token(role)}`;
  artist = await person(browser, link('artist'));
  director = await person(browser, link('director'));
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** The picture on a member's screen, as RGB at the shot's size (a screenshot of the picture, resized). */
async function onScreen(p: Page): Promise<Uint8Array> {
  const box = (await p.locator('[data-testid=picture]').boundingBox())!;
  const png = await p.screenshot({ clip: box });
  return new Uint8Array(await sharp(png).removeAlpha().resize(W, H, { fit: 'fill' }).raw().toBuffer());
}

/** Mean absolute difference (0..255) of two RGB pictures over the pixels where `where(x, y)`. */
function mad(a: Uint8Array, b: Uint8Array, where: (x: number, y: number) => boolean): number {
  let sum = 0, n = 0;
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      if (!where(x, y)) continue;
      const i = (y * W + x) * 3;
      for (let c = 0; c < 3; c++) sum += Math.abs(a[i + c] - b[i + c]);
      n += 3;
    }
  return sum / n;
}

/** Inside the object on frame t, `inset` px from its edge (positive: inside), or outside it by more than -inset. */
const insideObject = (t: number, inset: number) => (x: number, y: number) => Math.hypot(x - (OBJ.x + OBJ.vx * t), y - (OBJ.y + OBJ.vy * t)) < OBJ.radius - inset;

describe('remove an object from a shot, in the room', () => {
  it('the artist masks the object on one frame, corrects another and tracks it; the director sees the track, then the fill; the result plays with the object gone', async () => {
    const lasso = async (t: number) => {
      await artist.evaluate(({ versionId, region, t }) => {
        const s = (window as any).__loupe.session;
        s.player.seek(t);
        s.tools.selection = { versionId, frame: t, region };
      }, { versionId: source, region: lassoAt(t), t });
    };
    // The artist's lasso around the object on frame 8 (as drawing it would leave the selection): a keyframe.
    await lasso(8);
    await artist.locator('[data-testid=fix-select]').selectOption('remove-object');
    expect(await artist.locator('[data-testid=fix-param-grow]').inputValue()).toBe('4');
    await expect.poll(() => artist.locator('[data-testid=fix-mask-key]').evaluateAll((els) => els.map((e) => e.getAttribute('data-frame')))).toEqual(['8']);
    // It corrects the mask on frame 20 (draws it again there): a second keyframe.
    await lasso(20);
    await expect.poll(() => artist.locator('[data-testid=fix-mask-key]').evaluateAll((els) => els.map((e) => e.getAttribute('data-frame')))).toEqual(['8', '20']);
    await screenshot(artist, '60-remove-object-shot-panel');

    // Track: the mask over the whole shot, nothing rendered.
    await artist.locator('[data-testid=fix-track]').click();
    await artist.locator('[data-testid=fix-track-status]').waitFor({ timeout: 30_000 });
    expect(await artist.locator('[data-testid=fix-track-status]').textContent()).toContain('8, 20');
    expect(await jobs(artist)).toHaveLength(0);

    // The director sees the track on every frame, before any fill: on frame 16 it comes from the mask drawn on 20 and sits on the object.
    await expect.poll(() => director.evaluate(() => !!(window as any).__loupe.session.maskTrack), { timeout: 15_000 }).toBe(true);
    for (const t of [4, 16]) {
      await director.evaluate((t) => (window as any).__loupe.session.player.seek(t), t);
      const mask = director.locator(`[data-testid=mask-track][data-frame="${t}"]`);
      await mask.waitFor({ timeout: 10_000 });
      expect(await mask.getAttribute('data-keyframe')).toBe(t <= 14 ? '8' : '20');
      // The polygon's centre is on the object's centre (shares of the frame).
      const centre = await mask.locator('polygon').evaluate((el) => {
        const pts = (el as SVGPolygonElement).points;
        let x = 0, y = 0;
        for (let i = 0; i < pts.numberOfItems; i++) (x += pts.getItem(i).x), (y += pts.getItem(i).y);
        return [x / pts.numberOfItems, y / pts.numberOfItems];
      });
      expect(Math.abs(centre[0] * W - (OBJ.x + OBJ.vx * t))).toBeLessThan(2);
      expect(Math.abs(centre[1] * H - (OBJ.y + OBJ.vy * t))).toBeLessThan(2);
    }
    await screenshot(director, '61-remove-object-track-before-fill');

    // Apply to shot from frame 20 (the mask on screen), with the keyframe on 8.
    await expect.poll(() => artist.locator('[data-testid=fix-shot]').isDisabled()).toBe(false);
    await artist.locator('[data-testid=fix-shot]').click();
    await expect.poll(async () => (await jobs(director)).find((j) => j.scope === 'shot' && j.fix === 'remove-object'), { timeout: 20_000 }).toBeTruthy();
    const render = (await jobs(director)).find((j) => j.scope === 'shot' && j.fix === 'remove-object')!;
    expect(render.frame).toBe(20);
    expect(render.maskKeyframes?.map((k) => k.frame)).toEqual([8]);

    // The director watches: the tracked mask shows on the frames (known before the fill runs), then the fill lands.
    await expect.poll(async () => !!(await jobs(director)).find((j) => j.id === render.id)?.render?.tracked, { timeout: 60_000 }).toBe(true);
    const watch = director.locator(`[data-testid=job][data-job-id="${render.id}"] [data-testid=render-watch]`);
    await watch.click();
    await director.evaluate(() => (window as any).__loupe.session.player.seek(16));
    await expect.poll(() => director.locator('[data-testid=render-tracked-mask]').count(), { timeout: 20_000 }).toBeGreaterThan(0);
    await screenshot(director, '62-remove-object-render-tracked-mask');

    // The render ends: the shot's next version, made by an algorithm (not AI), every frame of the source.
    await expect.poll(async () => (await versions(director)).some((v) => v.provenance?.jobId === render.id), { timeout: 150_000 }).toBe(true);
    const v2 = (await versions(director)).find((v) => v.provenance?.jobId === render.id)!;
    expect(v2).toMatchObject({ media: { type: 'video', frameCount: N }, provenance: { aiMade: false, model: { id: 'clean-plate', kind: 'algorithm' } } });
    // The stored frames: under the object, the background (the clip's truth), on every frame.
    for (let t = 0; t < N; t += 4) {
      const { data } = await sharp(await fullFrame(server.url, viewerToken, v2.id, t)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const deep = data.byteLength === W * H * 6;
      const out = new Uint8Array(deep ? Uint16Array.from(new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2), (v) => v >> 8) : data);
      const hole = Uint8Array.from(clip.objectMask[t], (v) => (v ? 1 : 0));
      expect(psnr(out, clip.background[t].data, hole)).toBeGreaterThan(30);
    }

    // The director, who watched the render, now has the new version on screen: it plays, and the object is gone.
    await expect.poll(() => director.evaluate(() => (window as any).__loupe.state.currentVersionId), { timeout: 15_000 }).toBe(v2.id);
    await director.evaluate(() => (window as any).__loupe.session.player.seek(0));
    await director.evaluate(() => (window as any).__loupe.session.player.play());
    await expect.poll(() => director.evaluate(() => (window as any).__loupe.session.player.frame), { timeout: 15_000 }).toBeGreaterThan(6);
    await director.evaluate(() => (window as any).__loupe.session.player.pause());
    const t = 16;
    await director.evaluate((t) => (window as any).__loupe.session.player.seek(t), t);
    // On screen, inside where the object was: the background, not the object.
    await expect
      .poll(async () => {
        const shown = await onScreen(director);
        const toBackground = mad(shown, clip.background[t].data, insideObject(t, 3));
        const toSource = mad(shown, clip.frames[t].data, insideObject(t, 3));
        return toBackground < 12 && toSource > 2 * toBackground ? 'gone' : `background ${toBackground.toFixed(1)}, source ${toSource.toFixed(1)}`;
      }, { timeout: 15_000 })
      .toBe('gone');
    await screenshot(director, '63-remove-object-version');

    // The difference view against the source: bright only where the object was.
    await director.evaluate((id) => {
      const c = (window as any).__loupe.session.compare;
      c.compareWith(id);
      c.setMode('difference');
    }, source);
    await expect
      .poll(async () => {
        const diff = await onScreen(director);
        const black = new Uint8Array(W * H * 3);
        const inside = mad(diff, black, insideObject(t, 3));
        const away = mad(diff, black, (x, y) => !insideObject(t, -12)(x, y) && x > 4 && y > 4 && x < W - 4 && y < H - 4);
        return inside > 20 && away < 6 ? 'only the object' : `inside ${inside.toFixed(1)}, away ${away.toFixed(1)}`;
      }, { timeout: 15_000 })
      .toBe('only the object');
    await screenshot(director, '64-remove-object-difference');
  });
});

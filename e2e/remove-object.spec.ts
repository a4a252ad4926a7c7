/**
 * Remove object on a shot, in the room: the artist masks a moving object on one frame of a panning
 * shot and applies the removal to the shot; the director watches the render, sees the tracked mask on
 * the frames, and the fill land; the result is the shot's next version, made by an algorithm.
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
import { uploadAndWait } from '../server/test/media-helpers.js';
import { panClip } from '../server/test/shot-clips.js';
import { launch, person, screenshot } from './browser.js';

const W = 320, H = 180, N = 24;
const OBJ = { radius: 20, x: 60, y: 80, vx: 4.5, vy: 0.5 };
let server: RunningServer;
let browser: Browser;
let source: string;
let artist: Page, director: Page;

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
  const clip = await panClip({ width: W, height: H, count: N, seed: 61, vx: 0.6, vy: 0.25, object: OBJ });
  const files = await Promise.all(
    clip.frames.map(async (f, i) => ({ name: `walk.${String(i + 1).padStart(4, '0')}.png`, data: await sharp(f.data, { raw: { width: W, height: H, channels: 3 } }).png().toBuffer() })),
  );
  const ingest = await uploadAndWait(server.url, token('artist'), files);
  source = ingest.result!.versionId;
  browser = await launch();
  const link = (role: string) => `${server.url}/room/${room.id}?token=${token(role)}`;
  artist = await person(browser, link('artist'));
  director = await person(browser, link('director'));
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('remove an object from a shot, in the room', () => {
  it('the artist masks the object on one frame and applies it to the shot; the director sees the tracked mask, then the version', async () => {
    // The artist's lasso around the object on frame 8 (as drawing it would leave the selection).
    await artist.evaluate(({ versionId, region }) => {
      const s = (window as any).__loupe.session;
      s.player.seek(8);
      s.tools.selection = { versionId, frame: 8, region };
    }, { versionId: source, region: lassoAt(8) });
    await artist.locator('[data-testid=fix-select]').selectOption('remove-object');
    expect(await artist.locator('[data-testid=fix-param-grow]').inputValue()).toBe('4');
    await expect.poll(() => artist.locator('[data-testid=fix-shot]').isDisabled()).toBe(false);
    await screenshot(artist, '60-remove-object-shot-panel');
    await artist.locator('[data-testid=fix-shot]').click();
    await expect.poll(async () => (await jobs(director)).find((j) => j.scope === 'shot' && j.fix === 'remove-object'), { timeout: 20_000 }).toBeTruthy();
    const render = (await jobs(director)).find((j) => j.scope === 'shot' && j.fix === 'remove-object')!;

    // The director watches: the tracked mask shows on the frames (known before the fill runs).
    await expect.poll(async () => !!(await jobs(director)).find((j) => j.id === render.id)?.render?.tracked, { timeout: 60_000 }).toBe(true);
    const watch = director.locator(`[data-testid=job][data-job-id="${render.id}"] [data-testid=render-watch]`);
    // The plate is built from every frame before the first one lands: the render is still running here.
    await watch.click();
    await director.evaluate(() => (window as any).__loupe.session.player.seek(16));
    await expect.poll(() => director.locator('[data-testid=render-tracked-mask]').count(), { timeout: 20_000 }).toBeGreaterThan(0);
    await screenshot(director, '61-remove-object-tracked-mask');

    // The render ends: the shot's next version, made by an algorithm (not AI), every frame of the source.
    await expect.poll(async () => (await versions(director)).some((v) => v.provenance?.jobId === render.id), { timeout: 150_000 }).toBe(true);
    const v2 = (await versions(director)).find((v) => v.provenance?.jobId === render.id)!;
    expect(v2).toMatchObject({ media: { type: 'video', frameCount: N }, provenance: { aiMade: false, model: { id: 'clean-plate', kind: 'algorithm' } } });
    // The director, who watched the render, now has the new version on screen: the object is gone.
    await expect.poll(() => director.evaluate(() => (window as any).__loupe.state.currentVersionId), { timeout: 15_000 }).toBe(v2.id);
    await screenshot(director, '62-remove-object-version');
  });
});

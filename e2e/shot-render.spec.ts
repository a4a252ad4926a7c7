/**
 * A shot fix, end to end in three browsers: the artist applies exposure to a 96-frame shot; the
 * director and the viewer see the timeline fill in and play the rendered part before the render ends;
 * the result is the shot's next version, whose frame N shows frame N (burned-in numbers); the director
 * approves it and the editor's EDL, OTIO and zip hold the shot at source quality on its own timecode.
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
import { runFfmpeg } from '../server/src/media/ffmpeg.js';
import { uploadAndWait } from '../server/test/media-helpers.js';
import { parseEdl, parseOtio, readZip, tcFrames } from '../server/test/export-readers.js';
import { panClip } from '../server/test/shot-clips.js';
import { launch, person, screenshot } from './browser.js';

const W = 480, H = 270, N = 96;
let server: RunningServer;
let browser: Browser;
let roomId: string;
let token: (role: string) => string;
let source: string;
let artist: Page, director: Page, viewer: Page;

/** 8 blocks along the top (bit b white when set) carry the frame number. */
function burn(data: Uint8Array, n: number) {
  for (let bit = 0; bit < 8; bit++)
    for (let y = 0; y < 18; y++)
      for (let x = 0; x < 30; x++) {
        const o = (y * W + bit * 30 + x) * 3;
        data[o] = data[o + 1] = data[o + 2] = (n >> bit) & 1 ? 255 : 0;
      }
}

/** The frame number the page's player shows: the video drawn into a canvas, its blocks read. */
const shownNumber = (p: Page) =>
  p.evaluate(({ w }) => {
    const v = document.querySelector('[data-testid=viewer] video') as HTMLVideoElement;
    const c = document.createElement('canvas');
    c.width = v.videoWidth;
    c.height = v.videoHeight;
    const ctx = c.getContext('2d')!;
    ctx.drawImage(v, 0, 0);
    let n = 0;
    const k = v.videoWidth / w;
    for (let bit = 0; bit < 8; bit++) if (ctx.getImageData(Math.round((bit * 30 + 15) * k), Math.round(9 * k), 1, 1).data[1] > 127) n |= 1 << bit;
    return n;
  }, { w: W });

const jobs = (p: Page): Promise<Job[]> => p.evaluate(() => (window as any).__loupe.state.jobs);
const versions = (p: Page): Promise<Version[]> => p.evaluate(() => (window as any).__loupe.state.versions);

beforeAll(async () => {
  if (!fs.existsSync(path.join(WEB_BUILD, 'handler.js'))) throw new Error('apps/web is not built: run `npm run build` first (npm test does).');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-e2e-shot-'));
  server = await startServer({ port: 0, host: '127.0.0.1', dataDir }, { log: createLogger('warn') });
  const { room, invites } = await server.services.roomService.create('Shot room', { demo: false });
  roomId = room.id;
  token = (role) => invites.find((i) => i.role === role)!.token;
  // A textured slow pan, numbered, as 10-bit ProRes 4444 starting at 01:00:00:00 on reel B002.
  const clip = await panClip({ width: W, height: H, count: N, seed: 77, vx: 0.5, vy: 0.2 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-e2e-shot-media-'));
  for (const [i, f] of clip.frames.entries()) {
    burn(f.data, i);
    await sharp(f.data, { raw: { width: W, height: H, channels: 3 } }).png({ compressionLevel: 1 }).toFile(path.join(dir, `f_${String(i).padStart(4, '0')}.png`));
  }
  const mov = path.join(dir, 'sh020_plate.mov');
  await runFfmpeg(['-framerate', '24', '-i', path.join(dir, 'f_%04d.png'), '-c:v', 'prores_ks', '-profile:v', '4444', '-pix_fmt', 'yuv444p10le', '-timecode', '01:00:00:00', '-metadata:s:v:0', 'reel_name=B002', '-y', mov]);
  const ingest = await uploadAndWait(server.url, token('artist'), [{ name: 'sh020_plate.mov', data: fs.readFileSync(mov) }]);
  source = ingest.result!.versionId;
  browser = await launch();
  const link = (role: string) => `${server.url}/room/${roomId}?token=${token(role)}`;
  artist = await person(browser, link('artist'), { width: 1440, height: 900 });
  director = await person(browser, link('director'), { width: 1440, height: 900 });
  viewer = await person(browser, link('viewer'), { width: 1280, height: 800 });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('a fix applied to a whole shot, in the room', () => {
  it('renders progressively for everyone, plays as it lands, becomes v002, and goes to editorial at source quality', async () => {
    // The artist opens the fix panel on the whole frame and applies exposure to the shot.
    await artist.locator('[data-testid=fix-whole-frame]').click();
    // What the panel shows is sent ahead as it settles (fix:prepare): the server reads and plans that frame.
    const prepared: { fix: string; frame: number; ready: boolean }[] = [];
    const prepare = server.fixes.prepare.bind(server.fixes);
    server.fixes.prepare = async (member, req) => {
      const r = await prepare(member, req);
      prepared.push({ fix: req.fix, frame: req.frame, ready: r.ready });
      return r;
    };
    await artist.locator('[data-testid=fix-select]').selectOption('exposure');
    await expect.poll(() => prepared.find((p) => p.fix === 'exposure'), { timeout: 10_000 }).toMatchObject({ fix: 'exposure', ready: true });
    server.fixes.prepare = prepare;
    expect(await artist.locator('[data-testid=fix-shot-range]').textContent()).toBe(`all ${N} frames`);
    await screenshot(artist, '40-shot-fix-panel');
    await artist.locator('[data-testid=fix-shot]').click();
    const render = await expect.poll(async () => (await jobs(artist)).find((j) => j.scope === 'shot'), { timeout: 10_000 }).toBeTruthy().then(async () => (await jobs(artist)).find((j) => j.scope === 'shot')!);

    // Director and viewer: the timeline fills in while the render runs, and they can watch what is done.
    for (const p of [director, viewer]) {
      await expect.poll(async () => JSON.parse((await p.locator('[data-testid=render-progress]').getAttribute('data-done').catch(() => null)) ?? '[]').length, { timeout: 60_000 }).toBeGreaterThan(0);
      await p.locator(`[data-testid=job][data-job-id="${render.id}"] [data-testid=render-watch]`).click();
    }
    await screenshot(director, '41-shot-render-filling-in');
    // Play the rendered part: frame 3 lands early (the render starts at the frame on screen, 0, and goes outward).
    await director.keyboard.press('ArrowRight');
    await director.keyboard.press('ArrowRight');
    await director.keyboard.press('ArrowRight');
    await expect.poll(() => director.locator('[data-testid=render-layer]').getAttribute('data-shown'), { timeout: 20_000 }).toBe('3');
    const stillRunning = (await jobs(director)).find((j) => j.id === render.id)!;
    expect(stillRunning.state, 'the rendered part plays before the render ends').toBe('running');
    expect(stillRunning.render!.framesDone).toBeLessThan(N);
    // A frame far ahead is not rendered yet: the source shows, marked.
    await viewer.locator('[data-testid=render-watch]').first().waitFor();
    await viewer.evaluate(() => (window as any).__loupe.session.player.seek(95));
    await screenshot(viewer, '42-shot-render-not-yet');

    // The render ends: one new version, v002, AI-made, the shot's frame count.
    const v2 = await expect
      .poll(async () => (await versions(director)).find((v) => v.provenance?.jobId === render.id), { timeout: 240_000 })
      .toBeTruthy()
      .then(async () => (await versions(director)).find((v) => v.provenance?.jobId === render.id)!);
    expect(v2).toMatchObject({ number: 2, kind: 'ai', media: { type: 'video', frameCount: N, source: { kind: 'render', startTimecode: '01:00:00:00' } } });
    // The director watched it: the new version is on screen; frame N shows frame N.
    await expect.poll(() => director.evaluate(() => (window as any).__loupe.state.currentVersionId), { timeout: 15_000 }).toBe(v2.id);
    for (const n of [0, 37, 95]) {
      await director.evaluate((f) => (window as any).__loupe.session.player.seek(f), n);
      await expect.poll(() => shownNumber(director), { timeout: 10_000 }).toBe(n);
    }
    await screenshot(director, '43-shot-render-version');

    // The director approves; the editor's exports hold the render at source quality, on the source's timecode.
    await director.locator('[data-testid=approve]').click();
    await expect.poll(async () => (await versions(viewer)).find((v) => v.id === v2.id)?.status, { timeout: 10_000 }).toBe('approved');
    const get = async (file: string) => {
      const res = await fetch(`${server.url}/export/${roomId}/${file}?token=${token('editor')}`);
      expect(res.status, file).toBe(200);
      return Buffer.from(await res.arrayBuffer());
    };
    const edl = parseEdl((await get('markers.edl')).toString('utf8'));
    expect(edl.events).toHaveLength(1);
    expect(edl.events[0]).toMatchObject({ reel: 'B002', srcIn: '01:00:00:00', srcOut: '01:00:04:00' });
    const otio = parseOtio((await get('markers.otio')).toString('utf8'));
    const clip = otio.tracks[0].clips[0];
    expect(clip.start).toBe(tcFrames('01:00:00:00', 24, false));
    const zip = await readZip(await get('approved.zip'));
    const frames = [...zip.keys()].filter((k) => k.endsWith('.png'));
    expect(frames).toHaveLength(N);
    const first = zip.get(frames.sort()[0])!;
    const meta = await sharp(first.data).metadata();
    expect([meta.width, meta.height, meta.depth]).toEqual([W, H, 'ushort']);
  });
});

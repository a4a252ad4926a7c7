/**
 * Many shots, one session (issue 20), in Chromium with a real server: a room with three uploaded
 * shots, a director presenting and an artist following. The shot list shows each shot's poster,
 * versions and status; the presenter takes the room to shot 3 and the artist's picture follows;
 * next / previous by button and by key; an upload from the room asks new shot or next version.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startServer, type RunningServer } from '../server/src/main.js';
import { createLogger } from '../server/src/log.js';
import { WEB_BUILD } from '../server/src/http/routes.js';
import { runFfmpeg } from '../server/src/media/ffmpeg.js';
import { uploadAndWait } from '../server/test/media-helpers.js';
import { ARTIFACTS, launch, person, screenshot } from './browser.js';

let server: RunningServer;
let browser: Browser;
let director: Page, artist: Page;
let dir: string;
const shots: Record<string, { id: string; latest: string }> = {};

const session = <T>(p: Page, fn: string): Promise<T> => p.evaluate(`(() => { const s = window.__loupe.session; return ${fn}; })()`) as Promise<T>;
const shotName = (p: Page) => p.locator('[data-testid=shot-name]').textContent();
/** The frame the page's video shows, as a data URL of a small canvas (what the member sees). */
const pictureOf = (p: Page) =>
  p.evaluate(() => {
    const v = document.querySelector('[data-testid=video]') as HTMLVideoElement;
    const c = document.createElement('canvas');
    c.width = 32;
    c.height = 18;
    c.getContext('2d')!.drawImage(v, 0, 0, 32, 18);
    const d = c.getContext('2d')!.getImageData(0, 0, 32, 18).data;
    let r = 0, g = 0, b = 0;
    for (let i = 0; i < d.length; i += 4) (r += d[i]), (g += d[i + 1]), (b += d[i + 2]);
    const n = d.length / 4;
    return [r / n, g / n, b / n].map(Math.round);
  });

/** Three looks that no one mistakes for each other: bars, a fractal, a green-shifted pattern; all with grain and motion. */
const LOOKS: Record<string, string> = {
  sh010: 'testsrc2=size=320x180:rate=24:duration=2,noise=alls=12:allf=t',
  sh020: 'mandelbrot=size=320x180:rate=24,trim=duration=2,noise=alls=12:allf=t',
  sh030: 'testsrc2=size=320x180:rate=24:duration=2,hue=h=140:s=1.6,eq=brightness=-0.15,noise=alls=12:allf=t',
};

async function clip(name: string, look: string): Promise<{ name: string; data: Buffer }> {
  const file = path.join(dir, name);
  await runFfmpeg(['-f', 'lavfi', '-i', look, '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '6', '-pix_fmt', 'yuv420p', '-y', file]);
  return { name, data: fs.readFileSync(file) };
}

beforeAll(async () => {
  if (!fs.existsSync(path.join(WEB_BUILD, 'handler.js'))) throw new Error('apps/web is not built: run `npm run build` first (npm test does).');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-e2e-reel-'));
  server = await startServer({ port: 0, host: '127.0.0.1', dataDir: dir }, { log: createLogger('warn') });
  const { room, invites } = await server.services.roomService.create('Reel room', { demo: false });
  const token = (role: string) => invites.find((i) => i.role === role)!.token;
  // Three shots through the upload API (posters made by the ingest); sh010 gets a v002.
  for (const name of ['sh010', 'sh020', 'sh030']) {
    const done = await uploadAndWait(server.url, token('artist'), [await clip(`${name}.mp4`, LOOKS[name])]);
    expect(done.error).toBeNull();
    shots[name] = { id: done.result!.shotId, latest: done.result!.versionId };
  }
  const v2 = await uploadAndWait(server.url, token('artist'), [await clip('sh010_v002.mp4', LOOKS.sh010.replace('duration=2', 'duration=2,vflip'))], { shotId: shots.sh010.id });
  expect(v2.result).toMatchObject({ shotId: shots.sh010.id, versionNumber: 2 });
  shots.sh010.latest = v2.result!.versionId;
  // sh020 is approved, sh010's v002 has changes requested, sh030 is pending.
  const by = { id: 'd', name: 'Dana', role: 'director' as const };
  await server.services.versions.decide(shots.sh020.latest, room.id, { decision: 'approved', note: '', by, at: new Date().toISOString() });
  await server.services.versions.decide(shots.sh010.latest, room.id, { decision: 'changes-requested', note: 'flip it back', by, at: new Date().toISOString() });

  browser = await launch();
  const link = (role: string) => `${server.url}/room/${room.id}?token=${token(role)}`;
  director = await person(browser, link('director'), { width: 1600, height: 900 });
  artist = await person(browser, link('artist'), { width: 1280, height: 800 });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('a room with three shots', () => {
  it('lists the shots with posters, versions and statuses, and the presenter takes the room from shot to shot', async () => {
    for (const p of [director, artist]) {
      const list = p.locator('[data-testid=shot-list] [data-testid=shot]');
      await expect.poll(() => list.count(), { timeout: 15_000 }).toBe(3);
      expect(await p.locator('[data-testid=shot-name-item]').allTextContents()).toEqual(['sh010', 'sh020', 'sh030']);
      expect(await p.locator('[data-testid=shot-versions]').allTextContents()).toEqual(['2 versions · v002', '1 version · v001', '1 version · v001']);
      expect(await list.evaluateAll((els) => els.map((e) => e.getAttribute('data-status')))).toEqual(['changes-requested', 'approved', 'pending']);
      expect(await p.locator('[data-testid=shot-list] [data-testid=version-status]').allTextContents()).toEqual(['Changes requested', 'Approved', 'Pending']);
      // Every poster loaded (a real JPEG from the ingest, drawn at its size).
      const thumbs = p.locator('[data-testid=shot-thumb]');
      await expect.poll(() => thumbs.evaluateAll((els) => els.map((e) => (e as HTMLImageElement).complete && (e as HTMLImageElement).naturalWidth > 0)), { timeout: 10_000 }).toEqual([true, true, true]);
    }
    // The room opens on the newest version: sh010 v002.
    expect(await shotName(director)).toBe('sh010');
    expect(await director.locator('[data-testid=current-version]').textContent()).toBe('v002');

    await director.locator('[data-testid=present]').click();
    await expect.poll(() => session(artist, 's.sync.following'), { timeout: 10_000 }).toBe(true);
    await expect.poll(() => shotName(artist), { timeout: 10_000 }).toBe('sh010');
    await expect.poll(() => artist.evaluate(() => (document.querySelector('[data-testid=video]') as HTMLVideoElement).readyState >= 2), { timeout: 10_000 }).toBe(true);
    const before = await pictureOf(artist);

    // The presenter picks shot 3: the artist's view goes to sh030's latest version and shows its picture.
    await director.locator('[data-testid=shot][data-shot-id="' + shots.sh030.id + '"]').click();
    expect(await shotName(director)).toBe('sh030');
    await expect.poll(() => shotName(artist), { timeout: 10_000 }).toBe('sh030');
    await expect.poll(() => session(artist, 's.versions.currentId'), { timeout: 10_000 }).toBe(shots.sh030.latest);
    expect(await artist.locator('[data-testid=current-version]').textContent()).toBe('v001');
    expect(await artist.locator('[data-testid=shot][data-current=true] [data-testid=shot-name-item]').textContent()).toBe('sh030');
    expect(await session(artist, 's.sync.following')).toBe(true);
    // The picture changed too: the darker, hue-shifted look, not the bars.
    await expect
      .poll(async () => {
        const now = await pictureOf(artist);
        return Math.hypot(...now.map((c, i) => c - before[i]));
      }, { timeout: 15_000 })
      .toBeGreaterThan(15);
    expect(await director.locator('[data-testid=shot-next]').isDisabled()).toBe(true);

    // Keys: [ previous, ] next, for the room.
    await director.mouse.click(5, 300);
    await director.keyboard.press('[');
    await expect.poll(() => shotName(director), { timeout: 5_000 }).toBe('sh020');
    await expect.poll(() => shotName(artist), { timeout: 10_000 }).toBe('sh020');
    await director.keyboard.press('[');
    await expect.poll(() => shotName(artist), { timeout: 10_000 }).toBe('sh010');
    expect(await director.locator('[data-testid=current-version]').textContent()).toBe('v002');
    expect(await director.locator('[data-testid=shot-prev]').isDisabled()).toBe(true);
    // The versions panel lists the versions of the shot on screen.
    const listed = director.locator('[data-testid=versions-panel] [data-testid=version]');
    expect(await listed.evaluateAll((els) => els.map((e) => e.getAttribute('data-version-id')))).toEqual([shots.sh010.latest, expect.any(String)]);
    await director.keyboard.press(']');
    await expect.poll(() => shotName(artist), { timeout: 10_000 }).toBe('sh020');
    // And the buttons.
    await director.locator('[data-testid=shot-next]').click();
    await expect.poll(() => shotName(artist), { timeout: 10_000 }).toBe('sh030');
    await director.locator('[data-testid=shot-prev]').click();
    await expect.poll(() => shotName(artist), { timeout: 10_000 }).toBe('sh020');
    await expect.poll(() => session(artist, 's.versions.currentId'), { timeout: 10_000 }).toBe(shots.sh020.latest);
    expect(await listed.evaluateAll((els) => els.map((e) => e.getAttribute('data-version-id')))).toEqual([shots.sh020.latest]);

    // The help overlay lists the keys.
    await director.keyboard.press('?');
    await expect.poll(() => director.locator('[data-testid=help-overlay]').textContent()).toMatch(/Previous shot/);
    await director.keyboard.press('Escape');

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await director.locator('[data-testid=shot-list]').screenshot({ path: path.join(ARTIFACTS, '20-reel-shot-list.png') });
    await screenshot(artist, '20-reel-artist-follows-to-sh020');
  });

  it('asks whether an upload is a new shot or the next version of the open shot', async () => {
    // The director is on sh020; an upload from the room asks first.
    const file = await clip('sh020_v002.mp4', LOOKS.sh020.replace('noise=alls=12', 'noise=alls=30'));
    const input = director.locator('[data-testid=upload-input]');
    await input.setInputFiles({ name: file.name, mimeType: 'video/mp4', buffer: file.data });
    const choice = director.locator('[data-testid=upload-choice]');
    await choice.waitFor({ timeout: 5_000 });
    expect(await director.locator('[data-testid=upload-next-version]').textContent()).toMatch(/Next version of sh020/);
    expect(await director.locator('[data-testid=upload-new-shot]').textContent()).toMatch(/New shot/);
    await screenshot(director, '20-reel-upload-choice');
    // Nothing leaves before the member answers.
    expect(await server.ingests.list((await server.services.versions.roomOf(shots.sh020.latest))!)).toHaveLength(4);
    await director.locator('[data-testid=upload-next-version]').click();
    await choice.waitFor({ state: 'detached', timeout: 5_000 });
    // The artist's shot list counts it on sh020.
    const sh020 = artist.locator(`[data-testid=shot][data-shot-id="${shots.sh020.id}"] [data-testid=shot-versions]`);
    await expect.poll(() => sh020.textContent(), { timeout: 60_000 }).toBe('2 versions · v002');
    expect(await artist.locator('[data-testid=shot]').count()).toBe(3);

    // Cancel sends nothing; New shot makes a fourth shot.
    await input.setInputFiles({ name: 'sh040.mp4', mimeType: 'video/mp4', buffer: file.data });
    await director.locator('[data-testid=upload-cancel]').click();
    await input.setInputFiles({ name: 'sh040.mp4', mimeType: 'video/mp4', buffer: file.data });
    await director.locator('[data-testid=upload-new-shot]').click();
    await expect.poll(() => artist.locator('[data-testid=shot-name-item]').allTextContents(), { timeout: 60_000 }).toEqual(['sh010', 'sh020', 'sh030', 'sh040']);
    expect(await server.ingests.list((await server.services.versions.roomOf(shots.sh020.latest))!)).toHaveLength(6);
  });
});

describe('the first-start demo room', () => {
  it('opens on the foggy pier and its low angle with their posters, and the drone in the fog of the plate', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-e2e-demo-'));
    const first = await startServer({ port: 0, host: '127.0.0.1', dataDir }, { log: createLogger('warn'), demoRoom: true });
    try {
      const [room] = await first.services.rooms.list();
      const invite = await first.services.roomService.invite(room.id, 'editor', 'Newcomer');
      const page = await person(browser, `${first.url}/room/${room.id}?token=${invite.token}`, { width: 1600, height: 900 });
      await expect.poll(() => page.locator('[data-testid=shot-name-item]').allTextContents(), { timeout: 15_000 }).toEqual([
        'Foggy pier (grain, cast, a drone crossing)',
        'Foggy pier, low angle (another grade)',
      ]);
      const thumbs = page.locator('[data-testid=shot-thumb]');
      await expect.poll(() => thumbs.evaluateAll((els) => els.map((e) => (e as HTMLImageElement).naturalWidth)), { timeout: 10_000 }).toEqual([320, 320]);
      expect(await page.locator('[data-testid=shot-versions]').allTextContents()).toEqual(['2 versions · v002', '1 version · v001']);
      // Back to the plate (v001) at the frame where the drone crosses the fog.
      await session(page, `s.select(s.versions.list.find((v) => v.number === 1 && v.label.startsWith('Plate')).id)`);
      await expect.poll(() => page.locator('[data-testid=current-version]').textContent(), { timeout: 10_000 }).toBe('v001');
      await page.mouse.click(5, 300);
      await page.keyboard.press('Shift+ArrowRight');
      await page.keyboard.press('Shift+ArrowRight');
      await page.keyboard.press('Shift+ArrowRight');
      await expect.poll(() => session(page, 's.player.frame'), { timeout: 10_000 }).toBe(30);
      await page.waitForTimeout(500);
      await screenshot(page, '20-reel-first-start-demo');
      // The re-delivery (cast corrected) and the low angle, as a newcomer sees them.
      await session(page, `s.select(s.versions.list.find((v) => v.number === 2).id)`);
      await expect.poll(() => page.locator('[data-testid=current-version]').textContent(), { timeout: 10_000 }).toBe('v002');
      await page.waitForTimeout(800);
      await screenshot(page, '20-reel-first-start-demo-v002');
      await page.locator('[data-testid=shot-name-item]').nth(1).click();
      await page.waitForTimeout(1500);
      await screenshot(page, '20-reel-first-start-demo-low-angle');
    } finally {
      await first.close();
    }
  });
});

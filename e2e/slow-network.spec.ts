/**
 * The proxy ladder on a slow link (issue 20, "Slow networks"), in Chromium with a real server and a
 * real 1080p clip (moving picture, grain, sound) uploaded and ingested as an artist would: with
 * Chromium's network emulation (CDP Network.emulateNetworkConditions) the player switches down by
 * itself, a seek shows the right frame within 2 s at 1.6 Mbit/s and 400 ms latency, a member can pin
 * Full from the badge's menu, and Auto climbs back once the link is fast again. Each state is
 * screenshotted to e2e/artifacts/slow-network-*.png; the seek times are printed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, CDPSession, Page } from 'playwright-core';
import { startServer, type RunningServer } from '../server/src/main.js';
import { createLogger } from '../server/src/log.js';
import { WEB_BUILD } from '../server/src/http/routes.js';
import { runFfmpeg } from '../server/src/media/ffmpeg.js';
import { launch, person, screenshot } from './browser.js';

/** The generated piece, and the clip uploaded: the piece four times (24 s), so that seeks can land where nothing is buffered. */
const PIECE = 144;
const FRAMES = 4 * PIECE;
const FPS = 24;
/** Bits of the frame index, one block each in a strip at the bottom of the picture. */
const BITS = 12;

let server: RunningServer;
let browser: Browser;
let page: Page;
let cdp: CDPSession;
let versionId: string;
/** A second version of the shot with the same media (rungs included), to compare with. */
let otherId: string;

/**
 * 1920x1080, 24 s at 24 fps: moving colour gradients, a Mandelbrot zoom moving across them, film grain
 * changing every frame, a 330 Hz tone, and the frame index (within each 6 s piece) as black/white
 * blocks along the bottom. Made once per machine (it takes a while on two cores) and reused.
 */
async function clip(): Promise<string> {
  const file = path.join(os.tmpdir(), 'loupe-e2e-slow-network-clip-v2.mp4');
  if (fs.existsSync(file)) return file;
  const piece = `${file}.${process.pid}.piece.mp4`;
  const tmp = `${file}.${process.pid}.mp4`;
  const bits = `255*mod(floor(N/pow(2\\,floor(X/${1920 / BITS})))\\,2)`;
  await runFfmpeg([
    '-f', 'lavfi', '-i', `gradients=s=1920x1080:r=${FPS}:speed=0.03:n=5`,
    '-f', 'lavfi', '-i', `mandelbrot=s=480x480:r=${FPS}`,
    '-f', 'lavfi', '-i', `color=c=black:s=1920x90:r=${FPS},format=gray,geq=lum='${bits}'`,
    '-f', 'lavfi', '-i', 'sine=frequency=330:sample_rate=48000',
    '-filter_complex', `[0][1]overlay=x='200+t*140':y='300+120*sin(t*2)',noise=alls=10:allf=t+u[bg];[bg][2]overlay=y=990,trim=end_frame=${PIECE},format=yuv420p[v]`,
    '-map', '[v]', '-map', '3:a', '-shortest', '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '21', '-c:a', 'aac', '-y', piece,
  ]);
  await runFfmpeg(['-stream_loop', '3', '-i', piece, '-c', 'copy', '-y', tmp]);
  fs.rmSync(piece);
  fs.renameSync(tmp, file);
  return file;
}

/** Uploads a file as the artist over the media API (tus) and waits for its version. */
async function upload(file: string, token: string): Promise<{ versionId: string; ms: number }> {
  const bytes = fs.readFileSync(file);
  const auth = { authorization: `Bearer ${token}` };
  const created = await fetch(`${server.url}/api/ingests`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ files: [{ name: 'plate_1080.mp4', size: bytes.length }], shotName: 'Slow network plate' }),
  });
  const { ingest } = (await created.json()) as { ingest: { id: string; files: { uploadUrl: string }[] } };
  const sent = await fetch(`${server.url}${ingest.files[0].uploadUrl}`, {
    method: 'PATCH',
    headers: { ...auth, 'tus-resumable': '1.0.0', 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' },
    body: new Uint8Array(bytes),
  });
  expect(sent.status).toBe(204);
  const t0 = Date.now();
  for (;;) {
    const view = (await (await fetch(`${server.url}/api/ingests/${ingest.id}`, { headers: auth })).json()) as { ingest: { state: string; error: unknown; result: { versionId: string } } };
    if (view.ingest.state === 'done') return { versionId: view.ingest.result.versionId, ms: Date.now() - t0 };
    if (view.ingest.state === 'failed') throw new Error(`ingest failed: ${JSON.stringify(view.ingest.error)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Chromium's network emulation: throughput in bits/s (null: none), latency in ms. */
async function emulate(bps: number | null, latency = 400): Promise<void> {
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: bps === null ? 0 : latency,
    downloadThroughput: bps === null ? -1 : bps / 8,
    uploadThroughput: bps === null ? -1 : bps / 8,
  });
}

const badge = () => page.locator('[data-testid=proxy-badge]');
const rungOnScreen = () => badge().getAttribute('data-rung');

/** The video's source address and intrinsic size. */
const videoInfo = () =>
  page.evaluate(() => {
    const v = document.querySelector('[data-testid=video]') as HTMLVideoElement;
    return { src: v.currentSrc, width: v.videoWidth, height: v.videoHeight, readyState: v.readyState };
  });

/**
 * Seeks (as the timeline does) to the first of `candidates` whose time the video has not buffered (so
 * the bytes must come over the link; none: stays on the player's frame), and waits, in the page, until the decoded picture is that
 * frame: the video is not seeking, has the frame's data (readyState >= 2), its time is in the frame,
 * and the index blocks drawn from it onto a canvas read the frame's number. Returns how long it took.
 */
async function seekAndTime(candidates: number[], timeoutMs = 30_000): Promise<{ frame: number; ms: number; ok: boolean; buffered: boolean }> {
  return page.evaluate(
    async ({ candidates, fps, piece, bits, timeoutMs }) => {
      const s = (window as any).__loupe.session;
      const v = document.querySelector('[data-testid=video]') as HTMLVideoElement;
      const inBuffer = (f: number) => {
        const t = (f + 0.5) / fps;
        for (let i = 0; i < v.buffered.length; i++) if (v.buffered.start(i) - 0.5 <= t && t <= v.buffered.end(i) + 0.5) return true;
        return false;
      };
      // No candidates: no seek, wait for the frame the player is on.
      const frame: number = candidates.length ? (candidates.find((f) => !inBuffer(f)) ?? candidates[0]) : s.player.frame;
      const buffered = inBuffer(frame);
      const c = document.createElement('canvas');
      const readIndex = (): number => {
        if (!v.videoWidth) return -1;
        c.width = v.videoWidth;
        c.height = v.videoHeight;
        const ctx = c.getContext('2d', { willReadFrequently: true })!;
        ctx.drawImage(v, 0, 0);
        let n = 0;
        for (let b = 0; b < bits; b++) {
          const x = Math.floor(((b + 0.5) / bits) * c.width);
          const y = Math.floor(c.height * (1 - 45 / 1080));
          if (ctx.getImageData(x, y, 1, 1).data[1] > 128) n |= 1 << b;
        }
        return n;
      };
      const t0 = performance.now();
      if (candidates.length) s.player.seek(frame);
      for (;;) {
        await new Promise((r) => setTimeout(r, 15));
        const inFrame = Math.floor(v.currentTime * fps + 1e-6) === frame;
        if (!v.seeking && v.readyState >= 2 && inFrame && readIndex() === frame % piece) return { frame, ms: performance.now() - t0, ok: true, buffered };
        if (performance.now() - t0 > timeoutMs) return { frame, ms: performance.now() - t0, ok: false, buffered };
      }
    },
    { candidates, fps: FPS, piece: PIECE, bits: BITS, timeoutMs },
  );
}

beforeAll(async () => {
  if (!fs.existsSync(path.join(WEB_BUILD, 'handler.js'))) throw new Error('apps/web is not built: run `npm run build` first (npm test does).');
  const file = await clip();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-e2e-slow-'));
  server = await startServer({ port: 0, host: '127.0.0.1', dataDir }, { log: createLogger('warn') });
  const { room, invites } = await server.services.roomService.create('Slow network room', { demo: false });
  const token = (role: string) => invites.find((i) => i.role === role)!.token;
  const up = await upload(file, token('artist'));
  versionId = up.versionId;
  const source = (await server.services.versions.get(versionId))!;
  otherId = (await server.services.versions.insert(room.id, { ...source, id: `v2-${room.id}`, label: 'plate_1080 v002', createdAt: new Date().toISOString(), provenance: null }, null)).id;
  console.log(`[slow-network] ingest of the 1080p clip (${FRAMES} frames, proxy and ladder): ${up.ms} ms`);
  browser = await launch();
  page = await person(browser, `${server.url}/room/${room.id}?token=${token('director')}`, { width: 1440, height: 900 });
  cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** Frames towards the end first: far from what the player buffered since it (re)started. */
const FAR = [560, 530, 500, 470, 440, 410, 380, 350, 320, 290, 260, 230, 200];

describe('the proxy ladder on a slow link', () => {
  it('plays Full on a fast link, and says so', async () => {
    // v001 on screen (the uploaded one; v002 shares its media).
    await page.evaluate((id) => (window as any).__loupe.session.select(id), versionId);
    await expect.poll(() => page.evaluate(() => (window as any).__loupe.state.currentVersionId)).toBe(versionId);
    await expect.poll(rungOnScreen, { timeout: 30_000 }).toBe('full');
    await expect(badge().textContent()).resolves.toMatch(/^Full auto/);
    await expect.poll(async () => (await videoInfo()).readyState, { timeout: 30_000 }).toBeGreaterThanOrEqual(2);
    expect((await videoInfo()).width).toBe(1920);
    const fast = await seekAndTime([100]);
    expect(fast.ok).toBe(true);
    expect(fast.ms).toBeLessThan(2000);
    console.log(`[slow-network] seek to picture, no emulation, Full: ${Math.round(fast.ms)} ms`);
    await screenshot(page, 'slow-network-1-fast-full-auto');
  });

  it('switches down by itself at 1.6 Mbit/s and 400 ms, and a seek shows the right frame within 2 s', async () => {
    // Every byte from now on comes over the emulated link: nothing from the HTTP cache.
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    await cdp.send('Network.clearBrowserCache');
    await emulate(1_600_000);
    await expect.poll(rungOnScreen, { timeout: 40_000 }).toBe('360p');
    await expect(badge().textContent()).resolves.toMatch(/^360p auto/);
    await expect.poll(async () => (await videoInfo()).src, { timeout: 10_000 }).toContain(`/api/versions/${versionId}/proxy/360p`);
    await expect.poll(async () => (await videoInfo()).readyState, { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
    const info = await videoInfo();
    expect([info.width, info.height]).toEqual([640, 360]);
    // The switch kept the frame: still frame 100, and the 360p picture shows it.
    expect(await page.evaluate(() => (window as any).__loupe.session.player.frame)).toBe(100);
    expect(await seekAndTime([])).toMatchObject({ frame: 100, ok: true });
    // The overlays' layer lies exactly on the (smaller) video: drawings stay on their source pixels.
    const [vb, pb] = [await page.locator('[data-testid=video]').boundingBox(), await page.locator('[data-testid=picture]').boundingBox()];
    expect(pb).toEqual(vb);

    const seeks: { frame: number; ms: number; ok: boolean; buffered: boolean }[] = [];
    for (let i = 0; i < 3; i++) seeks.push(await seekAndTime(FAR));
    console.log(`[slow-network] seek to picture at 1.6 Mbit/s, 400 ms, 360p auto (unbuffered frames ${seeks.map((x) => x.frame).join(', ')}): ${seeks.map((x) => Math.round(x.ms)).join(', ')} ms`);
    for (const x of seeks) {
      expect(x, `frame ${x.frame}`).toMatchObject({ ok: true, buffered: false });
      expect(x.ms).toBeLessThan(2000);
    }
    // Frame-accurate stepping on the rung: the next frame, exactly.
    const last = seeks[seeks.length - 1].frame;
    expect(await seekAndTime([last + 1])).toMatchObject({ frame: last + 1, ok: true });
    await screenshot(page, 'slow-network-2-slow-360p-auto');

    // Compare: B plays the same rung as A, and the wipe's B half lies on the same rectangle.
    await page.evaluate((id) => (window as any).__loupe.session.compare.compareWith(id), otherId);
    const bVideo = page.locator('[data-testid=compare-b] video');
    await expect.poll(() => bVideo.getAttribute('data-rung'), { timeout: 10_000 }).toBe('360p');
    await expect.poll(() => bVideo.evaluate((v: HTMLVideoElement) => v.currentSrc), { timeout: 10_000 }).toContain(`/api/versions/${otherId}/proxy/360p`);
    await expect.poll(() => bVideo.evaluate((v: HTMLVideoElement) => v.readyState), { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
    expect(await page.locator('[data-testid=compare-b]').boundingBox()).toEqual(await page.locator('[data-testid=video]').boundingBox());
    await screenshot(page, 'slow-network-2b-compare-wipe-360p');
    await page.evaluate(() => (window as any).__loupe.session.compare.close());
  });

  it('lets the member pin Full from the badge menu (and shows how slow that is), then Auto again', async () => {
    await badge().click();
    await page.locator('[data-testid=proxy-menu]').waitFor();
    await expect(page.locator('[data-testid=proxy-auto]').textContent()).resolves.toMatch(/Auto.*link .*bit\/s → 360p/);
    await screenshot(page, 'slow-network-3-menu');
    await page.locator('[data-testid=proxy-full]').click();
    await expect.poll(rungOnScreen, { timeout: 5000 }).toBe('full');
    await expect(badge().textContent()).resolves.toMatch(/^Full/);
    expect(await badge().textContent()).not.toMatch(/auto/);
    await expect.poll(async () => (await videoInfo()).src, { timeout: 5000 }).toMatch(/\/blobs\/[0-9a-f]{64}/);
    await expect.poll(async () => (await videoInfo()).readyState, { timeout: 60_000 }).toBeGreaterThanOrEqual(1);
    const full = await seekAndTime(FAR, 60_000);
    console.log(`[slow-network] seek to picture at 1.6 Mbit/s, 400 ms, Full pinned (frame ${full.frame}, buffered: ${full.buffered}): ${Math.round(full.ms)} ms`);
    expect(full).toMatchObject({ ok: true, buffered: false });
    expect((await videoInfo()).width).toBe(1920);
    await screenshot(page, 'slow-network-4-pinned-full');
    // The choice is this member's and kept in the browser.
    expect(await page.evaluate(() => localStorage.getItem('loupe.viewer.proxy'))).toBe('"full"');

    // Down to 200 kbit/s, then back to Auto: 360p loads afresh over the slower link.
    await emulate(200_000);
    await badge().click();
    await page.locator('[data-testid=proxy-auto]').click();
    await expect.poll(rungOnScreen, { timeout: 20_000 }).toBe('360p');
    await expect.poll(async () => (await videoInfo()).src, { timeout: 10_000 }).toContain('/proxy/360p');
  });

  it('stays on 360p at 200 kbit/s, where a seek still shows a picture in seconds, not 18', async () => {
    await expect.poll(async () => (await page.evaluate(() => (window as any).__loupe.session.ladder.estimate)) as number, { timeout: 40_000 }).toBeLessThan(400_000);
    expect(await rungOnScreen()).toBe('360p');
    await expect.poll(async () => (await videoInfo()).readyState, { timeout: 60_000 }).toBeGreaterThanOrEqual(1);
    const r = await seekAndTime(FAR, 60_000);
    console.log(`[slow-network] seek to picture at 200 kbit/s, 400 ms, 360p auto (frame ${r.frame}, buffered: ${r.buffered}): ${Math.round(r.ms)} ms`);
    expect(r).toMatchObject({ ok: true, buffered: false });
    expect(r.ms).toBeLessThan(8000);
    await screenshot(page, 'slow-network-5-200kbit-360p');
  });

  it('climbs back to Full once the emulation is removed', async () => {
    await emulate(null);
    await expect.poll(rungOnScreen, { timeout: 40_000 }).toBe('full');
    await expect(badge().textContent()).resolves.toMatch(/^Full auto/);
    await expect.poll(async () => (await videoInfo()).width, { timeout: 20_000 }).toBe(1920);
    expect(await seekAndTime([90])).toMatchObject({ frame: 90, ok: true });
    await screenshot(page, 'slow-network-6-fast-again-full-auto');

    // A switch while playing keeps playing from where it was (pinning 360p, then Auto again).
    await page.evaluate(() => (window as any).__loupe.session.player.play());
    await expect.poll(() => page.evaluate(() => (document.querySelector('[data-testid=video]') as HTMLVideoElement).currentTime), { timeout: 10_000 }).toBeGreaterThan(4.5);
    const before = await page.evaluate(() => (window as any).__loupe.session.player.frame as number);
    await badge().click();
    await page.locator('[data-testid=proxy-360p]').click();
    await expect.poll(async () => (await videoInfo()).src, { timeout: 5000 }).toContain('/proxy/360p');
    await expect.poll(async () => (await videoInfo()).width, { timeout: 10_000 }).toBe(640);
    await expect.poll(() => page.evaluate(() => !(document.querySelector('[data-testid=video]') as HTMLVideoElement).paused), { timeout: 10_000 }).toBe(true);
    const after = await page.evaluate(() => ({ playing: (window as any).__loupe.session.player.playing as boolean, frame: (window as any).__loupe.session.player.frame as number }));
    expect(after.playing).toBe(true);
    expect(after.frame).toBeGreaterThanOrEqual(before);
    expect(after.frame - before).toBeLessThan(5 * FPS);
    await page.evaluate(() => (window as any).__loupe.session.player.pause());
    await badge().click();
    await page.locator('[data-testid=proxy-auto]').click();
    await expect.poll(rungOnScreen, { timeout: 20_000 }).toBe('full');
  });
});

/**
 * An upload survives a page reload (issue 16 §3): in Chromium with a real server, an artist picks a
 * movie on a slow link; halfway the page is reloaded; the same file picked again continues the same
 * upload from the bytes the server has (tus-js-client found it by its fingerprint in localStorage),
 * and it becomes the room's new shot.
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
import { launch, person, screenshot } from './browser.js';

let server: RunningServer;
let browser: Browser;
let dir: string;

beforeAll(async () => {
  if (!fs.existsSync(path.join(WEB_BUILD, 'handler.js'))) throw new Error('apps/web is not built: run `npm run build` first (npm test does).');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-e2e-resume-'));
  server = await startServer({ port: 0, host: '127.0.0.1', dataDir: dir }, { log: createLogger('warn') });
  browser = await launch();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Chromium's network emulation on this page: upload throughput in bytes/s (-1: none). */
async function uploadSpeed(page: Page, bytesPerSecond: number) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bytesPerSecond });
}

describe('an upload and a page reload', () => {
  it('continues from where the server is once the same file is picked again, and lands as one shot', async () => {
    const { room, invites } = await server.services.roomService.create('Resume room', { demo: false });
    const token = invites.find((i) => i.role === 'artist')!.token;
    // A file on disk (its modification time is part of the fingerprint, as for a member's file).
    const movie = path.join(dir, 'resume_v001.mp4');
    await runFfmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=24:duration=2,noise=alls=40:allf=t+u', '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0', '-pix_fmt', 'yuv420p', '-y', movie]);
    const size = fs.statSync(movie).size;
    expect(size).toBeGreaterThan(1_500_000);

    const page = await person(browser, `${server.url}/room/${room.id}?token=${token}`);
    await uploadSpeed(page, 200_000);
    await page.locator('[data-testid=upload-input]').setInputFiles(movie);

    // Part of it is on the server.
    const ingests = () => server.ingests.list(room.id);
    await expect.poll(async () => (await ingests()).length, { timeout: 10_000 }).toBe(1);
    const id = (await ingests())[0].id;
    const offset = async () => server.ingests.view((await ingests())[0]).files[0].offset;
    await expect.poll(offset, { timeout: 30_000 }).toBeGreaterThan(300_000);

    // Reload mid-upload; the link is fast again.
    await page.reload();
    await page.locator('[data-testid=connection][data-state=connected]').waitFor({ timeout: 30_000 });
    const kept = await offset();
    expect(kept).toBeGreaterThan(300_000);
    expect(kept).toBeLessThan(size);

    // The same file again: tus-js-client asks the server where it is and sends only the rest.
    const resumedAt: number[] = [];
    page.on('request', (r) => {
      if (r.method() === 'PATCH' && r.url().includes(`/api/uploads/${id}.`)) resumedAt.push(Number(r.headers()['upload-offset']));
    });
    await page.locator('[data-testid=upload-input]').setInputFiles(movie);
    await expect.poll(async () => (await ingests())[0].state, { timeout: 60_000 }).toBe('done');
    expect(resumedAt[0]).toBeGreaterThanOrEqual(kept);
    // One ingest, one shot: nothing was uploaded twice.
    expect((await ingests()).map((i) => i.id)).toEqual([id]);
    expect(await server.services.rooms.shots(room.id)).toEqual([expect.objectContaining({ name: 'resume_v001' })]);
    // Finished: its fingerprint is forgotten, so picking the file again is a new upload.
    await expect.poll(() => page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('tus::')).length)).toBe(0);
    await screenshot(page, '16-upload-resumed-after-reload');
  });
});

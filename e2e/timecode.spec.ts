import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startServer, type RunningServer } from '../server/src/main.js';
import { createLogger } from '../server/src/log.js';
import { WEB_BUILD } from '../server/src/http/routes.js';
import { runFfmpeg } from '../server/src/media/ffmpeg.js';
import { uploadAndWait } from '../server/test/media-helpers.js';
import { launch, person, screenshot } from './browser.js';

let server: RunningServer;
let browser: Browser;

beforeAll(async () => {
  if (!fs.existsSync(path.join(WEB_BUILD, 'handler.js'))) throw new Error('apps/web is not built: run `npm run build` first (npm test does).');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-e2e-tc-'));
  server = await startServer({ port: 0, host: '127.0.0.1', dataDir }, { log: createLogger('warn') });
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('the player\'s timecode', () => {
  it('counts from the media\'s own start timecode and shows its reel, also for a version added to a shot that started elsewhere', async () => {
    const { room, invites } = await server.services.roomService.create('Timecode room', { demo: false });
    const token = (role: string) => invites.find((i) => i.role === role)!.token;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-e2e-tc-media-'));
    const footage = ['-f', 'lavfi', '-i', 'testsrc2=s=640x360:r=24,noise=alls=20:allf=t,trim=end_frame=24'];
    // v001 without timecode makes the shot (00:00:00:00); v002, ProRes on reel A001C003 from 01:00:10:00, joins it.
    await runFfmpeg([...footage, '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-y', path.join(dir, 'plate.mp4')]);
    await runFfmpeg([...footage, '-c:v', 'prores_ks', '-profile:v', '4', '-pix_fmt', 'yuva444p10le', '-timecode', '01:00:10:00', '-metadata:s:v:0', 'reel_name=A001C003', '-y', path.join(dir, 'plate_v002.mov')]);
    const v1 = await uploadAndWait(server.url, token('artist'), [{ name: 'plate.mp4', data: fs.readFileSync(path.join(dir, 'plate.mp4')) }]);
    const v2 = await uploadAndWait(server.url, token('artist'), [{ name: 'plate_v002.mov', data: fs.readFileSync(path.join(dir, 'plate_v002.mov')) }], { shotId: v1.result!.shotId! });
    expect([v1.error, v2.error]).toEqual([null, null]);

    const page = await person(browser, `${server.url}/room/${room.id}?token=${token('editor')}`);
    await expect.poll(() => page.locator('[data-testid=timecode]').textContent(), { timeout: 15_000 }).toBe('01:00:10:00');
    expect(await page.locator('[data-testid=reel]').textContent()).toBe('A001C003');
    await page.locator('[data-testid=frame-counter]').click();
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => page.locator('[data-testid=timecode]').textContent(), { timeout: 5_000 }).toBe('01:00:10:01');
    await screenshot(page, '20-media-timecode-and-reel');
  });
});

/**
 * Media in an S3-compatible object store (BLOB_URL, docs/deploy.md#blobs-an-object-store), in
 * Chromium: a clip stored through node A is played by a member on node B, which shares the database
 * and the bucket but starts with an empty cache. B answers the player's range requests with ranged
 * reads of the bucket (s3rver, started in this process).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { blobsFromEnv } from '../server/src/config.js';
import { startServer, type RunningServer } from '../server/src/main.js';
import { createLogger } from '../server/src/log.js';
import { WEB_BUILD } from '../server/src/http/routes.js';
import { runFfmpeg } from '../server/src/media/ffmpeg.js';
import { launch, screenshot } from './browser.js';

process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';

let s3rver: S3rver;
let a: RunningServer;
let b: RunningServer;
let browser: Browser;
let page: Page;
let proxySha = '';
let cacheB = '';
const media: { url: string; status: number; range: string | null }[] = [];

const session = <T>(p: Page, fn: string): Promise<T> => p.evaluate(`(() => { const s = window.__loupe.session; return ${fn}; })()`) as Promise<T>;

beforeAll(async () => {
  if (!fs.existsSync(path.join(WEB_BUILD, 'handler.js'))) throw new Error('apps/web is not built: run `npm run build` first (npm test does).');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-e2e-s3-'));
  s3rver = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: path.join(tmp, 's3'), configureBuckets: [{ name: 'e2e-media', configs: [] }] });
  const { port } = await s3rver.run();
  const dataDir = path.join(tmp, 'data');
  const env = (extra: Record<string, string> = {}) => blobsFromEnv({ BLOB_URL: 's3://e2e-media/loupe', S3_ENDPOINT: `http://127.0.0.1:${port}`, ...extra }, dataDir);
  a = await startServer({ port: 0, host: '127.0.0.1', dataDir, blobs: env() }, { log: createLogger('warn') });
  const { room, invites } = await a.services.roomService.create('Bucket room', { demo: false });
  const clip = path.join(tmp, 'bucket-clip.mp4');
  await runFfmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=24:duration=6', '-c:v', 'libx264', '-preset', 'veryfast', '-g', '6', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', '-y', clip]);
  proxySha = await a.services.blobs.putFile(clip);
  await a.services.roomService.addVideoShot(room.id, 'Bucket shot', proxySha, 24, 640, 360, 144);
  cacheB = path.join(tmp, 'cache-b');
  b = await startServer({ port: 0, host: '127.0.0.1', dataDir, blobs: env({ BLOB_CACHE_DIR: cacheB }) }, { log: createLogger('warn') });
  browser = await launch();
  const viewer = invites.find((i) => i.role === 'viewer')!.token;
  // The page is watched from its first request: the player asks for ranges as soon as it loads.
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  page.on('response', (r) => {
    if (/\/blobs\/|\/proxy\//.test(r.url())) media.push({ url: r.url(), status: r.status(), range: r.request().headers().range ?? null });
  });
  await page.goto(`${b.url}/room/${room.id}?token=${viewer}`);
  await page.locator('[data-testid=connection][data-state=connected]').waitFor({ timeout: 30_000 });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await b?.close();
  await a?.close();
  await s3rver?.close();
});

describe('a video that only the bucket has', () => {
  it('plays on a node with an empty cache, its bytes read from the bucket by ranges', async () => {
    const video = page.locator('[data-testid=video]');
    await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.readyState), { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
    expect(await video.evaluate((v: HTMLVideoElement) => [v.videoWidth, v.videoHeight])).toEqual([640, 360]);
    await page.locator('[data-testid=play]').click();
    await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.currentTime), { timeout: 20_000 }).toBeGreaterThan(2);
    await page.locator('[data-testid=play]').click();
    await expect.poll(() => session(page, 's.player.playing'), { timeout: 10_000 }).toBe(false);
    await screenshot(page, 's3-node-b-playing');
    // Chromium asked for ranges and got 206s; B never downloaded the clip into its cache.
    expect(media.some((m) => m.status === 206 && m.range)).toBe(true);
    expect(media.filter((m) => m.status >= 400)).toEqual([]);
    const cached = fs.existsSync(cacheB) ? (fs.readdirSync(cacheB, { recursive: true }) as string[]).map((f) => path.basename(f)) : [];
    expect(cached).not.toContain(proxySha);
  });
});

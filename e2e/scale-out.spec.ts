import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startServer, type RunningServer } from '../server/src/main.js';
import { createLogger } from '../server/src/log.js';
import { dropRedisKeys } from '../server/src/cluster/redis.js';
import { WEB_BUILD } from '../server/src/http/routes.js';
import { dragOnPicture, launch, paintedPixels, person, screenshot } from './browser.js';

/**
 * The room across two nodes, as people see it: the artist's browser talks to node A (which also
 * runs the fix worker), the director's to node B; the nodes share Redis (the one on this machine,
 * under a key prefix of this run) and the data folder.
 */
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redis = { url: REDIS_URL, prefix: `loupe-e2e-${crypto.randomBytes(4).toString('hex')}` };
let A: RunningServer;
let B: RunningServer;
let browser: Browser;
let links: { artist: string; director: string };

beforeAll(async () => {
  if (!fs.existsSync(path.join(WEB_BUILD, 'handler.js'))) throw new Error('apps/web is not built: run `npm run build` first (npm test does).');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-e2e-'));
  const log = createLogger('warn');
  A = await startServer({ port: 0, host: '127.0.0.1', dataDir, redis, role: 'all' }, { log });
  B = await startServer({ port: 0, host: '127.0.0.1', dataDir, redis, role: 'api' }, { log });
  const { room, invites } = await A.services.roomService.create('Two-node room');
  const token = (role: string) => invites.find((i) => i.role === role)!.token;
  links = { artist: `${A.url}/room/${room.id}?token=${token('artist')}`, director: `${B.url}/room/${room.id}?token=${token('director')}` };
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  await B?.close();
  await A?.close();
  await dropRedisKeys(REDIS_URL, redis.prefix);
});

describe('one room on two nodes', () => {
  it('the director on node B sees the artist on node A draw, and watches the fix paint in', async () => {
    const artist = await person(browser, links.artist);
    const director = await person(browser, links.director, { width: 1100, height: 760 });
    // Presence crosses nodes: each sees two people.
    await director.locator('[data-testid=participant]').nth(1).waitFor({ timeout: 15_000 });
    await artist.locator('[data-testid=participant]').nth(1).waitFor({ timeout: 15_000 });

    await artist.locator('[data-testid=tool-pen]').click();
    await dragOnPicture(artist, [0.2, 0.3], [0.45, 0.55]);
    await director.waitForFunction(() => (window as any).__loupe?.doc?.getMap('annotations').size === 1, null, { timeout: 15_000 });
    await expect.poll(() => paintedPixels(director, 'annotation-canvas'), { timeout: 10_000 }).toBeGreaterThan(200);
    await screenshot(director, 'two-nodes-01-director-on-B-sees-stroke');

    await artist.locator('[data-testid=tool-region]').click();
    await dragOnPicture(artist, [0.55, 0.2], [0.75, 0.45], 6);
    await artist.locator('[data-testid=fix-run]').click();
    await expect
      .poll(() => director.evaluate(() => Object.values((window as any).__loupe.state.tileCounts as Record<string, number>).reduce((a, b) => a + b, 0)), { timeout: 60_000, interval: 100 })
      .toBeGreaterThan(0);
    await screenshot(director, 'two-nodes-02-director-on-B-watches-tiles');
    await director.locator('[data-testid=job][data-state=done]').waitFor({ timeout: 120_000 });
    const aiVersion = director.locator('[data-testid=version][data-kind=ai]');
    await aiVersion.waitFor({ timeout: 15_000 });
    await expect(aiVersion.count()).resolves.toBe(1);

    await aiVersion.click();
    await director.locator('[data-testid=approve]').click();
    await artist.locator('[data-testid=version][data-kind=ai][data-status=approved]').waitFor({ timeout: 15_000 });
    await screenshot(artist, 'two-nodes-03-artist-on-A-sees-approval');
  });
});

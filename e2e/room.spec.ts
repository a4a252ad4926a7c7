import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { annotationPoints } from '@loupe/shared';
import { startServer, type RunningServer } from '../server/src/main.js';
import { createLogger } from '../server/src/log.js';
import { WEB_BUILD } from '../server/src/http/routes.js';
import { dragOnPicture, launch, paintedPixels, person, screenshot } from './browser.js';

let server: RunningServer;
let browser: Browser;
let links: Record<string, string>;

beforeAll(async () => {
  if (!fs.existsSync(path.join(WEB_BUILD, 'handler.js'))) throw new Error('apps/web is not built: run `npm run build` first (npm test does).');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-e2e-'));
  server = await startServer({ port: 0, host: '127.0.0.1', dataDir }, { log: createLogger('warn') });
  const { room, invites } = await server.services.roomService.create('E2E room');
  links = Object.fromEntries(invites.map((i) => [i.role, `${server.url}/room/${room.id}?token=${i.token}`]));
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('two people in one room', () => {
  it('sees a stroke drawn by the other, and watches a fix paint in and land as an AI version', async () => {
    const artist = await person(browser, links.artist, { width: 1440, height: 900 });
    // A different window size: the stroke must land on the same spot of the picture.
    const director = await person(browser, links.director, { width: 1100, height: 760 });
    await screenshot(artist, '01-artist-joined');

    // Both see each other.
    await director.locator('[data-testid=participant]').nth(1).waitFor({ timeout: 15_000 });

    await artist.locator('[data-testid=tool-pen]').click();
    await dragOnPicture(artist, [0.2, 0.3], [0.45, 0.55]);
    await director.waitForFunction(() => (window as any).__loupe?.doc?.getMap('annotations').size === 1, null, { timeout: 15_000 });
    await expect.poll(() => paintedPixels(director, 'annotation-canvas'), { timeout: 10_000 }).toBeGreaterThan(200);
    const stroke = await director.evaluate(() => {
      const a = (window as any).__loupe.state.annotations[0];
      return { ...a, packedPoints: a.packedPoints && Array.from(a.packedPoints as Uint8Array) };
    });
    expect(stroke.kind).toBe('pen');
    const [start] = annotationPoints({ ...stroke, packedPoints: stroke.packedPoints && Uint8Array.from(stroke.packedPoints) });
    expect(start[0]).toBeCloseTo(0.2, 1);
    expect(start[1]).toBeCloseTo(0.3, 1);
    await screenshot(director, '02-director-sees-stroke');

    // The artist selects a region and asks for Upscale x2.
    await artist.locator('[data-testid=tool-region]').click();
    await dragOnPicture(artist, [0.55, 0.2], [0.75, 0.45], 6);
    await artist.locator('[data-testid=fix-run]').click();
    await director.locator('[data-testid=job]').first().waitFor({ timeout: 15_000 });
    // Tiles arrive while the job runs (a finished fix is drawn over the source only on request).
    await expect
      .poll(() => director.evaluate(() => Object.values((window as any).__loupe.state.tileCounts as Record<string, number>).reduce((a, b) => a + b, 0)), { timeout: 60_000, interval: 100 })
      .toBeGreaterThan(0);
    await screenshot(director, '03-director-watches-tiles');
    await director.locator('[data-testid=job][data-state=done]').waitFor({ timeout: 120_000 });
    const aiVersion = director.locator('[data-testid=version][data-kind=ai]');
    await aiVersion.waitFor({ timeout: 15_000 });
    await expect.poll(() => aiVersion.locator('[data-testid=ai-badge]').count(), { timeout: 10_000 }).toBeGreaterThan(0);
    await screenshot(director, '04-director-sees-ai-version');

    // The director approves; the artist sees the status change.
    await aiVersion.click();
    await director.locator('[data-testid=approve]').click();
    await artist.locator('[data-testid=version][data-kind=ai][data-status=approved]').waitFor({ timeout: 15_000 });
    await screenshot(artist, '05-artist-sees-approval');
  });
});

/**
 * Honest labels and the eyedropper in the room, in Chromium: the fix panel says whether a learned
 * model or an algorithm will compute the result, the white balance neutral is picked on the picture,
 * and the version badge of an algorithmic result says "Algorithm", not "AI".
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startServer, type RunningServer } from '../server/src/main.js';
import { createLogger } from '../server/src/log.js';
import { WEB_BUILD } from '../server/src/http/routes.js';
import { dragOnPicture, launch, person, screenshot } from './browser.js';

let server: RunningServer;
let browser: Browser;
let links: Record<string, string>;

beforeAll(async () => {
  if (!fs.existsSync(path.join(WEB_BUILD, 'handler.js'))) throw new Error('apps/web is not built: run `npm run build` first (npm test does).');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-e2e-labels-'));
  server = await startServer({ port: 0, host: '127.0.0.1', dataDir }, { log: createLogger('warn') });
  const { room, invites } = await server.services.roomService.create('Labels room');
  links = Object.fromEntries(invites.map((i) => [i.role, `${server.url}/room/${room.id}?token=${i.token}`]));
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('what computed a fix, said in the room', () => {
  it('labels learned models and algorithms apart, picks a neutral on the picture, and badges the result', async () => {
    const artist = await person(browser, links.artist, { width: 1440, height: 900 });
    await artist.locator('[data-testid=tool-region]').click();
    await dragOnPicture(artist, [0.3, 0.3], [0.6, 0.6], 6);
    const maker = artist.locator('[data-testid=fix-maker]');

    await artist.locator('[data-testid=fix-select]').selectOption('upscale-x2');
    await expect.poll(() => maker.textContent()).toMatch(/AI · learned model \(ESRGAN \(RDN\) network\)/);
    expect(await maker.getAttribute('data-kind')).toBe('learned');

    await artist.locator('[data-testid=fix-select]').selectOption('denoise');
    await expect.poll(() => maker.textContent()).toMatch(/^\s*Algorithm \(guided filter\)\s*$/);

    await artist.locator('[data-testid=fix-select]').selectOption('exposure');
    await expect.poll(() => maker.textContent()).toMatch(/Algorithm \(colour matrix and curves\)/);
    // White balance: as shot by default; "pick neutral" waits for a click on the picture.
    expect(await artist.locator('[data-testid=fix-param-wb]').inputValue()).toBe('none');
    await artist.locator('[data-testid=fix-param-wb]').selectOption('neutral');
    await artist.locator('[data-testid=annotation-canvas][data-tool=eyedropper]').waitFor({ timeout: 5_000 });
    await screenshot(artist, 'labels-01-eyedropper');
    const box = (await artist.locator('[data-testid=picture]').boundingBox())!;
    await artist.mouse.click(box.x + 0.4 * box.width, box.y + 0.45 * box.height);
    await expect.poll(() => artist.locator('[data-testid=fix-param-pick-neutral]').textContent()).toMatch(/Neutral at 40%, 45%/);
    // The click picked; it drew nothing.
    expect(await artist.evaluate(() => (window as any).__loupe?.doc?.getMap('annotations').size ?? 0)).toBe(0);
    await screenshot(artist, 'labels-02-neutral-picked');

    await artist.locator('[data-testid=fix-run]').click();
    const version = artist.locator('[data-testid=version][data-kind=ai]');
    await version.waitFor({ timeout: 120_000 });
    const badge = version.locator('[data-testid=ai-badge]');
    await expect.poll(() => badge.textContent(), { timeout: 10_000 }).toBe('Algorithm');
    expect(await badge.getAttribute('data-kind')).toBe('algorithm');
    await version.click();
    await artist.locator('[data-testid=provenance-maker][data-kind=algorithm]').waitFor({ timeout: 10_000 });
    expect(await artist.locator('[data-testid=provenance]').textContent()).toMatch(/an algorithm \(code, no trained weights\): colour matrix and curves/);
    expect(await artist.locator('[data-testid=viewer-ai-label]').textContent()).toMatch(/^Algorithm/);
    await screenshot(artist, 'labels-03-algorithm-version');
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startServer, type RunningServer } from '../server/src/main.js';
import { createLogger } from '../server/src/log.js';
import { WEB_BUILD } from '../server/src/http/routes.js';
import { launch, person, screenshot } from './browser.js';

let server: RunningServer;
let browser: Browser;
let links: Record<string, string>;
let inviteIds: Record<string, string>;

const state = (p: Page, key: string) => p.evaluate((k) => (window as any).__loupe.state[k], key);

beforeAll(async () => {
  if (!fs.existsSync(path.join(WEB_BUILD, 'handler.js'))) throw new Error('apps/web is not built: run `npm run build` first (npm test does).');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-e2e-tabs-'));
  server = await startServer({ port: 0, host: '127.0.0.1', dataDir, inviteCheckMs: 500 }, { log: createLogger('warn') });
  const { room, invites } = await server.services.roomService.create('Tabs room');
  links = Object.fromEntries(invites.map((i) => [i.role, `${server.url}/room/${room.id}?token=${i.token}`]));
  inviteIds = Object.fromEntries(invites.map((i) => [i.role, i.id]));
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('one person, two tabs; an invite revoked while open', () => {
  it('counts a person once, keeps one presenter, and a second tab joins the room where it is without moving it', async () => {
    const director = await person(browser, links.director);
    const artist = await person(browser, links.artist);
    await director.locator('[data-testid=present]').click();
    await expect.poll(() => state(artist, 'following'), { timeout: 10_000 }).toBe(true);
    await director.locator('[data-testid=frame-counter]').click();
    for (let i = 0; i < 4; i++) await director.keyboard.press('Shift+ArrowRight');
    const target = await state(director, 'frame');
    expect(target).toBeGreaterThan(0);
    await expect.poll(() => state(artist, 'frame'), { timeout: 5_000 }).toBe(target);
    const versionOnArtist = await state(artist, 'currentVersionId');

    // The director opens his own link again, in a second tab of the same browser.
    const second = await director.context().newPage();
    second.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
    await second.goto(links.director);
    await second.locator('[data-testid=connection][data-state=connected]').waitFor({ timeout: 30_000 });
    await expect.poll(() => state(second, 'frame'), { timeout: 5_000 }).toBe(target);
    await new Promise((r) => setTimeout(r, 1500)); // a reset of the room, if any, would land now

    // The room did not move; one presenter (the first tab); one entry per person everywhere.
    expect(await state(artist, 'frame')).toBe(target);
    expect(await state(artist, 'currentVersionId')).toBe(versionOnArtist);
    expect(await director.locator('[data-testid=stop-presenting]').count()).toBe(1);
    expect(await second.locator('[data-testid=stop-presenting]').count()).toBe(0);
    expect(await state(second, 'following')).toBe(true);
    for (const p of [director, second, artist]) {
      await expect.poll(() => p.locator('[data-testid=participant]').count(), { timeout: 5_000 }).toBe(2);
    }
    await screenshot(second, '20-director-second-tab-follows');

    // The first tab still drives the room; the second follows it too.
    await director.keyboard.press('ArrowRight');
    await expect.poll(async () => [await state(artist, 'frame'), await state(second, 'frame')], { timeout: 5_000 }).toEqual([target + 1, target + 1]);
    await second.close();
    await director.context().close();
    await artist.context().close();
  });

  it("closes a revoked invite's open tab with a clear error, and shows it again on reload", async () => {
    const editor = await person(browser, links.editor);
    await server.services.inviteRows.revoke(inviteIds.editor, new Date().toISOString());
    const page = editor.locator('[data-testid=error-page][data-code=TOKEN_REVOKED]');
    await page.waitFor({ timeout: 10_000 });
    expect(await page.textContent()).toContain('revoked');
    await screenshot(editor, '21-revoked-invite');
    await editor.reload();
    await page.waitFor({ timeout: 10_000 });
    await editor.context().close();
  });
});

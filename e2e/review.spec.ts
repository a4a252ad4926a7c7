import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { io } from 'socket.io-client';
import type { Ack, PlaybackState, RoomState } from '@loupe/shared';
import { startServer, type RunningServer } from '../server/src/main.js';
import { createLogger } from '../server/src/log.js';
import { WEB_BUILD } from '../server/src/http/routes.js';
import { runFfmpeg } from '../server/src/media/ffmpeg.js';
import { dragOnPicture, launch, paintedPixels, person, screenshot } from './browser.js';

let server: RunningServer;
let browser: Browser;
let roomId: string;
let links: Record<string, string>;
let director: Page, artist: Page, viewer: Page;

/** The room's last playback state as the server keeps it, read by a plain Socket.IO client. */
async function lastPlayback(link: string): Promise<PlaybackState> {
  const url = new URL(link);
  const socket = io(url.origin, { auth: { token: url.searchParams.get('token') }, transports: ['websocket'], forceNew: true });
  try {
    const ack = (await socket.timeout(10_000).emitWithAck('room:join', { room: url.pathname.split('/').pop() })) as Ack<RoomState>;
    if (!ack.ok || !ack.playback) throw new Error('no playback state');
    return ack.playback;
  } finally {
    socket.close();
  }
}

const state = (p: Page, key: string) => p.evaluate((k) => (window as any).__loupe.state[k], key);
/** Kinds of the drawings in a page's copy of the room document, optionally only those by one author. */
const kinds = (p: Page, author?: string) =>
  p.evaluate((who) => [...(window as any).__loupe.state.annotations].filter((a: any) => !who || a.author.name === who).map((a: any) => a.kind).sort(), author);

beforeAll(async () => {
  if (!fs.existsSync(path.join(WEB_BUILD, 'handler.js'))) throw new Error('apps/web is not built: run `npm run build` first (npm test does).');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-e2e-review-'));
  server = await startServer({ port: 0, host: '127.0.0.1', dataDir }, { log: createLogger('warn') });
  // A 640x360 shot: this test is about sync, and three browsers decoding 1080p on two cores would
  // measure the decoder instead.
  const { room, invites } = await server.services.roomService.create('Review room', { demo: false });
  roomId = room.id;
  const clip = path.join(dataDir, 'review-clip.mp4');
  await runFfmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=24:duration=4', '-c:v', 'libx264', '-preset', 'veryfast', '-g', '6', '-pix_fmt', 'yuv420p', '-y', clip]);
  const sha = await server.services.blobs.putFile(clip);
  await server.services.roomService.addVideoShot(roomId, 'Review shot', sha, 24, 640, 360, 96);
  // A second version of the shot to compare with (same media, as a re-delivery would be).
  const source = (await server.services.versions.listForRoom(roomId))[0];
  await server.services.versions.insert(roomId, { ...source, id: 'v2-' + roomId, label: 'Comp v2', createdAt: new Date().toISOString(), provenance: null }, null);
  links = Object.fromEntries(invites.map((i) => [i.role, `${server.url}/room/${room.id}?token=${i.token}`]));
  browser = await launch();
  director = await person(browser, links.director, { width: 1440, height: 900 });
  artist = await person(browser, links.artist, { width: 1280, height: 800 });
  viewer = await person(browser, links.viewer, { width: 1100, height: 760 });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('a review session with a presenter, an artist and a viewer', () => {
  it('follows the presenter without drift through 200 rapid seeks and steps, and a late joiner lands on the same frame', async () => {
    await director.locator('[data-testid=present]').click();
    await artist.locator('[data-testid=presenter-badge]').waitFor({ timeout: 10_000 });
    await expect.poll(() => state(viewer, 'following'), { timeout: 10_000 }).toBe(true);
    await director.locator('[data-testid=frame-counter]').click();
    // Each page logs when its frame changes, so settling is timed in the pages, not through the driver.
    const watch = (p: Page) =>
      p.evaluate(() => {
        const w = window as any;
        w.__frameLog = [];
        let last = -1;
        setInterval(() => {
          const f = w.__loupe.state.frame;
          if (f !== last) w.__frameLog.push([Date.now(), (last = f)]);
        }, 10);
      });
    await Promise.all([director, artist, viewer].map(watch));
    const keys = ['ArrowRight', 'ArrowRight', 'Shift+ArrowRight', 'ArrowLeft', 'ArrowRight'];
    for (let i = 0; i < 200; i++) await director.keyboard.press(keys[i % keys.length]);
    const target = await state(director, 'frame');
    expect(target).toBeGreaterThan(0);
    await expect.poll(async () => [await state(artist, 'frame'), await state(viewer, 'frame')], { timeout: 5_000, interval: 50 }).toEqual([target, target]);
    await new Promise((r) => setTimeout(r, 500));
    const log = (p: Page): Promise<[number, number][]> => p.evaluate(() => (window as any).__frameLog);
    // When the server accepted the presenter's last change (its clock is this machine's clock).
    const final = await lastPlayback(links.viewer);
    expect(final.frame).toBe(target);
    for (const follower of [artist, viewer]) {
      const [at, frame] = (await log(follower)).at(-1)!;
      expect(frame).toBe(target);
      // The follower rests on the presenter's frame within 500 ms of the room's last change.
      expect(at - final.at).toBeLessThan(500);
    }
    expect(Number(await artist.locator('[data-testid=frame-counter]').textContent())).toBe(target);
    await screenshot(artist, '10-artist-follows-presenter');

    const editor = await person(browser, links.editor);
    await expect.poll(() => state(editor, 'frame'), { timeout: 5_000 }).toBe(target);
    await editor.context().close();
  });

  it('shows every drawing tool to the others, and undo never touches someone else\'s work', async () => {
    await director.locator('[data-testid=stop-presenting]').click();
    await expect.poll(() => state(artist, 'presenterId'), { timeout: 10_000 }).toBe(null);
    const before = (await kinds(director)).length;
    const tools: [string, [number, number], [number, number]][] = [
      ['pen', [0.1, 0.1], [0.25, 0.2]],
      ['line', [0.1, 0.3], [0.25, 0.3]],
      ['arrow', [0.1, 0.4], [0.25, 0.5]],
      ['rect', [0.3, 0.1], [0.4, 0.2]],
      ['ellipse', [0.3, 0.3], [0.4, 0.4]],
    ];
    for (const [tool, from, to] of tools) {
      await artist.locator(`[data-testid=tool-${tool}]`).click();
      await dragOnPicture(artist, from, to, 6);
    }
    await artist.locator('[data-testid=tool-text]').click();
    const box = (await artist.locator('[data-testid=picture]').boundingBox())!;
    await artist.mouse.click(box.x + box.width * 0.6, box.y + box.height * 0.6);
    await artist.locator('[data-testid=text-input]').fill('Too bright');
    await artist.keyboard.press('Enter');
    await expect.poll(() => kinds(director, 'Artist'), { timeout: 10_000 }).toEqual(['arrow', 'ellipse', 'line', 'pen', 'rect', 'text']);
    await expect.poll(() => paintedPixels(viewer, 'annotation-canvas'), { timeout: 10_000 }).toBeGreaterThan(500);
    await screenshot(viewer, '11-viewer-sees-every-tool');

    // The director draws too; the artist's undo removes only the artist's last drawing.
    await director.locator('[data-testid=tool-pen]').click();
    await dragOnPicture(director, [0.7, 0.7], [0.85, 0.8]);
    await expect.poll(async () => (await kinds(artist)).length, { timeout: 10_000 }).toBe(before + 7);
    await expect.poll(() => state(artist, 'undoDepth'), { timeout: 10_000 }).toBeGreaterThanOrEqual(6);
    await artist.locator('[data-testid=undo]').click();
    await expect.poll(() => kinds(viewer, 'Artist'), { timeout: 10_000 }).toEqual(['arrow', 'ellipse', 'line', 'pen', 'rect']);
    expect(await kinds(viewer, 'Director')).toEqual(['pen']);
    await artist.locator('[data-testid=redo]').click();
    await expect.poll(async () => (await kinds(viewer, 'Artist')).includes('text'), { timeout: 10_000 }).toBe(true);
    // The viewer's tools are disabled, and the server would refuse anyway.
    await expect.poll(() => viewer.locator('[data-testid=read-only]').count(), { timeout: 10_000 }).toBeGreaterThan(0);
  });

  it('keeps notes with a reply and a resolve in step for everyone', async () => {
    await artist.locator('[data-testid=note-input]').fill('Edge chatter on the left bar');
    await artist.locator('[data-testid=note-add]').click();
    const note = director.locator('[data-testid=note]').filter({ hasText: 'Edge chatter' });
    await note.waitFor({ timeout: 10_000 });
    await note.locator('[data-testid=note-reply-input]').fill('Agreed, fix before tonight');
    await note.locator('[data-testid=note-reply-add]').click();
    await artist.locator('[data-testid=note-reply]').filter({ hasText: 'Agreed' }).waitFor({ timeout: 10_000 });
    await note.locator('[data-testid=note-resolve]').click();
    await artist.locator('[data-testid=note][data-status=resolved]').filter({ hasText: 'Edge chatter' }).waitFor({ timeout: 10_000 });
    await screenshot(artist, '12-artist-sees-resolved-note');
  });

  it('syncs a wipe compare from the presenter to the room', async () => {
    await director.locator('[data-testid=present]').click();
    await expect.poll(() => state(viewer, 'presenterId'), { timeout: 10_000 }).not.toBe(null);
    await director.locator('[data-testid=compare-with]').first().click();
    await director.locator('[data-testid=compare-mode]').selectOption('wipe');
    await viewer.locator('[data-testid=compare][data-mode=wipe]').waitFor({ timeout: 10_000 });
    const handle = (await director.locator('[data-testid=wipe-handle]').boundingBox())!;
    const pic = (await director.locator('[data-testid=picture]').boundingBox())!;
    await director.mouse.move(handle.x + handle.width / 2, handle.y + handle.height / 2);
    await director.mouse.down();
    await director.mouse.move(pic.x + pic.width * 0.25, handle.y + handle.height / 2, { steps: 5 });
    await director.mouse.up();
    await expect.poll(async () => (await state(viewer, 'compare'))?.wipe, { timeout: 5_000 }).toBeLessThan(0.35);
    await screenshot(viewer, '13-viewer-follows-wipe');
  });

  it('removes a member who leaves from everyone\'s list within 2 seconds', async () => {
    const count = () => director.locator('[data-testid=participant]').count();
    await expect.poll(count, { timeout: 10_000 }).toBe(3);
    await viewer.context().close();
    const t0 = Date.now();
    await expect.poll(count, { timeout: 2_000, interval: 50 }).toBe(2);
    expect(Date.now() - t0).toBeLessThan(2_000);
  });
});

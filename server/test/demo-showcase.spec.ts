import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startServer } from '../src/main.js';
import { createLogger } from '../src/log.js';
import { runFfmpeg } from '../src/media/ffmpeg.js';
import { autoCleanup, tmpDataDir } from './helpers.js';

const cleanup = autoCleanup();
const W = 160;
const H = 90;

/** Frame n of a movie, at 160x90, RGB. */
async function frame(file: string, n: number): Promise<Buffer> {
  return runFfmpeg(['-i', file, '-vf', `select=eq(n\\,${n}),scale=${W}:${H}`, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']);
}
const mean = (px: Buffer, c: number) => {
  let s = 0;
  for (let i = c; i < px.length; i += 3) s += px[i];
  return s / (px.length / 3);
};
/** Where `a` is much darker than `b` (the drone over the sky): how many pixels, and their mean column. */
function darkerSpot(a: Buffer, b: Buffer): { count: number; x: number } {
  let count = 0;
  let sx = 0;
  for (let p = 0; p < W * H; p++) {
    const la = a[3 * p] + a[3 * p + 1] + a[3 * p + 2];
    const lb = b[3 * p] + b[3 * p + 1] + b[3 * p + 2];
    if (lb - la > 3 * 70) (count++, (sx += p % W));
  }
  return { count, x: count ? sx / count : -1 };
}

describe('the first-start demo', () => {
  it('is a landscape with a camera move, a cast and a drone crossing, a cleaner v002, and a second shot in another grade', async () => {
    const dataDir = tmpDataDir();
    const started = Date.now();
    const server = await startServer({ port: 0, host: '127.0.0.1', dataDir }, { log: createLogger('silent'), demoRoom: true });
    cleanup.push(() => server.close());
    console.log(`[demo-showcase] first start with the demo: ${((Date.now() - started) / 1000).toFixed(1)} s (shared CPU)`);
    const [room] = await server.services.rooms.list();
    expect(room.name).toBe('Demo room');
    const shots = await server.services.rooms.shots(room.id);
    expect(shots.map((s) => s.name)).toEqual(['Demo valley (grain, cast, a drone crossing)', 'Demo valley, reverse (another grade)']);
    const versions = await server.services.versions.listForRoom(room.id);
    const of = (shotId: string) => versions.filter((v) => v.shotId === shotId).sort((a, b) => a.number - b.number);
    const [a1, a2] = of(shots[0].id);
    const [b1] = of(shots[1].id);
    expect(of(shots[0].id).map((v) => v.number)).toEqual([1, 2]);
    expect(of(shots[1].id)).toHaveLength(1);
    const files: Record<string, string> = {};
    for (const [k, v] of Object.entries({ a1, a2, b1 })) {
      if (v.media.type !== 'video') throw new Error('not a movie');
      expect(v.media).toMatchObject({ width: 1280, height: 720, fps: 24, frameCount: 96 });
      // A poster for the shot list, a JPEG the room may read.
      const poster = fs.readFileSync(server.services.blobs.path(v.media.thumbnail!));
      expect([...poster.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
      expect(await server.services.rooms.mayReadBlob(room.id, v.media.thumbnail!)).toBe(true);
      files[k] = server.services.blobs.path(v.media.blob);
    }

    // The drone crosses v001 left to right over the sky; v002 (same move) has none.
    const early = darkerSpot(await frame(files.a1, 24), await frame(files.a2, 24));
    const late = darkerSpot(await frame(files.a1, 72), await frame(files.a2, 72));
    expect(early.count).toBeGreaterThan(15);
    expect(late.count).toBeGreaterThan(15);
    expect(early.x).toBeLessThan(W * 0.4);
    expect(late.x).toBeGreaterThan(W * 0.7);

    // The camera moves: the first and the last frame differ.
    const [first, last] = [await frame(files.a2, 0), await frame(files.a2, 95)];
    let diff = 0;
    for (let i = 0; i < first.length; i++) diff += Math.abs(first[i] - last[i]);
    expect(diff / first.length).toBeGreaterThan(4);

    // v001 has a warm cast over v002; the reverse shot is graded cooler than both.
    const warmth = (px: Buffer) => mean(px, 0) - mean(px, 2);
    const [fa1, fa2, fb1] = [await frame(files.a1, 48), await frame(files.a2, 48), await frame(files.b1, 48)];
    expect(warmth(fa1) - warmth(fa2)).toBeGreaterThan(6);
    expect(warmth(fa2) - warmth(fb1)).toBeGreaterThan(6);
  });
});

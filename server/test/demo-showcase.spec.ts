/**
 * The first-start demo room, through a real server (random port, real ffmpeg): what a newcomer sees in
 * it. Two shots filmed from a photograph (server/assets/demo), ingested like uploads; the foggy pier has
 * a warm-green cast, temporal grain and a drone crossing the fog, and its v002 has the cast corrected;
 * a second shot of the pier from lower down has another grade. Made on the embedded single node only, and once.
 * What each fix does on it: server/test/demo-fixes.spec.ts.
 */
import fs from 'node:fs';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { Version } from '@loupe/shared';
import { loadConfig } from '../src/config.js';
import { startServer } from '../src/main.js';
import { dropRedisKeys } from '../src/cluster/redis.js';
import { runFfmpeg } from '../src/media/ffmpeg.js';
import { DEMO_ROOM_SETTING, demoWanted } from '../src/rooms/demo-room.js';
import { SHOWCASE_SHOTS } from '../src/media/demo.js';
import { autoCleanup, tmpDataDir } from './helpers.js';

const cleanup = autoCleanup();
const W = 1280;
const H = 720;

/** Frame n of a movie at 1280x720, RGB. */
async function frame(file: string, n: number): Promise<Buffer> {
  return runFfmpeg(['-i', file, '-vf', `select=eq(n\\,${n})`, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']);
}
const luma = (px: Buffer, i: number) => (px[3 * i] + px[3 * i + 1] + px[3 * i + 2]) / 3;
/** Grey-world means (R, G, B) of a frame. */
function means(px: Buffer): [number, number, number] {
  const s = [0, 0, 0];
  for (let i = 0; i < px.length; i++) s[i % 3] += px[i];
  return s.map((v) => v / (px.length / 3)) as [number, number, number];
}
/** What tells a picture from a test pattern: the entropy of its luma histogram and the share of 16x16 blocks with texture. */
function nature(px: Buffer): { entropy: number; textured: number } {
  const hist = new Array<number>(256).fill(0);
  for (let i = 0; i < W * H; i++) hist[Math.round(luma(px, i))]++;
  let entropy = 0;
  for (const h of hist) if (h) entropy -= (h / (W * H)) * Math.log2(h / (W * H));
  let textured = 0;
  let blocks = 0;
  for (let by = 0; by < H; by += 16) {
    for (let bx = 0; bx < W; bx += 16) {
      let s = 0;
      let s2 = 0;
      for (let y = by; y < by + 16; y++) for (let x = bx; x < bx + 16; x++) (s += luma(px, y * W + x)), (s2 += luma(px, y * W + x) ** 2);
      if (Math.sqrt(s2 / 256 - (s / 256) ** 2) > 4) textured++;
      blocks++;
    }
  }
  return { entropy, textured: textured / blocks };
}
/** Luma statistics: mean, standard deviation (contrast) and the 2nd percentile (the black level). */
function tones(px: Buffer): { mean: number; sd: number; black: number } {
  const l = Array.from({ length: W * H }, (_, i) => luma(px, i)).sort((a, b) => a - b);
  const mean = l.reduce((a, b) => a + b, 0) / l.length;
  return { mean, sd: Math.sqrt(l.reduce((a, b) => a + (b - mean) ** 2, 0) / l.length), black: l[Math.floor(l.length * 0.02)] };
}
/** Where something fast and contrasty moves in the sky band (rows 60-200) between frames n and n+1: its mean column. */
async function moverIn(file: string, n: number): Promise<{ count: number; x: number }> {
  const [a, b] = [await frame(file, n), await frame(file, n + 1)];
  let count = 0;
  let sx = 0;
  for (let y = 60; y < 200; y++) for (let x = 0; x < W; x++) if (Math.abs(luma(a, y * W + x) - luma(b, y * W + x)) > 60) (count++, (sx += x));
  return { count, x: count ? sx / count : -1 };
}
/**
 * Grain that changes every frame: between two frames, in the sky above the drone (rows 0-88), the mean
 * absolute change per pixel against the change of 8x8 block means (what the slow camera move makes).
 */
async function grain(file: string, n: number): Promise<{ pixel: number; block: number }> {
  const [a, b] = [await frame(file, n), await frame(file, n + 1)];
  let pixel = 0;
  let block = 0;
  let blocks = 0;
  for (let by = 0; by < 88; by += 8) {
    for (let bx = 0; bx < W; bx += 8) {
      let d = 0;
      for (let y = by; y < by + 8; y++) for (let x = bx; x < bx + 8; x++) (d += luma(b, y * W + x) - luma(a, y * W + x)), (pixel += Math.abs(luma(b, y * W + x) - luma(a, y * W + x)));
      block += Math.abs(d / 64);
      blocks++;
    }
  }
  return { pixel: pixel / (blocks * 64), block: block / blocks };
}

/** A logger that keeps its lines. */
const logInto = (lines: string[]) => pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
/** Its lines about the demo (generating, progress, the room made). */
const demoLines = (lines: string[]) =>
  lines.map((l) => String((JSON.parse(l) as { msg?: string }).msg ?? '').trim()).filter((m) => /^generating the demo|^demo:|the demo room/.test(m));

describe('the first-start demo', () => {
  it('is two shots filmed from a photograph: grain, a cast and a drone crossing the foggy pier, v002 with the cast corrected, a low angle in another grade', async () => {
    const dataDir = tmpDataDir();
    const started = Date.now();
    const lines: string[] = [];
    const server = await startServer({ port: 0, host: '127.0.0.1', dataDir }, { log: logInto(lines), demoRoom: true });
    let closed = false;
    cleanup.push(() => (closed ? undefined : server.close()));
    console.log(`[demo-showcase] first start with the demo: ${((Date.now() - started) / 1000).toFixed(1)} s (shared CPU); ${demoLines(lines).join(' | ')}`);
    const [room] = await server.services.rooms.list();
    expect(room.name).toBe('Demo room');
    expect(await server.services.rooms.setting(DEMO_ROOM_SETTING)).toBe(room.id);
    const shots = await server.services.rooms.shots(room.id);
    expect(shots.map((s) => s.name)).toEqual(['Foggy pier (grain, cast, a drone crossing)', 'Foggy pier, low angle (another grade)']);
    expect(shots.map((s) => s.name)).toEqual([SHOWCASE_SHOTS.pier, SHOWCASE_SHOTS.low]);
    const versions = await server.services.versions.listForRoom(room.id);
    const of = (shotId: string) => versions.filter((v) => v.shotId === shotId).sort((a, b) => a.number - b.number);
    expect(of(shots[0].id).map((v) => [v.number, v.label])).toEqual([[1, 'Plate: grain, warm-green cast, drone'], [2, 'Re-delivery: cast corrected']]);
    expect(of(shots[1].id).map((v) => [v.number, v.label])).toEqual([[1, 'Low angle, warm contrasty grade']]);
    const [a1, a2] = of(shots[0].id);
    const [b1] = of(shots[1].id);
    const files: Record<string, string> = {};
    for (const [k, v] of Object.entries({ a1, a2, b1 }) as [string, Version][]) {
      if (v.media.type !== 'video') throw new Error('not a movie');
      // Ingested as an upload is: a proxy, a poster and a filmstrip the room may read, and the source kept.
      expect(v.media).toMatchObject({ width: W, height: H, fps: 24, frameCount: 96, proxy: { width: W, height: H } });
      expect(v.media.source).toMatchObject({ kind: 'movie', codec: 'h264', name: expect.stringMatching(/^pier(_low)?_v00\d\.mp4$/) });
      for (const sha of [v.media.thumbnail!, v.media.filmstrip!.blob, v.media.source!.blob, v.media.blob!] as string[]) expect(await server.services.rooms.mayReadBlob(room.id, sha)).toBe(true);
      const poster = fs.readFileSync(await server.services.blobs.localPath(v.media.thumbnail!));
      expect([...poster.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
      files[k] = await server.services.blobs.localPath(v.media.blob);
    }

    // Natural pictures, not a test pattern: a full luma histogram, and texture (the planks, the grain in
    // the fog) in most 16x16 blocks (about 0.8 on the proxies; the pattern's 0.13).
    const pattern = nature(await runFfmpeg(['-f', 'lavfi', '-i', `testsrc2=size=${W}x${H}:rate=24`, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']));
    const [fa1, fa2, fb1] = [await frame(files.a1, 48), await frame(files.a2, 48), await frame(files.b1, 48)];
    for (const f of [fa1, fa2, fb1]) {
      const n = nature(f);
      console.log(`[demo-showcase] luma entropy ${n.entropy.toFixed(2)} (pattern ${pattern.entropy.toFixed(2)}), textured blocks ${n.textured.toFixed(2)} (pattern ${pattern.textured.toFixed(2)})`);
      expect(n.entropy).toBeGreaterThan(pattern.entropy + 2.5);
      expect(n.textured).toBeGreaterThan(0.6);
      expect(pattern.textured).toBeLessThan(0.3);
    }

    // The cast: v002 is grey (fog and weathered wood); v001's grey-world means lean warm and green, away from blue (the same frame).
    const [m1, m2] = [means(fa1), means(fa2)];
    console.log(`[demo-showcase] grey world v001 ${m1.map((v) => v.toFixed(1)).join('/')}, v002 ${m2.map((v) => v.toFixed(1)).join('/')}`);
    expect(Math.max(...m2) - Math.min(...m2)).toBeLessThan(3);
    expect(m1[1] / m1[2] - m2[1] / m2[2]).toBeGreaterThan(0.12);
    expect(m1[0] / m1[2] - m2[0] / m2[2]).toBeGreaterThan(0.12);
    expect(m1[1] - (m1[0] + m1[2]) / 2 - (m2[1] - (m2[0] + m2[2]) / 2)).toBeGreaterThan(4);

    // Grain that changes every frame: pixels change much more than the block means (the move) do.
    for (const f of [files.a1, files.b1]) {
      const g = await grain(f, 30);
      expect(g.pixel).toBeGreaterThan(2.5);
      expect(g.pixel).toBeGreaterThan(2.5 * g.block);
    }

    // The drone crosses the sky left to right, in both versions; it is out of frame at the first and last frames.
    for (const f of [files.a1, files.a2]) {
      const [early, middle, late] = [await moverIn(f, 12), await moverIn(f, 48), await moverIn(f, 84)];
      for (const m of [early, middle, late]) expect(m.count).toBeGreaterThan(50);
      expect(early.x).toBeLessThan(W * 0.2);
      expect(middle.x).toBeGreaterThan(W * 0.4);
      expect(middle.x).toBeLessThan(W * 0.7);
      expect(late.x).toBeGreaterThan(W * 0.85);
    }
    // The camera moves: the first and the last frame differ.
    const [first, last] = [await frame(files.a2, 0), await frame(files.a2, 95)];
    let diff = 0;
    for (let i = 0; i < first.length; i += 3) diff += Math.abs(luma(first, i / 3) - luma(last, i / 3));
    expect(diff / (W * H)).toBeGreaterThan(8);

    // The low angle is graded otherwise: more contrast, deeper blacks, warm against v002's grey.
    const [ta, tb] = [tones(fa2), tones(fb1)];
    const mb = means(fb1);
    console.log(`[demo-showcase] pier v002 mean ${ta.mean.toFixed(1)} sd ${ta.sd.toFixed(1)} black ${ta.black.toFixed(1)}; low angle mean ${tb.mean.toFixed(1)} sd ${tb.sd.toFixed(1)} black ${tb.black.toFixed(1)}`);
    expect(tb.sd).toBeGreaterThan(ta.sd + 10);
    expect(tb.black).toBeLessThan(ta.black - 8);
    expect(mb[2] / mb[0]).toBeLessThan(0.88);
    expect(m2[2] / m2[0]).toBeGreaterThan(0.97);

    // A restart makes no second demo room and films nothing again.
    await server.close();
    closed = true;
    const later: string[] = [];
    const restarted = await startServer({ port: 0, host: '127.0.0.1', dataDir }, { log: logInto(later), demoRoom: true });
    cleanup.push(() => restarted.close());
    expect((await restarted.services.rooms.list()).map((r) => r.id)).toEqual([room.id]);
    expect(await restarted.services.versions.listForRoom(room.id)).toHaveLength(3);
    expect(demoLines(later)).toEqual([]);
  });

  it('is made on the embedded single node only, unless LOUPE_DEMO says otherwise', () => {
    const env = (e: Record<string, string>) => loadConfig({ DATA_DIR: tmpDataDir(), ...e });
    expect(demoWanted(env({}))).toBe(true);
    expect(demoWanted(env({ ROLE: 'api', REDIS_URL: 'redis://127.0.0.1:6379' }))).toBe(false);
    expect(demoWanted(env({ ROLE: 'worker', REDIS_URL: 'redis://127.0.0.1:6379' }))).toBe(false);
    expect(demoWanted(env({ REDIS_URL: 'redis://127.0.0.1:6379' }))).toBe(false);
    expect(demoWanted(env({ DATABASE_URL: 'postgres://postgres:postgres@127.0.0.1:5432/loupe' }))).toBe(false);
    expect(demoWanted(env({ ROLE: 'api', REDIS_URL: 'redis://127.0.0.1:6379', LOUPE_DEMO: '1' }))).toBe(true);
    expect(demoWanted(env({ LOUPE_DEMO: '0' }))).toBe(false);
  });

  it('an API node of a scale-out install makes no demo room on its first start', async () => {
    const redis = { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix: `loupe-demo-${process.pid}` };
    const lines: string[] = [];
    const server = await startServer({ port: 0, host: '127.0.0.1', dataDir: tmpDataDir(), role: 'api', redis }, { log: logInto(lines), demoRoom: true });
    cleanup.push(() => dropRedisKeys(redis.url, redis.prefix));
    cleanup.push(() => server.close());
    expect(await server.services.rooms.list()).toEqual([]);
    expect(await server.services.rooms.setting(DEMO_ROOM_SETTING)).toBeUndefined();
    expect(demoLines(lines)).toEqual([]);
  });
});

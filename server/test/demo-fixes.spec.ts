/**
 * Every fix on the first-start demo, through a real server (random port, real ffmpeg, the room's
 * fix:request): what a newcomer gets when they try each one. The truth each is measured against is
 * filmed by the demo's own generator (server/src/media/demo.ts) without the defect: the same take
 * without the cast, the drone, the grain or the grade.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job, Version } from '@loupe/shared';
import { startServer, type RunningServer } from '../src/main.js';
import { createLogger } from '../src/log.js';
import { SHOWCASE, SHOWCASE_CAST, SHOWCASE_DRONE, SHOWCASE_MOVES, SHOWCASE_SHOTS, castFilter, droneAt, filmTake } from '../src/media/demo.js';
import { emitAck, joinRoom, tmpDataDir, until, type Member } from './helpers.js';
import { fullFrame } from './media-helpers.js';
import { meanDeltaE, psnr } from './fix-scenes.js';

const { width: W, height: H } = SHOWCASE;
/** The frame the still fixes are tried on: the drone is in the middle of the fog. */
const F = 48;

let server: RunningServer;
let roomId: string;
let artist: Member;
let viewerToken: string;
let tmp: string;
const v: Record<'pier1' | 'pier2' | 'low', Version> = {} as never;
/** The truths, filmed without a defect (96 frames each, 1280x720). */
const truth: Record<'pierCastNoDrone' | 'pierCastNoGrain' | 'lowUngraded', string> = {} as never;

/** RGB8 pixels of a PNG or of a movie's frame. */
async function rgb(png: Buffer | string): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(png).removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}
async function movieFrame(file: string, n: number) {
  const out = path.join(tmp, `${path.basename(file)}-${n}.png`);
  if (!fs.existsSync(out)) {
    const { runFfmpeg } = await import('../src/media/ffmpeg.js');
    await runFfmpeg(['-i', file, '-vf', `select=eq(n\\,${n})`, '-frames:v', '1', '-y', out]);
  }
  return rgb(out);
}
/** Frame n of a version as the server reads it for a fix (the original upload, decoded). */
const frameOf = async (version: Version, n: number) => rgb(await fullFrame(server.url, viewerToken, version.id, n));

/** Asks for a fix as the artist and waits for the version it makes. */
async function fix(source: Version, request: Record<string, unknown>): Promise<Version> {
  const ack = await emitAck<{ job: Job }>(artist.socket, 'fix:request', { room: roomId, versionId: source.id, frame: F, idempotencyKey: crypto.randomUUID(), ...request });
  if (!ack.ok) throw new Error(`${ack.code}: ${ack.message}`);
  const jobId = ack.job.id;
  return until(async () => (await server.services.versions.listForRoom(roomId)).find((x) => x.provenance?.jobId === jobId), `the version of ${String(request.fix)}`, 240_000);
}
/** The picture of a still a fix made. */
async function still(version: Version) {
  if (version.media.type !== 'still') throw new Error(`not a still: ${version.media.type}`);
  return rgb(await server.services.blobs.localPath(version.media.blob));
}
/** A rectangle of an RGB8 picture. */
function crop(img: { data: Uint8Array; width: number }, x0: number, y0: number, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) out.set(img.data.subarray(((y0 + y) * img.width + x0) * 3, ((y0 + y) * img.width + x0 + w) * 3), y * w * 3);
  return out;
}
/** Mean absolute difference per channel value, over the pixels where `mask` is set (all when absent). */
function mad(a: Uint8Array, b: Uint8Array, mask?: Uint8Array): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) if (!mask || mask[Math.floor(i / 3)]) (s += Math.abs(a[i] - b[i])), n++;
  return s / n;
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-demo-fixes-'));
  const started = Date.now();
  server = await startServer({ port: 0, host: '127.0.0.1', dataDir: tmpDataDir() }, { log: createLogger('silent'), demoRoom: true });
  console.log(`[demo-fixes] first start with the demo: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const [room] = await server.services.rooms.list();
  roomId = room.id;
  const shots = await server.services.rooms.shots(roomId);
  const versions = await server.services.versions.listForRoom(roomId);
  const of = (name: string) => versions.filter((x) => x.shotId === shots.find((s) => s.name === name)!.id).sort((a, b) => a.number - b.number);
  [v.pier1, v.pier2] = of(SHOWCASE_SHOTS.pier);
  [v.low] = of(SHOWCASE_SHOTS.low);
  viewerToken = (await server.services.roomService.invite(roomId, 'viewer')).token;
  artist = await joinRoom(server.url, roomId, (await server.services.roomService.invite(roomId, 'artist', 'Newcomer')).token);
  // The truths, filmed by the demo's generator as the demo's takes are, less one defect each.
  const cast = castFilter(SHOWCASE_CAST);
  const takes = {
    pierCastNoDrone: { move: SHOWCASE_MOVES.pier, look: cast },
    pierCastNoGrain: { move: SHOWCASE_MOVES.pier, look: cast, drone: true, grain: false },
    lowUngraded: { move: SHOWCASE_MOVES.low },
  };
  await Promise.all(
    Object.entries(takes).map(async ([k, take]) => {
      truth[k as keyof typeof truth] = path.join(tmp, `${k}.mp4`);
      await filmTake(truth[k as keyof typeof truth], take);
    }),
  );
}, 300_000);

afterAll(async () => {
  artist?.close();
  await server?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the fixes on the first-start demo', () => {
  it("exposure & white balance: auto removes v001's cast (closer to v002 by a clear margin) and leaves v002 alone; a neutral pick on the fog does as well", async () => {
    const [a1, a2] = [await frameOf(v.pier1, F), await frameOf(v.pier2, F)];
    const before = meanDeltaE(a1.data, a2.data);
    const auto = await fix(v.pier1, { fix: 'exposure', params: { whiteBalance: 'auto' } });
    const autoOut = await still(auto);
    expect([autoOut.width, autoOut.height]).toEqual([W, H]);
    const afterAuto = meanDeltaE(autoOut.data, a2.data);
    const balance = auto.provenance!.computed!.balance as { applied: boolean; reason: string; light: { kelvin: number; support: number } };
    // On v002 (no cast) auto white balance changes the frame by less than ΔE 1 (the estimator's rule).
    const onV2 = await fix(v.pier2, { fix: 'exposure', params: { whiteBalance: 'auto' } });
    const movedV2 = meanDeltaE((await still(onV2)).data, a2.data);
    // The eyedropper on the fog, left of the pier, well away from the drone.
    const pick = await fix(v.pier1, { fix: 'exposure', params: { whiteBalance: 'neutral', neutral: { x: 0.15, y: 0.3, size: 0.03 } } });
    const afterPick = meanDeltaE((await still(pick)).data, a2.data);
    console.log(
      `[demo-fixes] white balance on v001 frame ${F}, mean CIEDE2000 to v002: ${before.toFixed(2)} as filmed, ${afterAuto.toFixed(2)} after auto ` +
        `(${balance.reason}, support ${balance.light.support}), ${afterPick.toFixed(2)} after a neutral pick on the fog; auto on v002 moves it by ${movedV2.toFixed(2)}`,
    );
    expect(balance.applied).toBe(true);
    expect(before).toBeGreaterThan(3);
    expect(afterAuto).toBeLessThan(before / 3);
    expect(afterAuto).toBeLessThan(2.5);
    expect(afterPick).toBeLessThan(before / 3);
    expect(movedV2).toBeLessThan(1);
  }, 300_000);

  it('remove object: the drone masked on one frame and removed from the whole shot is gone (the fog under it, as filmed without it)', async () => {
    // What a newcomer does: mask the drone on the frame on screen, apply to the shot (all 96 frames).
    const [from, to] = [0, 95];
    const { x, y } = droneAt(F);
    const m = 6;
    const [x0, y0, x1, y1] = [x - m, y - m, x + SHOWCASE_DRONE.width + m, y + SHOWCASE_DRONE.height + m];
    const mask: [number, number][] = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]].map(([px, py]) => [px / W, py / H]);
    const region = { x: (x0 - 1) / W, y: (y0 - 1) / H, width: (x1 - x0 + 2) / W, height: (y1 - y0 + 2) / H, mask };
    const started = Date.now();
    const removed = await fix(v.pier1, { fix: 'remove-object', params: {}, region, scope: 'shot', range: { in: from, out: to } });
    const seconds = (Date.now() - started) / 1000;
    expect(removed.provenance).toMatchObject({ scope: 'shot', fix: 'remove-object', model: { id: 'clean-plate' } });
    const rows: string[] = [];
    // Frames the drone is in view (it enters on frame 0 and has left by frame 88).
    for (const n of [8, 20, 34, F, 62, 76]) {
      const [plate, out, clean] = [await frameOf(v.pier1, n), await frameOf(removed, n), await movieFrame(truth.pierCastNoDrone, n)];
      // The drone's pixels: where the plate differs from the same take filmed without it.
      const drone = new Uint8Array(W * H);
      for (let i = 0; i < W * H; i++) drone[i] = Math.abs(plate.data[3 * i] - clean.data[3 * i]) + Math.abs(plate.data[3 * i + 1] - clean.data[3 * i + 1]) > 80 ? 1 : 0;
      const count = drone.reduce((a, b) => a + b, 0);
      const [was, now] = [mad(plate.data, clean.data, drone), mad(out.data, clean.data, drone)];
      rows.push(`frame ${n}: ${count} px of drone, ${was.toFixed(1)} -> ${now.toFixed(1)} (PSNR ${psnr(out.data, clean.data, drone).toFixed(1)} dB)`);
      expect(count).toBeGreaterThan(1000);
      expect(now, rows.at(-1)).toBeLessThan(was / 8);
      // Grain is what is left: within twice its level (the fill averages the fog over frames).
      expect(now, rows.at(-1)).toBeLessThan(12);
    }
    console.log(`[demo-fixes] remove object on frames ${from}-${to} (${to - from + 1} frames, ${seconds.toFixed(1)} s): mean |out - truth| on the drone's pixels\n  ${rows.join('\n  ')}`);
  }, 300_000);

  it('denoise takes the grain off v001 (measured level, PSNR against the take filmed without grain)', async () => {
    const out = await fix(v.pier1, { fix: 'denoise', params: {} });
    const [a1, clean, denoised] = [await frameOf(v.pier1, F), await movieFrame(truth.pierCastNoGrain, F), await still(out)];
    const [before, after] = [psnr(a1.data, clean.data), psnr(denoised.data, clean.data)];
    console.log(`[demo-fixes] denoise on v001 frame ${F}: sigma ${out.provenance!.computed!.measuredSigma}, PSNR to the grain-free take ${before.toFixed(2)} -> ${after.toFixed(2)} dB`);
    expect(out.provenance!.computed!.measuredSigma as number).toBeGreaterThan(2);
    expect(after).toBeGreaterThan(before + 3);
  }, 300_000);

  it('match grade: the low angle matched to the pier v002 reads the same scene and loses its grade', async () => {
    const out = await fix(v.low, { fix: 'match-grade', params: { referenceVersionId: v.pier2.id, referenceFrame: F } });
    const [b1, ungraded, matched] = [await frameOf(v.low, F), await movieFrame(truth.lowUngraded, F), await still(out)];
    const [before, after] = [meanDeltaE(b1.data, ungraded.data), meanDeltaE(matched.data, ungraded.data)];
    const c = out.provenance!.computed!;
    console.log(`[demo-fixes] match grade low angle -> pier v002: ${c.relation}, ${c.method}, pair error ${JSON.stringify(c.pairError)}; mean CIEDE2000 to the ungraded take ${before.toFixed(2)} -> ${after.toFixed(2)}`);
    expect(c.relation).toBe('same scene');
    expect(before).toBeGreaterThan(4);
    expect(after).toBeLessThan(before / 2);
  }, 300_000);

  it('exposure -1 stop halves the light; upscale x2 doubles a region with more detail than a bicubic resize', async () => {
    const a2 = await frameOf(v.pier2, F);
    const darker = await still(await fix(v.pier2, { fix: 'exposure', params: { exposure: -1 } }));
    const lin = (c: number) => ((c / 255) <= 0.04045 ? c / 255 / 12.92 : ((c / 255 + 0.055) / 1.055) ** 2.4);
    const ratios: number[] = [];
    for (let i = 0; i < a2.data.length; i += 3 * 97) if (a2.data[i + 1] > 40 && a2.data[i + 1] < 240) ratios.push(lin(darker.data[i + 1]) / lin(a2.data[i + 1]));
    ratios.sort((a, b) => a - b);
    const median = ratios[ratios.length >> 1];
    // Upscale: the ladder at the end of the pier, 256x144.
    const [rx, ry, rw, rh] = [512, 224, 256, 144];
    const up = await still(await fix(v.pier2, { fix: 'upscale-x2', params: {}, region: { x: rx / W, y: ry / H, width: rw / W, height: rh / H } }));
    const bicubic = await rgb(await sharp(Buffer.from(crop(a2, rx, ry, rw, rh)), { raw: { width: rw, height: rh, channels: 3 } }).resize(2 * rw, 2 * rh, { kernel: 'cubic' }).png().toBuffer());
    const sharpness = (img: { data: Uint8Array; width: number; height: number }) => {
      let s = 0;
      for (let yy = 0; yy < img.height; yy++) for (let xx = 1; xx < img.width; xx++) s += Math.abs(img.data[(yy * img.width + xx) * 3 + 1] - img.data[(yy * img.width + xx - 1) * 3 + 1]);
      return s / (img.height * (img.width - 1));
    };
    console.log(`[demo-fixes] exposure -1 stop on v002: median linear ratio ${median.toFixed(3)}; upscale x2 of the ladder ${up.width}x${up.height}: mean horizontal gradient ${sharpness(up).toFixed(2)} (bicubic ${sharpness(bicubic).toFixed(2)}), mean difference from bicubic ${mad(up.data, bicubic.data).toFixed(2)}`);
    expect(median).toBeGreaterThan(0.45);
    expect(median).toBeLessThan(0.55);
    expect([up.width, up.height]).toEqual([2 * rw, 2 * rh]);
    expect(sharpness(up)).toBeGreaterThan(sharpness(bicubic) * 1.05);
  }, 300_000);
});

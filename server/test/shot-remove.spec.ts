/**
 * Remove object on a shot, through a real server: the artist draws a mask around a moving object on
 * one frame of an uploaded shot whose background pans; the render tracks the mask over the range (the
 * room sees the tracked shifts in the job before the fill runs), fills every frame from the clean plate,
 * and becomes the shot's next version: every frame arrives, the object is gone (the true background
 * under it), and the provenance names the algorithm, not an AI model.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Limits, type Job, type MaskTrack, type RenderedFrame, type Version } from '@loupe/shared';
import { emitAck, joinRoom, until, type Member } from './helpers.js';
import { fileOf, fullFrame, mediaServer, uploadAndWait } from './media-helpers.js';
import { addNoise, psnr } from './fix-scenes.js';
import { panClip, type Clip } from './shot-clips.js';

const W = 320, H = 180, N = 24;
const OBJ = { radius: 20, x: 60, y: 80, vx: 4.5, vy: 0.5 };
let server: Awaited<ReturnType<typeof mediaServer>>;
let dir: string;
let source: string;
let clip: Clip;
let truth: Uint8Array[];
let artist: Member;
let director: Member;

beforeAll(async () => {
  server = await mediaServer();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-remove-'));
  const raw = await panClip({ width: W, height: H, count: N, seed: 61, vx: 0.6, vy: 0.25, object: OBJ });
  // Sensor noise on every frame; the truth is the background with the same noise.
  clip = { ...raw, frames: raw.frames.map((f, t) => addNoise(f, 3, 300 + t)) };
  truth = raw.background.map((b, t) => addNoise(b, 3, 300 + t).data);
  const files: string[] = [];
  for (const [i, f] of clip.frames.entries()) {
    const file = path.join(dir, `walk.${String(i + 1).padStart(4, '0')}.png`);
    await sharp(f.data, { raw: { width: W, height: H, channels: 3 } }).png().toFile(file);
    files.push(file);
  }
  const ingest = await uploadAndWait(server.url, server.token('artist'), files.map((f) => fileOf(f)));
  expect(ingest.error).toBeNull();
  source = ingest.result!.versionId;
  artist = await joinRoom(server.url, server.room.id, server.token('artist'));
  director = await joinRoom(server.url, server.room.id, server.token('director'));
}, 180_000);

afterAll(async () => {
  artist?.close();
  director?.close();
  await server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The artist's lasso around the object on frame `t`: 32 points, `margin` (2) px outside its edge. */
function lassoAt(t: number, margin = 2) {
  const cx = OBJ.x + OBJ.vx * t, cy = OBJ.y + OBJ.vy * t, r = OBJ.radius + margin;
  const mask = Array.from({ length: 32 }, (_, k) => [(cx + r * Math.cos((k * Math.PI) / 16)) / W, (cy + r * Math.sin((k * Math.PI) / 16)) / H] as [number, number]);
  return { x: (cx - r - 1) / W, y: (cy - r - 1) / H, width: (2 * r + 2) / W, height: (2 * r + 2) / H, mask };
}

describe('remove object on a shot', () => {
  it('tracks the drawn mask, fills every frame from the clean plate, and the version shows the background where the object was', async () => {
    const frames: RenderedFrame[] = [];
    const jobs: Job[] = [];
    const versions: Version[] = [];
    director.socket.on('fix:frame', (f) => frames.push(f));
    director.socket.on('fix:job', (j) => jobs.push(j));
    director.socket.on('version:created', (v) => versions.push(v));
    const drawnOn = 8;
    const ack = await emitAck<{ job: Job }>(artist.socket, 'fix:request', {
      room: server.room.id, versionId: source, frame: drawnOn, region: lassoAt(drawnOn), fix: 'remove-object', params: {},
      // The artist also drew the mask on frame 20 (a correction): a second keyframe of the track.
      maskKeyframes: [{ frame: 20, mask: lassoAt(20).mask }],
      scope: 'shot', range: { in: 0, out: N - 1 }, idempotencyKey: crypto.randomUUID(),
    });
    expect(ack.ok, JSON.stringify(ack)).toBe(true);
    if (!ack.ok) return;
    const jobId = ack.job.id;
    const version = await until(() => versions.find((v) => v.provenance?.jobId === jobId), 'the rendered version', 150_000);

    // The room saw the tracked mask (before any frame of the fill), then every frame.
    const withTrack = jobs.find((j) => j.id === jobId && j.render?.tracked);
    expect(withTrack).toBeDefined();
    expect(withTrack!.render!.framesDone).toBe(0);
    const tracked = withTrack!.render!.tracked!;
    expect(tracked.map((t) => t[0])).toEqual(Array.from({ length: N }, (_, i) => i));
    for (const [f, key, dx, dy] of tracked) {
      // From the nearer keyframe (8 before it, 20 after it), and exactly the drawn mask on a keyframe.
      expect(key).toBe(f <= 14 ? drawnOn : 20);
      if (f === key) expect([dx, dy]).toEqual([0, 0]);
      expect(Math.abs(dx * W - OBJ.vx * (f - key))).toBeLessThan(1.5);
      expect(Math.abs(dy * H - OBJ.vy * (f - key))).toBeLessThan(1.5);
    }
    expect(withTrack!.maskKeyframes).toEqual([{ frame: 20, mask: lassoAt(20).mask }]);
    expect(frames.filter((f) => f.jobId === jobId).map((f) => f.frame).sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i));
    // The frame on screen (where the mask was drawn) reaches the room first: the plate is made on it.
    expect(frames.find((f) => f.jobId === jobId)!.frame).toBe(drawnOn);

    // Made by an algorithm, and it says which.
    expect(version.provenance).toMatchObject({ scope: 'shot', fix: 'remove-object', aiMade: false, provider: 'js', model: { id: 'clean-plate', kind: 'algorithm', technique: 'clean plate + PatchMatch' } });
    expect(version.provenance!.computed).toMatchObject({ method: 'clean-plate', grow: 4 });

    // The object is gone on every frame: under it, the true background.
    const token = server.token('viewer');
    const dbs: number[] = [];
    for (let n = 0; n < N; n++) {
      const { data, info } = await sharp(await fullFrame(server.url, token, version.id, n)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height]).toEqual([W, H]);
      const deep = data.byteLength === info.width * info.height * 6;
      const out = new Uint8Array(deep ? Uint16Array.from(new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2), (v) => v >> 8) : data);
      const hole = Uint8Array.from(clip.objectMask[n], (v) => (v ? 1 : 0));
      const ours = psnr(out, truth[n], hole);
      dbs.push(ours);
      expect(ours).toBeGreaterThan(psnr(clip.frames[n].data, truth[n], hole) + 12);
    }
    console.log(`remove object on a shot: PSNR under the object vs the true background, min ${Math.min(...dbs).toFixed(1)} dB, mean ${(dbs.reduce((a, b) => a + b, 0) / N).toFixed(1)} dB`);
    expect(Math.min(...dbs)).toBeGreaterThan(30);
  });

  it('tracks the mask without rendering (fix:track): the artist and the director see it on every frame, a corrected frame wins, and nothing is queued', async () => {
    const seen: MaskTrack[] = [];
    director.socket.on('fix:tracked', (t) => seen.push(t));
    const before = { versions: (await server.services.versions.listForRoom(server.room.id)).length, jobs: (await server.fixes.jobsForRoom(server.room.id)).length };
    // The mask drawn on frame 8 alone.
    const first = await emitAck<{ track: MaskTrack }>(artist.socket, 'fix:track', { room: server.room.id, versionId: source, frame: 8, mask: lassoAt(8).mask, range: { in: 0, out: N - 1 } });
    expect(first.ok, JSON.stringify(first)).toBe(true);
    if (!first.ok) return;
    expect(first.track.tracked.map((t) => t[0])).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(first.track.keys.map((k) => k.frame)).toEqual([8]);
    for (const [f, key, dx, dy] of first.track.tracked) {
      expect(key).toBe(8);
      expect(Math.abs(dx * W - OBJ.vx * (f - 8))).toBeLessThan(1.5);
      expect(Math.abs(dy * H - OBJ.vy * (f - 8))).toBeLessThan(1.5);
    }
    // The director's browser gets the same track, with who made it.
    await until(() => seen.length === 1 || undefined, 'the director hears the track', 10_000);
    expect(seen[0]).toEqual(first.track);
    expect(seen[0].by.name).toBeTruthy();

    // The artist corrects frame 20 (a looser mask, 4 px outside the object's edge rather than 2) and tracks
    // again: frame 20 is exactly the drawn mask, and the frames after 14 follow it.
    const corrected = lassoAt(20, 4).mask;
    const again = await emitAck<{ track: MaskTrack }>(artist.socket, 'fix:track', { room: server.room.id, versionId: source, frame: 8, mask: lassoAt(8).mask, maskKeyframes: [{ frame: 20, mask: corrected }], range: { in: 0, out: N - 1 } });
    expect(again.ok, JSON.stringify(again)).toBe(true);
    if (!again.ok) return;
    expect(again.track.keys).toEqual([{ frame: 8, mask: lassoAt(8).mask }, { frame: 20, mask: corrected }]);
    const at = (f: number) => again.track.tracked.find((t) => t[0] === f)!;
    expect(at(20)).toEqual([20, 20, 0, 0]);
    expect(at(8)).toEqual([8, 8, 0, 0]);
    for (const [f, key, dx] of again.track.tracked.filter((t) => t[0] > 14)) {
      expect(key).toBe(20);
      expect(Math.abs(dx * W - OBJ.vx * (f - 20))).toBeLessThan(1.5);
    }
    await until(() => seen.length === 2 || undefined, 'the director hears the new track', 10_000);
    // The same masks asked again (Track, then Apply to shot does the same): the same track, whatever
    // order the keyframes come in (the server keeps the last tracks rather than tracking twice).
    const same = await emitAck<{ track: MaskTrack }>(artist.socket, 'fix:track', { room: server.room.id, versionId: source, frame: 20, mask: corrected, maskKeyframes: [{ frame: 8, mask: lassoAt(8).mask }], range: { in: 0, out: N - 1 } });
    expect(same.ok && same.track.tracked).toEqual(again.track.tracked);
    expect(same.ok && same.track.keys).toEqual(again.track.keys);

    // Tracking stores and queues nothing.
    expect((await server.services.versions.listForRoom(server.room.id)).length).toBe(before.versions);
    expect((await server.fixes.jobsForRoom(server.room.id)).length).toBe(before.jobs);
  });

  it('tracks a larger shot on the small rung of its proxy ladder, as accurately', async () => {
    // 1280x720: the version has a 360p rung (640x360), which the track decodes instead of the 720p proxy.
    const BW = 1280, BH = 720, BN = 16, BIG = { radius: 60, x: 200, y: 300, vx: 12, vy: 2 };
    const big = await panClip({ width: BW, height: BH, count: BN, seed: 62, vx: 1.5, vy: 0.5, object: BIG });
    const files = await Promise.all(
      big.frames.map(async (f, i) => ({ name: `big.${String(i + 1).padStart(4, '0')}.png`, data: await sharp(addNoise(f, 3, 500 + i).data, { raw: { width: BW, height: BH, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer() })),
    );
    const ingest = await uploadAndWait(server.url, server.token('artist'), files);
    expect(ingest.error).toBeNull();
    const v = (await server.services.versions.get(ingest.result!.versionId))!;
    expect(v.media.type === 'video' && v.media.ladder?.map((r) => r.name)).toContain('360p');
    const key = 8, r = BIG.radius + 4;
    const cx = BIG.x + BIG.vx * key, cy = BIG.y + BIG.vy * key;
    const mask = Array.from({ length: 32 }, (_, k) => [(cx + r * Math.cos((k * Math.PI) / 16)) / BW, (cy + r * Math.sin((k * Math.PI) / 16)) / BH] as [number, number]);
    const ack = await emitAck<{ track: MaskTrack }>(artist.socket, 'fix:track', { room: server.room.id, versionId: v.id, frame: key, mask });
    expect(ack.ok, JSON.stringify(ack)).toBe(true);
    if (!ack.ok) return;
    const errors = ack.track.tracked.map(([f, , dx, dy]) => Math.hypot(dx * BW - BIG.vx * (f - key), dy * BH - BIG.vy * (f - key)));
    console.log(`track on the 360p rung of a 720p shot: worst error ${Math.max(...errors).toFixed(2)} px (source pixels), ${ack.track.ms} ms`);
    expect(errors).toHaveLength(BN);
    expect(Math.max(...errors)).toBeLessThan(2.5);
  }, 120_000);

  it('refuses a track from a viewer, outside the shot, or with a bad mask, each with a code', async () => {
    const viewer = await joinRoom(server.url, server.room.id, server.token('viewer'));
    try {
      const ask = (m: Member, extra: Record<string, unknown>) =>
        emitAck(m.socket, 'fix:track', { room: server.room.id, versionId: source, frame: 8, mask: lassoAt(8).mask, range: { in: 0, out: N - 1 }, ...extra });
      expect(await ask(viewer, {})).toMatchObject({ ok: false, code: 'FORBIDDEN_ROLE' });
      expect(await ask(artist, { range: { in: 0, out: N } })).toMatchObject({ ok: false, code: 'FRAME_OUT_OF_RANGE' });
      expect(await ask(artist, { range: { in: 10, out: 20 } })).toMatchObject({ ok: false, code: 'FRAME_OUT_OF_RANGE' });
      expect(await ask(artist, { maskKeyframes: [{ frame: 30, mask: lassoAt(8).mask }] })).toMatchObject({ ok: false, code: 'FRAME_OUT_OF_RANGE' });
      expect(await ask(artist, { mask: [[0.1, 0.1], [0.2, 0.2]] })).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
      expect(await ask(artist, { versionId: 'nope' })).toMatchObject({ ok: false, code: 'VERSION_NOT_FOUND' });
      expect(await ask(artist, { maskKeyframes: Array.from({ length: Limits.maxKeyframes + 1 }, (_, i) => ({ frame: i % N, mask: lassoAt(8).mask })) })).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
    } finally {
      viewer.close();
    }
  });

  it('refuses a shot removal by a method meant for a still, with a code, and queues nothing', async () => {
    const before = (await server.services.versions.listForRoom(server.room.id)).length;
    const ack = await emitAck(artist.socket, 'fix:request', {
      room: server.room.id, versionId: source, frame: 4, region: lassoAt(4), fix: 'remove-object', params: { method: 'diffuse' },
      scope: 'shot', range: { in: 0, out: N - 1 }, idempotencyKey: crypto.randomUUID(),
    });
    expect(ack).toMatchObject({ ok: false, code: 'NOT_FIXABLE' });
    // Masks on more frames: only inside the range, only for a shot.
    const outside = await emitAck(artist.socket, 'fix:request', {
      room: server.room.id, versionId: source, frame: 4, region: lassoAt(4), fix: 'remove-object', params: {}, maskKeyframes: [{ frame: 20, mask: lassoAt(20).mask }],
      scope: 'shot', range: { in: 0, out: 15 }, idempotencyKey: crypto.randomUUID(),
    });
    expect(outside).toMatchObject({ ok: false, code: 'FRAME_OUT_OF_RANGE' });
    const still = await emitAck(artist.socket, 'fix:request', {
      room: server.room.id, versionId: source, frame: 4, region: lassoAt(4), fix: 'remove-object', params: {}, maskKeyframes: [{ frame: 6, mask: lassoAt(6).mask }], idempotencyKey: crypto.randomUUID(),
    });
    expect(still).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
    expect((await server.services.versions.listForRoom(server.room.id)).length).toBe(before);
  });
});

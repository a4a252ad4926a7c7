/**
 * Shot renders through a real server: an artist applies a fix to a range of an uploaded shot; the
 * room sees the frames land (the one on screen first) and the progress; the render becomes the shot's
 * next version, with the source's frame count, every frame at full quality, bit-exact outside the
 * range and the region, and a proxy that plays frame N as frame N. A cancelled render makes nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job, RenderedFrame, Version } from '@loupe/shared';
import { emitAck, joinRoom, until, type Member } from './helpers.js';
import { blob, ffmpeg, fileOf, fullFrame, mediaServer, uploadAndWait } from './media-helpers.js';
import { panClip } from './shot-clips.js';
import { countFrames } from '../src/media/proxy.js';

const W = 320, H = 180, N = 24;
let server: Awaited<ReturnType<typeof mediaServer>>;
let dir: string;
let source: Version;
let artist: Member;
let director: Member;

/** Burns the frame index into the top-left as 8 blocks (bit b white when set). */
function burnIndex(data: Uint8Array, i: number) {
  for (let bit = 0; bit < 8; bit++)
    for (let y = 0; y < 12; y++)
      for (let x = 0; x < 20; x++) {
        const o = (y * W + bit * 20 + x) * 3;
        data[o] = data[o + 1] = data[o + 2] = (i >> bit) & 1 ? 255 : 0;
      }
}
const indexOf = (rgb: Uint8Array | Buffer, w = W) => {
  let n = 0;
  for (let bit = 0; bit < 8; bit++) if (rgb[(6 * w + Math.round((bit * 20 + 10) * (w / W))) * 3] > 127) n |= 1 << bit;
  return n;
};

beforeAll(async () => {
  server = await mediaServer();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-shot-'));
  const clip = await panClip({ width: W, height: H, count: N, seed: 21 });
  for (const [i, f] of clip.frames.entries()) {
    burnIndex(f.data, i);
    await sharp(f.data, { raw: { width: W, height: H, channels: 3 } }).png().toFile(path.join(dir, `f_${String(i).padStart(4, '0')}.png`));
  }
  const movie = path.join(dir, 'pan.mov');
  await ffmpeg(['-framerate', '24', '-i', path.join(dir, 'f_%04d.png'), '-c:v', 'prores_ks', '-profile:v', '4444', '-pix_fmt', 'yuv444p10le', '-timecode', '01:00:10:00', '-y', movie]);
  const ingest = await uploadAndWait(server.url, server.token('artist'), [fileOf(movie)]);
  artist = await joinRoom(server.url, server.room.id, server.token('artist'));
  director = await joinRoom(server.url, server.room.id, server.token('director'));
  source = artist.state.versions.find((v) => v.id === ingest.result!.versionId) ?? (await until(() => director.state.versions.find((v) => v.id === ingest.result!.versionId), 'the version'));
}, 180_000);

afterAll(async () => {
  artist?.close();
  director?.close();
  await server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Everything the director's socket hears about one render. */
function watch(m: Member) {
  const frames: RenderedFrame[] = [];
  const jobs: Job[] = [];
  const versions: Version[] = [];
  m.socket.on('fix:frame', (f) => frames.push(f));
  m.socket.on('fix:job', (j) => jobs.push(j));
  m.socket.on('version:created', (v) => versions.push(v));
  return { frames, jobs, versions };
}

const png = async (b: Buffer) => {
  const { data, info } = await sharp(b).raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
  return { data: new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2), info };
};

describe('a fix applied to a shot', () => {
  it('renders the range into the next version, frame on screen first, bit-exact outside the range and the region, at the source depth', async () => {
    const seen = watch(director);
    const region = { x: 0.5, y: 0.25, width: 0.375, height: 0.5 };
    const ack = await emitAck<{ job: Job }>(artist.socket, 'fix:request', {
      room: server.room.id, versionId: source.id, frame: 10, region, fix: 'exposure', params: { exposure: 1 },
      scope: 'shot', range: { in: 4, out: 19 }, idempotencyKey: 'shot-exposure-1',
    });
    expect(ack.ok, JSON.stringify(ack)).toBe(true);
    if (!ack.ok) return;
    expect(ack.job).toMatchObject({ scope: 'shot', range: { in: 4, out: 19 }, state: 'queued' });
    const jobId = ack.job.id;
    const version = await until(() => seen.versions.find((v) => v.provenance?.jobId === jobId), 'the rendered version', 120_000);

    // The room saw each frame of the range once, the frame on screen first, and the progress.
    const mine = seen.frames.filter((f) => f.jobId === jobId);
    expect(mine[0].frame).toBe(10);
    expect(mine.map((f) => f.frame).sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, i) => 4 + i));
    const progress = seen.jobs.filter((j) => j.id === jobId && j.render);
    expect(progress.some((j) => j.state === 'running' && j.render!.framesDone > 0 && j.render!.framesDone < 16)).toBe(true);
    expect(progress.at(-1)).toMatchObject({ state: 'done', resultVersionId: version.id, render: { framesDone: 16, framesTotal: 16, done: [[4, 19]] } });
    const preview = await sharp(await blob(server.url, server.token('viewer'), mine[0].preview)).metadata();
    expect(preview.format).toBe('jpeg');

    // The version: the shot's next, AI-made, every frame of the source, from the render.
    expect(version).toMatchObject({ kind: 'ai', shotId: source.shotId, number: source.number + 1, parentVersionId: source.id });
    expect(version.media).toMatchObject({ type: 'video', frameCount: N, width: W, height: H, source: { kind: 'render', range: { in: 4, out: 19 }, bitDepth: 16, startTimecode: '01:00:10:00' } });
    expect(version.provenance).toMatchObject({ scope: 'shot', range: { in: 4, out: 19 }, fix: 'exposure', provider: 'cpu', model: { id: 'loupe-colour' } });
    expect(version.provenance!.computed).toMatchObject({ estimatedOn: expect.any(Array) });

    const token = server.token('viewer');
    const rect = { x0: 160, y0: 45, x1: 280, y1: 135 };
    for (let n = 0; n < N; n++) {
      const out = await png(await fullFrame(server.url, token, version.id, n));
      const src = await png(await fullFrame(server.url, token, source.id, n));
      expect(out.info).toMatchObject({ width: W, height: H, depth: 'ushort' });
      let diffOutside = 0, inside = 0, brighter = 0;
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const i = (y * W + x) * 3;
          const inRegion = n >= 4 && n <= 19 && x >= rect.x0 && x < rect.x1 && y >= rect.y0 && y < rect.y1;
          const same = out.data[i] === src.data[i] && out.data[i + 1] === src.data[i + 1] && out.data[i + 2] === src.data[i + 2];
          if (!inRegion && !same) diffOutside++;
          if (inRegion) (inside++, out.data[i + 1] > src.data[i + 1] && brighter++);
        }
      expect(diffOutside, `frame ${n}: pixels changed outside the range or region`).toBe(0);
      if (n >= 4 && n <= 19) expect(brighter / inside).toBeGreaterThan(0.9);
    }

    // The proxy plays frame N as frame N, with the source's frame count.
    const proxy = path.join(dir, 'render-proxy.mp4');
    fs.writeFileSync(proxy, await blob(server.url, token, (version.media as { blob: string }).blob));
    expect(await countFrames(proxy)).toBe(N);
    const raw = await ffmpeg(['-i', proxy, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-']);
    const pw = (version.media as { proxy: { width: number } }).proxy.width;
    const ph = (version.media as { proxy: { height: number } }).proxy.height;
    for (let n = 0; n < N; n++) expect(indexOf(raw.subarray(n * pw * ph * 3, (n + 1) * pw * ph * 3), pw)).toBe(n);
  });

  it('a cancelled render makes no version and its frames are forgotten', async () => {
    const seen = watch(director);
    const ack = await emitAck<{ job: Job }>(artist.socket, 'fix:request', {
      room: server.room.id, versionId: source.id, frame: 0, fix: 'denoise', params: {}, scope: 'shot', idempotencyKey: 'shot-denoise-cancel',
    });
    expect(ack.ok).toBe(true);
    if (!ack.ok) return;
    await until(() => seen.frames.some((f) => f.jobId === ack.job.id), 'a first frame', 60_000);
    const cancel = await emitAck<{ job: Job }>(artist.socket, 'fix:cancel', { room: server.room.id, jobId: ack.job.id });
    expect(cancel.ok).toBe(true);
    await until(() => seen.jobs.find((j) => j.id === ack.job.id && j.state === 'cancelled'), 'the cancel');
    await new Promise((r) => setTimeout(r, 1500));
    expect(seen.versions.filter((v) => v.provenance?.jobId === ack.job.id)).toEqual([]);
    const rows = await server.services.db.selectFrom('render_frames').select('frame').where('job_id', '=', ack.job.id).execute();
    expect(rows).toHaveLength(0);
    const later = await emitAck<{ job: Job }>(artist.socket, 'fix:request', {
      room: server.room.id, versionId: source.id, frame: 0, fix: 'exposure', params: { exposure: -1 }, scope: 'shot', range: { in: 0, out: 2 }, idempotencyKey: 'shot-after-cancel',
    });
    expect(later.ok).toBe(true);
    if (later.ok) await until(() => seen.versions.find((v) => v.provenance?.jobId === later.job.id), 'the next render still works', 60_000);
  });

  it('a preview asked for during a render runs ahead of the render; keyframes give one look per keyframe, eased between', async () => {
    const seen = watch(director);
    const render = await emitAck<{ job: Job }>(artist.socket, 'fix:request', {
      room: server.room.id, versionId: source.id, frame: 0, fix: 'exposure', params: { autoExposure: true }, scope: 'shot', keyframes: [0, 23],
      idempotencyKey: 'shot-keyframes-1',
    });
    expect(render.ok).toBe(true);
    if (!render.ok) return;
    await until(() => seen.frames.some((f) => f.jobId === render.job.id), 'the render under way', 60_000);
    const preview = await emitAck<{ job: Job }>(director.socket, 'fix:request', {
      room: server.room.id, versionId: source.id, frame: 12, region: { x: 0.25, y: 0.25, width: 0.5, height: 0.5 }, fix: 'exposure', params: { exposure: 1 },
      idempotencyKey: 'still-during-render',
    });
    expect(preview.ok).toBe(true);
    if (!preview.ok) return;
    const still = await until(() => seen.versions.find((v) => v.provenance?.jobId === preview.job.id), 'the preview', 60_000);
    expect(still.media.type).toBe('still');
    const shot = await until(() => seen.versions.find((v) => v.provenance?.jobId === render.job.id), 'the render', 120_000);
    expect(seen.versions.indexOf(still)).toBeLessThan(seen.versions.indexOf(shot));
    const renderFrames = seen.frames.filter((f) => f.jobId === render.job.id).length;
    expect(renderFrames).toBe(N);
    expect(shot.provenance!.computed).toMatchObject({ keyframes: [{ frame: 0 }, { frame: 23 }] });
  });

  it('refuses a range past the shot, a feather on a still, and a shot upscale of a region, each with its code', async () => {
    const base = { room: server.room.id, versionId: source.id, frame: 0, fix: 'exposure', params: {} };
    const past = await emitAck(artist.socket, 'fix:request', { ...base, scope: 'shot', range: { in: 0, out: N }, idempotencyKey: 'bad-range-1' });
    expect(past).toMatchObject({ ok: false, code: 'FRAME_OUT_OF_RANGE' });
    const reversed = await emitAck(artist.socket, 'fix:request', { ...base, scope: 'shot', range: { in: 5, out: 2 }, idempotencyKey: 'bad-range-2' });
    expect(reversed).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
    const feather = await emitAck(artist.socket, 'fix:request', { ...base, region: { x: 0, y: 0, width: 0.5, height: 0.5 }, feather: 4, idempotencyKey: 'bad-feather' });
    expect(feather).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
    const upscale = await emitAck(artist.socket, 'fix:request', { ...base, fix: 'upscale-x2', region: { x: 0, y: 0, width: 0.5, height: 0.5 }, scope: 'shot', idempotencyKey: 'bad-upscale' });
    expect(upscale).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
  });
});

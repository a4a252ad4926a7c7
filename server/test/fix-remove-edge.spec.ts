/**
 * Remove object on one frame, through a real server: the drawn mask is grown outward (params.grow,
 * 4 px by default), so nothing of the object is left inside the drawn line or as an outline around it
 * when the object's own soft edge spills past the line; the result and the region the room shows it
 * in cover that band; a grow out of range is refused with a code and changes nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job, Version } from '@loupe/shared';
import { emitAck, joinRoom, tmpDataDir, until, type Member } from './helpers.js';
import { blob, fileOf, mediaServer, uploadAndWait } from './media-helpers.js';
import { texturedScene, valueNoise } from './shot-clips.js';

const W = 160, H = 120, CX = 80, CY = 60, R = 26;
let server: Awaited<ReturnType<typeof mediaServer>>;
let artist: Member;
let source: string;
let truth: Uint8Array;
let frame: Uint8Array;
const dir = tmpDataDir();

const magenta = (p: Uint8Array | Float32Array, i: number) => Math.min(p[i * 3], p[i * 3 + 2]) - p[i * 3 + 1];

beforeAll(async () => {
  server = await mediaServer();
  truth = (await texturedScene(W, H, 11)).data;
  frame = truth.slice();
  const tex = valueNoise(W, H, 3, 4, 12);
  // A magenta textured disc whose soft edge spills 1.6 px past the circle the artist draws.
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const a = Math.max(0, Math.min(1, R + 1.6 - Math.hypot(x + 0.5 - CX, y + 0.5 - CY)));
      const tone = 0.75 + 0.25 * tex[i];
      const col = [235 * tone, 25 * tone, 225 * tone];
      for (let c = 0; c < 3; c++) frame[i * 3 + c] = Math.round(a * col[c] + (1 - a) * truth[i * 3 + c]);
    }
  const files: string[] = [];
  for (const f of [1, 2]) {
    const file = path.join(dir, `obj.${String(f).padStart(4, '0')}.png`);
    await sharp(frame, { raw: { width: W, height: H, channels: 3 } }).png().toFile(file);
    files.push(file);
  }
  const done = await uploadAndWait(server.url, server.token('artist'), files.map((f) => fileOf(f)));
  expect(done.error).toBeNull();
  source = done.result!.versionId;
  artist = await joinRoom(server.url, server.room.id, server.token('artist'));
}, 60_000);
afterAll(async () => {
  artist?.close();
  await server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The circle as an artist's lasso: 32 points on it. */
const lasso = Array.from({ length: 32 }, (_, k) => [(CX + R * Math.cos((k * Math.PI) / 16)) / W, (CY + R * Math.sin((k * Math.PI) / 16)) / H] as [number, number]);
const region = { x: (CX - R - 2) / W, y: (CY - R - 2) / H, width: (2 * R + 4) / W, height: (2 * R + 4) / H, mask: lasso };

async function removeObject(params: object): Promise<Version> {
  const jobs: Job[] = [];
  const onJob = (j: Job) => jobs.push(j);
  artist.socket.on('fix:job', onJob);
  try {
    const ack = await emitAck<{ job: Job }>(artist.socket, 'fix:request', { room: server.room.id, versionId: source, frame: 0, region, fix: 'remove-object', params, idempotencyKey: crypto.randomUUID() });
    if (!ack.ok) throw new Error(ack.message);
    const done = await until(() => jobs.find((j) => j.id === ack.job.id && (j.state === 'done' || j.state === 'failed')), 'job end', 60_000);
    expect(done.error ?? null).toBeNull();
    return (await server.services.versions.get(done.resultVersionId!))!;
  } finally {
    artist.socket.off('fix:job', onJob);
  }
}

/** The result PNG (with its alpha) laid over the source frame as the room shows it: the full frame. */
async function composited(v: Version): Promise<Uint8Array> {
  const r = v.provenance!.sourceRect;
  const { data, info } = await sharp(await blob(server.url, server.token('viewer'), v.media.blob)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  expect([info.width, info.height]).toEqual([r.width, r.height]);
  const out = frame.slice();
  for (let y = 0; y < r.height; y++)
    for (let x = 0; x < r.width; x++) {
      const s = (y * r.width + x) * 4, o = ((r.y + y) * W + r.x + x) * 3, a = data[s + 3] / 255;
      for (let c = 0; c < 3; c++) out[o + c] = Math.round(a * data[s + c] + (1 - a) * frame[o + c]);
    }
  return out;
}

/** Pixels within `ring` px outside the drawn circle (or inside it) that keep the object's colour. */
function objectLeft(out: Uint8Array, ring: number): number {
  let most = -255;
  for (let i = 0; i < W * H; i++) most = Math.max(most, magenta(truth, i));
  let n = 0;
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      if (Math.hypot(x + 0.5 - CX, y + 0.5 - CY) <= R + ring && magenta(out, i) > most + 15) n++;
    }
  return n;
}

describe('remove object: the edge', () => {
  it('grows the drawn mask by 4 px by default: nothing of the object inside the drawn line or on a 2 px ring around it', async () => {
    expect(objectLeft(frame, 1.5)).toBeGreaterThan(100); // the source does show it there
    const v = await removeObject({});
    expect(v.provenance!.computed).toMatchObject({ method: 'patchmatch', grow: 4 });
    const out = await composited(v);
    expect(objectLeft(out, 2)).toBe(0);
    // Without growing, the object's spill past the drawn line stays: an outline.
    const hard = await composited(await removeObject({ grow: 0 }));
    expect(objectLeft(hard, 2)).toBeGreaterThan(20);
  });

  it('refuses a grow out of range with BAD_REQUEST and queues nothing', async () => {
    const before = (await server.services.versions.listForRoom(server.room.id)).length;
    for (const grow of [-1, 65, 2.5]) {
      const ack = await emitAck(artist.socket, 'fix:request', { room: server.room.id, versionId: source, frame: 0, region, fix: 'remove-object', params: { grow }, idempotencyKey: crypto.randomUUID() });
      expect(ack).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
    }
    expect((await server.services.versions.listForRoom(server.room.id)).length).toBe(before);
  });
});

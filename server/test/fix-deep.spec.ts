/**
 * Original bit depth kept through a fix: a 16-bit TIFF sequence with smooth gradients (values that
 * are not multiples of 257) is uploaded, fixed in a room (exposure, upscale x2, remove object), and
 * the stored result is a 16-bit PNG whose low byte carries real information and whose values are the
 * expected transform of the source. An 8-bit source still gives an 8-bit result.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROVENANCE_PNG_KEYWORD, type Job, type Version } from '@loupe/shared';
import { readPngText } from '../src/fixes/png-text.js';
import { emitAck, joinRoom, tmpDataDir, until, type Member } from './helpers.js';
import { blob, fileOf, mediaServer, uploadAndWait } from './media-helpers.js';
import { linearToSrgb, srgbToLinear } from '../src/fixes/colour/space.js';

const W = 256;
const H = 160;
let server: Awaited<ReturnType<typeof mediaServer>>;
let artist: Member;
const dir = tmpDataDir();

/** Smooth 16-bit gradients: red along x, green along y, blue along the diagonal, offset per frame. */
function gradient(frame: number): Uint16Array {
  const px = new Uint16Array(W * H * 3);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3;
      px[i] = Math.round(3000 + 231.7 * x + 3.3 * y + 11 * frame);
      px[i + 1] = Math.round(9000 + 301.3 * y + 1.9 * x);
      px[i + 2] = Math.round(20000 + 61.1 * (x + y));
    }
  return px;
}

async function raw16(png: Buffer) {
  const { data, info } = await sharp(png).removeAlpha().toColourspace('rgb16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
  return { px: new Uint16Array(new Uint8Array(data).buffer), width: info.width, height: info.height };
}

const distinct = (px: Uint16Array, c: number) => new Set(px.filter((_, i) => i % 3 === c)).size;

async function fix(versionId: string, body: { fix: string; region: object; params?: object }): Promise<Version> {
  const jobs: Job[] = [];
  const onJob = (j: Job) => jobs.push(j);
  artist.socket.on('fix:job', onJob);
  try {
    const ack = await emitAck<{ job: Job }>(artist.socket, 'fix:request', { room: server.room.id, versionId, frame: 0, params: {}, idempotencyKey: crypto.randomUUID(), ...body });
    if (!ack.ok) throw new Error(ack.message);
    const done = await until(() => jobs.find((j) => j.id === ack.job.id && (j.state === 'done' || j.state === 'failed')), 'job end', 60_000);
    expect(done.error ?? null).toBeNull();
    return (await server.services.versions.get(done.resultVersionId!))!;
  } finally {
    artist.socket.off('fix:job', onJob);
  }
}

let deep: string;
beforeAll(async () => {
  server = await mediaServer();
  const files: string[] = [];
  for (const f of [1, 2]) {
    const file = path.join(dir, `grad.${String(f).padStart(4, '0')}.tif`);
    await sharp(gradient(f), { raw: { width: W, height: H, channels: 3 } }).toColourspace('rgb16').tiff({ compression: 'lzw' }).toFile(file);
    files.push(file);
  }
  expect((await sharp(files[0]).metadata()).depth).toBe('ushort');
  const done = await uploadAndWait(server.url, server.token('artist'), files.map((f) => fileOf(f)));
  expect(done.error).toBeNull();
  deep = done.result!.versionId;
  artist = await joinRoom(server.url, server.room.id, server.token('artist'));
}, 60_000);
afterAll(async () => {
  artist?.close();
  await server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('a 16-bit source through a fix', () => {
  it('exposure: a 16-bit PNG whose values are the -1 stop transform of the 16-bit source, low byte and all', async () => {
    const v = await fix(deep, { fix: 'exposure', region: { x: 0, y: 0, width: 1, height: 1 }, params: { autoWhiteBalance: false, exposure: -1 } });
    expect(v.media).toMatchObject({ type: 'still', width: W, height: H });
    const png = await blob(server.url, server.token('viewer'), v.media.blob);
    expect((await sharp(png).metadata()).depth).toBe('ushort');
    expect(v.provenance!.computed).toMatchObject({ bitDepth: { source: 16, computed: 16, result: 16 } });
    // The worker wrote the file with its provenance (sealed) and said its sha256: the blob is what its name says.
    expect(crypto.createHash('sha256').update(png).digest('hex')).toBe(v.media.blob);
    // The provenance is the PNG's first chunk after IHDR, where readers look first, and names the job and its provider.
    expect(png.toString('latin1', 37, 41)).toBe('iTXt');
    expect(JSON.parse(readPngText(new Uint8Array(png))[PROVENANCE_PNG_KEYWORD])).toMatchObject({ jobId: v.provenance!.jobId, provider: v.provenance!.provider, finishedAt: v.provenance!.finishedAt });

    const { px } = await raw16(png);
    const src = gradient(1);
    // The low byte carries information: more than 256 levels per channel (of the order of the source's; -1 stop narrows the range), most not multiples of 257.
    for (let c = 0; c < 3; c++) {
      expect(distinct(px, c)).toBeGreaterThan(256);
      expect(distinct(px, c)).toBeGreaterThanOrEqual(0.5 * distinct(src, c));
    }
    expect(px.filter((v) => v % 257 !== 0).length).toBeGreaterThan(px.length * 0.9);
    // -1 stop in linear light, back to sRGB, at 16 bits.
    let max = 0;
    let sum = 0;
    for (let i = 0; i < px.length; i++) {
      const expected = 65535 * linearToSrgb(0.5 * srgbToLinear(src[i] / 65535));
      const d = Math.abs(px[i] - expected);
      max = Math.max(max, d);
      sum += d;
    }
    console.log(`16-bit exposure -1 stop vs exact: max ${max.toFixed(1)}, mean ${(sum / px.length).toFixed(2)} (16-bit code values; an 8-bit step is 257)`);
    expect(max).toBeLessThan(16);
    expect(sum / px.length).toBeLessThan(2);
  });

  it('upscale x2: a 16-bit PNG close to a 16-bit Lanczos of the smooth source, with a real low byte', async () => {
    const rect = { x: 64, y: 32, width: 96, height: 64 };
    const v = await fix(deep, { fix: 'upscale-x2', region: { x: rect.x / W, y: rect.y / H, width: rect.width / W, height: rect.height / H } });
    const png = await blob(server.url, server.token('viewer'), v.media.blob);
    expect(await sharp(png).metadata()).toMatchObject({ depth: 'ushort', width: 2 * rect.width, height: 2 * rect.height });
    expect(v.provenance!.computed).toMatchObject({ bitDepth: { source: 16, computed: 16, result: 16 } });
    const { px } = await raw16(png);
    for (let c = 0; c < 3; c++) expect(distinct(px, c)).toBeGreaterThan(1000);
    const ref = await raw16(
      await sharp(gradient(1), { raw: { width: W, height: H, channels: 3 } })
        .extract({ left: rect.x, top: rect.y, width: rect.width, height: rect.height })
        .resize(2 * rect.width, 2 * rect.height, { kernel: 'lanczos3' })
        .toColourspace('rgb16')
        .png()
        .toBuffer(),
    );
    // Away from the region's border (where the network sees no context), mean difference under one 8-bit step.
    let sum = 0;
    let n = 0;
    for (let y = 8; y < 2 * rect.height - 8; y++)
      for (let x = 8; x < 2 * rect.width - 8; x++)
        for (let c = 0; c < 3; c++) {
          const i = (y * 2 * rect.width + x) * 3 + c;
          sum += Math.abs(px[i] - ref.px[i]);
          n++;
        }
    console.log(`16-bit upscale x2 vs 16-bit Lanczos on a smooth gradient: mean difference ${(sum / n).toFixed(1)} (16-bit code values)`);
    expect(sum / n).toBeLessThan(257);
  });

  it('remove object: the fill is computed at 8 bits and says so; the pixels it leaves alone keep their 16 bits', async () => {
    const rect = { x: 96, y: 48, width: 64, height: 48 };
    const region = {
      x: rect.x / W, y: rect.y / H, width: rect.width / W, height: rect.height / H,
      mask: [[112, 64], [144, 64], [144, 80], [112, 80]].map(([x, y]) => [x / W, y / H] as [number, number]),
    };
    const v = await fix(deep, { fix: 'remove-object', region, params: { method: 'patchmatch' } });
    const png = await blob(server.url, server.token('viewer'), v.media.blob);
    expect((await sharp(png).metadata()).depth).toBe('ushort');
    expect(v.provenance!.computed).toMatchObject({ bitDepth: { source: 16, computed: 8, result: 16 } });
    const { data } = await sharp(png).toColourspace('rgb16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
    const rgba = new Uint16Array(new Uint8Array(data).buffer);
    const src = gradient(1);
    // The result covers the region grown by the mask's grow (4 pixels by default) on every side.
    const out = { x: rect.x - 4, y: rect.y - 4, width: rect.width + 8, height: rect.height + 8 };
    expect(v.provenance!.sourceRect).toEqual(out);
    // A corner of the region, far outside the mask: the source's own 16-bit values.
    for (const [x, y] of [[0, 0], [out.width - 1, out.height - 1], [3, 40]]) {
      const i = (y * out.width + x) * 4;
      const s = ((out.y + y) * W + out.x + x) * 3;
      expect([rgba[i], rgba[i + 1], rgba[i + 2]]).toEqual([src[s], src[s + 1], src[s + 2]]);
    }
  });
});

describe('an 8-bit source through a fix', () => {
  it('stays 8-bit', async () => {
    const file = path.join(dir, 'flat.0001.png');
    const rgb = Buffer.from(Uint8Array.from({ length: 64 * 48 * 3 }, (_, i) => (i * 7) % 256));
    await sharp(rgb, { raw: { width: 64, height: 48, channels: 3 } }).png().toFile(file);
    const done = await uploadAndWait(server.url, server.token('artist'), [fileOf(file)]);
    const v = await fix(done.result!.versionId, { fix: 'exposure', region: { x: 0, y: 0, width: 1, height: 1 }, params: { exposure: 0.5 } });
    const png = await blob(server.url, server.token('viewer'), v.media.blob);
    expect((await sharp(png).metadata()).depth).toBe('uchar');
    expect(v.provenance!.computed).toMatchObject({ bitDepth: { source: 8, computed: 8, result: 8 } });
  });
});

import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MediaProgress, Version } from '@loupe/shared';
import { joinRoom, tmpDataDir, until } from './helpers.js';
import {
  dpxWithTimecode,
  ffmpeg,
  fileOf,
  fullFrame,
  indexOfImage,
  makeSequence,
  makeZip,
  mediaServer,
  movieFrameIndex,
  movieFrameRgb,
  picks,
  uploadAndWait,
  writeExr,
} from './media-helpers.js';
import { linearToDisplay } from '../src/media/view-transform.js';

let server: Awaited<ReturnType<typeof mediaServer>>;
const dir = tmpDataDir();
beforeAll(async () => {
  server = await mediaServer();
});
afterAll(() => server?.close());

async function versionOf(id: string): Promise<Version & { media: { type: 'video' } }> {
  const v = (await server.services.versions.get(id))!;
  if (v.media.type !== 'video') throw new Error('not a video version');
  return v as Version & { media: { type: 'video' } };
}

/** Checks that proxy frame i and full-quality frame i show `expected(i)`. */
async function checkFrames(v: Version & { media: { type: 'video' } }, indices: number[], expected: (i: number) => number = (i) => i) {
  const proxy = await server.services.blobs.localPath(v.media.blob);
  for (const i of indices) {
    expect(await movieFrameIndex(proxy, i), `proxy frame ${i}`).toBe(expected(i));
    expect(await indexOfImage(await fullFrame(server.url, server.token('viewer'), v.id, i)), `full-quality frame ${i}`).toBe(expected(i));
  }
}

describe('image sequences', () => {
  it('16-bit PNG frames sent as files: numbers from the names, gaps reported and held, the original file is the full-quality frame', async () => {
    const files = await makeSequence(path.join(dir, 'png16'), 'comp_v002.', 'png', 1001, 30, ['-pix_fmt', 'rgb48be']);
    const missing = new Set([1010, 1011, 1012, 1020]);
    const sent = files.filter((_, i) => !missing.has(1001 + i));
    const watcher = await joinRoom(server.url, server.room.id, server.token('viewer'));
    const progress: MediaProgress[] = [];
    watcher.socket.on('media:progress', (p) => progress.push(p));

    const done = await uploadAndWait(server.url, server.token('artist'), sent.reverse().map((f) => fileOf(f)));
    expect(done.error).toBeNull();
    expect(done.label).toBe('comp_v002.[1001-1030].png');
    expect(done.result!.gaps).toEqual([{ from: 1010, to: 1012 }, { from: 1020, to: 1020 }]);
    await until(() => progress.find((p) => p.stage === 'done'), 'done on the watcher');
    expect(progress.find((p) => p.stage === 'done')!.gaps).toEqual(done.result!.gaps);
    watcher.close();

    const v = await versionOf(done.result!.versionId);
    expect(v.media.frameCount).toBe(30);
    expect(v.media.source).toMatchObject({ kind: 'sequence', firstFrame: 1001, lastFrame: 1030, bitDepth: 16, codec: 'png', sceneLinear: false, viewTransform: null });
    const shot = (await server.services.rooms.shots(server.room.id)).find((s) => s.id === v.shotId)!;
    expect(shot).toMatchObject({ name: 'comp_v002', fps: 24, frameCount: 30 });
    // Index i is frame 1001 + i; a missing frame shows the one before it.
    const holding = (i: number) => (i >= 9 && i <= 11 ? 8 : i === 19 ? 18 : i);
    await checkFrames(v, [0, 9, 11, 12, 19, 29, ...picks(30, 2)], holding);
    // The full-quality frame of a sequence is the uploaded file itself, 16 bits and all.
    const png = await fullFrame(server.url, server.token('viewer'), v.id, 0);
    expect(Buffer.compare(png, fs.readFileSync(files[0]))).toBe(0);
    expect((await sharp(png).metadata()).depth).toBe('ushort');
  });

  it('a zip of half-float OpenEXR frames: unpacked, shown through the view transform, frame-accurate', async () => {
    const files = await makeSequence(path.join(dir, 'exr'), 'fx_v001.', 'exr', 1, 12, ['-pix_fmt', 'gbrpf32le', '-c:v', 'exr', '-format', 'half']);
    const zip = makeZip([
      { name: 'fx_v001/', data: Buffer.alloc(0) },
      ...files.map((f) => ({ name: `fx_v001/${path.basename(f)}`, data: fs.readFileSync(f) })),
      { name: 'fx_v001/notes.txt', data: Buffer.from('delivered') },
      { name: '__MACOSX/fx_v001/._fx_v001.0001.exr', data: Buffer.from('junk') },
    ]);
    const done = await uploadAndWait(server.url, server.token('artist'), [{ name: 'fx_v001.zip', data: zip }]);
    expect(done.error).toBeNull();
    const v = await versionOf(done.result!.versionId);
    expect(v.media.source).toMatchObject({ kind: 'sequence', codec: 'exr', firstFrame: 1, lastFrame: 12, bitDepth: 16, sceneLinear: true, viewTransform: 'loupe-linear-srgb-v1' });
    await checkFrames(v, picks(12, 2));
    expect((await sharp(await fullFrame(server.url, server.token('viewer'), v.id, 3)).metadata()).depth).toBe('ushort');
  });

  it('the view transform: mid grey shows at sRGB 0.46, highlights roll off instead of clipping, in the proxy and in full quality', async () => {
    // Three bands of scene-linear values: 0.18, 1.0 and 4.0.
    const bands = [0.18, 1.0, 4.0];
    const exr = writeExr(96, 32, (x) => {
      const v = bands[Math.floor(x / 32)];
      return [v, v, v];
    });
    const done = await uploadAndWait(server.url, server.token('artist'), [{ name: 'grey.exr', data: exr }]);
    expect(done.error).toBeNull();
    const v = await versionOf(done.result!.versionId);
    expect(v.media.frameCount).toBe(1);
    const full = await sharp(await fullFrame(server.url, server.token('viewer'), v.id, 0)).toColourspace('rgb16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
    const px = (x: number) => new Uint16Array(full.data.buffer, full.data.byteOffset, full.data.length / 2)[(16 * 96 + x) * full.info.channels];
    const proxy = await movieFrameRgb(await server.services.blobs.localPath(v.media.blob), 0);
    bands.forEach((lin, b) => {
      const want = linearToDisplay(lin);
      expect(Math.abs(px(16 + 32 * b) / 65535 - want), `full quality, linear ${lin}`).toBeLessThan(0.002);
      expect(Math.abs(proxy.data[(16 * 96 + 16 + 32 * b) * 3] - want * 255), `proxy, linear ${lin}`).toBeLessThanOrEqual(3);
    });
    expect(linearToDisplay(0.18)).toBeCloseTo(0.461, 3);
    // 1.0 is not clipped to white, and 4.0 stays brighter than 1.0.
    expect(px(48)).toBeLessThan(px(80));
    expect(px(48) / 65535).toBeLessThan(0.98);
  });

  it('10-bit DPX: the frame rate and time code of its header go to the shot', async () => {
    const files = await makeSequence(path.join(dir, 'dpx'), 'scan.', 'dpx', 86400, 10, ['-pix_fmt', 'gbrp10le'], 7);
    fs.writeFileSync(files[0], dpxWithTimecode(fs.readFileSync(files[0]), 25, 0x01000000));
    const done = await uploadAndWait(server.url, server.token('artist'), files.map((f) => fileOf(f)));
    expect(done.error).toBeNull();
    const v = await versionOf(done.result!.versionId);
    expect(v.media.source).toMatchObject({ codec: 'dpx', bitDepth: 10, firstFrame: 86400, startTimecode: '01:00:00:00', rate: { num: 25, den: 1 } });
    expect((await server.services.rooms.shots(server.room.id)).find((s) => s.id === v.shotId)).toMatchObject({ fps: 25, startTimecode: '01:00:00:00', name: 'scan' });
    await checkFrames(v, [0, 9, 4]);
    expect((await sharp(await fullFrame(server.url, server.token('viewer'), v.id, 4)).metadata()).depth).toBe('ushort');
  });

  it('16-bit TIFF and JPEG sequences, with the frame rate the uploader gives', async () => {
    const tiffs = await makeSequence(path.join(dir, 'tif'), 'matte_', 'tif', 1, 8, ['-pix_fmt', 'rgb48le']);
    const t = await uploadAndWait(server.url, server.token('artist'), tiffs.map((f) => fileOf(f)), { fps: 25 });
    expect(t.error).toBeNull();
    const tv = await versionOf(t.result!.versionId);
    expect(tv.media).toMatchObject({ fps: 25, frameCount: 8 });
    expect(tv.media.source).toMatchObject({ codec: 'tiff', bitDepth: 16 });
    await checkFrames(tv, [0, 7, 3]);
    expect((await sharp(await fullFrame(server.url, server.token('viewer'), tv.id, 3)).metadata()).depth).toBe('ushort');

    const jpegs = await makeSequence(path.join(dir, 'jpg'), 'ref.', 'jpg', 1, 8, ['-q:v', '2']);
    const j = await uploadAndWait(server.url, server.token('artist'), jpegs.map((f) => fileOf(f)));
    expect(j.error).toBeNull();
    await checkFrames(await versionOf(j.result!.versionId), [0, 7, 5]);
  });

  it('does not shift the colour of 8-bit PNG and JPEG frames in the proxy', async () => {
    const rgb = [200, 100, 50];
    const hex = rgb.map((c) => c.toString(16).padStart(2, '0')).join('');
    for (const ext of ['png', 'jpg']) {
      const file = path.join(dir, `patch.${ext}`);
      await ffmpeg(['-f', 'lavfi', '-i', `color=c=0x${hex}:s=320x180:d=0.04,format=rgb24`, '-frames:v', '1', ...(ext === 'jpg' ? ['-q:v', '1'] : []), '-y', file]);
      const done = await uploadAndWait(server.url, server.token('artist'), [fileOf(file)]);
      const v = await versionOf(done.result!.versionId);
      const proxy = await movieFrameRgb(await server.services.blobs.localPath(v.media.blob), 0);
      const i = (90 * 320 + 160) * 3;
      for (let c = 0; c < 3; c++) expect(Math.abs(proxy.data[i + c] - rgb[c]), `${ext} channel ${c}`).toBeLessThanOrEqual(3);
    }
  });
});

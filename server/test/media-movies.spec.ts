import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Version } from '@loupe/shared';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tmpDataDir } from './helpers.js';
import { ffmpeg, fileOf, fullFrame, indexOfImage, indexSource, mediaServer, movieFrameIndex, movieFrameRgb, picks, streamInfo, uploadAndWait } from './media-helpers.js';

const ffmpegProbe = async (file: string) => (await promisify(execFile)('ffprobe', ['-v', 'error', '-show_streams', '-of', 'json', file])).stdout;
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

/** Uploads a movie and checks frame accuracy of the proxy and of the full-quality frames. */
async function ingestIndexed(file: string, frames: number, random = 3) {
  const done = await uploadAndWait(server.url, server.token('artist'), [fileOf(file)]);
  expect(done.error).toBeNull();
  const v = await versionOf(done.result!.versionId);
  expect(v.media.frameCount).toBe(frames);
  const proxy = await server.services.blobs.localPath(v.media.blob);
  expect((await streamInfo(proxy)).codec_name).toBe('h264');
  for (const n of picks(frames, random)) {
    expect(await movieFrameIndex(proxy, n), `proxy frame ${n}`).toBe(n);
    expect(await indexOfImage(await fullFrame(server.url, server.token('viewer'), v.id, n)), `full-quality frame ${n}`).toBe(n);
  }
  return v;
}

describe('movies', () => {
  it('ProRes 422 HQ 10-bit (mov) with sound: frame-accurate, full-quality frames read from the original at 16 bits', async () => {
    const file = path.join(dir, 'grade_v003.mov');
    await ffmpeg([
      ...indexSource(30), '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1.25', '-map', '0:v', '-map', '1:a',
      '-c:v', 'prores_ks', '-profile:v', '3', '-pix_fmt', 'yuv422p10le', '-c:a', 'pcm_s24le', '-y', file,
    ]);
    const v = await ingestIndexed(file, 30);
    const audio = JSON.parse((await ffmpegProbe(await server.services.blobs.localPath(v.media.blob))).toString()).streams.find((st: { codec_type: string }) => st.codec_type === 'audio');
    expect(audio).toMatchObject({ codec_name: 'aac' });
    expect(v.media.source).toMatchObject({ kind: 'movie', codec: 'prores', bitDepth: 10, pixFmt: 'yuv422p10le' });
    const png = await fullFrame(server.url, server.token('viewer'), v.id, 5);
    expect(await sharp(png).metadata()).toMatchObject({ format: 'png', depth: 'ushort', width: 320, height: 180 });
  });

  it('HEVC 10-bit (mp4) and DNxHR (mov) are ingested frame-accurately', async () => {
    const hevc = path.join(dir, 'hevc.mp4');
    await ffmpeg([...indexSource(24), '-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=error', '-pix_fmt', 'yuv420p10le', '-tag:v', 'hvc1', '-y', hevc]);
    const h = await ingestIndexed(hevc, 24, 1);
    expect(h.media.source).toMatchObject({ codec: 'hevc', bitDepth: 10 });
    const dnx = path.join(dir, 'dnx.mov');
    await ffmpeg([...indexSource(24), '-c:v', 'dnxhd', '-profile:v', 'dnxhr_lb', '-pix_fmt', 'yuv422p', '-y', dnx]);
    const d = await ingestIndexed(dnx, 24, 1);
    expect(d.media.source).toMatchObject({ codec: 'dnxhd', bitDepth: 8 });
  });

  it('reads 29.97 drop-frame and 23.976 rates and the start timecode from the tags into the shot', async () => {
    const df = path.join(dir, 'ntsc_df.mov');
    await ffmpeg([...indexSource(30, '30000/1001'), '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-timecode', '01:00:00;00', '-y', df]);
    const a = await uploadAndWait(server.url, server.token('artist'), [fileOf(df)]);
    const shot = (await server.services.rooms.shots(server.room.id)).find((s) => s.id === a.result!.shotId)!;
    expect(shot).toMatchObject({ dropFrame: true, startTimecode: '01:00:00;00', frameCount: 30 });
    expect(shot.fps).toBeCloseTo(29.97, 2);
    expect((await versionOf(a.result!.versionId)).media.source!.rate).toEqual({ num: 30000, den: 1001 });

    const film = path.join(dir, 'film.mp4');
    await ffmpeg([...indexSource(24, '24000/1001'), '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-timecode', '00:59:58:00', '-y', film]);
    const b = await uploadAndWait(server.url, server.token('artist'), [fileOf(film)]);
    const shot2 = (await server.services.rooms.shots(server.room.id)).find((s) => s.id === b.result!.shotId)!;
    expect(shot2).toMatchObject({ dropFrame: false, startTimecode: '00:59:58:00' });
    expect(shot2.fps).toBeCloseTo(23.976, 3);
    const v = await versionOf(b.result!.versionId);
    expect(v.media.source!.rate).toEqual({ num: 24000, den: 1001 });
    // The proxy keeps the exact rate: frame 23 is at 23 * 1001 / 24000 s.
    expect((await streamInfo(await server.services.blobs.localPath(v.media.blob))).r_frame_rate).toBe('24000/1001');
  });

  it('does not shift the colour of a standard-range source: a flat patch keeps its value in the proxy and in full quality', async () => {
    const rgb = [200, 100, 50];
    const hex = rgb.map((c) => c.toString(16).padStart(2, '0')).join('');
    for (const [name, codec] of [
      ['patch.mp4', ['-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '10', '-pix_fmt', 'yuv420p']],
      ['patch.mov', ['-c:v', 'prores_ks', '-profile:v', '2', '-pix_fmt', 'yuv422p10le']],
    ] as const) {
      const file = path.join(dir, name);
      await ffmpeg([
        '-f', 'lavfi', '-i', `color=c=0x${hex}:s=320x180:r=24:d=0.5,format=rgb24`,
        '-vf', 'scale=out_color_matrix=bt709:out_range=tv',
        ...codec, '-colorspace', 'bt709', '-color_primaries', 'bt709', '-color_trc', 'bt709', '-color_range', 'tv', '-y', file,
      ]);
      const done = await uploadAndWait(server.url, server.token('artist'), [fileOf(file)]);
      const v = await versionOf(done.result!.versionId);
      const proxy = await movieFrameRgb(await server.services.blobs.localPath(v.media.blob), 3);
      const full = await sharp(await fullFrame(server.url, server.token('viewer'), v.id, 3)).raw().toBuffer();
      const at = (b: Buffer, stride: number) => [b[stride * (90 * 320 + 160)], b[stride * (90 * 320 + 160) + 1], b[stride * (90 * 320 + 160) + 2]];
      const p = at(proxy.data, 3);
      const f = at(full, 3);
      for (let c = 0; c < 3; c++) {
        expect(Math.abs(p[c] - rgb[c]), `${name} proxy channel ${c}: ${p}`).toBeLessThanOrEqual(3);
        expect(Math.abs(f[c] - rgb[c]), `${name} full-quality channel ${c}: ${f}`).toBeLessThanOrEqual(3);
      }
    }
  });

  it('a variable-rate movie: frames found by counting, not by time, and a standard rate for the proxy', async () => {
    const file = path.join(dir, 'phone.mp4');
    // Frames 10 on arrive half a frame late, and 20 on another half: not on a constant grid.
    await ffmpeg([
      ...indexSource(30), '-vf', "setpts='(N+0.5*gte(N\\,10)+0.5*gte(N\\,20))/(24*TB)'",
      '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '8', '-bf', '2', '-pix_fmt', 'yuv420p', '-fps_mode', 'vfr', '-y', file,
    ]);
    const v = await ingestIndexed(file, 30, 4);
    expect(v.media.source!.frameLookup).toEqual({ mode: 'decode' });
    expect(v.media.source!.rate).toEqual({ num: 24, den: 1 });
  });

  it('fits a larger-than-1080p source into a 1080p proxy while full-quality frames keep the source size', async () => {
    const file = path.join(dir, 'uhd.mp4');
    await ffmpeg([...indexSource(6), '-vf', 'scale=2560:1440:flags=neighbor', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-y', file]);
    const done = await uploadAndWait(server.url, server.token('artist'), [fileOf(file)]);
    const v = await versionOf(done.result!.versionId);
    expect(v.media).toMatchObject({ width: 2560, height: 1440, proxy: { width: 1920, height: 1080 } });
    expect(await movieFrameIndex(await server.services.blobs.localPath(v.media.blob), 5)).toBe(5);
    const png = await fullFrame(server.url, server.token('viewer'), v.id, 5);
    expect(await sharp(png).metadata()).toMatchObject({ width: 2560, height: 1440 });
    expect(await indexOfImage(png)).toBe(5);
    expect(fs.existsSync(await server.services.blobs.localPath(v.media.source!.blob!))).toBe(true);
  });
});

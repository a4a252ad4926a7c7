import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { LADDER_GOP, proxyUrl, type Job, type MediaProgress, type Version } from '@loupe/shared';
import { autoCleanup, emitAck, joinRoom, tmpDataDir, until } from './helpers.js';
import { ffmpeg, fileOf, indexSource, mediaServer, movieFrameIndex, packets, picks, settled, stagesOf, streamInfo, upload, uploadAndWait } from './media-helpers.js';
import { ladderRungs } from '../src/media/proxy.js';

const run = promisify(execFile);
const cleanup = autoCleanup();
const FRAMES = 48;

async function audioStream(file: string): Promise<Record<string, any> | undefined> {
  const j = JSON.parse((await run('ffprobe', ['-v', 'error', '-show_streams', '-of', 'json', file])).stdout);
  return j.streams.find((s: { codec_type: string }) => s.codec_type === 'audio');
}

describe('the proxy ladder', () => {
  it('gives an uploaded 1080p movie 360p and 720p rungs (short GOP, same frames, audio kept), with progress, served with Range to members only', async () => {
    const dir = tmpDataDir();
    const movie = path.join(dir, 'plate_1080.mov');
    // Each frame shows its index (big blocks that survive 360p), with a sound track.
    await ffmpeg([
      ...indexSource(FRAMES), '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-filter_complex', '[0:v]scale=1920:1080:flags=neighbor[v]', '-map', '[v]', '-map', '1:a', '-shortest', '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '20', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-y', movie,
    ]);

    const server = await mediaServer();
    cleanup.push(() => server.close());
    const { token } = server;
    const viewer = await joinRoom(server.url, server.room.id, token('viewer'));
    cleanup.push(() => viewer.close());
    const progress: MediaProgress[] = [];
    const versions: Version[] = [];
    viewer.socket.on('media:progress', (p) => progress.push(p));
    viewer.socket.on('version:created', (v) => versions.push(v));

    const started = Date.now();
    const id = await upload(server.url, token('artist'), [fileOf(movie)]);
    const done = await settled(server.url, token('artist'), id, 120_000);
    const ingestMs = Date.now() - started;
    expect(done).toMatchObject({ state: 'done', error: null });
    await until(() => versions.length === 1, 'version:created');

    // The room sees the ladder as its own stage, between the proxy and the thumbnails.
    expect(stagesOf(progress, id)).toEqual(['uploading', 'queued', 'probing', 'proxy', 'ladder', 'thumbnails', 'done']);
    const v = versions[0];
    if (v.media.type !== 'video') throw new Error('not video');
    expect(v.media.proxy).toMatchObject({ width: 1920, height: 1080, gop: 6 });
    expect(v.media.proxy!.bitrate).toBeGreaterThan(0);
    expect(v.media.ladder).toMatchObject([
      { name: '360p', width: 640, height: 360, bitrate: 500_000, gop: LADDER_GOP },
      { name: '720p', width: 1280, height: 720, bitrate: 1_800_000, gop: LADDER_GOP },
    ]);

    for (const rung of v.media.ladder!) {
      const file = await server.services.blobs.localPath(rung.blob);
      // ffprobe: the rung's size, H.264 Rec.709, a keyframe exactly every LADDER_GOP frames, frame N at N/24 s.
      expect(await streamInfo(file), rung.name).toMatchObject({ codec_name: 'h264', width: rung.width, height: rung.height, pix_fmt: 'yuv420p', color_space: 'bt709' });
      const pk = await packets(file);
      expect(pk).toHaveLength(FRAMES);
      pk.forEach((p, i) => {
        expect(p.pts).toBeCloseTo(i / 24, 4);
        expect(p.key, `${rung.name} frame ${i} keyframe`).toBe(i % LADDER_GOP === 0);
      });
      expect(await audioStream(file), `${rung.name} audio`).toMatchObject({ codec_name: 'aac' });
      // Frame accuracy: frame N of the rung shows N.
      for (const n of picks(FRAMES)) expect(await movieFrameIndex(file, n), `${rung.name} frame ${n}`).toBe(n);
      // Near its bitrate (video and audio), far below the full proxy's.
      const bps = (fs.statSync(file).size * 8) / (FRAMES / 24);
      expect(bps).toBeLessThan((rung.bitrate + 96_000) * 1.6);
      expect(bps).toBeLessThan(v.media.proxy!.bitrate!);
    }

    // Served to members, with Range, at the version's proxy address.
    const rung360 = v.media.ladder![0];
    const bytes = fs.readFileSync(await server.services.blobs.localPath(rung360.blob));
    const url = (rung: string, t = token('viewer')) => `${server.url}${proxyUrl(v.id, rung as '360p')}?token=${t}`;
    const part = await fetch(url('360p'), { headers: { range: 'bytes=100-1099' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-1099/${bytes.length}`);
    expect(part.headers.get('content-type')).toBe('video/mp4');
    expect(Buffer.compare(Buffer.from(await part.arrayBuffer()), bytes.subarray(100, 1100))).toBe(0);
    const whole = await fetch(url('720p'));
    expect(whole.status).toBe(200);
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(Number(whole.headers.get('content-length'))).toBe(fs.statSync(await server.services.blobs.localPath(v.media.ladder![1].blob)).size);
    await whole.arrayBuffer();
    const full = await fetch(url('full'), { method: 'HEAD' });
    expect(full.status).toBe(200);
    expect(Number(full.headers.get('content-length'))).toBe(fs.statSync(await server.services.blobs.localPath(v.media.blob)).size);
    const past = await fetch(url('360p'), { headers: { range: `bytes=${bytes.length + 10}-` } });
    expect(past.status).toBe(416);

    // Refused: no such rung (with a code and what there is), no token, another room's member.
    const none = await fetch(url('1080p'));
    expect(none.status).toBe(404);
    expect(await none.json()).toMatchObject({ code: 'RUNG_NOT_FOUND', message: '"1080p" is not a proxy rung; it has: full, 360p, 720p.' });
    const anon = await fetch(`${server.url}${proxyUrl(v.id, '360p')}`);
    expect(anon.status).toBe(401);
    expect(await anon.json()).toMatchObject({ code: 'TOKEN_MISSING' });
    const other = await server.services.roomService.create('Other room', { demo: false });
    const stranger = other.invites.find((i) => i.role === 'director')!.token;
    const refused = await fetch(url('360p', stranger));
    expect(refused.status).toBe(404);
    expect(await refused.json()).toMatchObject({ code: 'VERSION_NOT_FOUND' });
    const blobRefused = await fetch(`${server.url}/blobs/${rung360.blob}?token=${stranger}`);
    expect(blobRefused.status).toBe(404);

    // What the ladder costs the ingest: made again from the stored proxy, timed.
    const work = path.join(dir, 'again');
    fs.mkdirSync(work);
    const t0 = Date.now();
    await ladderRungs(await server.services.blobs.localPath(v.media.blob), { width: 1920, height: 1080 }, work, () => {});
    console.log(`[ladder] 1080p ${FRAMES} frames: ingest ${ingestMs} ms, of which the ladder takes about ${Date.now() - t0} ms`);
  });

  it('gives a 720p source only a 360p rung, and a small one none (the player then has only the full proxy)', async () => {
    const dir = tmpDataDir();
    const hd = path.join(dir, 'hd.mp4');
    await ffmpeg([...indexSource(24), '-vf', 'scale=1280:720:flags=neighbor', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-y', hd]);
    const small = path.join(dir, 'small.mp4');
    await ffmpeg([...indexSource(24), '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-y', small]);
    const server = await mediaServer();
    cleanup.push(() => server.close());
    const { token } = server;
    const a = await uploadAndWait(server.url, token('artist'), [fileOf(hd)]);
    const b = await uploadAndWait(server.url, token('artist'), [fileOf(small)]);
    const get = async (id: string) => (await server.services.versions.get(id))!.media;
    const hdMedia = await get(a.result!.versionId);
    expect(hdMedia.type === 'video' && hdMedia.ladder).toMatchObject([{ name: '360p', width: 640, height: 360 }]);
    const smallMedia = await get(b.result!.versionId);
    expect(smallMedia.type === 'video' && smallMedia.ladder).toBeUndefined();
    const res = await fetch(`${server.url}${proxyUrl(b.result!.versionId, '360p')}?token=${token('viewer')}`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'RUNG_NOT_FOUND', message: 'This version has no 360p proxy; it has: full.' });
  });

  it('gives a shot render (the next version made by a fix) its rungs too, frame for frame', async () => {
    const dir = tmpDataDir();
    const movie = path.join(dir, 'plate_480.mp4');
    await ffmpeg([...indexSource(12), '-vf', 'scale=854:480:flags=neighbor', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-y', movie]);
    const server = await mediaServer();
    cleanup.push(() => server.close());
    const ingest = await uploadAndWait(server.url, server.token('artist'), [fileOf(movie)]);
    const artist = await joinRoom(server.url, server.room.id, server.token('artist'));
    cleanup.push(() => artist.close());
    const versions: Version[] = [];
    artist.socket.on('version:created', (v) => versions.push(v));
    const ack = await emitAck<{ job: Job }>(artist.socket, 'fix:request', {
      room: server.room.id, versionId: ingest.result!.versionId, frame: 2, region: { x: 0.25, y: 0.5, width: 0.5, height: 0.4 },
      fix: 'exposure', params: { exposure: 1 }, scope: 'shot', range: { in: 1, out: 5 }, idempotencyKey: 'ladder-render',
    });
    expect(ack.ok, JSON.stringify(ack)).toBe(true);
    if (!ack.ok) return;
    const render = await until(() => versions.find((v) => v.provenance?.jobId === ack.job.id), 'the rendered version', 120_000);
    if (render.media.type !== 'video') throw new Error('not video');
    expect(render.media.ladder).toMatchObject([{ name: '360p', width: 640, height: 360, gop: LADDER_GOP }]);
    expect(render.media.proxy!.bitrate).toBeGreaterThan(0);
    const file = await server.services.blobs.localPath(render.media.ladder![0].blob);
    for (const n of [0, 3, 11]) expect(await movieFrameIndex(file, n), `render 360p frame ${n}`).toBe(n);
    const res = await fetch(`${server.url}${proxyUrl(render.id, '360p')}?token=${server.token('viewer')}`, { headers: { range: 'bytes=0-99' } });
    expect(res.status).toBe(206);
  });
});

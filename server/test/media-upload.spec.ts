import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { MediaProgress, Shot, Version } from '@loupe/shared';
import { autoCleanup, joinRoom, tmpDataDir, until } from './helpers.js';
import {
  api,
  blob,
  decodeIndex,
  ffmpeg,
  fullFrame,
  indexOfImage,
  indexSource,
  mediaServer,
  movieFrameIndex,
  packets,
  patch,
  picks,
  settled,
  stagesOf,
  streamInfo,
  upload,
} from './media-helpers.js';

const cleanup = autoCleanup();
const FRAMES = 48;

describe('uploading a movie', () => {
  it('is received over tus, processed in the background with progress for the room, and lands as a frame-accurate shot', async () => {
    const dir = tmpDataDir();
    // H.264 as cameras and editors deliver it: GOPs with B-frames, so frame N is mostly not a keyframe.
    const movie = path.join(dir, 'plate_v001.mp4');
    await ffmpeg([...indexSource(FRAMES), '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '16', '-bf', '3', '-g', '12', '-pix_fmt', 'yuv420p', '-colorspace', 'bt709', '-y', movie]);
    const bytes = fs.readFileSync(movie);

    const server = await mediaServer();
    cleanup.push(() => server.close());
    const { room, token } = server;
    const viewer = await joinRoom(server.url, room.id, token('viewer'));
    cleanup.push(() => viewer.close());
    const seen: { progress: MediaProgress[]; shots: Shot[]; versions: Version[]; order: string[] } = { progress: [], shots: [], versions: [], order: [] };
    viewer.socket.on('media:progress', (p) => (seen.progress.push(p), seen.order.push(`progress:${p.stage}`)));
    viewer.socket.on('shot:created', (s) => (seen.shots.push(s), seen.order.push('shot')));
    viewer.socket.on('version:created', (v) => (seen.versions.push(v), seen.order.push('version')));

    // tus creation: one file, its length and its name in Upload-Metadata.
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const created = await fetch(`${server.url}/api/uploads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token('artist')}`, 'tus-resumable': '1.0.0', 'upload-length': String(bytes.length), 'upload-metadata': `filename ${b64('plate_v001.mp4')}` },
    });
    expect(created.status).toBe(201);
    const location = created.headers.get('location')!;
    expect(location).toMatch(/^\/api\/uploads\/\w+\.0$/);
    const id = created.headers.get('loupe-ingest')!;

    // Half, then a HEAD (as after a dropped connection), then the rest from the offset the server has.
    const half = Math.floor(bytes.length / 2);
    expect((await patch(server.url, token('artist'), location, 0, bytes.subarray(0, half))).status).toBe(204);
    const head = await fetch(`${server.url}${location}`, { method: 'HEAD', headers: { authorization: `Bearer ${token('artist')}`, 'tus-resumable': '1.0.0' } });
    expect(head.headers.get('upload-offset')).toBe(String(half));
    expect(head.headers.get('upload-length')).toBe(String(bytes.length));
    // A PATCH at a stale offset is refused with the offset to resume from.
    const stale = await patch(server.url, token('artist'), location, 0, bytes.subarray(0, 10));
    expect(stale.status).toBe(409);
    expect(await stale.json()).toMatchObject({ code: 'UPLOAD_OFFSET_MISMATCH' });
    const rest = await patch(server.url, token('artist'), location, half, bytes.subarray(half));
    expect(rest.status).toBe(204);
    expect(rest.headers.get('upload-offset')).toBe(String(bytes.length));

    const done = await settled(server.url, token('artist'), id);
    expect(done).toMatchObject({ state: 'done', stage: 'done', error: null });

    // The room saw each stage, then the new shot before its version.
    await until(() => seen.versions.length === 1, 'version:created on the viewer');
    expect(stagesOf(seen.progress, id)).toEqual(['uploading', 'queued', 'probing', 'proxy', 'thumbnails', 'done']);
    expect(seen.order.indexOf('shot')).toBeLessThan(seen.order.indexOf('version'));
    const v = seen.versions[0];
    const shot = seen.shots[0];
    expect(shot).toMatchObject({ name: 'plate_v001', fps: 24, width: 320, height: 180, frameCount: FRAMES, dropFrame: false, startTimecode: '00:00:00:00' });
    expect(v).toMatchObject({ shotId: shot.id, number: 1, kind: 'source', label: 'plate_v001.mp4', createdBy: { name: 'Artist' } });
    expect(done.result).toMatchObject({ shotId: shot.id, versionId: v.id, versionNumber: 1, gaps: [] });
    if (v.media.type !== 'video') throw new Error('not video');
    expect(v.media).toMatchObject({ width: 320, height: 180, fps: 24, frameCount: FRAMES, proxy: { width: 320, height: 180, gop: 6 } });
    expect(v.media.source).toMatchObject({ kind: 'movie', codec: 'h264', bitDepth: 8, rate: { num: 24, den: 1 }, frameLookup: { mode: 'seek' } });
    // The original upload is kept byte for byte and is not what the browser plays.
    expect(Buffer.compare(await blob(server.url, token('viewer'), v.media.source!.blob!), bytes)).toBe(0);
    expect(v.media.blob).not.toBe(v.media.source!.blob);

    // The proxy: H.264 yuv420p Rec.709, a keyframe every 6 frames, frame N at exactly N/24 s.
    const proxyFile = await server.services.blobs.localPath(v.media.blob);
    expect(await streamInfo(proxyFile)).toMatchObject({ codec_name: 'h264', pix_fmt: 'yuv420p', color_space: 'bt709', color_primaries: 'bt709', color_transfer: 'bt709' });
    const pk = await packets(proxyFile);
    expect(pk).toHaveLength(FRAMES);
    pk.forEach((p, i) => {
      expect(p.pts).toBeCloseTo(i / 24, 4);
      expect(p.key).toBe(i % 6 === 0);
    });

    // Frame accuracy: the proxy's frame N and the full-quality frame N both show N.
    for (const n of picks(FRAMES)) {
      expect(await movieFrameIndex(proxyFile, n), `proxy frame ${n}`).toBe(n);
      expect(await indexOfImage(await fullFrame(server.url, token('viewer'), v.id, n)), `full-quality frame ${n}`).toBe(n);
    }
    const out = await fetch(`${server.url}/api/versions/${v.id}/frames/${FRAMES}`, { headers: { authorization: `Bearer ${token('viewer')}` } });
    expect(out.status).toBe(416);
    expect(await out.json()).toMatchObject({ code: 'FRAME_OUT_OF_RANGE' });

    // Poster and filmstrip: JPEGs served to members; tile i of the strip shows frame frames[i].
    const poster = await blob(server.url, token('viewer'), v.media.thumbnail!);
    expect(await sharp(poster).metadata()).toMatchObject({ format: 'jpeg', width: 320 });
    expect(await indexOfImage(poster)).toBe(Math.floor((FRAMES - 1) / 2));
    const fs0 = v.media.filmstrip!;
    expect(fs0.frames).toEqual([0, 6, 12, 18, 24, 30, 36, 42]);
    const strip = await blob(server.url, token('viewer'), fs0.blob);
    const { data, info } = await sharp(strip).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([fs0.tileWidth * fs0.columns, fs0.tileHeight]);
    for (const [i, f] of fs0.frames.entries()) {
      const tile = await sharp(strip).extract({ left: i * fs0.tileWidth, top: 0, width: fs0.tileWidth, height: fs0.tileHeight }).raw().toBuffer();
      expect(decodeIndex(tile, fs0.tileWidth, fs0.tileHeight, info.channels), `filmstrip tile ${i}`).toBe(f);
    }
    void data;

    // A second upload to the same shot becomes its v002.
    const again = await settled(server.url, token('director'), await upload(server.url, token('director'), [{ name: 'plate_v002.mp4', data: bytes }], { shotId: shot.id }));
    expect(again.result).toMatchObject({ shotId: shot.id, versionNumber: 2 });
    await until(() => seen.versions.length === 2, 'the second version');
    expect(seen.shots).toHaveLength(1);
    expect((await server.services.versions.listForRoom(room.id)).filter((x) => x.shotId === shot.id).map((x) => x.number)).toEqual([1, 2]);
    // The upload folder is gone once processed.
    expect(fs.readdirSync(path.join(server.dataDir, 'uploads')).filter((n) => n !== '.folder-id')).toEqual([]);
  });
});

describe('who may upload, and how much', () => {
  it('refuses viewers, missing tokens, uploads over the size limit and bytes past the announced size', async () => {
    const server = await mediaServer();
    cleanup.push(() => server.close());
    const { room, token } = server;
    const shotsBefore = (await server.services.rooms.shots(room.id)).length;

    const viewer = await api(server.url, token('viewer'), 'POST', '/api/ingests', { files: [{ name: 'a.mp4', size: 1000 }] });
    expect(viewer.status).toBe(403);
    expect(viewer.body).toMatchObject({ ok: false, code: 'FORBIDDEN_ROLE' });
    const tusViewer = await fetch(`${server.url}/api/uploads`, { method: 'POST', headers: { authorization: `Bearer ${token('viewer')}`, 'upload-length': '10', 'upload-metadata': `filename ${Buffer.from('a.mov').toString('base64')}` } });
    expect(tusViewer.status).toBe(403);
    const anonymous = await fetch(`${server.url}/api/ingests`, { method: 'POST', body: '{}' });
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ code: 'TOKEN_MISSING' });

    // The default limit is 20 GB; announcing more is refused before a byte is sent.
    const big = await api(server.url, token('artist'), 'POST', '/api/ingests', { files: [{ name: 'huge.mov', size: 21 * 1024 ** 3 }] });
    expect(big.status).toBe(413);
    expect(big.body).toMatchObject({ code: 'UPLOAD_TOO_LARGE' });
    const limits = await api(server.url, token('viewer'), 'GET', '/api/media/limits');
    expect(limits.body).toMatchObject({ maxUploadBytes: 20 * 1024 ** 3, maxPixels: 40_000_000, tus: { version: '1.0.0' } });
    const options = await fetch(`${server.url}/api/uploads`, { method: 'OPTIONS' });
    expect(options.status).toBe(204);
    expect(options.headers.get('tus-max-size')).toBe(String(20 * 1024 ** 3));
    expect(options.headers.get('tus-extension')).toBe('creation,creation-with-upload,termination');

    // Sending more bytes than announced.
    const small = await api(server.url, token('artist'), 'POST', '/api/ingests', { files: [{ name: 'small.mp4', size: 100 }] });
    const over = await patch(server.url, token('artist'), small.body.ingest.files[0].uploadUrl, 0, Buffer.alloc(200));
    expect(over.status).toBe(413);
    expect(await over.json()).toMatchObject({ code: 'UPLOAD_TOO_LARGE' });
    // Another room's token does not see the upload.
    const other = await server.services.roomService.create('Other room', { demo: false });
    const foreign = await fetch(`${server.url}${small.body.ingest.files[0].uploadUrl}`, { method: 'HEAD', headers: { authorization: `Bearer ${other.invites[0].token}` } });
    expect(foreign.status).toBe(404);
    // Cancelling (tus termination) removes it.
    const del = await fetch(`${server.url}${small.body.ingest.files[0].uploadUrl}`, { method: 'DELETE', headers: { authorization: `Bearer ${token('artist')}`, 'tus-resumable': '1.0.0' } });
    expect(del.status).toBe(204);
    expect((await api(server.url, token('artist'), 'GET', `/api/ingests/${small.body.ingest.id}`)).body.ingest.state).toBe('cancelled');
    // Any member sees the room's uploads (a late joiner's view of uploads in flight).
    const listed = await api(server.url, token('viewer'), 'GET', '/api/ingests');
    expect(listed.body.ingests).toEqual([expect.objectContaining({ id: small.body.ingest.id, state: 'cancelled', label: 'small.mp4' })]);
    expect(fs.readdirSync(path.join(server.dataDir, 'uploads')).filter((n) => n !== '.folder-id')).toEqual([]);
    expect((await server.services.rooms.shots(room.id))).toHaveLength(shotsBefore);
  });

  it('enforces UPLOAD_MAX_BYTES from the configuration', async () => {
    const server = await mediaServer({ uploadMaxBytes: 1000 });
    cleanup.push(() => server.close());
    const r = await api(server.url, server.token('artist'), 'POST', '/api/ingests', { files: [{ name: 'a.0001.png', size: 600 }, { name: 'a.0002.png', size: 600 }] });
    expect(r.status).toBe(413);
    expect(r.body).toMatchObject({ code: 'UPLOAD_TOO_LARGE', message: expect.stringMatching(/1000 bytes/) });
  });
});

describe('a restart', () => {
  it('keeps the bytes of an unfinished upload and finishes an interrupted ingest, making exactly one version', async () => {
    const dir = tmpDataDir();
    const a = path.join(dir, 'restart.mp4');
    await ffmpeg([...indexSource(24), '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-y', a]);
    const bytes = fs.readFileSync(a);
    const first = await mediaServer();
    const { room, token } = first;
    const created = await api(first.url, token('artist'), 'POST', '/api/ingests', { files: [{ name: 'restart.mp4', size: bytes.length }] });
    const url = created.body.ingest.files[0].uploadUrl as string;
    const half = Math.floor(bytes.length / 2);
    expect((await patch(first.url, token('artist'), url, 0, bytes.subarray(0, half))).status).toBe(204);
    await first.close();

    const { startServer } = await import('../src/main.js');
    const { createLogger } = await import('../src/log.js');
    const second = await startServer({ port: 0, host: '127.0.0.1', dataDir: first.dataDir }, { log: createLogger('silent') });
    const head = await fetch(`${second.url}${url}`, { method: 'HEAD', headers: { authorization: `Bearer ${token('artist')}` } });
    expect(head.headers.get('upload-offset')).toBe(String(half));
    expect((await patch(second.url, token('artist'), url, half, bytes.subarray(half))).status).toBe(204);
    // Stop while it is being processed (or just after): the next start finishes it.
    await second.close();
    const third = await startServer({ port: 0, host: '127.0.0.1', dataDir: first.dataDir }, { log: createLogger('silent') });
    cleanup.push(() => third.close());
    const done = await settled(third.url, token('artist'), created.body.ingest.id);
    expect(done.state).toBe('done');
    await until(() => third.ingests.idle, 'ingest queue idle');
    expect((await third.services.versions.listForRoom(room.id))).toHaveLength(1);
    expect((await third.services.rooms.shots(room.id))).toHaveLength(1);
  });
});

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tus from 'tus-js-client';
import { DetailedError, Upload, type UploadOptions, type UrlStorage } from 'tus-js-client';
import type { MediaProgress } from '@loupe/shared';
import { autoCleanup, joinRoom, tmpDataDir, until } from './helpers.js';
import { api, blob, ffmpeg, indexSource, mediaServer, settled } from './media-helpers.js';

const cleanup = autoCleanup();
/** tus-js-client's URL storage in a file (Node's build has it; its types only name the browser's). */
const FileUrlStorage = (tus as unknown as { FileUrlStorage: new (file: string) => UrlStorage }).FileUrlStorage;
const CHUNK = 32 * 1024;

/** Runs a tus-js-client upload to its end: resolves with the upload URL, rejects with tus-js-client's error. */
function finish(upload: Upload): Promise<string> {
  return new Promise((resolve, reject) => {
    upload.options.onSuccess = () => resolve(upload.url!);
    upload.options.onError = reject;
    upload.start();
  });
}

/** The Loupe refusal behind a tus-js-client error: its status, code header and JSON body. */
function refusal(e: unknown) {
  if (!(e instanceof DetailedError) || !e.originalResponse) throw e;
  const r = e.originalResponse;
  return { status: r.getStatus(), header: r.getHeader('Loupe-Error-Code'), body: JSON.parse(r.getBody()) as { ok: boolean; code: string; message: string } };
}

describe('the stock tus-js-client against the server', () => {
  it('creates, sends in chunks, is cut off mid-chunk, resumes by fingerprint from where the server is, and the upload becomes a version', async () => {
    const dir = tmpDataDir();
    const movie = path.join(dir, 'plate_tus.mp4');
    // Lossless with noise: several chunks of 32 KiB.
    await ffmpeg([...indexSource(48), '-vf', 'noise=alls=30:allf=t+u', '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0', '-pix_fmt', 'yuv420p', '-y', movie]);
    const bytes = fs.readFileSync(movie);
    expect(bytes.length).toBeGreaterThan(6 * CHUNK);

    const server = await mediaServer();
    cleanup.push(() => server.close());
    const { room, token } = server;
    const viewer = await joinRoom(server.url, room.id, token('viewer'));
    cleanup.push(() => viewer.close());
    const progress: MediaProgress[] = [];
    viewer.socket.on('media:progress', (p) => progress.push(p));

    const urlStorage = new FileUrlStorage(path.join(dir, 'tus-urls.json'));
    const options = (extra: UploadOptions): UploadOptions => ({
      endpoint: `${server.url}/api/uploads`,
      headers: { Authorization: `Bearer ${token('artist')}` },
      metadata: { filename: 'plate_tus.mp4' },
      chunkSize: CHUNK,
      urlStorage,
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      retryDelays: null,
      ...extra,
    });

    // First run: cut off (the request aborted, as a closed tab or a lost network would) in the 4th chunk.
    let cutAt = 0;
    const first: Upload = new Upload(bytes, options({}));
    const cut = new Promise<void>((resolve, reject) => {
      first.options.onProgress = (sent) => {
        if (cutAt || sent < 3.5 * CHUNK) return;
        cutAt = sent;
        void first.abort().then(resolve, reject);
      };
      first.options.onError = reject;
      first.options.onSuccess = () => reject(new Error('finished before it was cut off'));
    });
    first.start();
    await cut;
    const location = first.url!;
    expect(location).toMatch(/\/api\/uploads\/\w+\.0$/);
    const ingestId = /(\w+)\.0$/.exec(location)![1];

    // The server kept what arrived: at least the three whole chunks, not the whole file.
    await until(async () => {
      const h = await fetch(location, { method: 'HEAD', headers: { authorization: `Bearer ${token('artist')}`, 'tus-resumable': '1.0.0' } });
      return Number(h.headers.get('upload-offset')) >= 3 * CHUNK;
    }, 'the three chunks on the server');
    const head = await fetch(location, { method: 'HEAD', headers: { authorization: `Bearer ${token('artist')}`, 'tus-resumable': '1.0.0' } });
    const kept = Number(head.headers.get('upload-offset'));
    expect(kept).toBeLessThan(bytes.length);
    expect(head.headers.get('loupe-ingest')).toBe(ingestId);
    // The room saw the upload's progress while its bytes arrived.
    expect(progress.some((p) => p.uploadId === ingestId && p.stage === 'uploading')).toBe(true);

    // Second run (a new process, a reloaded page): found by its fingerprint, resumed at the server's offset.
    const second = new Upload(bytes, options({}));
    const previous = await second.findPreviousUploads();
    expect(previous.map((p) => p.uploadUrl)).toEqual([location]);
    second.resumeFromPreviousUpload(previous[0]);
    const sentFrom: number[] = [];
    second.options.onChunkComplete = (_size, accepted) => sentFrom.push(accepted);
    expect(await finish(second)).toBe(location);
    // No byte before the server's offset went again: the first chunk of this run ends past it by at most a chunk.
    expect(sentFrom[0]).toBeGreaterThan(kept);
    expect(sentFrom[0]).toBeLessThanOrEqual(kept + CHUNK);
    // Done: its fingerprint is forgotten (tus-js-client removes it in the background).
    await until(async () => (await urlStorage.findAllUploads()).length === 0, 'the fingerprint removed');

    const done = await settled(server.url, token('artist'), ingestId);
    expect(done).toMatchObject({ state: 'done', label: 'plate_tus.mp4', error: null });
    const version = (await server.services.versions.listForRoom(room.id)).find((v) => v.id === done.result!.versionId)!;
    if (version.media.type !== 'video') throw new Error('not a video');
    expect(version.media).toMatchObject({ type: 'video', frameCount: 48 });
    // The source is the file, byte for byte: nothing lost or doubled at the cut.
    expect(Buffer.compare(await blob(server.url, token('viewer'), version.media.source!.blob!), bytes)).toBe(0);
    // One ingest: resuming made no second one.
    expect((await api<{ ingests: { id: string }[] }>(server.url, token('viewer'), 'GET', '/api/ingests')).body.ingests.map((i) => i.id)).toEqual([ingestId]);
  });

  it('resumes an upload announced with POST /api/ingests (a frame of a sequence) from its uploadUrl, and sends creation-with-upload', async () => {
    const server = await mediaServer();
    cleanup.push(() => server.close());
    const { token } = server;
    const png = await ffmpeg([...indexSource(1), '-frames:v', '1', '-f', 'image2', '-c:v', 'png', 'pipe:1']);
    const created = await api<{ ingest: { id: string; files: { uploadUrl: string }[] } }>(server.url, token('artist'), 'POST', '/api/ingests', {
      files: [{ name: 'grain.0001.png', size: png.length }, { name: 'grain.0002.png', size: png.length }],
    });
    expect(created.status).toBe(201);
    const { ingest } = created.body;
    for (const f of ingest.files) {
      await finish(new Upload(png, { uploadUrl: `${server.url}${f.uploadUrl}`, headers: { Authorization: `Bearer ${token('artist')}` }, chunkSize: 1000, retryDelays: null }));
    }
    expect(await settled(server.url, token('artist'), ingest.id)).toMatchObject({ state: 'done', error: null });

    // A single-request upload: the bytes ride on the creation.
    const url = await finish(
      new Upload(png, {
        endpoint: `${server.url}/api/uploads`,
        headers: { Authorization: `Bearer ${token('artist')}` },
        metadata: { filename: 'one.0001.png' },
        uploadDataDuringCreation: true,
        retryDelays: null,
      }),
    );
    const one = /(\w+)\.0$/.exec(url)![1];
    expect(await settled(server.url, token('artist'), one)).toMatchObject({ state: 'done', error: null });
  });

  it("answers refusals with Loupe's codes, which tus-js-client hands to the caller", async () => {
    const server = await mediaServer({ uploadMaxBytes: 5000 });
    cleanup.push(() => server.close());
    const { token } = server;
    const tus = (tok: string, name: string, data: Buffer) =>
      finish(new Upload(data, { endpoint: `${server.url}/api/uploads`, headers: { Authorization: `Bearer ${tok}` }, metadata: { filename: name }, retryDelays: null })).then(
        () => null,
        refusal,
      );
    expect(await tus(token('viewer'), 'a.mov', Buffer.alloc(10))).toMatchObject({ status: 403, header: 'FORBIDDEN_ROLE', body: { ok: false, code: 'FORBIDDEN_ROLE' } });
    expect(await tus('nope', 'a.mov', Buffer.alloc(10))).toMatchObject({ status: 401, body: { code: 'TOKEN_INVALID' } });
    expect(await tus(token('artist'), 'notes.txt', Buffer.alloc(10))).toMatchObject({ status: 415, header: 'UNSUPPORTED_FORMAT', body: { message: expect.stringMatching(/notes\.txt/) } });
    expect(await tus(token('artist'), '../../etc/passwd.png', Buffer.alloc(10))).toMatchObject({ status: 400, body: { code: 'BAD_FILE_NAME' } });
    expect(await tus(token('artist'), 'big.mov', Buffer.alloc(6000))).toMatchObject({ status: 413, header: 'UPLOAD_TOO_LARGE', body: { message: expect.stringMatching(/5000 bytes/) } });

    // A stale offset: 409 with UPLOAD_OFFSET_MISMATCH (tus-js-client itself asks HEAD and carries on).
    const created = await api<{ ingest: { files: { uploadUrl: string }[] } }>(server.url, token('artist'), 'POST', '/api/ingests', { files: [{ name: 'x.mov', size: 100 }] });
    const at = `${server.url}${created.body.ingest.files[0].uploadUrl}`;
    const patch = (offset: number, data: Buffer) =>
      fetch(at, { method: 'PATCH', headers: { authorization: `Bearer ${token('artist')}`, 'tus-resumable': '1.0.0', 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' }, body: new Uint8Array(data) });
    expect((await patch(0, Buffer.alloc(40))).status).toBe(204);
    const stale = await patch(0, Buffer.alloc(10));
    expect([stale.status, stale.headers.get('loupe-error-code'), ((await stale.json()) as { code: string }).code]).toEqual([409, 'UPLOAD_OFFSET_MISMATCH', 'UPLOAD_OFFSET_MISMATCH']);
    const over = await patch(40, Buffer.alloc(100));
    expect([over.status, ((await over.json()) as { code: string }).code]).toEqual([413, 'UPLOAD_TOO_LARGE']);
    const unknown = await fetch(`${server.url}/api/uploads/abcdefgh.0`, { method: 'HEAD', headers: { authorization: `Bearer ${token('artist')}`, 'tus-resumable': '1.0.0' } });
    expect([unknown.status, unknown.headers.get('loupe-error-code')]).toEqual([404, 'UPLOAD_NOT_FOUND']);
  });
});

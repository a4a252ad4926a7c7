import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinRoom, tmpDataDir } from './helpers.js';
import { api, ffmpeg, indexSource, makeSequence, makeZip, mediaServer, pngBomb, uploadAndWait, writeExr, type UploadFile } from './media-helpers.js';

let server: Awaited<ReturnType<typeof mediaServer>>;
const dir = tmpDataDir();
let goodMp4: Buffer;
let goodPng: Buffer;

beforeAll(async () => {
  // A small unpack limit so that a zip bomb can be made of a few kilobytes.
  server = await mediaServer({ unpackMaxBytes: 1_000_000 });
  const mp4 = path.join(dir, 'good.mp4');
  await ffmpeg([...indexSource(24), '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', '-y', mp4]);
  goodMp4 = fs.readFileSync(mp4);
  goodPng = fs.readFileSync((await makeSequence(path.join(dir, 'png'), 'ok.', 'png', 1, 1))[0]);
});
afterAll(() => server?.close());

/** What the room holds, to check that a refused upload created nothing. */
async function snapshot() {
  return { shots: (await server.services.rooms.shots(server.room.id)).length, versions: (await server.services.versions.listForRoom(server.room.id)).length };
}

async function refusedAtCreation(files: { name: string; size: number }[], status: number, code: string, extra: Record<string, unknown> = {}) {
  const r = await api(server.url, server.token('artist'), 'POST', '/api/ingests', { files, ...extra });
  expect(r.status, `${files.map((f) => f.name).join(', ')}: ${JSON.stringify(r.body)}`).toBe(status);
  expect(r.body).toMatchObject({ ok: false, code });
  return r.body.message as string;
}

async function failsWhileProcessing(files: UploadFile[], code: string): Promise<string> {
  const before = await snapshot();
  const done = await uploadAndWait(server.url, server.token('artist'), files);
  expect(done.state, `${files[0].name}: ${JSON.stringify(done.error)}`).toBe('failed');
  expect(done.error!.code, done.error!.message).toBe(code);
  expect(done.result).toBeNull();
  expect(await snapshot()).toEqual(before);
  return done.error!.message;
}

describe('bad input', () => {
  it('refuses unsupported extensions, names with path separators and files that make no sequence before any byte is sent', async () => {
    await refusedAtCreation([{ name: 'clip.avi', size: 10 }], 415, 'UNSUPPORTED_FORMAT');
    await refusedAtCreation([{ name: 'notes', size: 10 }], 415, 'UNSUPPORTED_FORMAT');
    for (const name of ['../escape.mov', 'plates/a.mov', 'C:\\temp\\a.mov', '.hidden.png', 'a\u0000.mov']) {
      await refusedAtCreation([{ name, size: 10 }], 400, 'BAD_FILE_NAME');
    }
    await refusedAtCreation([{ name: 'a.0001.png', size: 10 }, { name: 'b.0002.png', size: 10 }], 422, 'SEQUENCE_INVALID');
    await refusedAtCreation([{ name: 'a.1.png', size: 10 }, { name: 'a.001.png', size: 10 }], 422, 'SEQUENCE_INVALID');
    await refusedAtCreation([{ name: 'a.0001.png', size: 10 }, { name: 'a.0002.exr', size: 10 }], 422, 'SEQUENCE_INVALID');
    await refusedAtCreation([{ name: 'a.mov', size: 10 }, { name: 'b.mov', size: 10 }], 400, 'BAD_REQUEST');
    await refusedAtCreation([{ name: 'a.mov', size: 10 }], 404, 'SHOT_NOT_FOUND', { shotId: 'nope' });
    await refusedAtCreation([{ name: 'a.mov', size: 0 }], 422, 'CORRUPT_MEDIA');
    // tus creation with a path in the name.
    const tus = await fetch(`${server.url}/api/uploads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token('artist')}`, 'upload-length': '10', 'upload-metadata': `filename ${Buffer.from('../../etc/passwd.png').toString('base64')}` },
    });
    expect(tus.status).toBe(400);
    expect(await tus.json()).toMatchObject({ code: 'BAD_FILE_NAME' });
  });

  it('corrupt and truncated movies, unsupported codecs, and content that does not match the extension fail with a clear code', async () => {
    const junk = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypisom'), Buffer.alloc(4000, 0x5a)]);
    expect(await failsWhileProcessing([{ name: 'junk.mp4', data: junk }], 'CORRUPT_MEDIA')).toMatch(/junk\.mp4/);
    // Cut in the middle of the picture data (the index is at the front): most frames are missing.
    await failsWhileProcessing([{ name: 'cut.mp4', data: goodMp4.subarray(0, Math.floor(goodMp4.length * 0.4)) }], 'CORRUPT_MEDIA');

    const mpeg4 = path.join(dir, 'old.mp4');
    await ffmpeg([...indexSource(6), '-c:v', 'mpeg4', '-y', mpeg4]);
    expect(await failsWhileProcessing([{ name: 'old.mp4', data: fs.readFileSync(mpeg4) }], 'UNSUPPORTED_CODEC')).toMatch(/mpeg4/);
    const mjpeg = path.join(dir, 'mjpeg.mov');
    await ffmpeg([...indexSource(6), '-c:v', 'mjpeg', '-y', mjpeg]);
    await failsWhileProcessing([{ name: 'mjpeg.mov', data: fs.readFileSync(mjpeg) }], 'UNSUPPORTED_CODEC');

    expect(await failsWhileProcessing([{ name: 'plate.exr', data: goodPng }], 'CONTENT_MISMATCH')).toMatch(/PNG/);
    await failsWhileProcessing([{ name: 'readme.mp4', data: Buffer.from('this is not a movie\n'.repeat(20)) }], 'CONTENT_MISMATCH');
    await failsWhileProcessing([{ name: 'frames.mov', data: makeZip([{ name: 'a.0001.png', data: goodPng }]) }], 'CONTENT_MISMATCH');
    await failsWhileProcessing([{ name: 'frames.zip', data: goodMp4 }], 'CONTENT_MISMATCH');
  });

  it('refuses pictures over the pixel limit from their headers, before decoding: decompression bombs included', async () => {
    const bomb = pngBomb(100_000, 100_000);
    expect(bomb.length).toBeLessThan(2000);
    expect(await failsWhileProcessing([{ name: 'bomb.png', data: bomb }], 'IMAGE_TOO_LARGE')).toMatch(/100000x100000/);
    const bigExr = writeExr(8, 8, () => [0, 0, 0]);
    // Same file, its data window rewritten to claim 30000 x 30000 pixels.
    const at = bigExr.indexOf(Buffer.from('dataWindow\0box2i\0', 'latin1')) + 'dataWindow\0box2i\0'.length + 4;
    bigExr.writeInt32LE(29_999, at + 8);
    bigExr.writeInt32LE(29_999, at + 12);
    await failsWhileProcessing([{ name: 'huge.exr', data: bigExr }], 'IMAGE_TOO_LARGE');
    // A bomb inside a sequence stops the whole sequence.
    await failsWhileProcessing([{ name: 's.0001.png', data: goodPng }, { name: 's.0002.png', data: bomb }], 'IMAGE_TOO_LARGE');
  });

  it('refuses zips whose entries would escape the folder, and zips that unpack past the limit; nothing is written outside', async () => {
    const hostile = ['../evil.0001.png', '/tmp/evil.0001.png', 'frames/../../evil.0001.png', 'frames\\..\\..\\evil.0001.png', 'C:/evil.0001.png'];
    for (const name of hostile) {
      const zip = makeZip([{ name: 'ok.0001.png', data: goodPng }, { name, data: goodPng }]);
      await failsWhileProcessing([{ name: 'slip.zip', data: zip }], 'ARCHIVE_UNSAFE');
    }
    for (const p of [path.join(server.dataDir, 'evil.0001.png'), path.join(server.dataDir, 'tmp', 'evil.0001.png'), '/tmp/evil.0001.png']) {
      expect(fs.existsSync(p), p).toBe(false);
    }
    // 4 MB of zeros deflate to a few kilobytes; the unpack limit here is 1 MB.
    const zeros = makeZip([{ name: 'z.0001.png', data: Buffer.alloc(4 << 20) }], { deflate: true });
    expect(zeros.length).toBeLessThan(10_000);
    expect(await failsWhileProcessing([{ name: 'bomb.zip', data: zeros }], 'ARCHIVE_UNSAFE')).toMatch(/unpacks to more than/);
    await failsWhileProcessing([{ name: 'notes.zip', data: makeZip([{ name: 'a.mov', data: goodMp4 }]) }], 'UNSUPPORTED_FORMAT');
    await failsWhileProcessing([{ name: 'broken.zip', data: Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(100)]) }], 'CORRUPT_MEDIA');
  });

  it('a damaged frame or a frame of another size fails the sequence', async () => {
    const files = await makeSequence(path.join(dir, 'seq'), 'dmg.', 'png', 1, 4);
    const frames = files.map((f) => ({ name: path.basename(f), data: fs.readFileSync(f) }));
    // Frame 3 keeps its header but its picture data is noise.
    const broken = Buffer.from(frames[2].data);
    broken.fill(0x33, 60);
    await failsWhileProcessing([frames[0], frames[1], { name: frames[2].name, data: broken }, frames[3]], 'CORRUPT_MEDIA');
    const small = path.join(dir, 'small.png');
    await ffmpeg(['-f', 'lavfi', '-i', 'color=c=red:s=160x90', '-frames:v', '1', '-y', small]);
    expect(await failsWhileProcessing([frames[0], { name: 'dmg.0002.png', data: fs.readFileSync(small) }], 'SEQUENCE_INVALID')).toMatch(/160x90/);
  });

  it('after all that, the server is up, the room works and nothing is left behind', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const member = await joinRoom(server.url, server.room.id, server.token('viewer'));
    expect(member.state.shots).toHaveLength(0);
    expect(member.state.versions).toHaveLength(0);
    member.close();
    expect(fs.readdirSync(path.join(server.dataDir, 'uploads')).filter((n) => n !== '.folder-id')).toEqual([]);
    const tmp = path.join(server.dataDir, 'tmp');
    expect(fs.existsSync(tmp) ? fs.readdirSync(tmp).filter((d) => d.startsWith('ingest-')) : []).toEqual([]);
    // And a good upload still goes through.
    const ok = await uploadAndWait(server.url, server.token('artist'), [{ name: 'good.mp4', data: goodMp4 }]);
    expect(ok.state).toBe('done');
  });
});

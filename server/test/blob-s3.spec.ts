import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DeleteBucketCommand, CreateBucketCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCube, lutFrom, type Job, type Version } from '@loupe/shared';
import { blobsFromEnv, type BlobStoreConfig } from '../src/config.js';
import sharp from 'sharp';
import { startServer, startWorker, type RunningServer } from '../src/main.js';
import { dropRedisKeys } from '../src/cluster/redis.js';
import { createLogger } from '../src/log.js';
import { S3BlobStore, type S3BlobConfig } from '../src/store/s3.blob-store.js';
import { autoCleanup, emitAck, joinRoom, tmpDataDir, until } from './helpers.js';
import { freshPgDatabase } from './pg.js';
import { ffmpeg, indexOfImage, indexSource, settled, upload } from './media-helpers.js';

/**
 * The object store for media, against a real S3-protocol server (s3rver, in this process): uploads
 * land in the bucket, a second node with an empty cache serves them (ranged reads of the bucket for
 * video, downloads for frames), and a store that is missing or refuses says so with a code.
 */
const cleanup = autoCleanup();
const BUCKET = 'loupe-media';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
// s3rver knows one key pair; it refuses an unknown key id (403), but does not check v4 signatures.
process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';

let s3rver: S3rver;
let endpoint = '';
let admin: S3Client;

beforeAll(async () => {
  s3rver = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: tmpDataDir(), configureBuckets: [{ name: BUCKET, configs: [] }] });
  const { port } = await s3rver.run();
  endpoint = `http://127.0.0.1:${port}`;
  admin = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
});
afterAll(async () => {
  admin?.destroy();
  await s3rver?.close();
});

/** The blob settings a node gets from BLOB_URL and the usual variables. */
function s3Env(dataDir: string, url = `s3://${BUCKET}/studio-a`, extra: Record<string, string> = {}): S3BlobConfig {
  const config = blobsFromEnv({ BLOB_URL: url, S3_ENDPOINT: endpoint, AWS_REGION: 'us-east-1', ...extra }, dataDir);
  if (config.kind !== 's3') throw new Error('BLOB_URL did not select the object store');
  return config;
}

async function node(dataDir: string, blobs: BlobStoreConfig): Promise<RunningServer> {
  const server = await startServer({ port: 0, host: '127.0.0.1', dataDir, roomIdleUnloadMs: 50, blobs }, { log: createLogger(process.env.LOUPE_TEST_LOG ?? 'silent') });
  cleanup.push(() => server.close());
  return server;
}

async function keysIn(prefix: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let token: string | undefined;
  do {
    const r = await admin.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }));
    for (const o of r.Contents ?? []) out.set(o.Key!, o.Size!);
    token = r.NextContinuationToken;
  } while (token);
  return out;
}

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(dir, f)).isFile()).map((f) => path.basename(f));
}

const FRAMES = 48;

describe('media in an S3-compatible object store (BLOB_URL)', () => {
  it('stores an upload in the bucket, and a second node with an empty cache serves its video by ranges and its frames', async () => {
    const work = tmpDataDir();
    const movie = path.join(work, 'plate_v001.mp4');
    await ffmpeg([...indexSource(FRAMES), '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '16', '-bf', '2', '-g', '12', '-pix_fmt', 'yuv420p', '-y', movie]);

    // Node A: BLOB_URL with a prefix; its cache under DATA_DIR/blob-cache.
    const dataDir = tmpDataDir();
    const a = await node(dataDir, s3Env(dataDir));
    expect(a.services.blobs.kind).toBe('s3');
    const { room, invites } = await a.services.roomService.create('S3 room', { demo: false });
    const token = (role: string) => invites.find((i) => i.role === role)!.token;
    const ingest = await settled(a.url, token('artist'), await upload(a.url, token('artist'), [{ name: 'plate_v001.mp4', data: fs.readFileSync(movie) }]));
    expect(ingest.state).toBe('done');
    const v = (await a.services.versions.listForRoom(room.id)).find((x) => x.id === ingest.result!.versionId) as Version;
    if (v.media.type !== 'video') throw new Error('not a video');

    // Every blob of the version is an object under the prefix, as big as node A's copy; the local folder stays empty.
    const objects = await keysIn('studio-a/');
    const shas = [v.media.blob, v.media.source!.blob!, v.media.thumbnail!, v.media.filmstrip!.blob, ...(v.media.ladder ?? []).map((r) => r.blob)];
    for (const sha of shas) {
      const key = `studio-a/${sha.slice(0, 2)}/${sha}`;
      expect(objects.has(key), key).toBe(true);
      expect(objects.get(key)).toBe(fs.statSync(path.join(dataDir, 'blob-cache', sha.slice(0, 2), sha)).size);
    }
    expect(objects.get(`studio-a/${v.media.source!.blob!.slice(0, 2)}/${v.media.source!.blob}`)).toBe(fs.statSync(movie).size);
    expect(filesUnder(path.join(dataDir, 'blobs'))).toEqual([]);
    const proxyBytes = fs.readFileSync(path.join(dataDir, 'blob-cache', v.media.blob.slice(0, 2), v.media.blob));

    // Node B: the same database and bucket, its own empty cache.
    const cacheB = path.join(tmpDataDir(), 'cache-b');
    const b = await node(dataDir, s3Env(dataDir, `s3://${BUCKET}/studio-a/`, { BLOB_CACHE_DIR: cacheB }));
    expect(filesUnder(cacheB)).toEqual([]);

    // The player's range request, on the version's proxy and on the blob route: 206 with the right bytes.
    const start = 1000;
    const end = Math.min(proxyBytes.length - 1, 25_999);
    const ranged = await fetch(`${b.url}/api/versions/${v.id}/proxy/full`, { headers: { authorization: `Bearer ${token('viewer')}`, range: `bytes=${start}-${end}` } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe(`bytes ${start}-${end}/${proxyBytes.length}`);
    expect(ranged.headers.get('content-type')).toBe('video/mp4');
    expect(Buffer.from(await ranged.arrayBuffer()).equals(proxyBytes.subarray(start, end + 1))).toBe(true);
    const tail = await fetch(`${b.url}/blobs/${v.media.blob}?token=${token('viewer')}`, { headers: { range: 'bytes=-500' } });
    expect(tail.status).toBe(206);
    expect(tail.headers.get('content-type')).toBe('video/mp4');
    expect(tail.headers.get('content-range')).toBe(`bytes ${proxyBytes.length - 500}-${proxyBytes.length - 1}/${proxyBytes.length}`);
    expect(Buffer.from(await tail.arrayBuffer()).equals(proxyBytes.subarray(proxyBytes.length - 500))).toBe(true);
    const whole = await fetch(`${b.url}/blobs/${v.media.blob}?token=${token('viewer')}`);
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer()).equals(proxyBytes)).toBe(true);
    // Served from the bucket, not downloaded into B's cache.
    expect(filesUnder(cacheB)).not.toContain(v.media.blob);

    // Frames on B: read from the original movie, which B downloads into its cache once.
    for (const n of [0, 17, FRAMES - 1]) {
      const res = await fetch(`${b.url}/api/versions/${v.id}/frames/${n}`, { headers: { authorization: `Bearer ${token('viewer')}` } });
      expect(res.status).toBe(200);
      const png = Buffer.from(await res.arrayBuffer());
      expect(await indexOfImage(png)).toBe(n);
      // The frame B made is a blob too: in the bucket for every node.
      const sha = res.headers.get('loupe-blob')!;
      expect((await admin.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `studio-a/${sha.slice(0, 2)}/${sha}` }))).ContentLength).toBe(png.length);
    }
    expect(filesUnder(cacheB)).toContain(v.media.source!.blob);
    const meta = await fetch(`${b.url}/api/versions/${v.id}/frames/3`, { method: 'HEAD', headers: { authorization: `Bearer ${token('viewer')}` } });
    expect(meta.status).toBe(200);

    // A viewer LUT chosen on A is a blob too: B serves it.
    const cube = formatCube({ ...lutFrom(5, (r, g, bl) => [r, bl, g]), title: 'Swap' });
    const posted = await fetch(`${a.url}/api/luts?name=swap.cube`, { method: 'POST', headers: { authorization: `Bearer ${token('director')}` }, body: cube });
    expect(posted.status).toBe(201);
    const { lut } = (await posted.json()) as { lut: { sha256: string } };
    const lutOnB = await fetch(`${b.url}/api/luts/${lut.sha256}?token=${token('viewer')}`);
    expect(lutOnB.status).toBe(200);
    expect(await lutOnB.text()).toBe(cube);

    // A member of another room still gets nothing from B.
    const other = await b.services.roomService.create('Other room', { demo: false });
    const stranger = other.invites.find((i) => i.role === 'viewer')!.token;
    expect((await fetch(`${b.url}/blobs/${v.media.blob}?token=${stranger}`)).status).toBe(404);
    expect((await fetch(`${b.url}/api/versions/${v.id}/proxy/full`, { headers: { authorization: `Bearer ${stranger}` } })).status).toBe(404);
  });

  it('lets an API node and a GPU worker with data folders of their own share media through the bucket alone', async () => {
    const pgDb = await freshPgDatabase();
    cleanup.push(() => pgDb.drop());
    const redis = { url: REDIS_URL, prefix: `loupe-test-${crypto.randomBytes(4).toString('hex')}` };
    cleanup.push(() => dropRedisKeys(redis.url, redis.prefix));
    const apiDir = tmpDataDir();
    const workerDir = tmpDataDir();
    const api = await startServer(
      { port: 0, host: '127.0.0.1', dataDir: apiDir, roomIdleUnloadMs: 50, role: 'api', redis, databaseUrl: pgDb.url, blobs: s3Env(apiDir, `s3://${BUCKET}/scale-out`) },
      { log: createLogger(process.env.LOUPE_TEST_LOG ?? 'silent') },
    );
    cleanup.push(() => api.close());
    const worker = await startWorker({ dataDir: workerDir, redis, databaseUrl: pgDb.url, blobs: s3Env(workerDir, `s3://${BUCKET}/scale-out`) }, { log: createLogger('silent') });
    cleanup.push(() => worker.close());

    const { room, invites } = await api.services.roomService.create('Scale-out room', { demo: false });
    const token = (role: string) => invites.find((i) => i.role === role)!.token;
    const movie = path.join(apiDir, 'plate.mp4');
    await ffmpeg([...indexSource(24), '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '12', '-pix_fmt', 'yuv420p', '-y', movie]);
    const ingest = await settled(api.url, token('artist'), await upload(api.url, token('artist'), [{ name: 'plate.mp4', data: fs.readFileSync(movie) }]));
    expect(ingest.state).toBe('done');

    // A fix asked on the API node runs on the worker, which reads the frame from the original in the bucket.
    const artist = await joinRoom(api.url, room.id, token('artist'));
    cleanup.push(() => artist.close());
    const jobs: Job[] = [];
    artist.socket.on('fix:job', (j) => jobs.push(j));
    const source = artist.state.versions.find((x) => x.id === ingest.result!.versionId)!;
    const ack = await emitAck<{ job: Job }>(artist.socket, 'fix:request', {
      room: room.id, versionId: source.id, frame: 7, region: { x: 0, y: 0, width: 1, height: 1 }, fix: 'upscale-x2', params: {}, idempotencyKey: 's3-scale-out-0001',
    });
    if (!ack.ok) throw new Error(`${ack.code}: ${ack.message}`);
    await until(() => jobs.find((j) => j.id === ack.job.id && j.state === 'done'), 'the fix done by the worker', 120_000);
    const result = (await api.services.versions.listForRoom(room.id)).find((x) => x.kind === 'ai')!;
    if (result.media.type !== 'still') throw new Error('not a still');

    // The API node serves the worker's result from the bucket: twice the size, showing frame 7.
    const png = await fetch(`${api.url}/blobs/${result.media.blob}?token=${token('viewer')}`);
    expect(png.status).toBe(200);
    const bytes = Buffer.from(await png.arrayBuffer());
    expect(await sharp(bytes).metadata()).toMatchObject({ width: 640, height: 360 });
    expect(await indexOfImage(bytes)).toBe(7);
    // Neither wrote to a local blob folder; the worker's cache has the original it read, the API node's none of the result.
    expect(filesUnder(path.join(apiDir, 'blobs'))).toEqual([]);
    expect(filesUnder(path.join(workerDir, 'blobs'))).toEqual([]);
    expect(filesUnder(path.join(workerDir, 'blob-cache'))).toContain(source.media.type === 'video' ? source.media.source!.blob : '');
    expect(filesUnder(path.join(apiDir, 'blob-cache'))).not.toContain(result.media.blob);
  });

  it('refuses to start on a missing bucket, an unreachable store, refused keys or a bad BLOB_URL, naming BLOB_URL', async () => {
    const dataDir = tmpDataDir();
    const start = (blobs: BlobStoreConfig) => startServer({ port: 0, host: '127.0.0.1', dataDir, blobs }, { log: createLogger('silent') });
    await expect(start(s3Env(dataDir, 's3://no-such-bucket/x'))).rejects.toMatchObject({
      code: 'BLOB_BUCKET_NOT_FOUND',
      message: expect.stringMatching(/^The bucket "no-such-bucket" of BLOB_URL=s3:\/\/no-such-bucket\/x \(endpoint http:\/\/127\.0\.0\.1:\d+\) does not exist/),
    });
    await expect(start(s3Env(dataDir, `s3://${BUCKET}`, { S3_ENDPOINT: 'http://127.0.0.1:9' }))).rejects.toMatchObject({
      code: 'BLOB_STORE_UNREACHABLE',
      message: expect.stringContaining(`BLOB_URL=s3://${BUCKET} (endpoint http://127.0.0.1:9) did not answer`),
    });
    await expect(start({ ...s3Env(dataDir), credentials: { accessKeyId: 'NOT-A-KEY', secretAccessKey: 'S3RVER' } })).rejects.toMatchObject({
      code: 'BLOB_STORE_DENIED',
      message: expect.stringContaining('refused access'),
    });
    expect(() => blobsFromEnv({ BLOB_URL: 'http://example.com/bucket' }, dataDir)).toThrow(expect.objectContaining({ code: 'BLOB_URL_INVALID', message: expect.stringContaining('BLOB_URL=http://example.com/bucket') }));
    expect(() => blobsFromEnv({ BLOB_URL: 's3://bucket/../x' }, dataDir)).toThrow(expect.objectContaining({ code: 'BLOB_URL_INVALID' }));
    // Nothing was opened: no database, no blob folder.
    expect(fs.readdirSync(dataDir)).toEqual([]);
  });

  it('fails an upload whose media cannot be stored with the store\'s code, and makes no version', async () => {
    await admin.send(new CreateBucketCommand({ Bucket: 'doomed' }));
    const dataDir = tmpDataDir();
    const server = await node(dataDir, s3Env(dataDir, 's3://doomed'));
    const { room, invites } = await server.services.roomService.create('Doomed room', { demo: false });
    const token = invites.find((i) => i.role === 'artist')!.token;
    // The bucket goes away while the node runs.
    await admin.send(new DeleteBucketCommand({ Bucket: 'doomed' }));
    const movie = path.join(dataDir, 'gone.mp4');
    await ffmpeg([...indexSource(12), '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-y', movie]);
    const ingest = await settled(server.url, token, await upload(server.url, token, [{ name: 'gone.mp4', data: fs.readFileSync(movie) }]));
    expect(ingest.state).toBe('failed');
    expect(ingest.error).toMatchObject({ code: 'BLOB_BUCKET_NOT_FOUND', message: expect.stringContaining('BLOB_URL=s3://doomed') });
    expect(await server.services.versions.listForRoom(room.id)).toEqual([]);
  });

  it('uploads a large result in parts, downloads a miss once however many ask, checks it, and keeps the cache under its limit', async () => {
    const dataDir = tmpDataDir();
    const cfg = s3Env(dataDir, `s3://${BUCKET}/lru`);
    const evicted: string[] = [];
    const store = new S3BlobStore({ ...cfg, cacheMaxBytes: 30 << 20 }, { graceMs: 0, onEvict: (sha) => evicted.push(sha) });
    cleanup.push(() => store.close());
    await store.open();
    const gets: string[] = [];
    (store as unknown as { client: S3Client }).client.middlewareStack.add((next, ctx) => async (args) => {
      if (ctx.commandName === 'GetObjectCommand') gets.push((args.input as { Key: string }).Key);
      if (ctx.commandName === 'CreateMultipartUploadCommand' || ctx.commandName === 'UploadPartCommand') gets.push(ctx.commandName);
      return next(args);
    }, { step: 'initialize' });

    // 20 MiB: a multipart upload, three parts; the object is whole and byte-exact.
    const big = crypto.randomBytes(20 << 20);
    const file = path.join(dataDir, 'result.bin');
    fs.writeFileSync(file, big);
    const bigSha = await store.putFile(file);
    expect(bigSha).toBe(crypto.createHash('sha256').update(big).digest('hex'));
    expect(gets.filter((g) => g === 'UploadPartCommand')).toHaveLength(3);
    expect(fs.existsSync(file)).toBe(false); // moved into the cache
    const obj = await admin.send(new GetObjectCommand({ Bucket: BUCKET, Key: `lru/${bigSha.slice(0, 2)}/${bigSha}` }));
    expect(Buffer.from(await obj.Body!.transformToByteArray()).equals(big)).toBe(true);

    // Two more blobs of 9 MiB, from memory (two parts each): over the 30 MiB limit, the least
    // recently used (the big one) leaves the cache, not the bucket.
    const small = [crypto.randomBytes(9 << 20), crypto.randomBytes(9 << 20)];
    const smallShas = [await store.put(small[0]), await store.put(small[1])];
    expect(gets.filter((g) => g === 'UploadPartCommand')).toHaveLength(7);
    const smallObj = await admin.send(new GetObjectCommand({ Bucket: BUCKET, Key: `lru/${smallShas[1].slice(0, 2)}/${smallShas[1]}` }));
    expect(Buffer.from(await smallObj.Body!.transformToByteArray()).equals(small[1])).toBe(true);
    expect(evicted).toEqual([bigSha]);
    expect(fs.existsSync(store.cache.file(bigSha))).toBe(false);
    expect(store.cache.bytes).toBeLessThanOrEqual(30 << 20);
    expect(await store.has(bigSha)).toBe(true);

    // Five readers at once: one download, checked, into the cache.
    gets.length = 0;
    const paths = await Promise.all(Array.from({ length: 5 }, () => store.localPath(bigSha)));
    expect(new Set(paths).size).toBe(1);
    expect(gets).toEqual([`lru/${bigSha.slice(0, 2)}/${bigSha}`]);
    expect(fs.readFileSync(paths[0]).equals(big)).toBe(true);
    // ... which made room by dropping the blob used longest ago.
    expect(evicted).toEqual([bigSha, smallShas[0]]);

    // A blob nobody stored: BLOB_MISSING, and nothing left behind in the cache.
    const nobody = crypto.createHash('sha256').update('nobody').digest('hex');
    expect(await store.has(nobody)).toBe(false);
    await expect(store.localPath(nobody)).rejects.toMatchObject({ code: 'BLOB_MISSING' });
    expect(await store.source(nobody)).toBeNull();
    expect(filesUnder(store.cache.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

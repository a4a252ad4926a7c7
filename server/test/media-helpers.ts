/**
 * Test media whose pixels encode the frame index, and a small client for the upload API.
 *
 * The picture is 8 x 2 blocks; block b (left to right, top row first) is white when bit b of the
 * frame index is set. The index survives scaling, chroma subsampling and lossy coding.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import sharp from 'sharp';
import type { MediaProgress } from '@loupe/shared';
import type { IngestView } from '../src/media/ingest.service.js';

const run = promisify(execFile);

export const W = 320;
export const H = 180;

/** geq expression: 255 where bit floor(X/(W/8)) + 8*floor(Y/(H/2)) of `index` is set. */
function bitExpr(index: string, w: number, h: number): string {
  return `255*mod(floor(${index}/pow(2\\,floor(X/${w / 8})+8*floor(Y/${h / 2})))\\,2)`;
}

/** A lavfi source of `frames` frames at `rate`, each showing its own index, as rgb24. */
export function indexSource(frames: number, rate = '24', w = W, h = H): string[] {
  const e = bitExpr('N', w, h);
  return ['-f', 'lavfi', '-i', `color=c=black:s=${w}x${h}:r=${rate},format=rgb24,geq=r='${e}':g='${e}':b='${e}',trim=end_frame=${frames}`];
}

export async function ffmpeg(args: string[], cwd?: string): Promise<Buffer> {
  const { stdout } = await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', ...args], { cwd, encoding: 'buffer', maxBuffer: 256 << 20 });
  return stdout;
}

/** Reads the index back from an interleaved picture (8 or 16 bits per sample). */
export function decodeIndex(data: Uint8Array, width: number, height: number, channels: number, bytesPerSample = 1): number {
  let n = 0;
  for (let bit = 0; bit < 16; bit++) {
    const bx = bit % 8;
    const by = Math.floor(bit / 8);
    const x = Math.floor((bx + 0.5) * (width / 8));
    const y = Math.floor((by + 0.5) * (height / 2));
    const i = (y * width + x) * channels * bytesPerSample;
    const v = bytesPerSample === 2 ? (data[i] << 8) | data[i + 1] : data[i];
    const max = bytesPerSample === 2 ? 65535 : 255;
    if (v > max / 2) n |= 1 << bit;
  }
  return n;
}

/** The index shown by a PNG/JPEG (any depth), via sharp. */
export async function indexOfImage(bytes: Buffer): Promise<number> {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return decodeIndex(data, info.width, info.height, info.channels);
}

/** Frame n of a movie, counted by decoding (as a player stepping frame by frame sees it), as rgb24. */
export async function movieFrameRgb(file: string, n: number): Promise<{ data: Buffer; width: number; height: number }> {
  const probe = JSON.parse((await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'json', file])).stdout);
  const { width, height } = probe.streams[0];
  const data = await ffmpeg(['-i', file, '-vf', `select=eq(n\\,${n}),scale=in_color_matrix=bt709:in_range=tv,format=rgb24`, '-fps_mode', 'passthrough', '-frames:v', '1', '-f', 'rawvideo', '-']);
  return { data, width, height };
}

export async function movieFrameIndex(file: string, n: number): Promise<number> {
  const f = await movieFrameRgb(file, n);
  return decodeIndex(f.data, f.width, f.height, 3);
}

/** Packet times and keyframe flags of a movie's video stream, in presentation order. */
export async function packets(file: string): Promise<{ pts: number; key: boolean }[]> {
  const j = JSON.parse((await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time,flags', '-of', 'json', file], { maxBuffer: 64 << 20 })).stdout);
  return (j.packets as { pts_time: string; flags: string }[]).map((p) => ({ pts: Number(p.pts_time), key: p.flags.includes('K') })).sort((a, b) => a.pts - b.pts);
}

export async function streamInfo(file: string): Promise<Record<string, any>> {
  const j = JSON.parse((await run('ffprobe', ['-v', 'error', '-show_streams', '-of', 'json', file])).stdout);
  return j.streams.find((s: { codec_type: string }) => s.codec_type === 'video');
}

/** Writes frames `numbers` of an index-encoded sequence as `${prefix}${number padded}.${ext}`; frame k shows k - numbers[0]. */
export async function makeSequence(dir: string, prefix: string, ext: string, first: number, count: number, outArgs: string[] = [], pad = 4): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  await ffmpeg([...indexSource(count), ...outArgs, '-start_number', String(first), '-y', path.join(dir, `${prefix}%0${pad}d.${ext}`)]);
  return Array.from({ length: count }, (_, i) => path.join(dir, `${prefix}${String(first + i).padStart(pad, '0')}.${ext}`));
}

/** A zip of entries stored without compression, with exactly the names given (even hostile ones). */
export function makeZip(entries: { name: string; data: Buffer }[], { deflate = false }: { deflate?: boolean } = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const crc = zlib.crc32(e.data);
    const stored = deflate ? zlib.deflateRawSync(e.data) : e.data;
    const method = deflate ? 8 : 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(stored.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, stored);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(stored.length, 20);
    central.writeUInt32LE(e.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += 30 + name.length + stored.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

// ---------------------------------------------------------------------------------------------
// The upload API, as a client uses it.

export interface UploadFile {
  name: string;
  data: Buffer;
}

export async function api<T = any>(base: string, token: string, method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

export async function patch(base: string, token: string, uploadUrl: string, offset: number, data: Buffer): Promise<Response> {
  return fetch(`${base}${uploadUrl}`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0', 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' },
    body: new Uint8Array(data),
  });
}

/** Announces the files, sends each whole, returns the ingest id (the upload is then processed). */
export async function upload(base: string, token: string, files: UploadFile[], opts: { shotId?: string; fps?: number; shotName?: string } = {}): Promise<string> {
  const created = await api<{ ok: boolean; ingest: IngestView; code?: string; message?: string }>(base, token, 'POST', '/api/ingests', {
    files: files.map((f) => ({ name: f.name, size: f.data.length })),
    ...opts,
  });
  if (created.status !== 201) throw Object.assign(new Error(`${created.body.code}: ${created.body.message}`), { status: created.status, code: created.body.code });
  for (const [i, f] of files.entries()) {
    const res = await patch(base, token, created.body.ingest.files[i].uploadUrl, 0, f.data);
    if (res.status !== 204) throw new Error(`PATCH ${res.status}: ${await res.text()}`);
  }
  return created.body.ingest.id;
}

/** Polls the ingest until it is done, failed or cancelled. */
export async function settled(base: string, token: string, id: string, timeoutMs = 60_000): Promise<IngestView> {
  const start = Date.now();
  for (;;) {
    const r = await api<{ ingest: IngestView }>(base, token, 'GET', `/api/ingests/${id}`);
    const s = r.body.ingest.state;
    if (s === 'done' || s === 'failed' || s === 'cancelled') return r.body.ingest;
    if (Date.now() - start > timeoutMs) throw new Error(`ingest ${id} still ${s}/${r.body.ingest.stage}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

export async function uploadAndWait(base: string, token: string, files: UploadFile[], opts: { shotId?: string; fps?: number } = {}): Promise<IngestView> {
  return settled(base, token, await upload(base, token, files, opts));
}

export async function fullFrame(base: string, token: string, versionId: string, n: number): Promise<Buffer> {
  const res = await fetch(`${base}/api/versions/${versionId}/frames/${n}`, { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`frame ${n}: ${res.status} ${await res.text()}`);
  return Buffer.from(await res.arrayBuffer());
}

export async function blob(base: string, token: string, sha: string): Promise<Buffer> {
  const res = await fetch(`${base}/blobs/${sha}?token=${token}`);
  if (res.status !== 200) throw new Error(`blob ${sha}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

export function fileOf(p: string, name = path.basename(p)): UploadFile {
  return { name, data: fs.readFileSync(p) };
}

/** Stages in the order they were first seen, for one upload. */
export function stagesOf(events: MediaProgress[], id: string): string[] {
  const out: string[] = [];
  for (const e of events) if (e.uploadId === id && out[out.length - 1] !== e.stage) out.push(e.stage);
  return out;
}

/** A few frame indices to check: first, last and `k` others drawn at random (seeded). */
export function picks(count: number, k = 3, seed = 7): number[] {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const set = new Set([0, count - 1]);
  while (set.size < Math.min(count, k + 2)) set.add(Math.floor(rnd() * count));
  return [...set].sort((a, b) => a - b);
}

/** A server with an empty data folder (no demo shot to generate) and a room, with tokens per role. */
export async function mediaServer(media: Partial<import('../src/config.js').MediaConfig> = {}) {
  const { startServer } = await import('../src/main.js');
  const { createLogger } = await import('../src/log.js');
  const { tmpDataDir } = await import('./helpers.js');
  const dataDir = tmpDataDir();
  const server = await startServer(
    { port: 0, host: '127.0.0.1', dataDir, roomIdleUnloadMs: 50, media },
    { log: createLogger(process.env.LOUPE_TEST_LOG ?? 'silent') },
  );
  const { room, invites } = await server.services.roomService.create('Media room', { demo: false });
  const token = (role: string) => invites.find((i) => i.role === role)!.token;
  return Object.assign(server, { dataDir, room, token });
}

function toHalf(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  const mant = x & 0x7fffff;
  if (exp <= 0) return sign; // flush tiny values to zero
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | Math.round(mant >> 13);
}

/** An uncompressed scanline OpenEXR (B, G, R channels) with exact linear values. */
export function writeExr(width: number, height: number, pixel: (x: number, y: number) => [number, number, number], type: 'half' | 'float' = 'float'): Buffer {
  const attr = (name: string, t: string, value: Buffer) => {
    const size = Buffer.alloc(4);
    size.writeInt32LE(value.length);
    return Buffer.concat([Buffer.from(`${name}\0${t}\0`, 'latin1'), size, value]);
  };
  const i32 = (...v: number[]) => {
    const b = Buffer.alloc(4 * v.length);
    v.forEach((x, i) => b.writeInt32LE(x, 4 * i));
    return b;
  };
  const f32 = (...v: number[]) => {
    const b = Buffer.alloc(4 * v.length);
    v.forEach((x, i) => b.writeFloatLE(x, 4 * i));
    return b;
  };
  const pt = type === 'half' ? 1 : 2;
  const bytes = type === 'half' ? 2 : 4;
  const ch = (n: string) => Buffer.concat([Buffer.from(`${n}\0`, 'latin1'), i32(pt), Buffer.from([0, 0, 0, 0]), i32(1, 1)]);
  const header = Buffer.concat([
    i32(20000630, 2),
    attr('channels', 'chlist', Buffer.concat([ch('B'), ch('G'), ch('R'), Buffer.from([0])])),
    attr('compression', 'compression', Buffer.from([0])),
    attr('dataWindow', 'box2i', i32(0, 0, width - 1, height - 1)),
    attr('displayWindow', 'box2i', i32(0, 0, width - 1, height - 1)),
    attr('lineOrder', 'lineOrder', Buffer.from([0])),
    attr('pixelAspectRatio', 'float', f32(1)),
    attr('screenWindowCenter', 'v2f', f32(0, 0)),
    attr('screenWindowWidth', 'float', f32(1)),
    Buffer.from([0]),
  ]);
  const lineSize = width * 3 * bytes;
  const tableStart = header.length;
  const dataStart = tableStart + 8 * height;
  const table = Buffer.alloc(8 * height);
  const lines: Buffer[] = [];
  for (let y = 0; y < height; y++) {
    table.writeBigUInt64LE(BigInt(dataStart + y * (8 + lineSize)), 8 * y);
    const line = Buffer.alloc(8 + lineSize);
    line.writeInt32LE(y, 0);
    line.writeInt32LE(lineSize, 4);
    for (let x = 0; x < width; x++) {
      const [r, g, b] = pixel(x, y);
      [b, g, r].forEach((v, c) => {
        const o = 8 + (c * width + x) * bytes;
        if (type === 'half') line.writeUInt16LE(toHalf(v), o);
        else line.writeFloatLE(v, o);
      });
    }
    lines.push(line);
  }
  return Buffer.concat([header, table, ...lines]);
}

/** A DPX made by ffmpeg, with its header grown to 2048 bytes to carry a frame rate and a time code. */
export function dpxWithTimecode(dpx: Buffer, fps: number, tcBcd: number): Buffer {
  const le = dpx.toString('latin1', 0, 4) === 'XPDS';
  const u32 = (b: Buffer, o: number, v: number) => (le ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
  const offset = le ? dpx.readUInt32LE(4) : dpx.readUInt32BE(4);
  const header = Buffer.alloc(2048);
  dpx.copy(header, 0, 0, offset);
  u32(header, 4, 2048);
  u32(header, 16, 2048 + dpx.length - offset);
  u32(header, 808, 2048); // image element data offset
  (le ? header.writeFloatLE.bind(header) : header.writeFloatBE.bind(header))(fps, 1724);
  (le ? header.writeFloatLE.bind(header) : header.writeFloatBE.bind(header))(fps, 1940);
  u32(header, 1920, tcBcd);
  return Buffer.concat([header, dpx.subarray(offset)]);
}

/** A PNG whose header declares `width` x `height` but whose data is a few bytes: a decompression bomb's calling card. */
export function pngBomb(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.alloc(1 << 16))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

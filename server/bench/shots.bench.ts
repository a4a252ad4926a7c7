/**
 * Shot renders: a fix applied to a whole 1080p shot (96 frames, a textured slow pan with grain), as a
 * room sees it. Per fix: time from the request to the first rendered frame in the member's socket,
 * wall time to the version, and frames per second; with Loupe's embedded default (one process), with
 * one worker on Redis, and with two workers on Redis (real `loupe` processes sharing the data folder).
 * Next to each, in the same run, a bare ONNX Runtime loop over the same frames (decoded beforehand,
 * the same tiles and batches, only session.run timed): what the pipeline adds to the model's own time.
 *
 *   npm run bench -- shots [--frames 96] [--only exposure,denoise] [--upscale-frames 8] [--no-redis]
 *
 * Goal (issue "Shot fixes"), exposure on 2 CPU cores: the whole shot in under 60 s, the first frame in
 * the room in under 1 s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import ort from 'onnxruntime-node';
import { io as ioClient, type Socket } from 'socket.io-client';
import { ensureModel } from '@loupe/models';
import { ExposureParamsSchema, type Ack, type ClientToServerEvents, type FixId, type Job, type RenderedFrame, type ServerToClientEvents, type Version } from '@loupe/shared';
import type { Bench, BenchRow } from './runner.js';
import { barChartSvg, resultsDir, stamp, writeMarkdown, type Comparison } from './report.js';
import { bareSessionRun } from './fixes.bench.js';
import { startServer } from '../src/main.js';
import { createLogger } from '../src/log.js';
import { dropRedisKeys } from '../src/cluster/redis.js';
import { sessionOptions } from '../src/inference/engine.js';
import { tileRunFor } from '../src/inference/messages.js';
import { planExposure } from '../src/fixes/colour/exposure.js';
import { estimateNoiseSigma } from '../src/fixes/colour/noise.js';
import { runFfmpeg } from '../src/media/ffmpeg.js';
import type { IngestView } from '../src/media/ingest.service.js';
import { texturedScene } from '../test/shot-clips.js';

const BIN = fileURLToPath(new URL('../bin/loupe.mjs', import.meta.url));
type Client = Socket<ServerToClientEvents, ClientToServerEvents>;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** A `loupe` process (serve or worker); serve resolves when /healthz answers. */
async function proc(dataDir: string, command: 'serve' | 'worker', env: Record<string, string>): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const args = command === 'serve' ? [BIN, '--data', dataDir, 'serve', '--port', String(port), '--no-demo'] : [BIN, '--data', dataDir, 'worker'];
  const child: ChildProcess = spawn(process.execPath, args, { env: { ...process.env, HOST: '127.0.0.1', LOG_LEVEL: 'warn', LOUPE_PROVIDERS: 'cpu', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  const url = `http://127.0.0.1:${port}`;
  if (command === 'serve') {
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`loupe serve exited: ${err}`);
      if ((await fetch(`${url}/healthz`).catch(() => null))?.status === 200) break;
      if (i > 1800) throw new Error(`loupe serve not ready after 180 s: ${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } else {
    await new Promise((r) => setTimeout(r, 4000)); // models load, the worker joins its queue
    if (child.exitCode !== null) throw new Error(`loupe worker exited: ${err}`);
  }
  return { url, stop: () => new Promise<void>((r) => (child.exitCode !== null ? r() : (child.once('exit', () => r()), child.kill('SIGTERM')))) };
}

function emitAck<T extends object>(socket: Client, event: string, payload: unknown): Promise<Ack<T>> {
  return (socket as unknown as { timeout(ms: number): { emitWithAck(e: string, p: unknown): Promise<Ack<T>> } }).timeout(60_000).emitWithAck(event, payload);
}

export async function upload(base: string, token: string, name: string, data: Buffer): Promise<string> {
  const auth = { authorization: `Bearer ${token}` };
  const created = await fetch(`${base}/api/ingests`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ files: [{ name, size: data.length }] }) });
  const ingest = ((await created.json()) as { ingest: IngestView }).ingest;
  const res = await fetch(`${base}${ingest.files[0].uploadUrl}`, {
    method: 'PATCH',
    headers: { ...auth, 'tus-resumable': '1.0.0', 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' },
    body: new Uint8Array(data),
  });
  if (res.status !== 204) throw new Error(`upload failed: ${res.status} ${await res.text()}`);
  for (;;) {
    const view = ((await (await fetch(`${base}/api/ingests/${ingest.id}`, { headers: auth })).json()) as { ingest: IngestView }).ingest;
    if (view.state === 'done') return view.result!.versionId;
    if (view.state === 'failed' || view.state === 'cancelled') throw new Error(`ingest ${view.state}: ${view.error?.message}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface RenderRun {
  firstFrameMs: number;
  wallMs: number;
  frames: number;
}

/**
 * One shot render asked for by the member, timed on the member's side until its version arrives
 * (`prelude` runs on the member's socket before the clock starts: e.g. a Track pressed first).
 */
export async function renderInRoom(
  url: string,
  token: string,
  roomId: string,
  req: { versionId: string; fix: FixId; params: Record<string, unknown>; range: { in: number; out: number }; frame?: number; region?: Record<string, unknown> },
  prelude?: (socket: Client, ack: typeof emitAck) => Promise<void>,
): Promise<RenderRun> {
  const socket: Client = ioClient(url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => (socket.once('connect', () => resolve()), socket.once('connect_error', reject)));
  try {
    const joined = await emitAck(socket, 'room:join', { room: roomId });
    if (!joined.ok) throw new Error(`join refused: ${joined.message}`);
    await prelude?.(socket, emitAck);
    let first = NaN;
    let frames = 0;
    let jobId = '';
    const versions: Version[] = [];
    const failed: Job[] = [];
    socket.on('fix:frame', (f: RenderedFrame) => {
      if (jobId && f.jobId !== jobId) return;
      if (Number.isNaN(first)) first = performance.now();
      frames++;
    });
    socket.on('version:created', (v) => versions.push(v));
    socket.on('fix:job', (j) => j.state === 'failed' && failed.push(j));
    const t0 = performance.now();
    const ack = await emitAck<{ job: Job }>(socket, 'fix:request', { room: roomId, frame: req.range.in, scope: 'shot', ...req, idempotencyKey: `bench-${crypto.randomUUID()}` });
    if (!ack.ok) throw new Error(`render refused: ${ack.code} ${ack.message}`);
    jobId = ack.job.id;
    for (;;) {
      if (versions.some((v) => v.provenance?.jobId === jobId)) break;
      const f = failed.find((j) => j.id === jobId);
      if (f) throw new Error(`render failed: ${f.error?.message}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return { firstFrameMs: first - t0, wallMs: performance.now() - t0, frames };
  } finally {
    socket.close();
  }
}

interface Case {
  fix: FixId;
  params: Record<string, unknown>;
  model: string;
  frames: number;
  extra: (frame: Uint8Array) => Record<string, Float32Array>;
}

export const bench: Bench = {
  name: 'shots',
  description: 'a fix rendered over a whole 1080p shot in a room: first frame, wall time and fps, one process / one worker / two workers on Redis, against a bare ONNX Runtime loop',
  async run({ options, tmp, log }) {
    const N = Number(options.frames ?? 96);
    const W = 1920, H = 1080;
    const upFrames = Number(options['upscale-frames'] ?? 8);
    const redisUrl = options.redis ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    const withRedis = options['no-redis'] !== 'true';

    // The shot: a slow pan over a textured picture with grain that changes every frame.
    const big = await texturedScene(W + 240, H + 120, 7);
    const bigPng = path.join(tmp, 'big.png');
    await sharp(big.data, { raw: { width: big.width, height: big.height, channels: 3 } }).png().toFile(bigPng);
    const clip = path.join(tmp, 'shot.mp4');
    await runFfmpeg(['-loop', '1', '-framerate', '24', '-i', bigPng, '-vf', `crop=${W}:${H}:x='2*n':y='n',noise=alls=5:allf=t`, '-frames:v', String(N), '-c:v', 'libx264', '-crf', '14', '-pix_fmt', 'yuv420p', '-y', clip]);
    log(`made a ${W}x${H} ${N}-frame shot (${(fs.statSync(clip).size / 1e6).toFixed(1)} MB)`);
    // Its frames decoded once, for the bare loop.
    const raw = await runFfmpeg(['-i', clip, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-']);
    const frameAt = (i: number) => new Uint8Array(raw.buffer, raw.byteOffset + i * W * H * 3, W * H * 3);

    const exposure = ExposureParamsSchema.parse({ exposure: 0.5, temperature: 10 });
    const cases: Case[] = [
      { fix: 'exposure', params: { exposure: 0.5, temperature: 10 }, model: 'loupe-colour', frames: N, extra: (f) => ({ ...planExposure(exposure, [{ rgb: f.subarray(0, 256 * 256 * 3), width: 256, height: 256 }], 256, 256).inputs }) },
      { fix: 'denoise', params: {}, model: 'loupe-denoise', frames: N, extra: (f) => ({ sigma: Float32Array.of(estimateNoiseSigma(f.subarray(0, 256 * 256 * 3), 256, 256) || 3) }) },
      { fix: 'upscale-x2', params: {}, model: 'esrgan-slim-x2', frames: Math.min(N, upFrames), extra: () => ({}) },
    ];
    const only = options.only ? options.only.split(',').map((o) => o.trim()) : null;
    const chosen = only ? cases.filter((c) => only.includes(c.fix)) : cases;

    // One data folder with the room and the shot, made by an in-process server; the processes share it.
    const dataDir = path.join(tmp, 'data');
    const seed = await startServer({ port: 0, host: '127.0.0.1', dataDir }, { log: createLogger('silent') });
    const { room, invites } = await seed.services.roomService.create('Shot bench', { demo: false });
    const token = invites.find((i) => i.role === 'artist')!.token;
    const versionId = await upload(seed.url, token, 'shot.mp4', fs.readFileSync(clip));
    await seed.close();
    log(`uploaded the shot as version ${versionId}`);

    const prefix = `loupe-bench-${crypto.randomBytes(4).toString('hex')}`;
    const cluster = { REDIS_URL: redisUrl, REDIS_PREFIX: prefix };
    const setups: [string, { serve: Record<string, string>; workers: number }][] = [
      ['one process (embedded default)', { serve: {}, workers: 0 }],
      ...(withRedis
        ? ([
            ['one worker on Redis', { serve: { ...cluster, ROLE: 'api' }, workers: 1 }],
            ['two workers on Redis', { serve: { ...cluster, ROLE: 'api' }, workers: 2 }],
          ] as [string, { serve: Record<string, string>; workers: number }][])
        : []),
    ];
    const results: Record<string, Record<string, RenderRun>> = {};
    const bare: Record<string, number> = {};
    const rows: BenchRow[] = [];
    const comparisons: Comparison[] = [];
    try {
      for (const c of chosen) {
        // The bare loop: the same frames through the same model, tiles and batches, only session.run timed.
        const model = await ensureModel(c.model);
        const session = await ort.InferenceSession.create(model.path, sessionOptions('cpu'));
        const extra = c.extra(frameAt(0));
        await bareSessionRun(session, tileRunFor(model, { rgb: frameAt(0), width: W, height: H }, extra));
        let ms = 0;
        for (let i = 0; i < c.frames; i++) ms += (await bareSessionRun(session, tileRunFor(model, { rgb: frameAt(i), width: W, height: H }, extra))).ms;
        await session.release();
        bare[c.fix] = ms;
        log(`${c.fix}: bare ONNX Runtime loop over ${c.frames} frames ${(ms / 1000).toFixed(1)} s (${((c.frames * 1000) / ms).toFixed(2)} fps)`);
      }
      for (const [name, setup] of setups) {
        const serve = await proc(dataDir, 'serve', setup.serve);
        const workers = [];
        try {
          for (let i = 0; i < setup.workers; i++) workers.push(await proc(dataDir, 'worker', cluster));
          for (const c of chosen) {
            const r = await renderInRoom(serve.url, token, room.id, { versionId, fix: c.fix, params: c.params, range: { in: 0, out: c.frames - 1 } });
            (results[c.fix] ??= {})[name] = r;
            log(`${c.fix}, ${name}: first frame ${r.firstFrameMs.toFixed(0)} ms, ${c.frames} frames in ${(r.wallMs / 1000).toFixed(1)} s (${((c.frames * 1000) / r.wallMs).toFixed(2)} fps)`);
          }
        } finally {
          await Promise.all(workers.map((w) => w.stop()));
          await serve.stop();
        }
      }
    } finally {
      if (withRedis) await dropRedisKeys(redisUrl, prefix).catch(() => {});
    }

    for (const c of chosen) {
      const b = bare[c.fix];
      rows.push({ metric: `${c.fix}: bare ONNX Runtime loop`, value: b / 1000, unit: 's', note: `${c.frames} frames, ${((c.frames * 1000) / b).toFixed(2)} fps` });
      for (const [name, r] of Object.entries(results[c.fix] ?? {})) {
        const goal = c.fix === 'exposure' && name.startsWith('one process') ? `; goal < 60 s and first frame < 1 s: ${r.wallMs < 60_000 && r.firstFrameMs < 1000 ? 'PASS' : 'FAIL'}` : '';
        rows.push({ metric: `${c.fix}, ${name}: first frame in the room`, value: r.firstFrameMs, unit: 'ms' });
        rows.push({ metric: `${c.fix}, ${name}: whole shot`, value: r.wallMs / 1000, unit: 's', note: `${((c.frames * 1000) / r.wallMs).toFixed(2)} fps, ${(r.wallMs / b).toFixed(2)}x the bare loop${goal}` });
      }
      const solo = results[c.fix]?.['one process (embedded default)'];
      if (solo) comparisons.push({ metric: `${c.fix}: whole shot (${c.frames} frames)`, unit: 's', ours: solo.wallMs / 1000, baseline: b / 1000, ...(c.fix === 'exposure' ? { goal: '< 60 s, first frame < 1 s', pass: solo.wallMs < 60_000 && solo.firstFrameMs < 1000 } : {}) });
      const one = results[c.fix]?.['one worker on Redis'];
      const two = results[c.fix]?.['two workers on Redis'];
      if (one && two) comparisons.push({ metric: `${c.fix}: two workers vs one on Redis`, unit: 's', ours: two.wallMs / 1000, baseline: one.wallMs / 1000 });
    }
    const dir = resultsDir(options);
    const name = `shots-${stamp()}`;
    const labels = chosen.map((c) => c.fix);
    fs.writeFileSync(
      path.join(dir, `${name}.svg`),
      barChartSvg({
        title: `Shot renders, 1080p (${N} frames; upscale ${Math.min(N, upFrames)}): wall time`,
        unit: 's',
        labels,
        series: [
          { name: 'bare ORT loop', color: '#9aa0a6', values: labels.map((l) => bare[l] / 1000) },
          ...setups.map(([s], i) => ({ name: s, color: ['#6aa9ff', '#ff8a5b', '#7bd389'][i], values: labels.map((l) => (results[l]?.[s]?.wallMs ?? NaN) / 1000) })),
        ],
      }),
    );
    writeMarkdown(
      path.join(dir, `${name}.md`),
      'Shot renders benchmark',
      [
        `A ${W}x${H} ${N}-frame H.264 shot (slow pan over a textured picture, grain changing every frame), uploaded to a room; each fix is asked for by a member over Socket.IO with scope 'shot' over the whole range (upscale: the first ${Math.min(N, upFrames)} frames).`,
        'Times are on the member\'s side: request to the first `fix:frame`, and to `version:created`. The bare loop runs the same model on the same decoded frames with the same tiles, timing only session.run.',
        'On a 2-core machine two workers share the same two cores, so they cannot halve the wall time here; on two boxes each brings its own.',
      ],
      comparisons,
      rows,
      `${name}.svg`,
    );
    return { rows, meta: { frames: N, results, bare } };
  },
};

/**
 * Media: how long from "the artist starts the upload" to "the room can play it" for a generated
 * camera-like clip (60 s of 1080p24 H.264 by default), next to a bare ffmpeg transcode of the same
 * clip with the same proxy settings, and how long a full-quality frame grab takes (cold and cached)
 * next to a bare ffmpeg single-frame extraction.
 *
 *   npm run bench -- media [--seconds 60] [--size 1920x1080] [--fps 24] [--grabs 8]
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Bench, BenchRow } from './runner.js';
import { startServer } from '../src/main.js';
import { createLogger } from '../src/log.js';
import { mediaTools, runFfmpeg } from '../src/media/ffmpeg.js';
import { fitBox, proxyScale, x264Args } from '../src/media/proxy.js';
import type { IngestView } from '../src/media/ingest.service.js';

const ms = (t0: number) => performance.now() - t0;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export const bench: Bench = {
  name: 'media',
  description: 'upload-to-playable and frame-grab latency for a generated clip, next to bare ffmpeg on the same clip',
  async run({ options, tmp, log }) {
    const seconds = Number(options.seconds ?? 60);
    const [w, h] = (options.size ?? '1920x1080').split('x').map(Number);
    const fps = Number(options.fps ?? 24);
    const grabs = Number(options.grabs ?? 8);
    const frames = Math.round(seconds * fps);
    const tools = mediaTools();
    log(`ffmpeg ${tools.version} (${tools.origin}); clip ${w}x${h} ${fps} fps ${seconds} s = ${frames} frames`);

    // The clip, as a camera or an editor would deliver it: long-GOP H.264 with B-frames.
    const clip = path.join(tmp, 'bench_clip.mp4');
    const t = performance.now();
    await runFfmpeg([
      '-f', 'lavfi', '-i', `testsrc2=size=${w}x${h}:rate=${fps}:duration=${seconds}`,
      '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '18', '-g', String(2 * fps), '-bf', '2', '-pix_fmt', 'yuv420p',
      '-colorspace', 'bt709', '-color_primaries', 'bt709', '-color_trc', 'bt709', '-movflags', '+faststart', '-y', clip,
    ]);
    const generateMs = ms(t);
    const bytes = fs.statSync(clip).size;
    log(`generated ${(bytes / 1e6).toFixed(1)} MB in ${(generateMs / 1000).toFixed(1)} s`);

    // Bare ffmpeg: the same proxy settings, nothing else. Run before and after Loupe's ingest, so that
    // a machine busy with something else shows up as a difference between the two.
    const size = fitBox(w, h, 1, 1920, 1080);
    const bareTranscode = async () => {
      const t1 = performance.now();
      await runFfmpeg([
        '-i', clip, '-map', '0:v:0', '-an', '-vf', proxyScale('yuv420p', { matrix: 'bt709', range: 'tv' }, size),
        '-fps_mode', 'passthrough', ...x264Args(6), '-y', path.join(tmp, 'bare.mp4'),
      ]);
      return ms(t1);
    };
    const bareBefore = await bareTranscode();
    log(`bare ffmpeg transcode: ${(bareBefore / 1000).toFixed(1)} s`);

    // Loupe: a server, a room, an upload over HTTP (tus), until the version exists.
    const server = await startServer({ port: 0, host: '127.0.0.1', dataDir: path.join(tmp, 'data') }, { log: createLogger('silent') });
    try {
      const { room, invites } = await server.services.roomService.create('Bench', { demo: false });
      const token = invites.find((i) => i.role === 'artist')!.token;
      const auth = { authorization: `Bearer ${token}` };
      const t0 = performance.now();
      const created = await fetch(`${server.url}/api/ingests`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ room: room.id, files: [{ name: 'bench_clip.mp4', size: bytes }] }),
      });
      const ingest = ((await created.json()) as { ingest: IngestView }).ingest;
      const res = await fetch(`${server.url}${ingest.files[0].uploadUrl}`, {
        method: 'PATCH',
        headers: { ...auth, 'tus-resumable': '1.0.0', 'upload-offset': '0', 'content-type': 'application/offset+octet-stream', 'content-length': String(bytes) },
        body: Readable.toWeb(fs.createReadStream(clip)) as ReadableStream,
        duplex: 'half',
      } as RequestInit);
      if (res.status !== 204) throw new Error(`upload failed: ${res.status} ${await res.text()}`);
      const uploadedAt = ms(t0);
      const stageAt: Record<string, number> = {};
      let view: IngestView;
      for (;;) {
        view = ((await (await fetch(`${server.url}/api/ingests/${ingest.id}`, { headers: auth })).json()) as { ingest: IngestView }).ingest;
        stageAt[view.stage] ??= ms(t0);
        if (view.state === 'done' || view.state === 'failed') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      if (view.state !== 'done') throw new Error(`ingest failed: ${view.error?.code} ${view.error?.message}`);
      const playableAt = ms(t0);
      const span = (a: string, b: string) => (stageAt[b] ?? playableAt) - (stageAt[a] ?? uploadedAt);
      log(`upload-to-playable: ${(playableAt / 1000).toFixed(1)} s`);
      const bareAfter = await bareTranscode();
      log(`bare ffmpeg transcode again: ${(bareAfter / 1000).toFixed(1)} s`);
      const bareMs = (bareBefore + bareAfter) / 2;

      // Frame grabs: full quality from the original, cold then cached; bare ffmpeg on the same frames.
      const version = (await server.services.versions.get(view.result!.versionId))!;
      const count = version.media.type === 'video' ? version.media.frameCount : 0;
      let seed = 11;
      const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      const picks = [0, Math.floor(count / 2), count - 1, ...Array.from({ length: grabs }, () => Math.floor(rnd() * count))];
      const grab = async (n: number) => {
        const t1 = performance.now();
        const r = await fetch(`${server.url}/api/versions/${version.id}/frames/${n}`, { headers: auth });
        if (r.status !== 200) throw new Error(`frame ${n}: ${r.status}`);
        await r.arrayBuffer();
        return ms(t1);
      };
      const cold: number[] = [];
      for (const n of picks) cold.push(await grab(n));
      const warm: number[] = [];
      for (const n of picks) warm.push(await grab(n));
      const bare: number[] = [];
      for (const n of picks) {
        const t1 = performance.now();
        await runFfmpeg(['-ss', (n / fps).toFixed(4), '-i', clip, '-frames:v', '1', '-f', 'image2pipe', '-c:v', 'png', '-compression_level', '1', '-']);
        bare.push(ms(t1));
      }

      const rows: BenchRow[] = [
        { metric: 'clip', value: bytes / 1e6, unit: 'MB', note: `${w}x${h} ${fps} fps, ${frames} frames, H.264 long GOP (generated in ${(generateMs / 1000).toFixed(1)} s)` },
        {
          metric: 'bare ffmpeg transcode',
          value: bareMs / 1000,
          unit: 's',
          note: `same proxy settings (${size.width}x${size.height}, GOP 6), nothing else; mean of ${(bareBefore / 1000).toFixed(1)} s before and ${(bareAfter / 1000).toFixed(1)} s after`,
        },
        { metric: 'upload (HTTP, tus, localhost)', value: uploadedAt / 1000, unit: 's' },
        { metric: 'probing', value: span('probing', 'proxy') / 1000, unit: 's' },
        { metric: 'proxy', value: span('proxy', 'thumbnails') / 1000, unit: 's' },
        { metric: 'thumbnails + store', value: span('thumbnails', 'done') / 1000, unit: 's' },
        { metric: 'upload-to-playable', value: playableAt / 1000, unit: 's', note: `${(playableAt / bareMs).toFixed(2)}x the bare transcode` },
        { metric: 'frame grab, cold (median)', value: median(cold), unit: 'ms', note: `${picks.length} frames, full quality from the original, PNG over HTTP` },
        { metric: 'frame grab, cold (max)', value: Math.max(...cold), unit: 'ms' },
        { metric: 'frame grab, first / last', value: cold[0], unit: 'ms', note: `last: ${cold[2].toFixed(0)} ms` },
        { metric: 'frame grab, cached (median)', value: median(warm), unit: 'ms' },
        { metric: 'bare ffmpeg frame grab (median)', value: median(bare), unit: 'ms', note: '-ss before -i, PNG to a pipe' },
      ];
      return { rows, meta: { frames, proxy: size, ingest: view, stageAt, bareTranscodeMs: [bareBefore, bareAfter], cold, warm, bare, picks, ffmpeg: tools } };
    } finally {
      await server.close();
    }
  },
};

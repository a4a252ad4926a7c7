import fs from 'node:fs';
import path from 'node:path';
import { LADDER_AUDIO_BITRATE, LADDER_GOP, ProxyLadderSpec, type ProxyLadder, type ProxyRungName } from '@loupe/shared';
import { ffprobeJson, runFfmpeg, spawnFfmpeg } from './ffmpeg.js';
import { isRgbPixFmt, type Rational } from './probe.js';
import { gbrpf32ToRgb48 } from './view-transform.js';
import { drainedOrClosed } from '../streams.js';

/** The proxy's size: the source's display size fitted in the box, even numbers, never upscaled. */
export function fitBox(width: number, height: number, sar: number, maxW: number, maxH: number): { width: number; height: number } {
  const dw = width * (sar > 0 ? sar : 1);
  const s = Math.min(1, maxW / dw, maxH / height);
  const even = (v: number) => Math.max(2, 2 * Math.round(v / 2));
  return { width: even(dw * s), height: even(height * s) };
}

const MATRIX: Record<string, string> = {
  bt709: 'bt709',
  bt470bg: 'bt601',
  smpte170m: 'bt601',
  fcc: 'fcc',
  smpte240m: 'smpte240m',
  bt2020nc: 'bt2020',
  bt2020c: 'bt2020',
};

/**
 * The scale filter that makes the proxy picture: fitted size, and colour converted to Rec.709 limited
 * range exactly once. RGB sources are converted with the Rec.709 matrix (swscale's default would be
 * Rec.601 and shift the colours); YUV sources are read with the matrix and range their tags declare
 * (Rec.709 limited when untagged), so a Rec.709 source keeps its values.
 */
export function proxyScale(pixFmt: string, colour: { matrix: string | null; range: string | null }, size: { width: number; height: number }): string {
  const common = `scale=${size.width}:${size.height}:flags=bicubic+accurate_rnd+full_chroma_int`;
  const out = 'out_color_matrix=bt709:out_range=tv';
  if (isRgbPixFmt(pixFmt)) return `${common}:${out},setsar=1,format=yuv420p`;
  const inMatrix = MATRIX[colour.matrix ?? ''] ?? 'bt709';
  const inRange = colour.range === 'pc' || /^yuvj/.test(pixFmt) ? 'pc' : 'tv';
  return `${common}:in_color_matrix=${inMatrix}:in_range=${inRange}:${out},setsar=1,format=yuv420p`;
}

/**
 * x264 settings of every proxy: short GOP with a keyframe exactly every `gop` frames, no B-frames.
 * Quality CRF 18 (the full proxy), or a set `bitrate` in bits/s with a capped peak (the ladder's rungs).
 */
export function x264Args(gop: number, bitrate?: number): string[] {
  const rate = bitrate ? ['-b:v', String(bitrate), '-maxrate', String(Math.round(bitrate * 1.5)), '-bufsize', String(bitrate * 2)] : ['-crf', '18'];
  return [
    '-c:v', 'libx264', '-preset', 'veryfast', ...rate, '-profile:v', 'high',
    '-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0', '-bf', '0',
    '-force_key_frames', `expr:eq(mod(n,${gop}),0)`,
    '-color_primaries', 'bt709', '-color_trc', 'bt709', '-colorspace', 'bt709', '-color_range', 'tv',
    '-movflags', '+faststart',
  ];
}

export interface ProxyResult {
  width: number;
  height: number;
  /** Frames in the proxy (counted from its packets). */
  frames: number;
}

const rateArg = (r: Rational) => `${r.num}/${r.den}`;
// One output frame per decoded frame, at exactly N / rate: the browser's frame N is the source's frame N.
const retime = (r: Rational) => `setpts=N*${r.den}/(${r.num}*TB)`;

/** A movie's proxy: H.264 mp4 at the fitted size, with the first audio stream (AAC) when there is one. */
export async function movieProxy(
  src: string,
  out: string,
  p: { pixFmt: string; colour: { matrix: string | null; range: string | null }; rate: Rational; hasAudio: boolean },
  size: { width: number; height: number },
  gop: number,
  onFrame: (frame: number) => void,
  signal?: AbortSignal,
): Promise<ProxyResult> {
  await runFfmpeg(
    [
      '-i', src,
      '-map', '0:v:0', ...(p.hasAudio ? ['-map', '0:a:0?', '-c:a', 'aac', '-b:a', '192k'] : ['-an']),
      '-vf', `${retime(p.rate)},${proxyScale(p.pixFmt, p.colour, size)}`,
      '-r', rateArg(p.rate), '-fps_mode', 'passthrough',
      ...x264Args(gop), '-sn', '-dn', '-map_metadata', '-1', '-y', out,
    ],
    (x) => onFrame(x.frame),
    { signal },
  );
  return { ...size, frames: await countFrames(out) };
}

/**
 * An image sequence's proxy. `pattern` names frames 0..N-1 (`dir/f_%08d.ext`). Scene-linear sources
 * (OpenEXR) go through the view transform in this process: ffmpeg decodes and scales in linear float,
 * Loupe applies the transform, a second ffmpeg encodes.
 */
export async function sequenceProxy(
  pattern: string,
  out: string,
  p: { decoder: string; pixFmt: string; colour: { matrix: string | null; range: string | null }; rate: Rational; sceneLinear: boolean },
  size: { width: number; height: number },
  gop: number,
  onFrame: (frame: number) => void,
  signal?: AbortSignal,
): Promise<ProxyResult> {
  const input = ['-f', 'image2', '-framerate', rateArg(p.rate), '-start_number', '0', '-c:v', p.decoder, '-i', pattern];
  if (!p.sceneLinear) {
    await runFfmpeg(
      [...input, '-vf', proxyScale(p.pixFmt, p.colour, size), '-r', rateArg(p.rate), '-fps_mode', 'passthrough', ...x264Args(gop), '-an', '-y', out],
      (x) => onFrame(x.frame),
      { signal },
    );
    return { ...size, frames: await countFrames(out) };
  }
  const frameBytes = size.width * size.height * 12;
  const decode = spawnFfmpeg([...input, '-vf', `scale=${size.width}:${size.height}:flags=bicubic,format=gbrpf32le`, '-f', 'rawvideo', '-pix_fmt', 'gbrpf32le', 'pipe:1']);
  const encode = spawnFfmpeg([
    '-f', 'rawvideo', '-pix_fmt', 'rgb48le', '-s', `${size.width}x${size.height}`, '-framerate', rateArg(p.rate), '-i', 'pipe:0',
    '-vf', proxyScale('rgb48le', p.colour, size), '-r', rateArg(p.rate), '-fps_mode', 'passthrough', ...x264Args(gop), '-an', '-y', out,
  ]);
  const stop = () => {
    decode.child.kill('SIGKILL');
    encode.child.kill('SIGKILL');
  };
  signal?.addEventListener('abort', stop, { once: true });
  const pump = (async () => {
    let pending: Buffer[] = [];
    let have = 0;
    let frames = 0;
    const outBuf = Buffer.alloc(size.width * size.height * 6);
    for await (const chunk of decode.child.stdout as AsyncIterable<Buffer>) {
      pending.push(chunk);
      have += chunk.length;
      while (have >= frameBytes) {
        const all = pending.length === 1 ? pending[0] : Buffer.concat(pending);
        const frame = all.subarray(0, frameBytes);
        const rest = all.subarray(frameBytes);
        pending = rest.length ? [Buffer.from(rest)] : [];
        have = rest.length;
        gbrpf32ToRgb48(frame, size.width, size.height, outBuf);
        if (!encode.child.stdin.write(Buffer.from(outBuf))) await drainedOrClosed(encode.child.stdin);
        onFrame(++frames);
      }
    }
    encode.child.stdin.end();
  })();
  try {
    await Promise.all([decode.done, pump, encode.done]);
  } catch (e) {
    stop();
    throw e;
  } finally {
    signal?.removeEventListener('abort', stop);
  }
  return { ...size, frames: await countFrames(out) };
}

/** A rung made by `ladderRungs`: its file and size (bitrate and GOP as in ProxyLadderSpec and LADDER_GOP). */
export interface RungFile {
  name: ProxyRungName;
  file: string;
  width: number;
  height: number;
  bitrate: number;
  gop: number;
}

/** The rungs of ProxyLadderSpec a proxy of this size gets: those smaller than it, fitted in their height box. */
export function ladderSizes(proxy: { width: number; height: number }): { name: ProxyRungName; width: number; height: number; bitrate: number }[] {
  return ProxyLadderSpec.filter((r) => r.height < proxy.height).map((r) => ({ name: r.name, bitrate: r.bitrate, ...fitBox(proxy.width, proxy.height, 1, Infinity, r.height) }));
}

/**
 * The ladder's rungs, made from the full proxy in one ffmpeg run (one decode, one encode per rung):
 * the proxy's frames and time stamps kept (frame N stays at N / rate), a keyframe every LADDER_GOP
 * frames, the rung's bitrate, faststart, and the proxy's audio (when it has some) as AAC at LADDER_AUDIO_BITRATE.
 * The proxy is already Rec.709 limited range: scaling keeps the colours.
 */
export async function ladderRungs(
  proxy: string,
  size: { width: number; height: number },
  workDir: string,
  onFrame: (frame: number) => void,
  signal?: AbortSignal,
): Promise<RungFile[]> {
  const rungs = ladderSizes(size).map((r) => ({ ...r, gop: LADDER_GOP, file: path.join(workDir, `proxy-${r.name}.mp4`) }));
  if (rungs.length === 0) return [];
  const split = `[0:v]split=${rungs.length}${rungs.map((_, i) => `[s${i}]`).join('')}`;
  const scales = rungs.map((r, i) => `[s${i}]scale=${r.width}:${r.height}:flags=bicubic,setsar=1,format=yuv420p[o${i}]`);
  const outputs = rungs.flatMap((r, i) => [
    '-map', `[o${i}]`, '-map', '0:a:0?', '-c:a', 'aac', '-b:a', String(LADDER_AUDIO_BITRATE),
    '-fps_mode', 'passthrough', ...x264Args(r.gop, r.bitrate), '-sn', '-dn', '-map_metadata', '-1', '-y', r.file,
  ]);
  await runFfmpeg(['-i', proxy, '-filter_complex', [split, ...scales].join(';'), ...outputs], (x) => onFrame(x.frame), { signal });
  return rungs;
}

/** The rungs as a version's `ladder`, each stored by `put` (a blob store's putFile); undefined when there are none. */
export async function storeLadder(rungs: RungFile[], put: (file: string) => Promise<string>): Promise<ProxyLadder | undefined> {
  const ladder: ProxyLadder = [];
  for (const r of rungs) ladder.push({ name: r.name, width: r.width, height: r.height, bitrate: r.bitrate, gop: r.gop, blob: await put(r.file) });
  return ladder.length ? ladder : undefined;
}

/** Frames in a movie, from its packets. */
export async function countFrames(file: string): Promise<number> {
  const j = await ffprobeJson(['-select_streams', 'v:0', '-count_packets', '-show_entries', 'stream=nb_read_packets', file]);
  return Number(j.streams?.[0]?.nb_read_packets ?? 0);
}

/**
 * A poster JPEG (the middle frame, 320 px wide) and a filmstrip sprite (up to `maxTiles` frames,
 * 160 px wide each, in one row), both made from the proxy. The filmstrip is made from keyframes only
 * (exactly every `gop` frames), so it decodes a fraction of the proxy.
 */
export async function thumbnails(
  proxy: string,
  p: { frames: number; rate: Rational; gop: number; width: number; height: number },
  workDir: string,
  maxTiles = 40,
): Promise<{ poster: string; strip: string; stripFrames: number[]; tileWidth: number; tileHeight: number }> {
  const mid = Math.floor((p.frames - 1) / 2);
  const poster = path.join(workDir, 'poster.jpg');
  await runFfmpeg(['-ss', String(Math.max(0, ((mid - 0.5) * p.rate.den) / p.rate.num)), '-i', proxy, '-frames:v', '1', '-vf', 'scale=320:-2', '-q:v', '3', '-y', poster]);
  const keyframes = Math.ceil(p.frames / p.gop);
  const n = Math.min(maxTiles, keyframes);
  const picks = [...new Set(Array.from({ length: n }, (_, i) => (n === 1 ? 0 : Math.round((i * (keyframes - 1)) / (n - 1)))))];
  const tileWidth = 160;
  const tileHeight = Math.max(2, 2 * Math.round((tileWidth * p.height) / p.width / 2));
  const strip = path.join(workDir, 'filmstrip.jpg');
  const select = picks.map((k) => `eq(n\\,${k})`).join('+');
  await runFfmpeg([
    '-skip_frame', 'nokey', '-i', proxy,
    '-vf', `select='${select}',scale=${tileWidth}:${tileHeight},tile=${picks.length}x1`,
    '-fps_mode', 'passthrough', '-frames:v', '1', '-q:v', '4', '-y', strip,
  ]);
  if (!fs.existsSync(strip)) throw new Error('ffmpeg made no filmstrip');
  return { poster, strip, stripFrames: picks.map((k) => k * p.gop), tileWidth, tileHeight };
}

/** The decoded pixel format of a proxy or file (for tests and checks). */
export async function pixFmtOf(file: string): Promise<string> {
  const j = await ffprobeJson(['-select_streams', 'v:0', '-show_entries', 'stream=pix_fmt', file]);
  return String(j.streams?.[0]?.pix_fmt ?? '');
}

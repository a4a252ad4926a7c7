import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';

export interface MediaTools {
  ffmpeg: string;
  ffprobe: string;
  /** Where they came from: 'env' (FFMPEG_PATH), 'system' (Debian's, on PATH) or the npm package's name. */
  origin: string;
  version: string;
}

let tools: MediaTools | undefined;

/**
 * The ffmpeg and ffprobe Loupe runs: FFMPEG_PATH / FFPROBE_PATH when set, else the system's (Debian's
 * package, found on PATH), else the binaries of @ffmpeg-installer/ffmpeg and @ffprobe-installer/ffprobe
 * when those npm packages are installed. Resolved once.
 */
export function mediaTools(): MediaTools {
  if (tools) return tools;
  const env = process.env;
  let found: Omit<MediaTools, 'version'> | undefined;
  if (env.FFMPEG_PATH) {
    found = { ffmpeg: env.FFMPEG_PATH, ffprobe: env.FFPROBE_PATH ?? path.join(path.dirname(env.FFMPEG_PATH), 'ffprobe'), origin: 'env' };
  } else {
    const ffmpeg = onPath('ffmpeg');
    const ffprobe = env.FFPROBE_PATH ?? onPath('ffprobe');
    if (ffmpeg && ffprobe) found = { ffmpeg, ffprobe, origin: 'system' };
    else {
      const fromNpm = npmBinary('@ffmpeg-installer/ffmpeg');
      const probeNpm = ffprobe ?? npmBinary('@ffprobe-installer/ffprobe');
      if (fromNpm && probeNpm) found = { ffmpeg: ffmpeg ?? fromNpm, ffprobe: probeNpm, origin: '@ffmpeg-installer/ffmpeg' };
    }
  }
  found ??= { ffmpeg: 'ffmpeg', ffprobe: 'ffprobe', origin: 'missing' };
  const v = spawnSync(found.ffmpeg, ['-hide_banner', '-version'], { encoding: 'utf8' });
  const version = v.status === 0 ? (/ffmpeg version (\S+)/.exec(v.stdout)?.[1] ?? 'unknown') : 'not found';
  tools = { ...found, version };
  return tools;
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      /* next */
    }
  }
  return undefined;
}

function npmBinary(pkg: string): string | undefined {
  try {
    const mod = createRequire(import.meta.url)(pkg) as { path?: string };
    return mod.path && fs.existsSync(mod.path) ? mod.path : undefined;
  } catch {
    return undefined;
  }
}

export function describeTools(t = mediaTools()): string {
  if (t.origin === 'missing') return 'ffmpeg not found: install it (apt-get install ffmpeg) or set FFMPEG_PATH; media ingest will fail';
  return `ffmpeg ${t.version} (${t.origin === 'system' ? "the system's" : t.origin === 'env' ? 'FFMPEG_PATH' : `npm package ${t.origin}`}: ${t.ffmpeg}, ${t.ffprobe})`;
}

export interface FfmpegProgress {
  /** Frames written so far. */
  frame: number;
}

/** An ffmpeg failure, with its last meaningful stderr lines. */
export class FfmpegError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

const missing = (e: Error, what: string) => new Error(`${what} could not start (${e.message}); install it with: apt-get install ffmpeg`);

function tail(err: string): string {
  return err
    .split('\n')
    .filter((l) => l.trim() && !/^\w+=/.test(l))
    .slice(-3)
    .join(' | ');
}

/** Runs ffmpeg, reporting progress (frames) and failing with its last stderr lines. */
export function runFfmpeg(args: string[], onProgress?: (p: FfmpegProgress) => void, opts: { signal?: AbortSignal } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(mediaTools().ffmpeg, ['-hide_banner', '-nostdin', '-loglevel', 'error', '-progress', 'pipe:2', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: opts.signal,
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => {
      const text = c.toString();
      const m = /frame=(\d+)/g;
      let last: RegExpExecArray | null = null;
      for (let x; (x = m.exec(text)); ) last = x;
      if (last && onProgress) onProgress({ frame: Number(last[1]) });
      err = (err + text).slice(-8000);
    });
    child.on('error', (e) => reject(e.name === 'AbortError' ? e : missing(e, 'ffmpeg')));
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new FfmpegError(`ffmpeg exited with ${code}: ${tail(err)}`, err));
    });
  });
}

/** ffmpeg with stdin and stdout as pipes, for frame pipelines. `done` settles when it exits. */
export function spawnFfmpeg(args: string[]): { child: ChildProcessByStdio<Writable, Readable, Readable>; done: Promise<void> } {
  const child = spawn(mediaTools().ffmpeg, ['-hide_banner', '-nostdin', '-loglevel', 'error', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-8000)));
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (e) => reject(missing(e, 'ffmpeg')));
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new FfmpegError(`ffmpeg ${signal ? `stopped by ${signal}` : `exited with ${code}`}: ${tail(err)}`, err));
    });
  });
  // EPIPE when the other side stops early is reported through `done`.
  child.stdin.on('error', () => {});
  return { child, done };
}

/** Runs ffprobe with JSON output. */
export function ffprobeJson(args: string[], timeoutMs = 60_000): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    const child = spawn(mediaTools().ffprobe, ['-v', 'error', '-of', 'json', ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err = (err + c).slice(-8000)));
    child.on('error', (e) => reject(missing(e, 'ffprobe')));
    child.on('close', (code) => {
      if (code !== 0) return reject(new FfmpegError(`ffprobe failed: ${tail(err) || `exit ${code}`}`, err));
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new FfmpegError('ffprobe printed no JSON', err));
      }
    });
  });
}

export interface Probe {
  width: number;
  height: number;
  fps: number;
  frameCount: number;
  durationS: number;
  codec: string;
}

/** Reads size, rate and frame count of the first video stream with ffprobe. */
export async function probe(file: string): Promise<Probe> {
  const j = await ffprobeJson([
    '-select_streams', 'v:0', '-count_packets',
    '-show_entries', 'stream=width,height,r_frame_rate,nb_read_packets,codec_name:format=duration', file,
  ]).catch((e: Error) => {
    throw new Error(`ffprobe failed on ${file}: ${e.message}`);
  });
  const s = j.streams?.[0];
  if (!s) throw new Error(`no video stream in ${file}`);
  const [n, d] = String(s.r_frame_rate).split('/').map(Number);
  return {
    width: s.width,
    height: s.height,
    fps: d ? n / d : n,
    frameCount: Number(s.nb_read_packets),
    durationS: Number(j.format?.duration ?? 0),
    codec: s.codec_name,
  };
}

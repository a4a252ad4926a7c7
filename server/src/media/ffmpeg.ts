import { spawn } from 'node:child_process';

export interface FfmpegProgress {
  /** Frames written so far. */
  frame: number;
}

/** Runs ffmpeg, reporting progress (frames) and failing with its last stderr lines. */
export function runFfmpeg(args: string[], onProgress?: (p: FfmpegProgress) => void): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-progress', 'pipe:2', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
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
      err = (err + text).slice(-4000);
    });
    child.on('error', (e) => reject(new Error(`ffmpeg could not start (${e.message}); install it with: apt-get install ffmpeg`)));
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`ffmpeg exited with ${code}: ${err.split('\n').filter((l) => l && !l.includes('=')).slice(-3).join(' | ')}`));
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
export function probe(file: string): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffprobe', [
      '-v', 'error', '-select_streams', 'v:0', '-count_packets',
      '-show_entries', 'stream=width,height,r_frame_rate,nb_read_packets,codec_name:format=duration',
      '-of', 'json', file,
    ]);
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('error', (e) => reject(new Error(`ffprobe could not start (${e.message}); install it with: apt-get install ffmpeg`)));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`ffprobe failed on ${file}: ${err.trim()}`));
      const j = JSON.parse(out);
      const s = j.streams?.[0];
      if (!s) return reject(new Error(`no video stream in ${file}`));
      const [n, d] = String(s.r_frame_rate).split('/').map(Number);
      resolve({
        width: s.width,
        height: s.height,
        fps: d ? n / d : n,
        frameCount: Number(s.nb_read_packets),
        durationS: Number(j.format?.duration ?? 0),
        codec: s.codec_name,
      });
    });
  });
}

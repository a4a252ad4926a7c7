/**
 * One chunk of a shot render, inside the inference worker: decode the chunk's frames once (one
 * ffmpeg, or one file per frame), fix each frame, and for each write the full-quality frame (PNG at the
 * source's depth), the room's preview (JPEG at the proxy's size) and the chunk's proxy segment (H.264,
 * the frames in order). Frames a dead worker already stored are not computed again: their stored
 * PNG goes into the segment as it is.
 *
 * Pixels outside the fix's region are copied from the decoded source, so they are the source's, bit for
 * bit; inside, the fix's pixels are blended by the region's alpha (1 inside, feathered outward only when
 * asked).
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { Engine } from './engine.js';
import type { Pixels, Rect } from './tiling.js';
import type { ChunkFix, ChunkFrame, ChunkRun, TensorData, TileRun, TileTemplate, WorkerReply } from './messages.js';
import { readPixels, to8, writePng } from './png.js';
import { readFrames, type DecodedFrame } from '../media/frame-feed.js';
import type { FrameFeed } from '../media/feeds.js';
import { proxyScale, x264Args } from '../media/proxy.js';
import { spawnFfmpeg } from '../media/ffmpeg.js';
import { drainedOrClosed } from '../streams.js';
import { temporalDenoise } from './temporal/denoise.js';
import { greyOf, pyramid, type Grey } from './temporal/motion.js';
import { removalFromTrack, removedFrame } from './removal/shot.js';
import type { MaskKey, TrackedFrame } from './removal/track.js';

/** A tile run without its picture: the same model, ranges, tiling and inputs for every frame. */
const runOf = (fix: ChunkFix) => (fix.kind === 'remove' ? null : fix.run);

export type ChunkReply = Extract<WorkerReply, { type: 'frame' }>;

/** Per-frame inputs eased between keyframes. */
export function keyedInputs(keyed: NonNullable<Extract<ChunkFix, { kind: 'tiles' }>['keyed']>, frame: number): Record<string, TensorData> {
  const { frames, inputs } = keyed;
  if (frame <= frames[0]) return inputs[0];
  const last = frames.length - 1;
  if (frame >= frames[last]) return inputs[last];
  let k = 0;
  while (frames[k + 1] < frame) k++;
  const t = (frame - frames[k]) / (frames[k + 1] - frames[k]);
  const s = t * t * (3 - 2 * t);
  const out: Record<string, TensorData> = {};
  for (const [name, a] of Object.entries(inputs[k])) {
    const b = inputs[k + 1][name];
    const data = new Float32Array(a.data.length);
    for (let i = 0; i < data.length; i++) data[i] = (1 - s) * a.data[i] + s * b.data[i];
    out[name] = { dims: a.dims, data };
  }
  return out;
}

function crop(rgb: Pixels, stride: number, r: Rect): Pixels {
  const out = new (rgb.constructor as new (n: number) => Pixels)(r.width * r.height * 3);
  for (let y = 0; y < r.height; y++) out.set(rgb.subarray(((r.y + y) * stride + r.x) * 3, ((r.y + y) * stride + r.x + r.width) * 3), y * r.width * 3);
  return out;
}

/** The fixed rect blended into a copy of the frame by `alpha` (null: pasted). Outside the rect, the frame's own samples. */
function composite(frame: Pixels, width: number, fixed: Pixels, r: Rect, alpha: Uint8Array | null): Pixels {
  const out = frame.slice() as Pixels;
  for (let y = 0; y < r.height; y++) {
    const row = ((r.y + y) * width + r.x) * 3;
    if (!alpha) {
      out.set(fixed.subarray(y * r.width * 3, (y + 1) * r.width * 3), row);
      continue;
    }
    for (let x = 0; x < r.width; x++) {
      const a = alpha[y * r.width + x];
      if (a === 0) continue;
      const o = row + x * 3;
      const f = (y * r.width + x) * 3;
      if (a === 255) {
        out[o] = fixed[f];
        out[o + 1] = fixed[f + 1];
        out[o + 2] = fixed[f + 2];
      } else {
        const k = a / 255;
        for (let c = 0; c < 3; c++) out[o + c] = Math.round(k * fixed[f + c] + (1 - k) * frame[o + c]);
      }
    }
  }
  return out;
}

/** Runs `req` over a picture in the worker's engine and returns the assembled result. */
async function applyModel(engine: Engine, jobId: string, template: TileTemplate, rgb: Pixels, width: number, height: number, extra?: Record<string, TensorData>): Promise<Pixels> {
  const outW = width * template.scale;
  const outH = height * template.scale;
  const out = rgb instanceof Uint16Array ? new Uint16Array(outW * outH * 3) : new Uint8Array(outW * outH * 3);
  const run: TileRun = { ...template, kind: 'tiles', rgb, width, height, ...(extra ? { extraInputs: { ...template.extraInputs, ...extra } } : {}) };
  await engine.run(jobId, run, (m) => {
    if (m.type !== 'tile' || !m.rgb) return;
    const t = m.rgb;
    for (let y = 0; y < m.rect.height; y++) out.set(t.subarray(y * m.rect.width * 3, (y + 1) * m.rect.width * 3), ((m.rect.y + y) * outW + m.rect.x) * 3);
  });
  return out;
}

/**
 * Runs a chunk: posts a 'frame' reply once each computed frame's files are written, and resolves with
 * the segment's path once every frame is in it.
 */
export async function runChunk(engine: Engine, jobId: string, req: ChunkRun, post: (m: WorkerReply) => unknown): Promise<{ segment: string; provider: string }> {
  const { width, height, depth, out, fix } = req;
  const scale = runOf(fix)?.scale ?? 1;
  const outW = width * scale;
  const outH = height * scale;
  const wanted = new Map(req.frames.map((f) => [f.frame, f]));
  const firstWanted = req.frames[0].frame;
  const lastWanted = req.frames[req.frames.length - 1].frame;
  const run = runOf(fix);
  const provider = run ? (await engine.session(run.modelPath)).provider : 'js';

  const segmentPath = path.join(out.dir, 'segment.mp4');
  const { width: pw, height: ph } = out.preview;
  const rate = `${out.segment.rate.num}/${out.segment.rate.den}`;
  // The segment's encoder starts once the first frame is out to the room: its start-up (an ffmpeg
  // process) must not delay the frame the room waits for.
  let encoder: ReturnType<typeof spawnFfmpeg> | null = null;
  const encoderOf = () => {
    if (!encoder) {
      encoder = spawnFfmpeg([
        '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${pw}x${ph}`, '-framerate', rate, '-i', 'pipe:0',
        '-vf', proxyScale('rgb24', { matrix: null, range: null }, { width: pw, height: ph }), '-r', rate, '-fps_mode', 'passthrough',
        ...x264Args(out.segment.gop), '-an', '-y', segmentPath,
      ]);
      encoder.done.catch(() => {});
    }
    return encoder;
  };
  const abort = new AbortController();

  /** The frame at the proxy's size, 8 bits: into the segment, and as the room's JPEG. */
  const toPreview = async (rgb: Pixels, w: number, h: number) => {
    const rgb8 = rgb instanceof Uint16Array ? to8(rgb) : rgb;
    if (w === pw && h === ph) return Buffer.from(rgb8.buffer, rgb8.byteOffset, rgb8.byteLength);
    return sharp(rgb8, { raw: { width: w, height: h, channels: 3 } }).resize(pw, ph, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer();
  };
  // Frames are written in order: the segment needs them so, and the room sees the timeline fill in order.
  let written: Promise<void> = Promise.resolve();
  let inFlight = 0;
  const filesOf = (frame: number, result: Pixels | null, reuse: string | undefined) =>
    (async () => {
      if (reuse) {
        const { rgb, width: w, height: h } = await readPixels(sharp(reuse), false);
        return { preview: await toPreview(rgb, w, h), png: null, jpg: null };
      }
      const pngPath = path.join(out.dir, `f${frame}.png`);
      const jpgPath = path.join(out.dir, `f${frame}.jpg`);
      const [png, preview] = await Promise.all([writePng(result!, outW, outH), toPreview(result!, outW, outH)]);
      const jpg = await sharp(preview, { raw: { width: pw, height: ph, channels: 3 } }).jpeg({ quality: 88, chromaSubsampling: '4:4:4' }).toBuffer();
      await Promise.all([writeFile(pngPath, png), writeFile(jpgPath, jpg)]);
      return { preview, png: pngPath, jpg: jpgPath };
    })();
  /** Frames sent to the room ahead of their turn (the frame on screen): fed to the segment in order later. */
  const ahead = new Map<number, ReturnType<typeof filesOf>>();
  const sendAhead = async (frame: number, result: Pixels, started: number) => {
    const files = filesOf(frame, result, undefined);
    ahead.set(frame, files);
    const f = await files;
    await post({ type: 'frame', jobId, frame, png: f.png!, preview: f.jpg!, ms: Math.round(performance.now() - started) });
  };
  const emit = (frame: number, result: Pixels | null, reuse: string | undefined, started: number) => {
    inFlight++;
    const early = ahead.get(frame);
    const files = early ?? filesOf(frame, result, reuse);
    files.catch(() => {});
    written = written.then(async () => {
      const f = await files;
      if (f.png && !early) await post({ type: 'frame', jobId, frame, png: f.png, preview: f.jpg!, ms: Math.round(performance.now() - started) });
      const enc = encoderOf();
      if (!enc.child.stdin.write(f.preview)) await drainedOrClosed(enc.child.stdin);
      inFlight--;
    });
    written.catch(() => abort.abort());
  };

  const source = readFrames(req.feeds, width, height, depth, abort.signal);
  try {
    if (fix.kind === 'tiles') {
      for await (const f of source) {
        const job = wanted.get(f.frame);
        if (!job) continue;
        const started = performance.now();
        const result = job.reuse ? null : await fixFrame(engine, jobId, fix.run, f.rgb, req, fix.keyed ? keyedInputs(fix.keyed, f.frame) : undefined);
        emit(f.frame, result, job.reuse, started);
        // At most two frames' files in the making: memory stays bounded on long chunks.
        while (inFlight > 2) await written;
      }
    } else if (fix.kind === 'remove') {
      await removeChunk(fix, source, req, wanted, emit, sendAhead, () => (inFlight > 2 ? written : null));
    } else {
      await temporalChunk(engine, jobId, fix, source, req, wanted, firstWanted, lastWanted, emit, () => (inFlight > 2 ? written : null));
    }
    await written;
    const enc = encoderOf();
    enc.child.stdin.end();
    await enc.done;
  } catch (e) {
    abort.abort();
    const enc = encoder as ReturnType<typeof spawnFfmpeg> | null;
    enc?.child.kill('SIGKILL');
    await enc?.done.catch(() => {});
    throw e;
  }
  return { segment: segmentPath, provider };
}

/** One frame through the model: the region (or the whole frame) fixed, composited onto the frame. */
async function fixFrame(engine: Engine, jobId: string, run: TileTemplate, rgb: Pixels, req: ChunkRun, extra?: Record<string, TensorData>): Promise<Pixels> {
  const { width, height, region } = req;
  if (!region) return applyModel(engine, jobId, run, rgb, width, height, extra);
  const fixed = await applyModel(engine, jobId, run, crop(rgb, width, region.rect), region.rect.width, region.rect.height, extra);
  return composite(rgb, width, fixed, region.rect, region.alpha);
}

async function temporalChunk(
  engine: Engine,
  jobId: string,
  fix: Extract<ChunkFix, { kind: 'temporal-denoise' }>,
  source: AsyncGenerator<DecodedFrame>,
  req: ChunkRun,
  wanted: Map<number, ChunkFrame>,
  firstWanted: number,
  lastWanted: number,
  emit: (frame: number, result: Pixels | null, reuse: string | undefined, started: number) => void,
  backlog: () => Promise<void> | null,
): Promise<void> {
  const { width, height, region } = req;
  const r = fix.radius;
  // A window of decoded frames (and their pyramids, computed once per frame) around the one being fixed.
  const window = new Map<number, { rgb: Pixels; pyr: Grey[] }>();
  let lastDecoded = -Infinity;
  const process = async (t: number) => {
    const job = wanted.get(t);
    if (!job) return;
    const started = performance.now();
    if (job.reuse) return emit(t, null, job.reuse, started);
    const cur = window.get(t)!;
    const nbs = [...window.entries()].filter(([k]) => k !== t && Math.abs(k - t) <= r);
    const area = region?.rect ?? { x: 0, y: 0, width, height };
    const pick = (p: Pixels) => (region ? crop(p, width, area) : p);
    // Motion is measured on the whole frame (a pan moves it all), the average made in the region only.
    const tr = temporalDenoise(
      pick(cur.rgb),
      nbs.map(([, v]) => pick(v.rgb)),
      area.width,
      area.height,
      fix.sigma,
      region ? undefined : { frame: cur.pyr, neighbours: nbs.map(([, v]) => v.pyr) },
    );
    const sigma = Float32Array.of(tr.residualSigma * fix.strength);
    const fixed = await applyModel(engine, jobId, fix.run, tr.rgb, area.width, area.height, { [fix.sigmaInput]: { dims: [1], data: sigma } });
    emit(t, region ? composite(cur.rgb, width, fixed, area, region.alpha) : fixed, undefined, started);
    const wait = backlog();
    if (wait) await wait;
  };
  let next = firstWanted;
  for await (const f of source) {
    window.set(f.frame, { rgb: f.rgb, pyr: pyramid(greyOf(f.rgb, width, height)) });
    lastDecoded = f.frame;
    while (next <= lastWanted && next + r <= lastDecoded) {
      await process(next);
      for (const k of window.keys()) if (k < next + 1 - r) window.delete(k);
      next++;
    }
  }
  // The shot's last frames have fewer neighbours after them.
  while (next <= lastWanted) {
    if (window.has(next)) await process(next);
    next++;
  }
}

/**
 * Remove object over the range: every frame of it decoded (the plate needs them all); the frame on
 * screen filled first (the plate is made on it, from the masks and motion of its nearest frames) and
 * sent to the room at once; then the chunk's frames filled and emitted in order.
 */
async function removeChunk(
  fix: Extract<ChunkFix, { kind: 'remove' }>,
  source: AsyncGenerator<DecodedFrame>,
  req: ChunkRun,
  wanted: Map<number, ChunkFrame>,
  emit: (frame: number, result: Pixels | null, reuse: string | undefined, started: number) => void,
  sendAhead: (frame: number, result: Pixels, started: number) => Promise<void>,
  backlog: () => Promise<void> | null,
): Promise<void> {
  const { width, height } = req;
  const frames: Uint8Array[] = [];
  for await (const f of source) frames[f.frame - fix.first] = f.rgb instanceof Uint16Array ? to8(f.rgb) : (f.rgb as Uint8Array);
  const focus = fix.focus !== undefined && fix.focus >= fix.first && fix.focus - fix.first < frames.length ? fix.focus : undefined;
  const removal = removalFromTrack(frames, width, height, { ...fix, ...(focus !== undefined ? { reference: focus - fix.first } : {}) });
  const first = focus !== undefined && wanted.has(focus) && !wanted.get(focus)!.reuse ? focus : undefined;
  let onScreen: Uint8Array | null = null;
  if (first !== undefined) {
    const started = performance.now();
    onScreen = removedFrame(first - fix.first, frames, removal);
    await sendAhead(first, onScreen, started);
  }
  for (const [frame, job] of wanted) {
    const started = performance.now();
    if (job.reuse) emit(frame, null, job.reuse, started);
    else emit(frame, frame === first ? onScreen : removedFrame(frame - fix.first, frames, removal), undefined, started);
    const wait = backlog();
    if (wait) await wait;
  }
}

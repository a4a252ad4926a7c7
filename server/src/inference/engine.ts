/**
 * What the inference worker does, as a plain class: ONNX Runtime sessions with execution-provider
 * fallback, models run over tiles (batched, centre first), and hole filling on a crop (PatchMatch,
 * diffusion, or a studio's inpainting model). The worker process wraps it; tests and the benchmark
 * can drive it in-process.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import sharp from 'sharp';
import type { InferenceSession } from 'onnxruntime-node';
import crypto from 'node:crypto';
import { open } from 'node:fs/promises';
import { batchTiles, blit, centreFirst, fedSize, planTiles, planarToRgb, planarToRgb16, rgbToPlanarBatch, type Pixels, type Rect } from './tiling.js';
import { PngWriter, cropAlpha, encodeTile, readPixels, to8, withPngText } from './png.js';
import { TileCheckpoint, checkpointKey, type CheckpointTile } from './checkpoint.js';
import type { InferenceRun, InpaintRun, ModelInspection, PngText, RegionView, SourceRegion, TileRun, ViewPixels, WorkerReply } from './messages.js';
import { patchMatchFill } from './inpaint/patchmatch.js';
import { diffuseFill } from './inpaint/diffuse.js';
import { matchBoundary } from './removal/edge.js';
import { OrtHost, type HostTensor, type HostedSession } from './ort-host.js';

const require = createRequire(import.meta.url);
/**
 * Sends a message to the server. The worker process's `post` returns a promise settled once the
 * message has left: runTiles sends each tile after the one before it has left, so the IPC pipe never
 * holds a backlog of encoded tiles, and 'done' goes after the last tile.
 */
export type Post = (msg: WorkerReply) => void;
const settled = (r: unknown): Promise<void> => (r && typeof (r as Promise<void>).then === 'function' ? (r as Promise<void>) : Promise.resolve());

interface OpenSession {
  session: HostedSession;
  provider: string;
}

/**
 * The CUDA and TensorRT providers are separate libraries that onnxruntime-node's install script
 * downloads (skipped by default: see .npmrc and docs/gpu.md). Without them ORT prints a native error; check first.
 */
function missingProviderLibrary(provider: string): string | null {
  if (provider !== 'cuda' && provider !== 'tensorrt') return null;
  const dir = path.join(path.dirname(require.resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch);
  const lib = path.join(dir, `libonnxruntime_providers_${provider}.so`);
  return fs.existsSync(lib) ? null : `provider library not installed (${lib})`;
}

/**
 * The tiles of a run in the order they are computed, grouped into the batches that go through one
 * session.run. The centre tile runs alone first, so that the room sees it after one tile's time
 * rather than a whole batch's; the others go in batches of `maxBatch` equal-sized tiles.
 */
export function tileBatches(req: Pick<TileRun, 'width' | 'height' | 'tileSize' | 'context' | 'batch'>, maxBatch = req.batch ?? 1) {
  const plans = centreFirst(planTiles(req.width, req.height, req.tileSize, req.context), req.width, req.height);
  if (plans.length <= 1 || maxBatch <= 1) return batchTiles(plans, Math.max(1, maxBatch));
  return [[plans[0]], ...batchTiles(plans.slice(1), maxBatch)];
}

/**
 * How every session is opened (the benchmark's bare baseline too). On the CPU, ONNX Runtime's
 * threads do not spin while they wait for work: the cores are shared with the pipeline's own work
 * (the next batch's tensor, tile previews, the result's deflate), and spinning threads took CPU from
 * it (measured: exposure 1080p 302-337 ms in the room without spinning, 343-349 ms with it).
 */
export function sessionOptions(provider: string): InferenceSession.SessionOptions {
  return {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    ...(provider === 'cpu' ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
  };
}

export class Engine {
  private sessions = new Map<string, Promise<OpenSession>>();
  /** ONNX Runtime runs on a thread of its own, so that this one works while a batch runs. */
  private readonly ort = new OrtHost(() => this.sessions.clear());
  /** Time spent inside session.run during the last run (ms), for the benchmark's overhead figure. */
  lastRunMs = 0;

  constructor(
    private readonly providers: string[],
    private readonly log: (message: string) => void = () => {},
  ) {}

  /** onnxruntime-node does not fall back by itself: try each provider in order, catching failures. */
  session(modelPath: string): Promise<OpenSession> {
    const key = `${modelPath}|${this.providers.join(',')}`;
    let s = this.sessions.get(key);
    if (!s) {
      s = (async () => {
        const errors: string[] = [];
        for (const provider of this.providers) {
          const missing = missingProviderLibrary(provider);
          if (missing) {
            errors.push(`${provider}: ${missing}`);
            continue;
          }
          try {
            const session = await this.ort.create(modelPath, sessionOptions(provider));
            this.log(`model ${path.basename(path.dirname(modelPath))} on ${provider}${errors.length ? ` (tried: ${errors.join('; ')})` : ''}`);
            return { session, provider };
          } catch (e) {
            errors.push(`${provider}: ${(e as Error).message.split('\n')[0]}`);
          }
        }
        throw new Error(`no execution provider could load ${modelPath} (${errors.join('; ')})`);
      })();
      s.catch(() => this.sessions.delete(key));
      this.sessions.set(key, s);
    }
    return s;
  }

  async inspect(modelPath: string): Promise<ModelInspection> {
    const { session, provider } = await this.session(modelPath);
    return { provider, inputs: session.inputs, outputs: session.outputs };
  }

  /** Closes the sessions' thread (tests and the benchmark, which run engines in their own process). */
  async close(): Promise<void> {
    this.sessions.clear();
    await this.ort.close();
  }

  /**
   * Decodes a region (or finds it decoded) and keeps it for the tile runs of the same source,
   * returning 8-bit views of it for planning. The last REGIONS_KEPT regions stay decoded, with their
   * views: frames are content-addressed files, so a kept region is never out of date, and the second
   * fix on a frame (a slider nudged, another fix on the same shot) skips the decode and the thumbnails.
   */
  async read(source: SourceRegion, views: RegionView[]): Promise<ViewPixels[]> {
    const region = await this.region(source);
    return Promise.all(
      views.map((v) => {
        const key = JSON.stringify(v);
        let view = region.views.get(key);
        if (!view) {
          region.views.set(key, (view = this.view(region, v)));
          view.catch(() => region.views.delete(key)); // a failed view is made again next time
        }
        return view;
      }),
    );
  }

  private view(region: DecodedRegion, v: RegionView): Promise<ViewPixels> {
    // Views are 8 bits, as the server's planners read them.
    const rgb8 = region.rgb instanceof Uint16Array ? to8(region.rgb) : region.rgb;
    const img = sharp(rgb8, { raw: { width: region.width, height: region.height, channels: 3 } });
    return (v.kind === 'resize' ? img.resize(v.width, v.height, { fit: v.fit }) : img.extract({ left: v.rect.x, top: v.rect.y, width: v.rect.width, height: v.rect.height }))
      .raw()
      .toBuffer({ resolveWithObject: true })
      .then((out) => ({ rgb: new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength), width: out.info.width, height: out.info.height }));
  }

  /** The region decoded, from the kept ones or from its file (then kept, the oldest dropped). */
  private async region(source: SourceRegion): Promise<DecodedRegion> {
    const key = sourceKey(source);
    const kept = this.regions.get(key);
    if (kept) {
      this.regions.delete(key);
      this.regions.set(key, kept); // most recent last
      return kept;
    }
    const { rect } = source;
    const { rgb } = await readPixels(sharp(source.path).extract({ left: rect.x, top: rect.y, width: rect.width, height: rect.height }), source.depth === 16);
    const region: DecodedRegion = { rgb, width: rect.width, height: rect.height, views: new Map() };
    this.regions.set(key, region);
    while (this.regions.size > REGIONS_KEPT) this.regions.delete(this.regions.keys().next().value!);
    return region;
  }

  private readonly regions = new Map<string, DecodedRegion>();

  /** `seal`: the text a sealed result file carries, asked for once the picture is encoded (TileRun.result.sealed). */
  async run(jobId: string, req: InferenceRun, post: Post, seal?: () => Promise<PngText>): Promise<void> {
    this.lastRunMs = 0;
    if (req.kind === 'tiles') return this.runTiles(jobId, req, post, seal);
    return this.runInpaint(jobId, req, post);
  }

  /** One session.run on the thread; its time (inside session.run only) counts into lastRunMs. */
  private async infer(session: HostedSession, feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
    const { outputs, ms } = await this.ort.run(session, feeds);
    this.lastRunMs += ms;
    return outputs;
  }

  private async runTiles(jobId: string, req: TileRun, post: Post, seal?: () => Promise<PngText>) {
    const { width, height, scale } = req;
    // The input: pixels sent along, or read here from the frame file (no large copy between processes).
    // Already decoded by read() for this job when the server planned from it.
    const rgb: Pixels = req.rgb ?? (await this.region(req.source!)).rgb;
    const deep = rgb instanceof Uint16Array;
    const { session: s, provider } = await this.session(req.modelPath);
    // An origin input of rank 1 (an older model) takes one tile per run; [N, 2] takes a whole batch.
    const originRank = req.tileOrigin ? (s.inputs.find((m) => m.name === req.tileOrigin)?.shape?.length ?? 2) : 0;
    const batches = tileBatches(req, originRank === 1 ? 1 : undefined);
    const outW = width * scale;
    const outH = height * scale;
    // Pixels are 0..max (8 or 16 bits); the model's ranges are mapped with one multiply-add each way.
    const max = deep ? 65535 : 255;
    const [ilo, ihi] = req.inputRange;
    const [olo, ohi] = req.outputRange;
    const inScale = (ihi - ilo) / max;
    const outScale = max / (ohi - olo);
    // With a result file: tiles go out as 8-bit previews (encodeTile, in the thread pool) and the
    // result is written here; without one, tiles carry raw pixels and the caller assembles them.
    const result = req.result;
    const out = result ? (deep ? new Uint16Array(outW * outH * 3) : new Uint8Array(outW * outH * 3)) : null;
    // The result PNG is written band by band (a row of tiles) as soon as a band is complete, its
    // deflate overlapping the next batches: little is left to do after the last tile.
    const writer = out ? new PngWriter(out, outW, outH, result!.alpha ?? null) : null;
    const bandLeft = new Map<number, number>();
    for (const b of batches) for (const t of b) bandLeft.set(t.core.y, (bandLeft.get(t.core.y) ?? 0) + 1);

    type Batch = (typeof batches)[number];
    // Each tile's index is its place in the order of an uninterrupted run, whichever batches run now.
    const firstIndex = batches.map((_, k) => batches.slice(0, k).reduce((n, b) => n + b.length, 0));
    const outRect = (core: Rect) => ({ x: core.x * scale, y: core.y * scale, width: core.width * scale, height: core.height * scale });
    // A checkpoint (runs with a result file): the batches an earlier run of the job computed are loaded, not computed.
    const ckpt = out && req.checkpoint ? new TileCheckpoint(req.checkpoint.dir, checkpointKey(req.checkpoint.id, req, batches, deep ? 16 : 8), deep ? 16 : 8, this.log) : null;
    const restored = ckpt && req.checkpoint!.resume ? await ckpt.load(batches.length, (k) => batches[k].map((t, i) => ({ index: firstIndex[k] + i, rect: outRect(t.core) }))) : new Map<number, CheckpointTile[]>();
    const todo = batches.map((b, k) => ({ batch: b, k })).filter(({ k }) => !restored.has(k));
    const restoredTiles = [...restored.values()].reduce((n, t) => n + t.length, 0);
    if (ckpt && req.checkpoint!.resume) this.log(`job ${jobId} resumed: ${restoredTiles} of ${firstIndex.at(-1)! + batches.at(-1)!.length} tiles from its checkpoint, ${todo.reduce((n, b) => n + b.batch.length, 0)} to compute`);
    post({ type: 'started', jobId, provider, tiles: batches.reduce((n, b) => n + b.length, 0), width: outW, height: outH, ...(restoredTiles ? { restored: restoredTiles } : {}) });

    // What the model is fed for a tile: the tile itself, or the tile mirrored out to the model's size.
    const fed = (batch: Batch) => fedSize(batch[0].padded, { size: req.inputSize, multipleOf: req.multipleOf });
    const feedsOf = (batch: Batch): Record<string, HostTensor> => {
      const { width: pw, height: ph } = fed(batch);
      const feeds: Record<string, HostTensor> = {
        [req.inputName]: { type: 'float32', data: rgbToPlanarBatch(rgb, width, batch.map((b) => b.padded), inScale, ilo, { width: pw, height: ph }), dims: [batch.length, 3, ph, pw] },
      };
      // Per-job inputs are copied: a feed's buffer moves to the thread with it.
      for (const [name, t] of Object.entries(req.extraInputs ?? {})) feeds[name] = { type: 'float32', data: t.data.slice(), dims: t.dims };
      if (req.tileOrigin) {
        const xy = Float32Array.from(batch.flatMap((b) => [b.padded.x, b.padded.y]));
        feeds[req.tileOrigin] = { type: 'float32', data: xy, dims: originRank === 1 ? [2] : [batch.length, 2] };
      }
      return feeds;
    };
    let sent = Promise.resolve();
    /**
     * Tiles into the result (and its PNG bands) and out to the room, in the order given. A computed
     * batch is in its checkpoint before any of its tiles leaves; a restored one is told as such (the
     * room has it: it is kept for members who join later, not sent again).
     */
    const place = (tiles: CheckpointTile[], saved: Promise<void> | null, restoredBatch: boolean) => {
      for (const { index, rect, rgb: tile } of tiles) {
        if (!out) {
          post({ type: 'tile', jobId, index, rect, rgb: tile });
          continue;
        }
        blit(out, outW, tile, rect);
        const band = rect.y / scale;
        const left = bandLeft.get(band)! - 1;
        bandLeft.set(band, left);
        if (left === 0) writer!.band(rect.y, rect.y + rect.height);
        const encoded = encodeTile(tile instanceof Uint16Array ? to8(tile) : tile, rect.width, rect.height, result!.alpha ? cropAlpha(result!.alpha, outW, rect) : null);
        // Encoded in parallel, sent in the order made.
        sent = sent.then(() => Promise.all([encoded, saved]).then(([e]) => settled(post({ type: 'tile', jobId, index, rect, encoded: e, ...(restoredBatch ? { restored: true } : {}) }))));
      }
    };
    for (const tiles of restored.values()) place(tiles, null, true);
    const emit = ({ batch, k }: (typeof todo)[number], values: Float32Array) => {
      const { width: pw, height: ph } = fed(batch);
      const plane = 3 * pw * scale * ph * scale;
      const tiles = batch.map(({ core, padded }, i): CheckpointTile => {
        const crop = { x: (core.x - padded.x) * scale, y: (core.y - padded.y) * scale, width: core.width * scale, height: core.height * scale };
        const planar = values.subarray(i * plane, (i + 1) * plane);
        const tile = deep ? planarToRgb16(planar, pw * scale, ph * scale, crop, outScale, -olo * outScale) : planarToRgb(planar, pw * scale, ph * scale, crop, outScale, -olo * outScale);
        return { index: firstIndex[k] + i, rect: outRect(core), rgb: tile };
      });
      place(tiles, ckpt ? ckpt.save(k, tiles) : null, false);
    };
    // A pipeline: while batch k runs on the ONNX Runtime thread, this thread turns batch k-1's output
    // into tiles (the centre tile reaches the room while the next batch runs) and prepares batch k+1.
    let feeds: Record<string, HostTensor> | null = todo.length ? feedsOf(todo[0].batch) : null;
    let done: { run: (typeof todo)[number]; values: Float32Array } | null = null;
    for (let k = 0; k < todo.length; k++) {
      const running = this.infer(s, feeds!);
      if (done) emit(done.run, done.values);
      feeds = k + 1 < todo.length ? feedsOf(todo[k + 1].batch) : null;
      const output = await running;
      done = { run: todo[k], values: output[req.outputName].data as Float32Array };
    }
    if (done) emit(done.run, done.values);
    await sent;
    let sha256: string | undefined;
    if (out && result) {
      let pieces = await writer!.pieces();
      if (result.sealed) {
        if (!seal) throw new Error('a sealed result needs its seal');
        const text = seal(); // asked before 'encoded' leaves: the answer cannot come first
        post({ type: 'encoded', jobId, provider, depth: deep ? 16 : 8 });
        const { keyword, text: body } = await text;
        pieces = withPngText(pieces, keyword, body);
      }
      // Hashed here while the thread pool writes it.
      const written = writePieces(result.path, pieces);
      if (result.sealed) sha256 = sha256Of(pieces);
      await written;
    }
    post({ type: 'done', jobId, provider, ...(result ? { resultPath: result.path, depth: deep ? 16 : 8, ...(sha256 ? { sha256 } : {}) } : {}) });
  }

  private async runInpaint(jobId: string, req: InpaintRun, post: Post) {
    const { width: w, height: h, out } = req;
    const grid = centreFirst(planTiles(out.width, out.height, req.tileSize, 0), out.width, out.height).map((p) => p.core);
    const bbox = holeBox(req.hole, w, h);
    const previewTiles = grid.filter((t) => bbox && intersects({ x: t.x + out.x, y: t.y + out.y, width: t.width, height: t.height }, bbox));
    let provider = 'js';
    let session: OpenSession | null = null;
    if (req.method === 'model') {
      if (!req.model) throw new Error('inpaint method "model" needs a model');
      session = await this.session(req.model.modelPath);
      provider = session.provider;
    }
    post({ type: 'started', jobId, provider, tiles: grid.length, width: out.width, height: out.height });
    const pic = { data: Float32Array.from(req.rgb), width: w, height: h };
    const sendTiles = (rgb: Uint8Array, tiles: Rect[], preview: boolean) => {
      tiles.forEach((t, index) => {
        const tile = new Uint8Array(t.width * t.height * 3);
        for (let y = 0; y < t.height; y++) {
          const src = ((out.y + t.y + y) * w + out.x + t.x) * 3;
          tile.set(rgb.subarray(src, src + t.width * 3), y * t.width * 3);
        }
        post({ type: 'tile', jobId, index, rect: t, rgb: tile, ...(preview ? { preview: true } : {}) });
      });
    };
    const info: Record<string, unknown> = { method: req.method };
    if (req.method === 'patchmatch') {
      let levels = 0;
      patchMatchFill(pic, req.hole, {
        seed: req.seed ?? 1,
        onLevel: ({ picture, index, count }) => {
          levels = count;
          if (index === count - 1 || index === 0) return; // the coarsest is a blur; the finest is the result
          sendTiles(toRgb8(upsampleInto(req.rgb, req.hole, w, h, picture)), previewTiles, true);
        },
      });
      info.levels = levels;
      // Brightness and colour matched to the picture around the hole (the fill keeps its texture).
      matchBoundary(pic, req.hole);
    } else if (req.method === 'diffuse') {
      diffuseFill(pic, req.hole);
    } else {
      await this.inpaintWithModel(pic, req, session!);
      info.model = path.basename(path.dirname(req.model!.modelPath));
    }
    const rgb = toRgb8(pic.data);
    sendTiles(rgb, grid, false);
    const result = new Uint8Array(out.width * out.height * 3);
    for (let y = 0; y < out.height; y++) {
      const src = ((out.y + y) * w + out.x) * 3;
      result.set(rgb.subarray(src, src + out.width * 3), y * out.width * 3);
    }
    post({ type: 'done', jobId, provider, rgb: result, info });
  }

  /** Crop already made by the server: resize to the model's size, run, resize back, paste the hole with a feathered edge. */
  private async inpaintWithModel(pic: { data: Float32Array; width: number; height: number }, req: InpaintRun, { session }: OpenSession) {
    const m = req.model!;
    const { width: w, height: h } = pic;
    const [mh, mw] = m.size === 'dynamic' ? [Math.ceil(h / 8) * 8, Math.ceil(w / 8) * 8] : m.size;
    const src = Buffer.from(req.rgb);
    const img = mw === w && mh === h ? src : await sharp(src, { raw: { width: w, height: h, channels: 3 } }).resize(mw, mh, { fit: 'fill', kernel: 'cubic' }).raw().toBuffer();
    const holeBuf = Buffer.from(req.hole.map((v) => (v ? 255 : 0)));
    const hole = mw === w && mh === h ? holeBuf : await sharp(holeBuf, { raw: { width: w, height: h, channels: 1 } }).resize(mw, mh, { fit: 'fill', kernel: 'linear' }).extractChannel(0).raw().toBuffer();
    const [ilo, ihi] = m.inputRange;
    const image = rgbToPlanarBatch(new Uint8Array(img.buffer, img.byteOffset, img.byteLength), mw, [{ x: 0, y: 0, width: mw, height: mh }], (ihi - ilo) / 255, ilo);
    const [klo, khi] = m.maskRange;
    const holeValue = m.polarity === 'hole-is-1' ? khi : klo;
    const keepValue = m.polarity === 'hole-is-1' ? klo : khi;
    const mask = Float32Array.from(hole, (v) => (v > 0 ? holeValue : keepValue));
    const result = await this.infer(session, { [m.imageInput]: { type: 'float32', data: image, dims: [1, 3, mh, mw] }, [m.maskInput]: { type: 'float32', data: mask, dims: [1, 1, mh, mw] } });
    const values = result[m.outputName].data as Float32Array;
    const [olo, ohi] = m.outputRange;
    const rgb = planarToRgb(values, mw, mh, { x: 0, y: 0, width: mw, height: mh }, 255 / (ohi - olo), (-olo * 255) / (ohi - olo));
    const back = mw === w && mh === h ? rgb : new Uint8Array(await sharp(Buffer.from(rgb), { raw: { width: mw, height: mh, channels: 3 } }).resize(w, h, { fit: 'fill', kernel: 'cubic' }).raw().toBuffer());
    const alpha = featherHole(req.hole, w, h, 2);
    for (let i = 0; i < w * h; i++) {
      const a = alpha[i];
      if (!a) continue;
      for (let c = 0; c < 3; c++) pic.data[i * 3 + c] = a * back[i * 3 + c] + (1 - a) * pic.data[i * 3 + c];
    }
  }
}

/** Writes `parts` one after the other into `file`. */
async function writePieces(file: string, parts: Uint8Array[]): Promise<void> {
  const fh = await open(file, 'w');
  try {
    const { bytesWritten } = await fh.writev(parts);
    const size = parts.reduce((n, p) => n + p.byteLength, 0);
    if (bytesWritten !== size) throw new Error(`wrote ${bytesWritten} of ${size} bytes of ${file}`);
  } finally {
    await fh.close();
  }
}

function sha256Of(parts: Uint8Array[]): string {
  const hash = crypto.createHash('sha256');
  for (const p of parts) hash.update(p);
  return hash.digest('hex');
}

/** Decoded regions kept for later jobs: two 16-bit 4K frames are about 100 MB. */
const REGIONS_KEPT = 2;
interface DecodedRegion {
  rgb: Pixels;
  width: number;
  height: number;
  views: Map<string, Promise<ViewPixels>>;
}
const sourceKey = (s: SourceRegion) => `${s.path}|${s.rect.x},${s.rect.y},${s.rect.width},${s.rect.height}|${s.depth}`;

function toRgb8(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = Math.max(0, Math.min(255, Math.round(data[i])));
  return out;
}

/** The crop with its hole pixels taken (bilinearly) from a lower-resolution fill. */
function upsampleInto(rgb: Uint8Array, hole: Uint8Array, w: number, h: number, low: { data: Float32Array; width: number; height: number }): Float32Array {
  const out = Float32Array.from(rgb);
  const sx = low.width / w;
  const sy = low.height / h;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (!hole[i]) continue;
      const fx = Math.min(low.width - 1, Math.max(0, (x + 0.5) * sx - 0.5));
      const fy = Math.min(low.height - 1, Math.max(0, (y + 0.5) * sy - 0.5));
      const x0 = Math.floor(fx), y0 = Math.floor(fy);
      const x1 = Math.min(low.width - 1, x0 + 1), y1 = Math.min(low.height - 1, y0 + 1);
      const ax = fx - x0, ay = fy - y0;
      for (let c = 0; c < 3; c++) {
        const v = (yy: number, xx: number) => low.data[(yy * low.width + xx) * 3 + c];
        out[i * 3 + c] = (1 - ay) * ((1 - ax) * v(y0, x0) + ax * v(y0, x1)) + ay * ((1 - ax) * v(y1, x0) + ax * v(y1, x1));
      }
    }
  return out;
}

function holeBox(hole: Uint8Array, w: number, h: number): Rect | null {
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      if (hole[y * w + x]) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
  return x1 < 0 ? null : { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

const intersects = (a: Rect, b: Rect) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

/** Alpha 1 inside the hole, falling off linearly over `r` pixels outside it (chessboard distance). */
export function featherHole(hole: Uint8Array, w: number, h: number, r: number): Float32Array {
  const alpha = new Float32Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      if (hole[y * w + x]) {
        alpha[y * w + x] = 1;
        continue;
      }
      let d = r + 1;
      for (let dy = -r; dy <= r && d > 1; dy++)
        for (let dx = -r; dx <= r; dx++) {
          const xx = x + dx, yy = y + dy;
          if (xx < 0 || yy < 0 || xx >= w || yy >= h || !hole[yy * w + xx]) continue;
          d = Math.min(d, Math.max(Math.abs(dx), Math.abs(dy)));
        }
      if (d <= r) alpha[y * w + x] = 1 - d / (r + 1);
    }
  return alpha;
}

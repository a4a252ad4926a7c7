import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import {
  ErrorCode,
  FixCatalogue,
  JsAlgorithms,
  LoupeError,
  makerOf,
  PROVENANCE_PNG_KEYWORD,
  type DenoiseParams,
  type ExposureParams,
  type FixId,
  type MatchGradeParams,
  type NeutralPick,
  type Provenance,
  type RemoveObjectParams,
  type Tile,
  type Version,
} from '@loupe/shared';
import type { Logger } from '../log.js';
import type { BlobStore } from '../store/blob.repository.js';
import type { JobSink, StoredRecord } from './job.events.js';
import type { RoomRepository } from '../store/room.repository.js';
import type { VersionRepository } from '../store/version.repository.js';
import type { FrameService } from '../media/frame.service.js';
import type { InferenceService } from '../inference/inference.service.js';
import type { ModelRegistry, RegisteredModel } from '../inference/model.registry.js';
import { tileRunFor, type InferenceRun, type InpaintModel, type RegionView, type TileRun } from '../inference/messages.js';
import type { Pixels } from '../inference/tiling.js';
import { cropAlpha, encodeTile, readPixels, readRgb, to8, writePng } from '../inference/png.js';
import { holeThickness } from '../inference/inpaint/diffuse.js';
import { growHole } from '../inference/removal/edge.js';
import { shortId } from '../rooms/room.service.js';
import { maskAlpha, type PixelRect } from './region.js';
import { referenceOf, resolveModel } from './fix.validation.js';
import { planExposure } from './colour/exposure.js';
import { fitGrade, gradeAtStrength, warmUpRound, type GradeFitted } from './colour/grade.js';
import type { Thumb } from './colour/space.js';
import { estimateNoiseSigma } from './colour/noise.js';
import { addPngText } from './png-text.js';
import { checkpointDir, removeCheckpoint } from './fix.checkpoint.js';

export type { StoredRecord } from './job.events.js';

/** A running job: where it reports (the pipeline's one port, storing first) and whether it was stopped. */
export interface RunContext {
  sink: JobSink;
  /** True once the job was cancelled or timed out; the runner stops sending anything. */
  stopped(): boolean;
  /** Throws RunStopped when stopped(). */
  checkStopped(): void;
  /**
   * The job ran before (a worker that died, a process restarted mid-run): a tile run resumes from the
   * batches of tiles its checkpoint holds, and does not send them to the room again.
   */
  rerun?: boolean;
}

export interface RunnerDeps {
  versions: VersionRepository;
  rooms: RoomRepository;
  blobs: BlobStore;
  frames: FrameService;
  inference: InferenceService;
  models: ModelRegistry;
  log: Logger;
  /** DATA_DIR: the tile runs' checkpoints go under its tmp/ (fix.checkpoint.ts). */
  dataDir: string;
}

/** The algorithms the worker runs in JS, named like models in the provenance (sha256 of their source). */
const ALGORITHM_FILES: Record<keyof typeof JsAlgorithms, URL> = {
  patchmatch: new URL('../inference/inpaint/patchmatch.ts', import.meta.url),
  diffuse: new URL('../inference/inpaint/diffuse.ts', import.meta.url),
  'clean-plate': new URL('../inference/removal/plate.ts', import.meta.url),
};
const algorithmSha = new Map<string, string>();
export function algorithmModel(id: keyof typeof JsAlgorithms): Provenance['model'] {
  let sha = algorithmSha.get(id);
  if (!sha) algorithmSha.set(id, (sha = crypto.createHash('sha256').update(readFileSync(ALGORITHM_FILES[id])).digest('hex')));
  const { name, kind, technique } = JsAlgorithms[id];
  return { id, name, version: '1', sha256: sha, licence: 'Loupe project code', kind, technique };
}

/** Longest side of the thumbnails match grade plans from. */
export const GRADE_THUMB = 128;
/** Match grade fits kept for pairs of frames fixed recently, and thumbnails kept (a few KB, 30 KB each). */
const GRADE_FITS_KEPT = 16;

/** The pixels of a neutral pick on the frame: a square of `size` (share of the width) around the point, at least 5x5. */
export function neutralBox(n: NeutralPick, srcW: number, srcH: number) {
  const side = Math.min(srcW, srcH, Math.max(5, Math.round(n.size * srcW)));
  const left = Math.max(0, Math.min(srcW - side, Math.round(n.x * srcW - side / 2)));
  const top = Math.max(0, Math.min(srcH - side, Math.round(n.y * srcH - side / 2)));
  return { left, top, width: side, height: side };
}

/** How often a running job's progress is stored and sent to the room. */
const PROGRESS_EVERY_MS = 150;
/** Tiles of a job are streamed in squares of this side (result pixels) when the fix does not tile by itself. */
const STREAM_TILE = 256;

/** What a job needs once it runs: the worker request and the facts for its provenance. */
interface Plan {
  run: InferenceRun;
  model: Provenance['model'];
  outW: number;
  outH: number;
  computed: Record<string, unknown>;
  reference?: Provenance['reference'];
  /** Bits per sample of the source frame, and of the pixels the fix computes. */
  depth: { source: 8 | 16; computed: 8 | 16 };
  /** The blend of the result over the source when not the mask's (remove object: the grown hole's). */
  alpha?: Uint8Array;
  /** Remove object on a 16-bit source: the region at 16 and at 8 bits, to keep the pixels the fill left alone at 16 bits. */
  deepRegion?: { rgb16: Uint16Array; rgb8: Uint8Array };
}

/**
 * The fix pipeline: validate and queue a request, run it on the inference worker, stream each tile
 * to the room, and turn the result into exactly one new version with its provenance.
 * Queue order: directors' jobs first, then first come first served. Limits per room and per member.
 */
/**
 * Computes one fix job: reads the source frame, plans the worker request, streams the tiles, and
 * stores the result, its sidecar and its version (once per job). The same code runs in the
 * single-process server and in a `ROLE=worker` process.
 */
export class FixRunner {
  /** Match grade's fits of recent pairs of frames (insertion order: the oldest first out). */
  private readonly gradeFits = new Map<string, GradeFitted>();
  /** Thumbnails match grade read (references mostly), by file and size. */
  private readonly gradeThumbs = new Map<string, Promise<Thumb>>();

  constructor(private readonly deps: RunnerDeps) {}

  /**
   * Compiles match grade's planner in idle moments after start (LOUPE_WARM_UP, on by default): one plan of
   * a made-up pair of frames every 100 ms, `rounds` times, about 0.5 s of CPU once. Without it, the first
   * matches of a fresh process plan 4-5 times slower than later ones (V8 compiles loops as they run).
   * A round (60-180 ms of CPU on 2 slow cores) waits while `quiet` says the process is busy (a room
   * loading, a fix running): a member opening a room just after start must not wait for it (npm run
   * bench -- coldload), nor a fix.
   */
  warmUp(rounds = 8, quiet: () => boolean = () => true): void {
    let round = 0;
    const step = () => {
      if (round >= rounds) return;
      if (!quiet()) return void setTimeout(step, 100).unref();
      try {
        warmUpRound(round++);
      } catch (err) {
        this.deps.log.warn({ err: (err as Error).message }, 'match grade warm-up failed');
        return;
      }
      setTimeout(step, 100).unref();
    };
    setTimeout(step, 500).unref();
  }

  /**
   * A frame's thumbnail for match grade, kept (content-addressed files, so never stale): one hero frame
   * is typically the reference of many shots, and is decoded once for all of them.
   */
  private gradeThumb(file: string, size: { width: number; height: number }): Promise<Thumb> {
    const key = `${file}@${size.width}x${size.height}`;
    let thumb = this.gradeThumbs.get(key);
    if (!thumb) {
      thumb = readRgb(sharp(file).resize(size.width, size.height, { fit: 'fill' }));
      this.gradeThumbs.set(key, thumb);
      thumb.catch(() => this.gradeThumbs.delete(key)); // a failed read is tried again next time
      if (this.gradeThumbs.size > GRADE_FITS_KEPT) this.gradeThumbs.delete(this.gradeThumbs.keys().next().value!);
    }
    return thumb;
  }

  async run(rec: StoredRecord, ctx: RunContext): Promise<void> {
    const { job } = rec;
    const started = new Date().toISOString();
    rec.job = { ...job, state: 'running', position: 0 };
    await ctx.sink.save(rec);
    await this.deps.models.load();

    const version = (await this.deps.versions.get(job.versionId))!;
    if (version.media.type !== 'video') throw new LoupeError(ErrorCode.NOT_FIXABLE, 'The source version has no frames.');
    const mediaSha = version.media.blob;
    const fix = FixCatalogue[job.fix];
    const frameSha = await this.deps.frames.frame(version, job.frame);
    const rect = rec.params.sourceRect;
    const srcW = version.media.width;
    const srcH = version.media.height;
    const framePath = await this.deps.blobs.localPath(frameSha);
    ctx.checkStopped();

    let maskInfo: Provenance['mask'];
    let sourceMask: Uint8Array | null = null;
    if (job.region.mask) {
      sourceMask = await maskAlpha(job.region, rect, srcW, srcH, rect.width, rect.height);
      const png = await sharp(Buffer.from(sourceMask), { raw: { width: rect.width, height: rect.height, channels: 1 } }).png().toBuffer();
      const sha = await this.deps.blobs.put(png);
      await this.deps.rooms.grantBlob(rec.roomId, sha);
      maskInfo = { sha256: sha, width: rect.width, height: rect.height };
    }

    const plan = await this.plan({ jobId: job.id, roomId: rec.roomId, fix: job.fix, params: rec.params.fixParams }, framePath, rect, srcW, srcH, sourceMask);
    ctx.checkStopped();
    const { outW, outH } = plan;
    // Remove object blends its fill by the grown hole's alpha: fully inside the drawn line, soft outside it.
    const alpha = plan.alpha ?? (job.region.mask ? await maskAlpha(job.region, rect, srcW, srcH, outW, outH) : null);

    // Tile runs: the worker reads the frame, streams PNG tiles and writes the result PNG itself, so no
    // picture crosses between the processes (their channel moves some 100 MB/s; a 16-bit 1080p frame is 12 MB).
    const resultPath = plan.run.kind === 'tiles' ? path.join(os.tmpdir(), `loupe-fix-${job.id}-${randomUUID()}.png`) : null;
    // Each batch of tiles is checkpointed as it is sent; a run of a job that ran before loads what it finds.
    // Not for a pointwise model (colour fixes): its whole frame takes less time to compute again than
    // its tiles take to write, hash and remove (a 16-bit 1080p frame is 12 MB of checkpoint).
    const pointwise = this.deps.models.get(plan.model.id)?.manifest.pointwise ?? false;
    const checkpoint = pointwise ? undefined : { dir: checkpointDir(this.deps.dataDir, job.id), id: runIdentity(rec, frameSha, plan.model), resume: !!ctx.rerun };
    if (!ctx.rerun && checkpoint) await removeCheckpoint(this.deps.dataDir, job.id);
    const run: InferenceRun = plan.run.kind === 'tiles' ? { ...plan.run, result: { path: resultPath!, ...(alpha ? { alpha } : {}), sealed: true }, ...(checkpoint ? { checkpoint } : {}) } : plan.run;
    try {
      await this.compute(rec, ctx, { plan, run, alpha, started, mediaSha, frameSha, version, maskInfo });
    } finally {
      if (resultPath) await rm(resultPath, { force: true });
    }
  }

  /** Runs the worker request, streams the tiles, and stores the result, its sidecar and its version. */
  private async compute(
    rec: StoredRecord,
    ctx: RunContext,
    j: { plan: Plan; run: InferenceRun; alpha: Uint8Array | null; started: string; mediaSha: string; frameSha: string; version: Version; maskInfo: Provenance['mask'] },
  ): Promise<void> {
    const { plan, run, alpha, started, mediaSha, frameSha, version, maskInfo } = j;
    const { job } = rec;
    const fix = FixCatalogue[job.fix];
    const rect = rec.params.sourceRect;
    const { outW, outH } = plan;
    const encodes: Promise<void>[] = [];
    let chain = Promise.resolve();
    let lastSave = 0;
    // Progress need not wait for its write; a failed one is logged (the next one, or the end, stores it).
    const progress = () => void ctx.sink.save(rec).catch((err: Error) => this.deps.log.warn({ room: rec.roomId, job: job.id, err: err.message }, 'fix progress not stored'));
    // The provenance, made once: as a sealed result is encoded (the worker writes it into the file), or after the run.
    const sealed: { provenance?: Provenance } = {};
    const provenanceOf = async (provider: string, resultDepth: 8 | 16, info?: Record<string, unknown>): Promise<Provenance> => {
      const current = await this.deps.versions.get(version.id);
      const stale = !current || current.media.type !== 'video' || current.media.blob !== mediaSha;
      return {
        aiMade: makerOf(plan.model).kind === 'learned',
        jobId: job.id,
        fix: job.fix,
        params: rec.params.fixParams,
        computed: { ...plan.computed, ...(info ?? {}), bitDepth: { source: plan.depth.source, computed: plan.depth.computed, result: resultDepth } },
        model: plan.model,
        provider,
        sourceVersionId: version.id,
        source: { versionId: version.id, mediaSha256: mediaSha, frameSha256: frameSha },
        ...(plan.reference ? { reference: plan.reference } : {}),
        frame: job.frame,
        region: job.region,
        sourceRect: rect,
        ...(maskInfo ? { mask: maskInfo } : {}),
        requestedBy: job.requestedBy,
        requestedAt: job.createdAt,
        startedAt: started,
        finishedAt: new Date().toISOString(),
        tiles: rec.job.tilesTotal,
        output: { width: outW, height: outH, sha256: '' },
        stale,
      };
    };
    // Embedded in the PNG: everything but the PNG's own hash (which it cannot contain).
    const embedded = ({ output: _o, ...rest }: Provenance) => JSON.stringify({ ...rest, output: { width: outW, height: outH } });
    const { provider, rgb: computedRgb, resultPath, sha256: sealedSha, info } = await this.deps.inference.run(job.id, run, {
      seal: async ({ provider, depth }) => ({ keyword: PROVENANCE_PNG_KEYWORD, text: embedded((sealed.provenance = await provenanceOf(provider, depth))) }),
      onStart: ({ tiles: n, restored = 0 }) => {
        // A resumed run counts on from the tiles its checkpoint holds (the room has them).
        rec.job = { ...rec.job, tilesTotal: n, tilesDone: restored, progress: n ? restored / n : 0, output: { width: outW, height: outH } };
        if (ctx.rerun) this.deps.log.info({ room: rec.roomId, job: job.id, restored, computed: n - restored }, 'fix resumed from its checkpoint');
        progress();
      },
      onTile: ({ index, rect: r, rgb: pixels, encoded: ready, preview, restored }) => {
        // Tiles are previews for the room: 8 bits even when the result is 16.
        const encoded = ready ? Promise.resolve(ready) : encodeTile(pixels instanceof Uint16Array ? to8(pixels) : pixels!, r.width, r.height, alpha && cropAlpha(alpha, outW, r));
        // Encoded in parallel, sent in the order the worker made them (a preview must not land after the final tile).
        chain = chain.then(() =>
          encoded.then(({ data, mime }) => {
            if (ctx.stopped()) return;
            const tile: Tile = { jobId: job.id, index, ...r, mime, data, ...(preview ? { preview: true } : {}) };
            if (restored) return ctx.sink.restoredTile(rec.roomId, tile);
            ctx.sink.tile(rec.roomId, tile);
            if (preview) return;
            const done = rec.job.tilesDone + 1;
            const total = rec.job.tilesTotal;
            rec.job = { ...rec.job, tilesDone: done, progress: total ? done / total : 0 };
            // Progress is stored and told a few times a second, and at the last tile: not once per tile.
            if (done === total || performance.now() - lastSave >= PROGRESS_EVERY_MS) {
              lastSave = performance.now();
              progress();
            }
            if (total && Math.floor((4 * done) / total) > Math.floor((4 * (done - 1)) / total)) {
              this.deps.log.info({ room: rec.roomId, job: job.id, tiles: `${done}/${total}` }, `fix ${Math.round((100 * done) / total)}%`);
            }
          }),
        );
        encodes.push(chain);
      },
    });
    await Promise.all(encodes);
    ctx.checkStopped();
    // The result, its mask and its sidecar are stored before the version that points at them; the version is made once per job.
    let sha256: string;
    let provenance: Provenance;
    if (resultPath) {
      // Written by the worker with its provenance (sealed): moved into the store as it is.
      if (!sealedSha || !sealed.provenance) throw new Error('the inference worker wrote its result without its provenance');
      provenance = sealed.provenance;
      sha256 = await this.deps.blobs.putFile(resultPath, sealedSha);
    } else {
      const out = plan.deepRegion ? keepDeep(computedRgb as Uint8Array, plan.deepRegion) : computedRgb!;
      provenance = await provenanceOf(provider, out instanceof Uint16Array ? 16 : 8, info);
      sha256 = await this.deps.blobs.put(addPngText(await writePng(out, outW, outH, alpha), PROVENANCE_PNG_KEYWORD, embedded(provenance)));
    }
    provenance.output.sha256 = sha256;
    const sidecarSha = await this.deps.blobs.put(Buffer.from(JSON.stringify(provenance, null, 2)));
    provenance.sidecarSha256 = sidecarSha;
    await this.deps.rooms.grantBlob(rec.roomId, sha256);
    await this.deps.rooms.grantBlob(rec.roomId, sidecarSha);
    ctx.checkStopped();
    const created = await this.deps.versions.insert(
      rec.roomId,
      {
        id: shortId(),
        shotId: version.shotId,
        label: `${fix.label} of frame ${job.frame}`,
        kind: 'ai',
        status: 'pending',
        parentVersionId: version.id,
        media: { type: 'still', blob: sha256, width: outW, height: outH, frame: job.frame, region: job.region },
        createdBy: { id: job.requestedBy.id, name: job.requestedBy.name },
        createdAt: provenance.finishedAt,
        provenance,
      },
      job.id,
    );
    const { stale } = provenance;
    rec.job = { ...rec.job, state: 'done', progress: 1, resultVersionId: created.id, ...(stale ? { stale: true } : {}) };
    await ctx.sink.save(rec);
    ctx.sink.versionCreated(rec.roomId, created);
    this.deps.log.info({ room: rec.roomId, job: job.id, version: created.id, provider, stale, ms: Date.parse(provenance.finishedAt) - Date.parse(started) }, 'fix done');
  }

  /** Removes the job's checkpoint: its run ended (done, failed or cancelled), nothing will resume it. */
  discardCheckpoint(jobId: string): Promise<void> {
    return removeCheckpoint(this.deps.dataDir, jobId);
  }

  /**
   * Gets a frame ready for a fix the artist is about to ask for (fix:prepare, sent by the fix panel
   * while they choose): the frame extracted, the region decoded in the worker with the views its plan
   * reads, and, for match grade, the pair of frames fitted. All of it is kept (content-addressed), so
   * the job, once asked, starts from its first tile. Done by the same plan the job runs, ahead of any
   * job and only when the worker is free; false when nothing was done (busy, or remove object, whose
   * fill reads its own crop).
   */
  async prepare(p: { roomId: string; version: Version; frame: number; rect: PixelRect; fix: FixId; params: Record<string, unknown> }): Promise<boolean> {
    if (FixCatalogue[p.fix].task === 'inpaint' || p.version.media.type !== 'video') return false;
    const { width, height } = p.version.media;
    const work = this.deps.inference.ahead(async () => {
      const framePath = await this.deps.blobs.localPath(await this.deps.frames.frame(p.version, p.frame));
      await this.deps.models.load();
      await this.plan({ jobId: `prepare-${randomUUID()}`, roomId: p.roomId, fix: p.fix, params: p.params, ahead: true }, framePath, p.rect, width, height, null);
    });
    if (!work) return false;
    await work;
    return true;
  }

  /**
   * Reads the pixels the fix needs and turns its parameters into a worker request. `ahead`: for
   * prepare(), reads through the worker ahead of the jobs, and decodes the region of the fixes that
   * read it only when they run (upscale, restore).
   */
  private async plan(
    what: { jobId: string; roomId: string; fix: FixId; params: Record<string, unknown>; ahead?: boolean },
    framePath: string,
    rect: PixelRect,
    srcW: number,
    srcH: number,
    sourceMask: Uint8Array | null,
  ): Promise<Plan> {
    const fix = FixCatalogue[what.fix];
    const params = what.params;
    // A 16-bit frame (deep sources: 16-bit PNG/TIFF, 10-bit+ DPX and movies, EXR through the view transform) is read at 16 bits.
    const sourceDepth: 8 | 16 = (await sharp(framePath).metadata()).depth === 'ushort' ? 16 : 8;
    const deep = sourceDepth === 16 && fix.task !== 'inpaint';
    // Models read the region in the worker; what the server measures on (white balance, noise, thumbnails) is 8 bits either way.
    const region = { width: rect.width, height: rect.height };
    const model = resolveModel(this.deps.models, what.fix, params);
    // Colour and denoise: the worker decodes the region once, now, and keeps it for the run; the
    // thumbnails the server plans from are made from those pixels (no second decode of the frame here).
    const source = { path: framePath, rect, depth: (deep ? 16 : 8) as 8 | 16 };
    const readRegion = (views: RegionView[]) => this.deps.inference.read(what.jobId, source, views, what.ahead);
    const modelInfo = (m: RegisteredModel): Provenance['model'] => ({
      id: m.manifest.id,
      name: m.manifest.name,
      version: m.manifest.version,
      sha256: m.sha256,
      licence: m.manifest.licence,
      kind: m.manifest.kind ?? 'learned',
      technique: m.manifest.technique ?? m.manifest.name,
    });
    const tileRun = (m: RegisteredModel, extra: Record<string, Float32Array> = {}): TileRun => tileRunFor(m, { source, width: region.width, height: region.height }, extra);
    const base = { outW: region.width * fix.scale, outH: region.height * fix.scale, depth: { source: sourceDepth, computed: deep ? 16 : 8 } as Plan['depth'] };

    switch (fix.task) {
      case 'upscale':
      case 'restore':
        if (what.ahead) await readRegion([]); // the run reads it; decoded ahead, it is found kept
        return { ...base, run: tileRun(model!), model: modelInfo(model!), computed: {} };
      case 'colour': {
        if (what.fix === 'exposure') {
          const ep = params as ExposureParams;
          const [thumb] = await readRegion([{ kind: 'resize', width: 256, height: 256, fit: 'inside' }]);
          // The eyedropper's pick is on the frame (normalised like a region), not only in the fixed region.
          const patch = ep.whiteBalance === 'neutral' && ep.neutral ? await readRgb(sharp(framePath).extract(neutralBox(ep.neutral, srcW, srcH))) : undefined;
          const p = planExposure(ep, [thumb], region.width, region.height, patch);
          return { ...base, run: tileRun(model!, { ...p.inputs }), model: modelInfo(model!), computed: p.computed };
        }
        // The plan needs thumbnails of the whole frame and of the reference, both at one pixel scale (the
        // alignment searches 0.5-2x around it). On a whole-frame fix the worker, which decodes the region
        // for the run anyway, makes the source's thumbnail: no second decode of the frame here.
        const mp = params as MatchGradeParams;
        const scale = GRADE_THUMB / Math.max(srcW, srcH);
        const thumbSize = (w: number, h: number) => ({ width: Math.max(8, Math.round(w * scale)), height: Math.max(8, Math.round(h * scale)) });
        const whole = rect.x === 0 && rect.y === 0 && rect.width === srcW && rect.height === srcH;
        const read = readRegion(whole ? [{ kind: 'resize', ...thumbSize(srcW, srcH), fit: 'fill' }] : []);
        read.catch(() => {});
        try {
          const ref = await referenceOf(this.deps.versions, what.roomId, mp);
          const refSha = ref.media.type === 'video' ? await this.deps.frames.frame(ref, mp.referenceFrame) : ref.media.blob;
          // Kept per pair of frames (content-addressed, so never stale): nudging the strength, or matching
          // again, reads nothing and fits nothing.
          const key = JSON.stringify([framePath, rect, refSha, mp.method]);
          let fitted = this.gradeFits.get(key);
          if (!fitted) {
            const refThumb = async () => {
              const refPath = await this.deps.blobs.localPath(refSha);
              const refMeta = await sharp(refPath).metadata();
              return this.gradeThumb(refPath, thumbSize(refMeta.width!, refMeta.height!));
            };
            const srcThumb = whole ? read.then(([t]) => t) : this.gradeThumb(framePath, thumbSize(srcW, srcH));
            const [s8, r8] = await Promise.all([srcThumb, refThumb()]);
            fitted = fitGrade([s8], [r8], mp.method);
            this.gradeFits.set(key, fitted);
            if (this.gradeFits.size > GRADE_FITS_KEPT) this.gradeFits.delete(this.gradeFits.keys().next().value!);
          }
          const p = gradeAtStrength(fitted, mp.strength);
          await read;
          return {
            ...base,
            run: tileRun(model!, { ...p.inputs }),
            model: modelInfo(model!),
            computed: p.computed,
            reference: { versionId: ref.id, frame: ref.media.type === 'video' ? mp.referenceFrame : ref.media.frame, sha256: refSha },
          };
        } catch (e) {
          await read.catch(() => {}); // the worker is free again before the job ends
          throw e;
        }
      }
      case 'denoise': {
        const dp = params as DenoiseParams;
        // Measured on (at most) the central 256x256 of the region: enough pixels, bounded time on the event loop.
        const cw = Math.min(256, region.width);
        const ch = Math.min(256, region.height);
        const [centre] = await readRegion(dp.sigma === undefined ? [{ kind: 'crop', rect: { x: (rect.width - cw) >> 1, y: (rect.height - ch) >> 1, width: cw, height: ch } }] : []);
        const measured = dp.sigma ?? estimateNoiseSigma(centre.rgb, cw, ch);
        const sigma = measured * dp.strength;
        return { ...base, run: tileRun(model!, { sigma: Float32Array.of(sigma) }), model: modelInfo(model!), computed: { sigma: +sigma.toFixed(3), measuredSigma: +measured.toFixed(3) } };
      }
      case 'inpaint': {
        const rp = params as RemoveObjectParams;
        // The hole at source resolution: every pixel the drawn mask touches, grown outward by `grow`
        // (the rect was grown by as much when the job was made); the soft edge lies outside the drawn line.
        const drawn = Uint8Array.from(sourceMask!, (v) => (v >= 64 ? 1 : 0));
        const { hole: hole0, alpha } = growHole(drawn, rect.width, rect.height, rp.grow);
        // Thin or not as drawn (a wire stays a wire however much it is grown).
        const thickness = holeThickness(drawn, rect.width, rect.height);
        const method: 'patchmatch' | 'diffuse' | 'model' = rp.method === 'auto' ? (model ? 'model' : thickness <= 4 ? 'diffuse' : 'patchmatch') : rp.method;
        // The crop: the region plus a margin of picture to copy from, inside the frame.
        const margin = Math.max(24, Math.round(0.5 * Math.max(rect.width, rect.height)));
        const cx0 = Math.max(0, rect.x - margin);
        const cy0 = Math.max(0, rect.y - margin);
        const cx1 = Math.min(srcW, rect.x + rect.width + margin);
        const cy1 = Math.min(srcH, rect.y + rect.height + margin);
        // The fill runs in JS at 8 bits; on a 16-bit source the pixels it leaves alone keep their 16 bits (see keepDeep).
        const crop16 = sourceDepth === 16 ? await readPixels(sharp(framePath).extract({ left: cx0, top: cy0, width: cx1 - cx0, height: cy1 - cy0 }), true) : null;
        const crop = crop16 ? { rgb: to8(crop16.rgb as Uint16Array), width: crop16.width, height: crop16.height } : await readRgb(sharp(framePath).extract({ left: cx0, top: cy0, width: cx1 - cx0, height: cy1 - cy0 }));
        const hole = new Uint8Array(crop.width * crop.height);
        for (let y = 0; y < rect.height; y++)
          for (let x = 0; x < rect.width; x++) if (hole0[y * rect.width + x]) hole[(y + rect.y - cy0) * crop.width + x + rect.x - cx0] = 1;
        let inpaintModel: InpaintModel | undefined;
        if (method === 'model') {
          const m = model!.manifest;
          inpaintModel = {
            modelPath: model!.path,
            imageInput: m.input.name,
            maskInput: m.mask!.name,
            outputName: m.output.name,
            inputRange: m.input.range,
            outputRange: m.output.range,
            maskRange: m.mask!.range,
            polarity: m.mask!.polarity,
            size: m.input.size,
          };
        }
        return {
          ...base,
          run: {
            kind: 'inpaint',
            method,
            rgb: crop.rgb,
            width: crop.width,
            height: crop.height,
            hole,
            out: { x: rect.x - cx0, y: rect.y - cy0, width: rect.width, height: rect.height },
            tileSize: STREAM_TILE,
            model: inpaintModel,
            seed: 1,
          },
          model: method === 'model' ? modelInfo(model!) : algorithmModel(method),
          alpha,
          computed: { method, grow: rp.grow, holeThickness: thickness, crop: { x: cx0, y: cy0, width: crop.width, height: crop.height } },
          ...(crop16 ? { deepRegion: { rgb16: cropRect(crop16.rgb as Uint16Array, crop.width, rect.x - cx0, rect.y - cy0, rect.width, rect.height), rgb8: cropRect(crop.rgb, crop.width, rect.x - cx0, rect.y - cy0, rect.width, rect.height) } } : {}),
        };
      }
    }
  }
}

/** What a checkpoint's tiles were computed for: the job, its parameters, its source frame and region, its model. */
function runIdentity(rec: StoredRecord, frameSha: string, model: Provenance['model']): string {
  const { job, params } = rec;
  return JSON.stringify({ job: job.id, fix: job.fix, versionId: job.versionId, frame: job.frame, region: job.region, params: params.fixParams, rect: params.sourceRect, frameSha, model: model.sha256 });
}

function cropRect<T extends Pixels>(src: T, stride: number, x: number, y: number, width: number, height: number): T {
  const out = new (src.constructor as new (n: number) => T)(width * height * 3);
  for (let r = 0; r < height; r++) out.set(src.subarray(((y + r) * stride + x) * 3, ((y + r) * stride + x + width) * 3), r * width * 3);
  return out;
}

/**
 * A fill computed at 8 bits on a 16-bit source, back to 16 bits: a pixel the fill left as it was
 * keeps its original 16-bit value; a filled (or blended) pixel is its 8-bit value times 257.
 */
function keepDeep(fill: Uint8Array, region: { rgb16: Uint16Array; rgb8: Uint8Array }): Uint16Array {
  const out = new Uint16Array(fill.length);
  for (let i = 0; i < fill.length; i += 3) {
    const same = fill[i] === region.rgb8[i] && fill[i + 1] === region.rgb8[i + 1] && fill[i + 2] === region.rgb8[i + 2];
    for (let c = 0; c < 3; c++) out[i + c] = same ? region.rgb16[i + c] : fill[i + c] * 257;
  }
  return out;
}

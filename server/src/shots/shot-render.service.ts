/**
 * Shot renders: a fix applied to every frame of a range of a shot, becoming the shot's next version.
 *
 * A render is one room-facing job (the `jobs` row the room sees) and three kinds of background jobs
 * on the job system: a plan (the fix's transform estimated once for the shot, the chunks cut and put in
 * order: the frame on screen first, then outward), the chunks (frames decoded once, fixed, stored
 * frame by frame, each frame sent to the room as it lands), and a finalize (the chunks' proxy segments
 * joined into the version's proxy, the version made, exactly once). Chunks spread over every worker;
 * a chunk that runs again after a crash finds its stored frames and does not redo them. A cancelled
 * render makes no version.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  ErrorCode,
  FixCatalogue,
  LoupeError,
  type DenoiseParams,
  type ExposureParams,
  type FrameRange,
  type Job,
  type MaskKeyframe,
  type MatchGradeParams,
  type Member,
  type RemoveObjectParams,
  type Provenance,
  type RenderedFrame,
  type Version,
} from '@loupe/shared';
import type { Logger } from '../log.js';
import { localPaths, type BlobStore } from '../store/blob.repository.js';
import type { JobRepository } from '../store/job.repository.js';
import type { RenderRepository } from '../store/render.repository.js';
import type { RoomRepository } from '../store/room.repository.js';
import type { VersionRepository } from '../store/version.repository.js';
import type { FrameService } from '../media/frame.service.js';
import { RunStopped, type InferenceService } from '../inference/inference.service.js';
import type { ModelRegistry, RegisteredModel } from '../inference/model.registry.js';
import { tileRunFor, type TensorData } from '../inference/messages.js';
import type { ChunkFix, ChunkRun, TileTemplate } from '../inference/messages.js';
import { readRgb } from '../inference/png.js';
import { planExposure } from '../fixes/colour/exposure.js';
import { planGrade } from '../fixes/colour/grade.js';
import { estimateNoiseSigma } from '../fixes/colour/noise.js';
import { algorithmModel, GRADE_THUMB, neutralBox, type StoredRecord } from '../fixes/fix.runner.js';
import { referenceOf, resolveModel } from '../fixes/fix.validation.js';
import type { JobSink } from '../fixes/job.events.js';
import type { PixelRect } from '../fixes/region.js';
import { cropSample, filmstripSamples, pooled, proxySamples, type Sample } from '../media/samples.js';
import { runFfmpeg } from '../media/ffmpeg.js';
import { countFrames, ladderRungs, storeLadder, thumbnails, x264Args } from '../media/proxy.js';
import { shortId } from '../rooms/room.service.js';
import type { JobSystem, Outcome } from '../jobs/job-system.js';
import { done, skipped } from '../jobs/job-system.js';
import { chunkSize, chunksOf, outwardOrder, renderRate, runsOf, spreadFrames, type Chunk } from './render-plan.js';
import { polygonCoverage, regionAlpha } from './region-alpha.js';
import { greyOf } from '../inference/temporal/motion.js';
import { trackMasks, trackPyramid, type TrackedFrame } from '../inference/removal/track.js';
import sharp from 'sharp';

/** Width of the proxy frames a remove-object render tracks its mask on. */
const TRACK_WIDTH = 480;
/** Frames a colour transform is estimated from, spread over the range. */
const SAMPLES = 9;
/** Frames either side a temporal denoise averages in. */
const DENOISE_RADIUS = 2;
/** How often a render's progress is stored and sent to the room. */
const PROGRESS_EVERY_MS = 250;

/** Priorities on the inference lane: frame previews before renders, a render's plan before its chunks. */
export const RENDER_PRIORITY = { plan: 2, chunk: 10 } as const;

/** The fix as the chunks run it: serialisable (stored with the job), tensors as plain arrays. */
type PlannedFix =
  | { kind: 'tiles'; modelId: string; extra: Record<string, number[]>; keyed?: { frames: number[]; inputs: Record<string, number[]>[] } }
  | { kind: 'temporal-denoise'; modelId: string; sigma: number; strength: number; radius: number }
  /**
   * Remove object: the masks drawn on keyframes (`keys`, frames of the shot, in order) and each range
   * frame's track (parts: keyframe index into `keys`, shift in source pixels, weight), grown by `grow`.
   */
  | { kind: 'remove'; modelId: 'clean-plate'; keys: { frame: number; mask: [number, number][] }[]; track: TrackedFrame['parts'][]; grow: number };

/** What the plan decided, stored in the job's params for every chunk and the finalize. */
export interface RenderPlan {
  chunks: Chunk[];
  fix: PlannedFix;
  /** Result size (the source's, times the fix's scale) and depth. */
  width: number;
  height: number;
  depth: 8 | 16;
  preview: { width: number; height: number };
  gop: number;
  rate: { num: number; den: number };
  /** Source pixels the fix computes (the region grown by its feather), or null for the whole frame. */
  area: PixelRect | null;
  model: Provenance['model'];
  computed: Record<string, unknown>;
  reference?: Provenance['reference'];
  startedAtMs: number;
  startedAt: string;
  number: number;
  /** Remove object: the drawn mask's tracked shift per frame (RenderProgress.tracked). */
  tracked?: [number, number, number, number][];
}

export interface RenderParams {
  fixParams: Record<string, unknown>;
  sourceRect: PixelRect;
  feather: number;
  keyframes?: number[];
  priority: number;
  seq: number;
  render?: RenderPlan;
}

export type RenderRecord = StoredRecord & { params: StoredRecord['params'] & RenderParams };

/** Where a render's news goes: the job pipeline's port (stored, then told to the room directly or over Redis). */
export type RenderEvents = Pick<JobSink, 'save' | 'frame' | 'versionCreated'>;

export interface RenderDeps {
  jobs: JobRepository;
  renders: RenderRepository;
  versions: VersionRepository;
  rooms: RoomRepository;
  blobs: BlobStore;
  frames: FrameService;
  inference: InferenceService;
  models: ModelRegistry;
  system: JobSystem;
  events: RenderEvents;
  log: Logger;
  dataDir: string;
  /** A chunk running longer than this fails (its render fails, with no version). */
  chunkTimeoutMs: number;
}

const chunkKey = (jobId: string, index: number) => `render-chunk:${jobId}:${index}`;
const planKey = (jobId: string) => `render-plan:${jobId}`;
const finalizeKey = (jobId: string) => `render-finalize:${jobId}`;

const toArrays = (t: Record<string, Float32Array>) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Array.from(v)]));

/** The keyframes of a removal: one mask per frame (a later drawing of a frame wins), in frame order. */
function keyframesOf(drawn: MaskKeyframe[]): { frame: number; mask: [number, number][] }[] {
  const byFrame = new Map<number, [number, number][]>();
  for (const k of drawn) byFrame.set(k.frame, k.mask);
  return [...byFrame.entries()].sort((a, b) => a[0] - b[0]).map(([frame, mask]) => ({ frame, mask }));
}

/** Tracks kept per process (a few KB each): the last Track pressed, and the one before. */
const TRACKS_KEPT = 8;

export class ShotRenderService {
  private lastSave = new Map<string, number>();
  private tracks = new Map<string, ReturnType<ShotRenderService['computeTrack']>>();

  constructor(private readonly deps: RenderDeps) {}

  /** Registers the plan, chunk and finalize handlers (processes that run fixes). */
  registerHandlers(): void {
    const { system } = this.deps;
    system.register<{ jobId: string }>({ name: 'render-plan', lane: 'inference', run: (d, ctx) => this.plan(d.jobId, ctx.signal) });
    system.register<{ jobId: string; chunk: number }>({ name: 'render-chunk', lane: 'inference', run: (d, ctx) => this.chunk(d.jobId, d.chunk, ctx.signal) });
    system.register<{ jobId: string }>({ name: 'render-finalize', lane: 'media', run: (d) => this.finalize(d.jobId) });
  }

  /** Checks what only a shot render needs; the common checks (role, version, region, params) are the caller's. */
  validate(version: Version, job: Job, fixParams: Record<string, unknown>): void {
    if (version.media.type !== 'video') throw new LoupeError(ErrorCode.NOT_FIXABLE, 'A shot render needs a version with frames.');
    const fix = FixCatalogue[job.fix];
    const range = job.range!;
    if (range.out >= version.media.frameCount) {
      throw new LoupeError(ErrorCode.FRAME_OUT_OF_RANGE, `The range ends at frame ${range.out}, past the shot's last frame (${version.media.frameCount - 1}).`);
    }
    if (fix.task === 'inpaint') {
      const p = fixParams as RemoveObjectParams;
      if (p.method === 'model' || p.method === 'diffuse') {
        throw new LoupeError(ErrorCode.NOT_FIXABLE, `${fix.label} of a shot tracks the mask and fills from the frames that show the background (method 'auto' or 'patchmatch'); '${p.method}' is for a still.`);
      }
      if (job.frame < range.in || job.frame > range.out) {
        throw new LoupeError(ErrorCode.FRAME_OUT_OF_RANGE, `The mask is drawn on frame ${job.frame}, outside the range ${range.in}-${range.out}: draw it on a frame of the range.`);
      }
    }
    if (fix.scale !== 1) {
      const r = job.region;
      const whole = r.x <= 1e-6 && r.y <= 1e-6 && r.x + r.width >= 1 - 1e-6 && r.y + r.height >= 1 - 1e-6 && !r.mask;
      if (!whole) throw new LoupeError(ErrorCode.BAD_REQUEST, `${fix.label} of a shot renders the whole frame at the new size: clear the region.`);
    }
    void fixParams;
  }

  /** Queues a stored render's plan. */
  async queue(rec: RenderRecord): Promise<void> {
    await this.deps.system.add('inference', 'render-plan', { jobId: rec.job.id }, { key: planKey(rec.job.id), priority: RENDER_PRIORITY.plan + rec.params.priority });
  }

  /** Cancels a render: no more chunks, no version; what it stored so far is forgotten. */
  async cancel(rec: RenderRecord, by: Member): Promise<Job> {
    rec.job = { ...rec.job, state: 'cancelled', position: 0, cancelledBy: { id: by.id, name: by.name, role: by.role } };
    await this.deps.events.save(rec);
    const { system } = this.deps;
    await system.cancel('inference', planKey(rec.job.id));
    for (const c of rec.params.render?.chunks ?? []) await system.cancel('inference', chunkKey(rec.job.id, c.index));
    await system.cancel('media', finalizeKey(rec.job.id));
    await this.deps.renders.clear(rec.job.id);
    return { ...rec.job };
  }

  /** The frames done so far of the room's running renders, for a member who joins mid-render. */
  async replayFrames(roomId: string, send: (f: RenderedFrame) => void): Promise<void> {
    for (const rec of (await this.deps.jobs.listForRoom(roomId)) as unknown as RenderRecord[]) {
      if (rec.job.scope !== 'shot' || rec.job.state !== 'running' || !rec.params.render) continue;
      const { preview } = rec.params.render;
      for (const f of await this.deps.renders.frames(rec.job.id)) send({ jobId: rec.job.id, frame: f.frame, preview: f.preview, ...preview });
    }
  }

  // -------------------------------------------------------------------------------------------
  // The plan: estimate once for the shot, cut into chunks, queue them

  /** The render's stored record, while it waits or runs. */
  private async record(jobId: string): Promise<RenderRecord | undefined> {
    const rec = (await this.deps.jobs.get(jobId)) as RenderRecord | undefined;
    return rec && (rec.job.state === 'queued' || rec.job.state === 'running') ? rec : undefined;
  }

  private async plan(jobId: string, signal: AbortSignal): Promise<Outcome> {
    const rec = await this.record(jobId);
    if (!rec) return skipped('the render was cancelled or has finished');
    const { versions, models } = this.deps;
    await models.load();
    const version = (await versions.get(rec.job.versionId))!;
    if (version.media.type !== 'video') return { status: 'failed', code: ErrorCode.NOT_FIXABLE, message: 'The version has no frames.' };
    try {
      const plan = rec.params.render ?? (await this.makePlan(rec, version, signal));
      rec.params.render = plan;
      rec.job = {
        ...rec.job,
        state: 'running',
        position: 0,
        output: { width: plan.width, height: plan.height },
        render: { framesDone: 0, framesTotal: rec.job.range!.out - rec.job.range!.in + 1, done: [], fps: 0, etaSeconds: null, number: plan.number, ...(plan.tracked ? { tracked: plan.tracked } : {}) },
      };
      await this.deps.events.save(rec);
      // Chunks in run order: priorities grow outward from the frame on screen.
      for (const [k, c] of plan.chunks.entries()) {
        await this.deps.system.add('inference', 'render-chunk', { jobId, chunk: c.index }, { key: chunkKey(jobId, c.index), priority: RENDER_PRIORITY.chunk + rec.params.priority + k });
      }
      this.deps.log.info({ room: rec.roomId, job: jobId, chunks: plan.chunks.length, frames: rec.job.render!.framesTotal, ms: Date.now() - Date.parse(rec.job.createdAt) }, 'shot render planned');
      return done();
    } catch (e) {
      return this.fail(rec, e as Error);
    }
  }

  private async makePlan(rec: RenderRecord, version: Version, signal: AbortSignal): Promise<RenderPlan> {
    const { job } = rec;
    const media = version.media as Extract<Version['media'], { type: 'video' }>;
    const fix = FixCatalogue[job.fix];
    const range = job.range!;
    const params = rec.params.fixParams;
    const model = this.resolveModel(job.fix, params);
    const depth: 8 | 16 = (media.source?.bitDepth ?? 8) > 8 ? 16 : 8;
    const whole = (rec.params.sourceRect.width === media.width && rec.params.sourceRect.height === media.height && !job.region.mask) || fix.task === 'inpaint';
    const area = whole ? null : (await regionAlpha(job.region, rec.params.sourceRect, rec.params.feather, media.width, media.height)).rect;
    const computed: Record<string, unknown> = { range, chunks: 0 };
    let planned: PlannedFix;
    let reference: Provenance['reference'];
    let tracked: [number, number, number, number][] | undefined;
    const proxy = await this.deps.blobs.localPath(media.blob);
    const regionN = job.region;
    const samplesOf = async (frames: number[]) => (await proxySamples(proxy, version, frames)).map((s) => cropSample(s, regionN));
    signal.throwIfAborted();
    switch (fix.task) {
      case 'colour': {
        const keyframes = [...new Set(rec.params.keyframes ?? [])].filter((k) => k >= range.in && k <= range.out).sort((a, b) => a - b);
        const frameOnScreen = async () => this.deps.blobs.localPath(await this.deps.frames.frame(version, job.frame));
        // The eyedropper's neutral pick is on the frame on screen (normalised like a region).
        const ep = params as ExposureParams;
        const patch = job.fix === 'exposure' && ep.whiteBalance === 'neutral' && ep.neutral ? await readRgb(sharp(await frameOnScreen()).extract(neutralBox(ep.neutral, media.width, media.height))) : undefined;
        const estimate = async (frames: number[], regionSamples: Sample[]) => {
          if (job.fix === 'exposure') {
            const p = planExposure(ep, regionSamples, rec.params.sourceRect.width, rec.params.sourceRect.height, patch);
            return { inputs: p.inputs as unknown as Record<string, Float32Array>, computed: p.computed as Record<string, unknown> };
          }
          // Match grade: whole-frame thumbnails of the shot's frames and of the reference, at one pixel scale.
          const mp = params as MatchGradeParams;
          const scale = GRADE_THUMB / Math.max(media.width, media.height);
          const sources = await proxySamples(proxy, version, frames, Math.max(8, Math.round(media.width * scale)));
          const { refThumb, ref } = await this.referenceThumb(rec, mp, scale);
          reference = ref;
          const p = planGrade(sources, [refThumb], mp.method, mp.strength);
          return { inputs: p.inputs as unknown as Record<string, Float32Array>, computed: p.computed as Record<string, unknown> };
        };
        if (keyframes.length === 0) {
          // One transform for the whole range, from frames spread over it: the filmstrip's (nothing to
          // decode), else keyframes of the proxy (only those decoded), else any frames.
          const strip = media.filmstrip && job.fix !== 'match-grade' ? await filmstripSamples(await this.deps.blobs.localPath(media.filmstrip.blob), version, range.in, range.out, SAMPLES) : [];
          const gop = media.proxy?.gop ?? 1;
          const onKeys = (f: number) => Math.floor(f / gop) * gop;
          const picks = spreadFrames(range, SAMPLES).map((f) => (onKeys(f) >= range.in ? onKeys(f) : f));
          const samples = job.fix === 'match-grade' ? [] : strip.length ? strip.map((s) => cropSample(s, regionN)) : await samplesOf(picks);
          // Match grade aligns frames on the reference: the frame on screen and a few more of the range.
          const gradeFrames = [...new Set([job.frame, ...spreadFrames(range, 3)])];
          const e = await estimate(job.fix === 'match-grade' ? gradeFrames : picks, samples);
          planned = { kind: 'tiles', modelId: model!.manifest.id, extra: toArrays(e.inputs) };
          Object.assign(computed, e.computed, { estimatedOn: job.fix === 'match-grade' ? gradeFrames : samples.map((s) => s.frame) });
        } else {
          const inputs: Record<string, number[]>[] = [];
          const perKey: Record<string, unknown>[] = [];
          for (const k of keyframes) {
            const e = await estimate([k], await samplesOf([k]));
            inputs.push(toArrays(e.inputs));
            perKey.push({ frame: k, ...e.computed });
          }
          planned = { kind: 'tiles', modelId: model!.manifest.id, extra: inputs[0], keyed: { frames: keyframes, inputs } };
          Object.assign(computed, { keyframes: perKey });
        }
        break;
      }
      case 'denoise': {
        const dp = params as DenoiseParams;
        let sigma = dp.sigma;
        if (sigma === undefined) {
          // Measured on the frame on screen at full quality (proxies smooth noise away).
          const { rgb, width, height } = await readRgb(sharp(await this.deps.blobs.localPath(await this.deps.frames.frame(version, job.frame))).extract(centre(rec.params.sourceRect, 256)));
          sigma = estimateNoiseSigma(rgb, width, height);
        }
        sigma ??= 0;
        planned = { kind: 'temporal-denoise', modelId: model!.manifest.id, sigma, strength: dp.strength, radius: DENOISE_RADIUS };
        Object.assign(computed, { measuredSigma: +sigma.toFixed(3), temporalRadius: DENOISE_RADIUS });
        break;
      }
      case 'inpaint': {
        // The object moves: its drawn mask is tracked over the range on the proxy (small, 8-bit, fast),
        // and the shifts scaled to source pixels. The room sees the tracked mask before the fill runs.
        const rp = params as RemoveObjectParams;
        const t = await this.trackRange(version, range, [{ frame: job.frame, mask: job.region.mask! }, ...(job.maskKeyframes ?? [])], signal);
        tracked = t.tracked;
        planned = { kind: 'remove', modelId: 'clean-plate', keys: t.keys, track: t.track, grow: rp.grow };
        Object.assign(computed, { method: 'clean-plate', grow: rp.grow, trackedOn: t.trackedOn, trackResidual: t.residual });
        break;
      }
      default:
        planned = { kind: 'tiles', modelId: model!.manifest.id, extra: {} };
    }
    // Chunks of a few seconds of work; the frame on screen alone first, so the room sees it at once.
    const msPerFrame = fix.task === 'upscale' ? 4000 * fix.scale : fix.task === 'denoise' ? 700 : 350;
    const base = chunksOf(range, chunkSize(msPerFrame, media.proxy?.gop ?? 6));
    // Remove object: one chunk, so the plate (built from every frame of the range) is built once.
    const chunks = fix.task === 'inpaint' ? [{ index: 0, first: range.in, last: range.out }] : outwardOrder(splitAt(base, Math.min(range.out, Math.max(range.in, job.frame))), job.frame);
    computed.chunks = chunks.length;
    const pw = media.proxy?.width ?? Math.min(media.width, 1920);
    const ph = media.proxy?.height ?? Math.round((pw * media.height) / media.width / 2) * 2;
    const started = new Date();
    const all = await this.deps.versions.listForRoom(rec.roomId);
    return {
      chunks,
      fix: planned,
      width: media.width * fix.scale,
      height: media.height * fix.scale,
      depth,
      preview: { width: pw, height: ph },
      gop: media.proxy?.gop ?? 6,
      rate: media.source?.rate ?? { num: Math.round(media.fps * 1000), den: 1000 },
      area,
      model: planned.kind === 'remove' ? algorithmModel('clean-plate') : modelInfo(model!),
      computed,
      ...(tracked ? { tracked } : {}),
      ...(reference ? { reference } : {}),
      startedAtMs: started.getTime(),
      startedAt: started.toISOString(),
      number: Math.max(0, ...all.filter((v) => v.shotId === version.shotId).map((v) => v.number)) + 1,
    };
  }

  /**
   * Remove object: the masks drawn on keyframes (the frame on screen's first; a later drawing of a
   * frame wins) tracked over the range on the proxy (small, 8-bit, fast), the shifts scaled to source
   * pixels. Used by a render's plan and by a track-only request (fix:track).
   */
  trackRange(version: Version, range: FrameRange, drawn: MaskKeyframe[], signal?: AbortSignal): ReturnType<ShotRenderService['computeTrack']> {
    // The same masks over the same range of the same media track the same way: the artist's Track
    // (fix:track) then Apply to shot reuses the track on this process rather than tracking twice.
    const key = JSON.stringify([version.id, version.media.type === 'video' ? version.media.blob : null, range, keyframesOf(drawn)]);
    const kept = this.tracks.get(key);
    if (kept) {
      this.deps.log.info({ version: version.id }, 'mask track reused');
      return kept;
    }
    const made = this.computeTrack(version, range, drawn, signal);
    this.tracks.set(key, made);
    made.catch(() => this.tracks.delete(key));
    if (this.tracks.size > TRACKS_KEPT) this.tracks.delete(this.tracks.keys().next().value!);
    return made;
  }

  private async computeTrack(version: Version, range: FrameRange, drawn: MaskKeyframe[], signal?: AbortSignal) {
    const media = version.media as Extract<Version['media'], { type: 'video' }>;
    const frames = Array.from({ length: range.out - range.in + 1 }, (_, i) => range.in + i);
    // The smallest rung of the proxy ladder at least that wide (far less to decode than the full proxy), else the proxy.
    const rung = media.ladder?.find((r) => r.width >= TRACK_WIDTH);
    const started = performance.now();
    const samples = rung
      ? await proxySamples(await this.deps.blobs.localPath(rung.blob), version, frames, TRACK_WIDTH, rung.gop)
      : await proxySamples(await this.deps.blobs.localPath(media.blob), version, frames, Math.min(TRACK_WIDTH, media.width));
    const decodedMs = performance.now() - started;
    signal?.throwIfAborted();
    const { width: tw, height: th } = samples[0];
    const keys = keyframesOf(drawn);
    const rasters = await Promise.all(keys.map(async (k) => ({ index: k.frame - range.in, mask: await polygonCoverage(k.mask, tw, th) })));
    const track = trackMasks(samples.map((s) => trackPyramid(greyOf(s.rgb, tw, th))), rasters);
    const toSource = track.map((t) => t.parts.map((p) => ({ ...p, dx: (p.dx * media.width) / tw, dy: (p.dy * media.height) / th })));
    const tracked = toSource.map((parts, i): [number, number, number, number] => {
      const main = parts.reduce((a, b) => (b.weight > a.weight ? b : a));
      return [range.in + i, keys[main.key].frame, +(main.dx / media.width).toFixed(5), +(main.dy / media.height).toFixed(5)];
    });
    this.deps.log.info({ version: version.id, frames: frames.length, from: rung?.name ?? 'proxy', decodeMs: Math.round(decodedMs), trackMs: Math.round(performance.now() - started - decodedMs) }, 'mask tracked over the range');
    return { keys, track: toSource, tracked, trackedOn: { width: tw, height: th, from: rung?.name ?? 'proxy' }, residual: +Math.max(...track.map((t) => t.residual)).toFixed(2) };
  }

  private async referenceThumb(rec: RenderRecord, mp: MatchGradeParams, scale: number) {
    const ref = await referenceOf(this.deps.versions, rec.roomId, mp);
    const refSha = ref.media.type === 'video' ? await this.deps.frames.frame(ref, mp.referenceFrame) : ref.media.blob;
    const refPath = await this.deps.blobs.localPath(refSha);
    const meta = await sharp(refPath).metadata();
    const refThumb = await readRgb(sharp(refPath).resize(Math.max(8, Math.round(meta.width! * scale)), Math.max(8, Math.round(meta.height! * scale)), { fit: 'fill' }));
    return { refThumb, ref: { versionId: ref.id, frame: ref.media.type === 'video' ? mp.referenceFrame : ref.media.frame, sha256: refSha } };
  }

  /** A shot's remove object runs the clean plate (an algorithm of the worker, no model file); the rest as a still's fix. */
  private resolveModel(fixId: Job['fix'], params: Record<string, unknown>): RegisteredModel | null {
    return FixCatalogue[fixId].task === 'inpaint' ? null : resolveModel(this.deps.models, fixId, params);
  }

  // -------------------------------------------------------------------------------------------
  // A chunk: decode once, fix, store each frame, tell the room

  private async chunk(jobId: string, index: number, signal: AbortSignal): Promise<Outcome> {
    const rec = await this.record(jobId);
    if (!rec || rec.job.state !== 'running' || !rec.params.render) return skipped('the render was cancelled or has finished');
    const plan = rec.params.render;
    const c = plan.chunks.find((x) => x.index === index)!;
    const { versions, frames, renders, blobs, rooms, inference, models } = this.deps;
    const version = (await versions.get(rec.job.versionId))!;
    const media = version.media as Extract<Version['media'], { type: 'video' }>;
    const stored = new Map((await renders.frames(jobId, c.first, c.last)).map((f) => [f.frame, f]));
    const dir = path.join(this.deps.dataDir, 'tmp', `render-${jobId}-${index}-${crypto.randomBytes(4).toString('hex')}`);
    await fs.promises.mkdir(dir, { recursive: true });
    const timer = setTimeout(() => void inference.stop(jobId, 'timeout'), this.deps.chunkTimeoutMs);
    const onAbort = () => void inference.stop(jobId, 'cancelled');
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await models.load();
      const model = plan.fix.kind === 'remove' ? null : models.get(plan.fix.modelId);
      if (!model && plan.fix.kind !== 'remove') return { status: 'failed', code: ErrorCode.MODEL_UNAVAILABLE, message: `Model ${plan.fix.modelId} is not installed on this worker.` };
      const radius = plan.fix.kind === 'temporal-denoise' ? plan.fix.radius : 0;
      // Remove object reads the whole range: the plate is made of every frame of it.
      const range = rec.job.range!;
      const lo = plan.fix.kind === 'remove' ? range.in : Math.max(0, c.first - radius);
      const hi = plan.fix.kind === 'remove' ? range.out : Math.min(media.frameCount - 1, c.last + radius);
      const region = plan.area ? await regionAlpha(rec.job.region, rec.params.sourceRect, rec.params.feather, media.width, media.height) : null;
      const req: ChunkRun = {
        kind: 'chunk',
        feeds: await frames.feeds(version, lo, hi),
        width: media.width,
        height: media.height,
        depth: plan.fix.kind === 'remove' ? 8 : plan.depth,
        frames: await Promise.all(Array.from({ length: c.last - c.first + 1 }, async (_, i) => {
          const f = c.first + i;
          const s = stored.get(f);
          return s ? { frame: f, reuse: await blobs.localPath(s.sha256) } : { frame: f };
        })),
        fix:
          plan.fix.kind === 'remove'
            ? {
                kind: 'remove',
                first: range.in,
                keys: await Promise.all(plan.fix.keys.map(async (k) => ({ index: k.frame - range.in, mask: await polygonCoverage(k.mask, media.width, media.height) }))),
                track: plan.fix.track,
                grow: plan.fix.grow,
                focus: Math.min(range.out, Math.max(range.in, rec.job.frame)),
              }
            : chunkFix(plan.fix, model!, media.width, media.height),
        region,
        out: { dir, preview: plan.preview, segment: { gop: plan.gop, rate: plan.rate } },
      };
      signal.throwIfAborted();
      const landed: Promise<void>[] = [];
      // The frame on screen, when it comes first (remove object sends it ahead), is in the room before the others.
      let onScreen: Promise<void> | null = null;
      const result = await inference.chunk(jobId, req, (f) => {
        if (f.frame === rec.job.frame && !landed.length) landed.push((onScreen = this.landFrame(rec, f.frame, f.png, f.preview)));
        else landed.push((onScreen ?? Promise.resolve()).then(() => this.landFrame(rec, f.frame, f.png, f.preview)));
      });
      await Promise.all(landed);
      const segment = await blobs.putFile(result.segment);
      await rooms.grantBlob(rec.roomId, segment);
      await renders.putChunk(jobId, index, segment);
      this.deps.log.info({ room: rec.roomId, job: jobId, chunk: index, frames: `${c.first}-${c.last}`, reused: stored.size }, 'render chunk done');
      if ((await renders.chunks(jobId)).length === plan.chunks.length) {
        await this.deps.system.add('media', 'render-finalize', { jobId }, { key: finalizeKey(jobId), priority: 0 });
      }
      return done();
    } catch (e) {
      if (signal.aborted) return skipped('cancelled');
      const err = e as Error;
      if (err instanceof RunStopped) {
        return this.fail(rec, new LoupeError(ErrorCode.FIX_TIMEOUT, `A chunk of the render ran past its ${Math.round(this.deps.chunkTimeoutMs / 1000)} s limit; no version was made.`));
      }
      // A crash of the inference worker: the chunk runs again (its stored frames are kept); a bad request does not.
      if (/inference worker stopped/.test(err.message)) return { status: 'failed', code: ErrorCode.FIX_FAILED, message: err.message, retry: true };
      return this.fail(rec, err);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      await fs.promises.rm(dir, { recursive: true, force: true });
    }
  }

  /** A frame the worker wrote: into the blob store and the render's frames (once), and out to the room. */
  private async landFrame(rec: RenderRecord, frame: number, pngPath: string, previewPath: string): Promise<void> {
    const { blobs, renders, rooms } = this.deps;
    const [sha256, preview] = await Promise.all([blobs.putFile(pngPath), blobs.putFile(previewPath)]);
    await rooms.grantBlob(rec.roomId, sha256);
    await rooms.grantBlob(rec.roomId, preview);
    if (!(await renders.putFrame(rec.job.id, { frame, sha256, preview }))) return; // stored by an earlier run
    const plan = rec.params.render!;
    this.deps.events.frame(rec.roomId, { jobId: rec.job.id, frame, preview, ...plan.preview });
    if (frame === rec.job.frame) this.deps.log.info({ room: rec.roomId, job: rec.job.id, frame, ms: Date.now() - Date.parse(rec.job.createdAt) }, 'render: the frame on screen is in the room');
    await this.progress(rec);
  }

  private async progress(rec: RenderRecord, force = false): Promise<void> {
    const now = performance.now();
    if (!force && now - (this.lastSave.get(rec.job.id) ?? 0) < PROGRESS_EVERY_MS) return;
    this.lastSave.set(rec.job.id, now);
    const current = await this.record(rec.job.id);
    if (!current || current.job.state !== 'running') return; // cancelled meanwhile: do not bring it back
    const stored = await this.deps.renders.frames(rec.job.id);
    const total = rec.job.range!.out - rec.job.range!.in + 1;
    const rate = renderRate(stored.length, total, rec.params.render!.startedAtMs, Date.now());
    current.job = {
      ...current.job,
      progress: stored.length / total,
      render: { ...current.job.render!, framesDone: stored.length, framesTotal: total, done: runsOf(stored.map((f) => f.frame)), ...rate },
    };
    rec.job = current.job;
    await this.deps.events.save(current);
    if (stored.length === total || Math.floor((4 * stored.length) / total) > Math.floor((4 * (stored.length - 1)) / total)) {
      this.deps.log.info({ room: rec.roomId, job: rec.job.id, frames: `${stored.length}/${total}`, fps: rate.fps }, `shot render ${Math.round((100 * stored.length) / total)}%`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Finalize: the version's proxy from the chunks' segments, the version itself, once

  private async finalize(jobId: string): Promise<Outcome> {
    const rec = await this.record(jobId);
    if (!rec || rec.job.state !== 'running' || !rec.params.render) return skipped('the render was cancelled or has finished');
    const existing = await this.deps.versions.byJob(jobId);
    if (existing) return skipped('the version exists already');
    const plan = rec.params.render;
    const { versions, renders, blobs, rooms } = this.deps;
    const range = rec.job.range!;
    const stored = await renders.frames(jobId);
    if (stored.length !== range.out - range.in + 1) return { status: 'failed', code: ErrorCode.FIX_FAILED, message: `Only ${stored.length} of ${range.out - range.in + 1} frames are stored.`, retry: true };
    const version = (await versions.get(rec.job.versionId))!;
    const media = version.media as Extract<Version['media'], { type: 'video' }>;
    const dir = path.join(this.deps.dataDir, 'tmp', `render-${jobId}-final-${crypto.randomBytes(4).toString('hex')}`);
    await fs.promises.mkdir(dir, { recursive: true });
    try {
      const segments = (await renders.chunks(jobId)).map((c) => ({ ...c, first: plan.chunks.find((x) => x.index === c.chunk)!.first })).sort((a, b) => a.first - b.first);
      const parts: string[] = [];
      // Frames before and after the range: the parent's proxy, re-encoded to join the segments.
      const parentProxy = await blobs.localPath(media.blob);
      const rateArg = `${plan.rate.num}/${plan.rate.den}`;
      const cut = async (name: string, from: number, to: number) => {
        const out = path.join(dir, name);
        await runFfmpeg([
          '-i', parentProxy, '-vf', `select=between(n\\,${from}\\,${to}),setpts=N/(${rateArg})/TB,scale=${plan.preview.width}:${plan.preview.height}`,
          '-fps_mode', 'passthrough', '-r', rateArg, ...x264Args(plan.gop), '-an', '-y', out,
        ]);
        return out;
      };
      if (range.in > 0) parts.push(await cut('before.mp4', 0, range.in - 1));
      parts.push(...(await localPaths(blobs, segments.map((s) => s.segment))));
      if (range.out < media.frameCount - 1) parts.push(await cut('after.mp4', range.out + 1, media.frameCount - 1));
      const list = path.join(dir, 'parts.txt');
      await fs.promises.writeFile(list, parts.map((p) => `file '${p.replace(/'/g, "'\\''")}'`).join('\n'));
      const proxyPath = path.join(dir, 'proxy.mp4');
      // The sound is the parent's, as it was.
      await runFfmpeg([
        '-f', 'concat', '-safe', '0', '-i', list, '-i', parentProxy, '-map', '0:v:0', '-map', '1:a:0?', '-c:a', 'copy',
        '-c:v', 'copy', '-movflags', '+faststart', '-y', proxyPath,
      ]);
      const frames = await countFrames(proxyPath);
      if (frames !== media.frameCount) return { status: 'failed', code: ErrorCode.FIX_FAILED, message: `The render's proxy has ${frames} frames, not ${media.frameCount}.` };
      const thumbs = await thumbnails(proxyPath, { frames, rate: plan.rate, gop: plan.gop, width: plan.preview.width, height: plan.preview.height }, dir);
      // The proxy ladder, as an upload gets (docs/media.md): a member on a slow link plays the render at 360p.
      const rungs = await ladderRungs(proxyPath, plan.preview, dir, () => {});
      const proxyBitrate = Math.round(((await fs.promises.stat(proxyPath)).size * 8 * media.fps) / frames);
      const manifest = { format: 'png' as const, firstFrame: range.in, lastFrame: range.out, bitDepth: plan.depth, frames: stored.map((f) => ({ frame: f.frame, sha256: f.sha256 })) };
      const finishedAt = new Date().toISOString();
      const provenance: Provenance = {
        // "AI" means a learned model made the pixels; an algorithm's render says so instead.
        aiMade: plan.model.kind !== 'algorithm',
        jobId,
        fix: rec.job.fix,
        params: rec.params.fixParams,
        computed: { ...plan.computed, feather: rec.params.feather, bitDepth: plan.depth, frames: stored.length },
        scope: 'shot',
        range,
        model: plan.model,
        provider: await this.providerOf(plan.fix.modelId),
        sourceVersionId: version.id,
        source: { versionId: version.id, mediaSha256: media.blob },
        ...(plan.reference ? { reference: plan.reference } : {}),
        frame: rec.job.frame,
        region: rec.job.region,
        sourceRect: rec.params.sourceRect,
        requestedBy: rec.job.requestedBy,
        requestedAt: rec.job.createdAt,
        startedAt: plan.startedAt,
        finishedAt,
        tiles: stored.length,
        output: { width: plan.width, height: plan.height, sha256: '' },
      };
      const [proxySha, manifestSha, posterSha, stripSha] = await Promise.all([
        blobs.putFile(proxyPath),
        blobs.put(Buffer.from(JSON.stringify(manifest))),
        blobs.putFile(thumbs.poster),
        blobs.putFile(thumbs.strip),
      ]);
      provenance.output.sha256 = manifestSha;
      const sidecarSha = await blobs.put(Buffer.from(JSON.stringify(provenance, null, 2)));
      provenance.sidecarSha256 = sidecarSha;
      const ladder = await storeLadder(rungs, (file) => blobs.putFile(file));
      for (const sha of [proxySha, manifestSha, posterSha, stripSha, sidecarSha, ...(ladder ?? []).map((r) => r.blob)]) await rooms.grantBlob(rec.roomId, sha);
      const fix = FixCatalogue[rec.job.fix];
      const created = await versions.insert(
        rec.roomId,
        {
          id: shortId(),
          shotId: version.shotId,
          label: `${fix.label}, frames ${range.in}-${range.out}`,
          kind: 'ai',
          status: 'pending',
          parentVersionId: version.id,
          media: {
            type: 'video',
            blob: proxySha,
            width: plan.width,
            height: plan.height,
            fps: media.fps,
            frameCount: media.frameCount,
            proxy: { width: plan.preview.width, height: plan.preview.height, gop: plan.gop, bitrate: proxyBitrate },
            ...(ladder ? { ladder } : {}),
            source: {
              ...(media.source ?? sourceOfDemo(media)),
              kind: 'render',
              name: `${fix.label} of ${media.source?.name ?? 'the shot'}`,
              manifest: manifestSha,
              parentVersionId: version.id,
              range,
              codec: 'png',
              pixFmt: plan.depth === 16 ? 'rgb48be' : 'rgb24',
              bitDepth: plan.depth === 16 ? 16 : 8,
              blob: undefined,
              frameLookup: undefined,
            },
            thumbnail: posterSha,
            filmstrip: { blob: stripSha, frames: thumbs.stripFrames, tileWidth: thumbs.tileWidth, tileHeight: thumbs.tileHeight, columns: thumbs.stripFrames.length },
          },
          createdBy: { id: rec.job.requestedBy.id, name: rec.job.requestedBy.name },
          createdAt: finishedAt,
          provenance,
        },
        jobId,
      );
      await this.progress(rec, true);
      const after = (await this.record(jobId)) ?? rec;
      after.job = { ...after.job, state: 'done', progress: 1, resultVersionId: created.id };
      await this.deps.events.save(after);
      this.deps.events.versionCreated(rec.roomId, created);
      this.deps.log.info({ room: rec.roomId, job: jobId, version: created.id, frames: stored.length, s: (Date.now() - plan.startedAtMs) / 1000 }, 'shot render done');
      return done();
    } finally {
      await fs.promises.rm(dir, { recursive: true, force: true });
    }
  }

  private async providerOf(modelId: string): Promise<string> {
    if (modelId === 'clean-plate') return 'js';
    const m = this.deps.models.get(modelId);
    return m ? (await this.deps.inference.inspect(m.path).catch(() => ({ provider: 'cpu' }))).provider : 'cpu';
  }

  private async fail(rec: RenderRecord, e: Error): Promise<Outcome> {
    const code = e instanceof LoupeError ? e.code : ErrorCode.FIX_FAILED;
    this.deps.log.error({ room: rec.roomId, job: rec.job.id, err: e.message }, 'shot render failed');
    const current = (await this.record(rec.job.id)) ?? rec;
    if (current.job.state === 'cancelled') return skipped('cancelled');
    current.job = { ...current.job, state: 'failed', position: 0, error: { code, message: e.message } };
    await this.deps.events.save(current);
    for (const c of rec.params.render?.chunks ?? []) await this.deps.system.remove('inference', chunkKey(rec.job.id, c.index));
    await this.deps.renders.clear(rec.job.id);
    return { status: 'failed', code, message: e.message };
  }
}

/** Splits the chunk holding `frame` so that the frame is a chunk of its own (the room sees it first). */
export function splitAt(chunks: Chunk[], frame: number): Chunk[] {
  const out: Chunk[] = [];
  for (const c of chunks) {
    if (frame < c.first || frame > c.last || c.first === c.last) {
      out.push(c);
      continue;
    }
    if (frame > c.first) out.push({ index: 0, first: c.first, last: frame - 1 });
    out.push({ index: 0, first: frame, last: frame });
    if (frame < c.last) out.push({ index: 0, first: frame + 1, last: c.last });
  }
  return out.map((c, i) => ({ ...c, index: i }));
}

function centre(r: PixelRect, side: number): { left: number; top: number; width: number; height: number } {
  const w = Math.min(side, r.width);
  const h = Math.min(side, r.height);
  return { left: r.x + ((r.width - w) >> 1), top: r.y + ((r.height - h) >> 1), width: w, height: h };
}

function modelInfo(m: RegisteredModel): Provenance['model'] {
  return {
    id: m.manifest.id,
    name: m.manifest.name,
    version: m.manifest.version,
    sha256: m.sha256,
    licence: m.manifest.licence,
    // A studio's model that does not say is a network.
    kind: m.manifest.kind ?? 'learned',
    technique: m.manifest.technique ?? m.manifest.name,
  };
}

function chunkFix(p: Exclude<PlannedFix, { kind: 'remove' }>, model: RegisteredModel, width: number, height: number): ChunkFix {
  const tensors = (a: Record<string, number[]>) => Object.fromEntries(Object.entries(a).map(([k, v]) => [k, Float32Array.from(v)]));
  const template = (extra: Record<string, Float32Array>): TileTemplate => {
    const { kind: _k, rgb: _r, source: _s, width: _w, height: _h, result: _res, ...run } = tileRunFor(model, { width, height }, extra);
    return run;
  };
  if (p.kind === 'temporal-denoise') {
    const sigmaInput = model.manifest.extraInputs.find((e) => e.name === 'sigma')?.name ?? 'sigma';
    return { kind: 'temporal-denoise', run: template({ sigma: Float32Array.of(p.sigma) }), sigma: p.sigma, strength: p.strength, radius: p.radius, sigmaInput };
  }
  const run = template(tensors(p.extra));
  if (!p.keyed) return { kind: 'tiles', run };
  const dims = (name: string) => model.manifest.extraInputs.find((e) => e.name === name)?.dims ?? [];
  const inputs = p.keyed.inputs.map((set) => Object.fromEntries(Object.entries(set).map(([k, v]) => [k, { dims: dims(k), data: Float32Array.from(v) } satisfies TensorData])));
  return { kind: 'tiles', run, keyed: { frames: p.keyed.frames, inputs } };
}

/** A version with no source record (the demo): what its render's source record starts from. */
function sourceOfDemo(media: { fps: number; frameCount: number }): NonNullable<Extract<Version['media'], { type: 'video' }>['source']> {
  return {
    kind: 'render',
    name: 'demo',
    codec: 'h264',
    pixFmt: 'yuv420p',
    bitDepth: 8,
    colour: { primaries: null, transfer: null, matrix: null, range: null },
    rate: { num: Math.round(media.fps * 1000), den: 1000 },
    durationS: media.frameCount / media.fps,
    startTimecode: '00:00:00:00',
    dropFrame: false,
    sceneLinear: false,
    viewTransform: null,
    sizeBytes: 0,
  };
}

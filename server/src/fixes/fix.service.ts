import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import sharp, { type Sharp } from 'sharp';
import {
  ErrorCode,
  FixCatalogue,
  FixParams,
  Limits,
  LoupeError,
  PROVENANCE_PNG_KEYWORD,
  can,
  type DenoiseParams,
  type ExposureParams,
  type FixId,
  type FixRequest,
  type Job,
  type MatchGradeParams,
  type Member,
  type Provenance,
  type Region,
  type RemoveObjectParams,
  type Tile,
  type Version,
} from '@loupe/shared';
import type { Logger } from '../log.js';
import type { BlobRepository } from '../store/blob.repository.js';
import type { JobRecord, JobRepository } from '../store/job.repository.js';
import type { RoomRepository } from '../store/room.repository.js';
import type { VersionRepository } from '../store/version.repository.js';
import type { FrameService } from '../media/frame.service.js';
import { RunStopped, type InferenceService } from '../inference/inference.service.js';
import type { ModelRegistry, RegisteredModel } from '../inference/model.registry.js';
import type { InferenceRun, InpaintModel, TileRun } from '../inference/messages.js';
import { holeThickness } from '../inference/inpaint/diffuse.js';
import { shortId } from '../rooms/room.service.js';
import { maskAlpha, sourceRect, type PixelRect } from './region.js';
import { estimateNoiseSigma, planExposure, planGrade } from './colour.js';
import { addPngText } from './png-text.js';

export interface FixEvents {
  job(roomId: string, job: Job): void;
  tile(roomId: string, tile: Tile): void;
  versionCreated(roomId: string, v: Version): void;
}

export interface FixLimits {
  /** A running job is stopped after this long (ms). */
  timeoutMs: number;
}

interface StoredRecord extends JobRecord {
  params: { fixParams: Record<string, unknown>; sourceRect: PixelRect; priority?: number; seq?: number };
}

/** The algorithms the worker runs in JS, named like models in the provenance (sha256 of their source). */
const ALGORITHMS: Record<string, { name: string; file: URL }> = {
  patchmatch: { name: 'Multi-scale PatchMatch fill (Loupe)', file: new URL('../inference/inpaint/patchmatch.ts', import.meta.url) },
  diffuse: { name: 'Diffusion fill for thin masks (Loupe)', file: new URL('../inference/inpaint/diffuse.ts', import.meta.url) },
};
const algorithmSha = new Map<string, string>();
function algorithmModel(id: string): Provenance['model'] {
  let sha = algorithmSha.get(id);
  if (!sha) algorithmSha.set(id, (sha = crypto.createHash('sha256').update(readFileSync(ALGORITHMS[id].file)).digest('hex')));
  return { id, name: ALGORITHMS[id].name, version: '1', sha256: sha, licence: 'Loupe project code' };
}

const PRIORITY = { director: 0, other: 1 };
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
}

/**
 * The fix pipeline: validate and queue a request, run it on the inference worker, stream each tile
 * to the room, and turn the result into exactly one new version with its provenance.
 * Queue order: directors' jobs first, then first come first served. Limits per room and per member.
 */
export class FixService {
  private queue: StoredRecord[] = [];
  private running: (StoredRecord & { stop?: { reason: 'cancelled' | 'timeout'; by?: Member } }) | null = null;
  /** Tiles of the running job, for members who join mid-job. */
  private tiles = new Map<string, Tile[]>();
  private stopping = false;
  private seq = 0;

  constructor(
    private readonly deps: {
      jobs: JobRepository;
      versions: VersionRepository;
      rooms: RoomRepository;
      blobs: BlobRepository;
      frames: FrameService;
      inference: InferenceService;
      models: ModelRegistry;
      events: FixEvents;
      log: Logger;
      limits?: Partial<FixLimits>;
    },
  ) {}

  private get timeoutMs() {
    return this.deps.limits?.timeoutMs ?? 10 * 60_000;
  }

  async request(member: Member, req: FixRequest): Promise<Job> {
    if (!can(member.role, 'requestFix')) {
      throw new LoupeError(ErrorCode.FORBIDDEN_ROLE, `A ${member.role} cannot ask for fixes; artists and directors can.`);
    }
    const existing = this.deps.jobs.byIdempotencyKey(req.room, req.idempotencyKey);
    if (existing) return existing.job;
    const version = this.deps.versions.get(req.versionId);
    if (!version || this.deps.versions.roomOf(version.id) !== req.room) {
      throw new LoupeError(ErrorCode.VERSION_NOT_FOUND, `No version ${req.versionId} in this room.`);
    }
    if (version.media.type !== 'video') {
      throw new LoupeError(ErrorCode.NOT_FIXABLE, "Fixes run on a shot's source frames; pick the source version.");
    }
    if (req.frame >= version.media.frameCount) {
      throw new LoupeError(ErrorCode.FRAME_OUT_OF_RANGE, `Frame ${req.frame} is past the last frame (${version.media.frameCount - 1}).`);
    }
    const rect = sourceRect(req.region, version.media.width, version.media.height);
    const fix = FixCatalogue[req.fix];
    const parsedParams = FixParams[req.fix].safeParse(req.params ?? {});
    if (!parsedParams.success) {
      const issue = parsedParams.error.issues[0];
      throw new LoupeError(ErrorCode.BAD_REQUEST, `Bad parameters for ${req.fix}: ${issue?.path.join('.') || 'params'}: ${issue?.message}`);
    }
    const params = parsedParams.data as Record<string, unknown>;
    if (fix.needsMask && !req.region.mask) throw new LoupeError(ErrorCode.MASK_REQUIRED, `${fix.label} works on a drawn mask: draw around what to change.`);
    await this.deps.models.load();
    this.resolveModel(req.fix, params); // refuses now rather than after queueing
    if (req.fix === 'match-grade') this.referenceOf(req.room, params as MatchGradeParams);

    const roomJobs = this.queue.filter((r) => r.roomId === req.room).length + (this.running?.roomId === req.room ? 1 : 0);
    if (roomJobs >= Limits.maxQueuedJobsPerRoom) {
      throw new LoupeError(ErrorCode.QUEUE_FULL, `This room already has ${roomJobs} fixes waiting; try again when one finishes.`);
    }
    const mine = [...this.queue, ...(this.running ? [this.running] : [])].filter((r) => r.roomId === req.room && r.job.requestedBy.id === member.id).length;
    if (mine >= Limits.maxQueuedJobsPerUser) {
      throw new LoupeError(ErrorCode.QUEUE_FULL, `You already have ${mine} fixes waiting in this room (at most ${Limits.maxQueuedJobsPerUser}); cancel one or wait.`);
    }
    const job: Job = {
      id: shortId(),
      fix: req.fix,
      versionId: version.id,
      frame: req.frame,
      region: req.region,
      state: 'queued',
      position: 0,
      progress: 0,
      tilesDone: 0,
      tilesTotal: 0,
      output: null,
      requestedBy: { id: member.id, name: member.name, role: member.role },
      createdAt: new Date().toISOString(),
      resultVersionId: null,
      error: null,
    };
    const priority = member.role === 'director' ? PRIORITY.director : PRIORITY.other;
    const rec: StoredRecord = { job, roomId: req.room, params: { fixParams: params, sourceRect: rect, priority, seq: this.seq++ } };
    this.deps.jobs.insert(rec, req.idempotencyKey);
    this.enqueue(rec);
    this.deps.log.info({ room: req.room, job: job.id, user: member.id, fix: job.fix, frame: job.frame, position: rec.job.position }, 'fix queued');
    queueMicrotask(() => this.pump());
    return { ...rec.job };
  }

  /** Cancels a queued or running job: its requester or a director of the room. */
  async cancel(member: Member, roomId: string, jobId: string): Promise<Job> {
    const queued = this.queue.find((r) => r.job.id === jobId && r.roomId === roomId);
    const running = this.running?.job.id === jobId && this.running.roomId === roomId ? this.running : null;
    const rec = queued ?? running;
    if (!rec) {
      const stored = this.deps.jobs.listForRoom(roomId).find((r) => r.job.id === jobId);
      if (!stored) throw new LoupeError(ErrorCode.JOB_NOT_FOUND, `No job ${jobId} in this room.`);
      throw new LoupeError(ErrorCode.JOB_FINISHED, `Job ${jobId} is already ${stored.job.state}.`);
    }
    if (rec.job.requestedBy.id !== member.id && member.role !== 'director') {
      throw new LoupeError(ErrorCode.FORBIDDEN_ROLE, 'Only who asked for a fix, or a director, can cancel it.');
    }
    if (queued) {
      this.queue = this.queue.filter((r) => r !== queued);
      this.finish(queued, 'cancelled', member);
      this.renumber();
      return { ...queued.job };
    }
    const r = running!;
    r.stop = { reason: 'cancelled', by: member };
    // Stops the worker if the job is in it; otherwise the job sees `stop` at its next step.
    await this.deps.inference.stop(jobId, 'cancelled');
    return { ...r.job, state: 'cancelled' };
  }

  jobsForRoom(roomId: string): Job[] {
    return this.deps.jobs.listForRoom(roomId).map((r) => r.job);
  }

  /** The fixes and models this server offers now. */
  async available() {
    await this.deps.models.load();
    return this.deps.models.available();
  }

  replayTiles(roomId: string, send: (t: Tile) => void): void {
    if (this.running?.roomId !== roomId) return;
    for (const t of this.tiles.get(this.running.job.id) ?? []) send(t);
  }

  /** Re-queues the jobs a stopped process left queued or running. Their versions are still made once. */
  resumeUnfinished(): void {
    for (const rec of this.deps.jobs.unfinished() as StoredRecord[]) {
      rec.job = { ...rec.job, state: 'queued', progress: 0, tilesDone: 0 };
      rec.params.seq ??= this.seq;
      this.seq = Math.max(this.seq, rec.params.seq + 1);
      this.enqueue(rec, false);
    }
    if (this.queue.length) {
      this.deps.log.info({ jobs: this.queue.length }, 'resuming unfinished fixes');
      this.renumber();
      queueMicrotask(() => this.pump());
    }
  }

  /**
   * Stops taking jobs. A job cut short stays 'running' in the database and is run again, from the
   * start, by the next process: it still makes exactly one version.
   */
  shutdown(): void {
    this.stopping = true;
    this.queue = [];
  }

  get idle(): boolean {
    return !this.running && this.queue.length === 0;
  }

  /** Directors' jobs go before everyone else's; within a priority, first come first served. */
  private enqueue(rec: StoredRecord, renumber = true) {
    const key = (r: StoredRecord) => [r.params.priority ?? PRIORITY.other, r.params.seq ?? 0];
    const [p, s] = key(rec);
    const at = this.queue.findIndex((r) => {
      const [rp, rs] = key(r);
      return rp > p || (rp === p && rs > s);
    });
    if (at < 0) this.queue.push(rec);
    else this.queue.splice(at, 0, rec);
    if (renumber) this.renumber();
  }

  private renumber() {
    this.queue.forEach((rec, i) => {
      if (rec.job.position !== i + 1 || rec.job.state !== 'queued') {
        rec.job = { ...rec.job, state: 'queued', position: i + 1 };
        this.save(rec);
      }
    });
  }

  private save(rec: StoredRecord) {
    if (this.stopping) return;
    this.deps.jobs.update(rec);
    this.deps.events.job(rec.roomId, { ...rec.job });
  }

  private finish(rec: StoredRecord, state: 'cancelled' | 'failed', by?: Member, error?: { code: string; message: string }) {
    rec.job = {
      ...rec.job,
      state,
      position: 0,
      error: error ?? null,
      ...(by ? { cancelledBy: { id: by.id, name: by.name, role: by.role } } : {}),
    };
    this.save(rec);
  }

  private pump() {
    if (this.stopping || this.running || this.queue.length === 0) return;
    const rec = this.queue.shift()!;
    this.running = rec;
    this.renumber();
    const timer = setTimeout(() => {
      if (this.running !== rec) return;
      this.running.stop = { reason: 'timeout' };
      void this.deps.inference.stop(rec.job.id, 'timeout');
    }, this.timeoutMs);
    this.execute(rec)
      .catch((e: Error) => {
        const stop = this.running === rec ? this.running.stop : undefined;
        if (this.stopping && !stop) return; // shutting down: the next process runs it again
        if (stop?.reason === 'cancelled' || (e instanceof RunStopped && e.reason === 'cancelled')) {
          this.deps.log.info({ room: rec.roomId, job: rec.job.id, by: stop?.by?.id }, 'fix cancelled');
          this.finish(rec, 'cancelled', stop?.by);
        } else if (stop?.reason === 'timeout' || (e instanceof RunStopped && e.reason === 'timeout')) {
          const message = `The fix ran past its ${Math.round(this.timeoutMs / 1000)} s limit and was stopped; no version was made.`;
          this.deps.log.warn({ room: rec.roomId, job: rec.job.id }, 'fix timed out');
          this.finish(rec, 'failed', undefined, { code: ErrorCode.FIX_TIMEOUT, message });
        } else {
          this.deps.log.error({ room: rec.roomId, job: rec.job.id, err: e.message }, 'fix failed');
          const code = e instanceof LoupeError ? e.code : ErrorCode.FIX_FAILED;
          this.finish(rec, 'failed', undefined, { code, message: e.message });
        }
      })
      .finally(() => {
        clearTimeout(timer);
        this.tiles.delete(rec.job.id);
        this.running = null;
        this.pump();
      });
  }

  /** Throws if the job was cancelled or timed out while it was outside the worker. */
  private checkStopped(rec: StoredRecord) {
    const stop = this.running === rec ? this.running.stop : undefined;
    if (stop) throw new RunStopped(stop.reason);
  }

  private resolveModel(fixId: FixId, params: Record<string, unknown>): RegisteredModel | null {
    const fix = FixCatalogue[fixId];
    const { models } = this.deps;
    if (fix.task === 'inpaint') {
      const p = params as RemoveObjectParams;
      if (p.method === 'patchmatch' || p.method === 'diffuse') return null;
      const installed = models.byTask('inpaint');
      const chosen = p.model ? installed.find((m) => m.manifest.id === p.model) : installed[0];
      if (p.method === 'model' && !chosen) {
        throw new LoupeError(ErrorCode.MODEL_UNAVAILABLE, p.model ? `No inpainting model ${p.model} is installed.` : 'No inpainting model is installed; use PatchMatch.');
      }
      return chosen ?? null;
    }
    const id = (params.model as string | undefined) ?? fix.model;
    const model = models.get(id);
    if (!model) {
      const why = models.refused.get(id);
      throw new LoupeError(ErrorCode.MODEL_UNAVAILABLE, why ? `Model ${id} was refused at start: ${why}` : `Model ${id} is not installed.`);
    }
    if (model.manifest.task !== fix.task || model.manifest.scale !== fix.scale) {
      throw new LoupeError(ErrorCode.BAD_REQUEST, `Model ${id} is a ${model.manifest.task} x${model.manifest.scale} model; ${fix.label} needs ${fix.task} x${fix.scale}.`);
    }
    return model;
  }

  private referenceOf(roomId: string, p: MatchGradeParams): Version {
    const ref = this.deps.versions.get(p.referenceVersionId);
    if (!ref || this.deps.versions.roomOf(ref.id) !== roomId) throw new LoupeError(ErrorCode.VERSION_NOT_FOUND, `No reference version ${p.referenceVersionId} in this room.`);
    if (ref.media.type === 'video' && p.referenceFrame >= ref.media.frameCount) {
      throw new LoupeError(ErrorCode.FRAME_OUT_OF_RANGE, `Reference frame ${p.referenceFrame} is past the last frame (${ref.media.frameCount - 1}).`);
    }
    return ref;
  }

  private async execute(rec: StoredRecord) {
    const { job } = rec;
    const started = new Date().toISOString();
    rec.job = { ...job, state: 'running', position: 0 };
    this.save(rec);
    await this.deps.models.load();

    const version = this.deps.versions.get(job.versionId)!;
    if (version.media.type !== 'video') throw new LoupeError(ErrorCode.NOT_FIXABLE, 'The source version has no frames.');
    const mediaSha = version.media.blob;
    const fix = FixCatalogue[job.fix];
    const frameSha = await this.deps.frames.frame(version, job.frame);
    const rect = rec.params.sourceRect;
    const srcW = version.media.width;
    const srcH = version.media.height;
    const framePath = this.deps.blobs.path(frameSha);
    this.checkStopped(rec);

    let maskInfo: Provenance['mask'];
    let sourceMask: Uint8Array | null = null;
    if (job.region.mask) {
      sourceMask = await maskAlpha(job.region, rect, srcW, srcH, rect.width, rect.height);
      const png = await sharp(Buffer.from(sourceMask), { raw: { width: rect.width, height: rect.height, channels: 1 } }).png().toBuffer();
      const sha = await this.deps.blobs.put(png);
      this.deps.rooms.grantBlob(rec.roomId, sha);
      maskInfo = { sha256: sha, width: rect.width, height: rect.height };
    }

    const plan = await this.plan(rec, framePath, rect, srcW, srcH, sourceMask);
    this.checkStopped(rec);
    const { outW, outH } = plan;
    const alpha = job.region.mask ? await maskAlpha(job.region, rect, srcW, srcH, outW, outH) : null;

    const tiles: Tile[] = [];
    this.tiles.set(job.id, tiles);
    const encodes: Promise<void>[] = [];
    let chain = Promise.resolve();
    const { provider, rgb: out, info } = await this.deps.inference.run(job.id, plan.run, {
      onStart: ({ tiles: n }) => {
        rec.job = { ...rec.job, tilesTotal: n, output: { width: outW, height: outH } };
        this.save(rec);
      },
      onTile: ({ index, rect: r, rgb: pixels, preview }) => {
        const encoded = encodePng(pixels, r.width, r.height, alpha && cropAlpha(alpha, outW, r));
        // Encoded in parallel, sent in the order the worker made them (a preview must not land after the final tile).
        chain = chain.then(() =>
          encoded.then((png) => {
            if (this.running !== rec || this.running.stop) return;
            const tile: Tile = { jobId: job.id, index, ...r, mime: 'image/png', data: png, ...(preview ? { preview: true } : {}) };
            tiles.push(tile);
            this.deps.events.tile(rec.roomId, tile);
            if (preview) return;
            const done = rec.job.tilesDone + 1;
            const total = rec.job.tilesTotal;
            rec.job = { ...rec.job, tilesDone: done, progress: total ? done / total : 0 };
            this.save(rec);
            if (total && Math.floor((4 * done) / total) > Math.floor((4 * (done - 1)) / total)) {
              this.deps.log.info({ room: rec.roomId, job: job.id, tiles: `${done}/${total}` }, `fix ${Math.round((100 * done) / total)}%`);
            }
          }),
        );
        encodes.push(chain);
      },
    });
    await Promise.all(encodes);
    this.checkStopped(rec);

    // The result, its mask and its sidecar are stored before the version that points at them; the version is made once per job.
    const current = this.deps.versions.get(version.id);
    const stale = !current || current.media.type !== 'video' || current.media.blob !== mediaSha;
    const provenance: Provenance = {
      aiMade: true,
      jobId: job.id,
      fix: job.fix,
      params: rec.params.fixParams,
      computed: { ...plan.computed, ...(info ?? {}) },
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
    // Embedded in the PNG: everything but the PNG's own hash (which it cannot contain).
    const { output: _o, ...embedded } = provenance;
    const png = addPngText(await encodePng(out, outW, outH, alpha, 6), PROVENANCE_PNG_KEYWORD, JSON.stringify({ ...embedded, output: { width: outW, height: outH } }));
    const sha256 = await this.deps.blobs.put(png);
    provenance.output.sha256 = sha256;
    const sidecarSha = await this.deps.blobs.put(Buffer.from(JSON.stringify(provenance, null, 2)));
    provenance.sidecarSha256 = sidecarSha;
    this.deps.rooms.grantBlob(rec.roomId, sha256);
    this.deps.rooms.grantBlob(rec.roomId, sidecarSha);
    this.checkStopped(rec);
    const created = this.deps.versions.insert(
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
    rec.job = { ...rec.job, state: 'done', progress: 1, resultVersionId: created.id, ...(stale ? { stale: true } : {}) };
    this.save(rec);
    this.deps.events.versionCreated(rec.roomId, created);
    this.deps.log.info({ room: rec.roomId, job: job.id, version: created.id, provider, stale, ms: Date.parse(provenance.finishedAt) - Date.parse(started) }, 'fix done');
  }

  /** Reads the pixels the fix needs and turns its parameters into a worker request. */
  private async plan(rec: StoredRecord, framePath: string, rect: PixelRect, srcW: number, srcH: number, sourceMask: Uint8Array | null): Promise<Plan> {
    const { job } = rec;
    const fix = FixCatalogue[job.fix];
    const params = rec.params.fixParams;
    const region = await readRgb(sharp(framePath).extract({ left: rect.x, top: rect.y, width: rect.width, height: rect.height }));
    const model = this.resolveModel(job.fix, params);
    const modelInfo = (m: RegisteredModel): Provenance['model'] => ({ id: m.manifest.id, name: m.manifest.name, version: m.manifest.version, sha256: m.sha256, licence: m.manifest.licence });
    const tileRun = (m: RegisteredModel, extra: TileRun['extraInputs'] = {}): TileRun => ({
      kind: 'tiles',
      modelPath: m.path,
      inputName: m.manifest.input.name,
      outputName: m.manifest.output.name,
      inputRange: m.manifest.input.range,
      outputRange: m.manifest.output.range,
      rgb: region.rgb,
      width: region.width,
      height: region.height,
      scale: m.manifest.scale,
      tileSize: m.manifest.tile.size,
      context: m.manifest.tile.context,
      extraInputs: extra,
      tileOrigin: m.manifest.tileOrigin,
      batch: m.manifest.input.batch === 'dynamic' ? 4 : 1,
    });
    const tensors = (inputs: Record<string, Float32Array>, m: RegisteredModel) =>
      Object.fromEntries(m.manifest.extraInputs.filter((e) => inputs[e.name]).map((e) => [e.name, { dims: e.dims, data: inputs[e.name] }]));
    const base = { outW: region.width * fix.scale, outH: region.height * fix.scale };

    switch (fix.task) {
      case 'upscale':
        return { ...base, run: tileRun(model!), model: modelInfo(model!), computed: {} };
      case 'colour': {
        if (job.fix === 'exposure') {
          const thumb = await readRgb(sharp(framePath).extract({ left: rect.x, top: rect.y, width: rect.width, height: rect.height }).resize(256, 256, { fit: 'inside' }));
          const p = planExposure(params as ExposureParams, thumb.rgb, region.width, region.height);
          return { ...base, run: tileRun(model!, tensors({ ...p.inputs }, model!)), model: modelInfo(model!), computed: p.computed };
        }
        const mp = params as MatchGradeParams;
        const ref = this.referenceOf(rec.roomId, mp);
        const refSha = ref.media.type === 'video' ? await this.deps.frames.frame(ref, mp.referenceFrame) : ref.media.blob;
        const refPath = this.deps.blobs.path(refSha);
        const refMeta = await sharp(refPath).metadata();
        const aspect = (w: number, h: number) => w / h;
        const TW = 192;
        const srcThumb = await readRgb(sharp(framePath).resize(TW, Math.round(TW / aspect(srcW, srcH)), { fit: 'fill' }));
        const sameShape = Math.abs(aspect(refMeta.width!, refMeta.height!) - aspect(srcW, srcH)) < 0.01;
        const refThumb = await readRgb(sameShape ? sharp(refPath).resize(srcThumb.width, srcThumb.height, { fit: 'fill' }) : sharp(refPath).resize(TW, TW, { fit: 'inside' }));
        const p = planGrade(srcThumb, refThumb, mp.method, mp.strength);
        return {
          ...base,
          run: tileRun(model!, tensors({ ...p.inputs }, model!)),
          model: modelInfo(model!),
          computed: p.computed,
          reference: { versionId: ref.id, frame: ref.media.type === 'video' ? mp.referenceFrame : ref.media.frame, sha256: refSha },
        };
      }
      case 'denoise': {
        const dp = params as DenoiseParams;
        // Measured on (at most) the central 256x256 of the region: enough pixels, bounded time on the event loop.
        const cw = Math.min(256, region.width);
        const ch = Math.min(256, region.height);
        const centre = await readRgb(sharp(region.rgb, { raw: { width: region.width, height: region.height, channels: 3 } }).extract({ left: (region.width - cw) >> 1, top: (region.height - ch) >> 1, width: cw, height: ch }));
        const measured = dp.sigma ?? estimateNoiseSigma(centre.rgb, cw, ch);
        const sigma = measured * dp.strength;
        return { ...base, run: tileRun(model!, tensors({ sigma: Float32Array.of(sigma) }, model!)), model: modelInfo(model!), computed: { sigma: +sigma.toFixed(3), measuredSigma: +measured.toFixed(3) } };
      }
      case 'inpaint': {
        const rp = params as RemoveObjectParams;
        // The hole at source resolution: the mask, grown by a pixel so that an object's soft edge goes too.
        const hole0 = Uint8Array.from(sourceMask!, (v) => (v >= 128 ? 1 : 0));
        const thickness = holeThickness(hole0, rect.width, rect.height);
        const method: 'patchmatch' | 'diffuse' | 'model' = rp.method === 'auto' ? (model ? 'model' : thickness <= 4 ? 'diffuse' : 'patchmatch') : rp.method;
        // The crop: the region plus a margin of picture to copy from, inside the frame.
        const margin = Math.max(24, Math.round(0.5 * Math.max(rect.width, rect.height)));
        const cx0 = Math.max(0, rect.x - margin);
        const cy0 = Math.max(0, rect.y - margin);
        const cx1 = Math.min(srcW, rect.x + rect.width + margin);
        const cy1 = Math.min(srcH, rect.y + rect.height + margin);
        const crop = await readRgb(sharp(framePath).extract({ left: cx0, top: cy0, width: cx1 - cx0, height: cy1 - cy0 }));
        const hole = new Uint8Array(crop.width * crop.height);
        for (let y = 0; y < rect.height; y++)
          for (let x = 0; x < rect.width; x++) {
            if (!hole0[y * rect.width + x]) continue;
            for (let dy = -1; dy <= 1; dy++)
              for (let dx = -1; dx <= 1; dx++) {
                const X = x + rect.x - cx0 + dx;
                const Y = y + rect.y - cy0 + dy;
                if (X >= 0 && Y >= 0 && X < crop.width && Y < crop.height) hole[Y * crop.width + X] = 1;
              }
          }
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
          computed: { method, holeThickness: thickness, crop: { x: cx0, y: cy0, width: crop.width, height: crop.height } },
        };
      }
    }
  }
}

async function readRgb(img: Sharp): Promise<{ rgb: Uint8Array; width: number; height: number }> {
  const { data, info } = await img.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}

function encodePng(rgb: Uint8Array, width: number, height: number, alpha: Uint8Array | null, compressionLevel = 1): Promise<Uint8Array> {
  let img = sharp(rgb, { raw: { width, height, channels: 3 } });
  if (alpha) img = img.joinChannel(Buffer.from(alpha), { raw: { width, height, channels: 1 } });
  return img.png({ compressionLevel }).toBuffer().then((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
}

function cropAlpha(alpha: Uint8Array, stride: number, r: { x: number; y: number; width: number; height: number }): Uint8Array {
  const out = new Uint8Array(r.width * r.height);
  for (let y = 0; y < r.height; y++) out.set(alpha.subarray((r.y + y) * stride + r.x, (r.y + y) * stride + r.x + r.width), y * r.width);
  return out;
}

export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}
export type { Region };

import crypto from 'node:crypto';
import {
  ErrorCode,
  FixCatalogue,
  FixParams,
  FixPrepareSchema,
  FixRequestSchema,
  Limits,
  TrackRequestSchema,
  LoupeError,
  can,
  canCancel,
  type FixPrepare,
  type FixRequest,
  type Job,
  type MaskTrack,
  type MatchGradeParams,
  type Member,
  type Region,
  type RemoveObjectParams,
  type RenderedFrame,
  type Tile,
  type TrackRequest,
} from '@loupe/shared';
import type { Logger } from '../log.js';
import type { JobRepository } from '../store/job.repository.js';
import { isUniqueViolation } from '../store/database.js';
import type { VersionRepository } from '../store/version.repository.js';
import type { ModelRegistry } from '../inference/model.registry.js';
import { shortId } from '../rooms/room.service.js';
import { growRect, sourceRect } from './region.js';
import { PRIORITY, type FixQueue } from './fix.queue.js';
import type { FixRelay } from './fix.relay.js';
import type { StoredRecord } from './job.events.js';
import { referenceOf, resolveModel } from './fix.validation.js';
import type { RenderRecord, ShotRenderService } from '../shots/shot-render.service.js';
import type { FixRunner } from './fix.runner.js';

/** The whole picture: what a request without a region fixes. */
const FULL_FRAME: Region = { x: 0, y: 0, width: 1, height: 1 };

export type { FixEvents } from './job.events.js';

function mayAskForFixes(member: Member): void {
  if (!can(member.role, 'requestFix')) {
    throw new LoupeError(ErrorCode.FORBIDDEN_ROLE, `A ${member.role} cannot ask for fixes; artists and directors can.`);
  }
}

/**
 * The room's side of fixes: checks a request (role, version, frame, parameters, model, limits),
 * stores the job and hands it to the queue; cancels; lists a room's jobs. Where the job runs is the
 * queue's business (this process, or a worker over Redis).
 */
export class FixService {
  private lastSeq = 0;

  constructor(
    private readonly deps: {
      jobs: JobRepository;
      versions: VersionRepository;
      models: ModelRegistry;
      queue: FixQueue;
      relay: FixRelay;
      renders: ShotRenderService;
      log: Logger;
      /** Where this process computes fixes: reads and plans a frame ahead of its request (fix:prepare). */
      prepare?: FixRunner['prepare'] | null;
    },
  ) {}

  async request(member: Member, input: FixRequest): Promise<Job> {
    const req = FixRequestSchema.parse(input);
    mayAskForFixes(member);
    const existing = await this.deps.jobs.byIdempotencyKey(req.room, req.idempotencyKey);
    if (existing) return existing.job;
    const { version, frames, region, rect, fix, params } = await this.checked(req);

    const active = await this.activeJobs(req.room);
    const roomJobs = active.length;
    if (roomJobs >= Limits.maxQueuedJobsPerRoom) {
      throw new LoupeError(ErrorCode.QUEUE_FULL, `This room already has ${roomJobs} fixes waiting; try again when one finishes.`);
    }
    const mine = active.filter((r) => r.job.requestedBy.id === member.id).length;
    if (mine >= Limits.maxQueuedJobsPerUser) {
      throw new LoupeError(ErrorCode.QUEUE_FULL, `You already have ${mine} fixes waiting in this room (at most ${Limits.maxQueuedJobsPerUser}); cancel one or wait.`);
    }
    // Remove object fills the drawn mask grown outward: the result (and the region the room shows it in)
    // covers the drawn region and that band around it, so the soft edge can lie outside the drawn line.
    const { width: srcW, height: srcH } = version.media;
    const covered = fix.task === 'inpaint' ? growRect(rect, (params as RemoveObjectParams).grow, srcW, srcH) : rect;
    const jobRegion = covered === rect ? region : { ...region, x: covered.x / srcW, y: covered.y / srcH, width: covered.width / srcW, height: covered.height / srcH };
    const shot = req.scope === 'shot';
    const job: Job = {
      id: shortId(),
      fix: req.fix,
      versionId: version.id,
      frame: req.frame,
      region: jobRegion,
      scope: req.scope,
      ...(shot ? { range: req.range ?? { in: 0, out: frames - 1 } } : {}),
      ...(req.maskKeyframes?.length ? { maskKeyframes: req.maskKeyframes } : {}),
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
    const rec: StoredRecord = { job, roomId: req.room, params: { fixParams: params, sourceRect: covered, priority, seq: this.nextSeq() } };
    if (req.maskKeyframes?.length) {
      if (!shot || fix.task !== 'inpaint') throw new LoupeError(ErrorCode.BAD_REQUEST, 'Masks on more frames are keyframes of a remove-object render of a shot.');
      const r = job.range!;
      const out = req.maskKeyframes.find((k) => k.frame < r.in || k.frame > r.out);
      if (out) throw new LoupeError(ErrorCode.FRAME_OUT_OF_RANGE, `A mask is drawn on frame ${out.frame}, outside the range ${r.in}-${r.out}.`);
    }
    if (shot) {
      Object.assign(rec.params, { feather: req.feather, ...(req.keyframes ? { keyframes: req.keyframes } : {}) });
      this.deps.renders.validate(version, job, params);
    } else if (req.feather > 0) {
      throw new LoupeError(ErrorCode.BAD_REQUEST, 'A feathered edge is for shot renders; a still shows the region as it is.');
    }
    try {
      await this.deps.jobs.insert(rec, req.idempotencyKey);
    } catch (e) {
      // The same request reached this or another node a moment earlier: that job is the answer.
      const first = isUniqueViolation(e) ? await this.deps.jobs.byIdempotencyKey(req.room, req.idempotencyKey) : undefined;
      if (first) return first.job;
      throw e;
    }
    const added = shot ? this.deps.renders.queue(rec as RenderRecord) : this.deps.queue.add(rec);
    const queued = { ...rec.job }; // as queued: the job may start before the ack leaves
    await added;
    this.deps.log.info({ room: req.room, job: job.id, user: member.id, fix: job.fix, frame: job.frame, position: queued.position }, 'fix queued');
    return queued;
  }

  /**
   * A request's checks that need no job: the version in the room and with frames, the frame, the
   * region, the parameters, the model, match grade's reference. The runners make them again when they run.
   */
  private async checked(req: Pick<FixRequest, 'room' | 'versionId' | 'frame' | 'region' | 'fix' | 'params'>) {
    const version = await this.deps.versions.get(req.versionId);
    if (!version || (await this.deps.versions.roomOf(version.id)) !== req.room) {
      throw new LoupeError(ErrorCode.VERSION_NOT_FOUND, `No version ${req.versionId} in this room.`);
    }
    if (version.media.type !== 'video') {
      throw new LoupeError(ErrorCode.NOT_FIXABLE, 'A still has no frames to fix: pick a version of the shot (the source, or a rendered version).');
    }
    if (req.frame >= version.media.frameCount) {
      throw new LoupeError(ErrorCode.FRAME_OUT_OF_RANGE, `Frame ${req.frame} is past the last frame (${version.media.frameCount - 1}).`);
    }
    const region = req.region ?? FULL_FRAME;
    const rect = sourceRect(region, version.media.width, version.media.height);
    const fix = FixCatalogue[req.fix];
    const parsedParams = FixParams[req.fix].safeParse(req.params ?? {});
    if (!parsedParams.success) {
      const issue = parsedParams.error.issues[0];
      throw new LoupeError(ErrorCode.BAD_REQUEST, `Bad parameters for ${req.fix}: ${issue?.path.join('.') || 'params'}: ${issue?.message}`);
    }
    const params = parsedParams.data as Record<string, unknown>;
    if (fix.needsMask && !region.mask) throw new LoupeError(ErrorCode.MASK_REQUIRED, `${fix.label} works on a drawn mask: draw around what to change.`);
    await this.deps.models.load();
    // Refused now rather than after queueing: the checks the runners make again when they run it.
    resolveModel(this.deps.models, req.fix, params);
    if (req.fix === 'match-grade') await referenceOf(this.deps.versions, req.room, params as MatchGradeParams);
    return { version, frames: version.media.frameCount, region, rect, fix, params };
  }

  /**
   * fix:prepare: the frame, region, fix and parameters the fix panel shows, checked as a request is,
   * read and planned ahead where this process computes fixes (FixRunner.prepare). Nothing is stored.
   */
  async prepare(member: Member, input: FixPrepare): Promise<{ ready: boolean }> {
    const req = FixPrepareSchema.parse(input);
    mayAskForFixes(member);
    const { version, rect, params } = await this.checked(req);
    if (!this.deps.prepare) return { ready: false };
    try {
      return { ready: await this.deps.prepare({ roomId: req.room, version, frame: req.frame, rect, fix: req.fix, params }) };
    } catch (err) {
      // A help, not a need: the job reads the frame itself.
      this.deps.log.warn({ room: req.room, version: version.id, frame: req.frame, err: (err as Error).message }, 'frame not prepared for a fix');
      return { ready: false };
    }
  }

  /** Rooms with a track-only request running on this server, and how many. */
  private readonly tracking = new Map<string, number>();

  /**
   * Remove object on a shot, before the fill: the drawn mask (and the masks on more frames, keyframes)
   * tracked over the range, nothing stored or rendered: the artist sees the track, corrects a frame
   * and asks again. Director or artist; the range within the shot and at most Limits.maxTrackFrames.
   */
  async track(member: Member, input: TrackRequest): Promise<MaskTrack> {
    const req = TrackRequestSchema.parse(input);
    if (!can(member.role, 'requestFix')) {
      throw new LoupeError(ErrorCode.FORBIDDEN_ROLE, `A ${member.role} cannot track a mask; artists and directors can.`);
    }
    const version = await this.deps.versions.get(req.versionId);
    if (!version || (await this.deps.versions.roomOf(version.id)) !== req.room) {
      throw new LoupeError(ErrorCode.VERSION_NOT_FOUND, `No version ${req.versionId} in this room.`);
    }
    if (version.media.type !== 'video') throw new LoupeError(ErrorCode.NOT_FIXABLE, 'A still has no frames to track a mask over: pick a version of the shot.');
    const last = version.media.frameCount - 1;
    const range = req.range ?? { in: 0, out: last };
    if (range.out > last) throw new LoupeError(ErrorCode.FRAME_OUT_OF_RANGE, `The range ends at frame ${range.out}, past the shot's last frame (${last}).`);
    if (range.out - range.in + 1 > Limits.maxTrackFrames) {
      throw new LoupeError(ErrorCode.BAD_REQUEST, `A track covers at most ${Limits.maxTrackFrames} frames; this range has ${range.out - range.in + 1}: set in/out points (I, O).`);
    }
    const keys = [{ frame: req.frame, mask: req.mask }, ...(req.maskKeyframes ?? [])];
    const out = keys.find((k) => k.frame < range.in || k.frame > range.out);
    if (out) throw new LoupeError(ErrorCode.FRAME_OUT_OF_RANGE, `A mask is drawn on frame ${out.frame}, outside the range ${range.in}-${range.out}: draw it on a frame of the range.`);
    const running = this.tracking.get(req.room) ?? 0;
    if (running >= Limits.maxTracksPerRoom) throw new LoupeError(ErrorCode.RATE_LIMITED, 'A mask is being tracked in this room already; ask again when it is done.');
    this.tracking.set(req.room, running + 1);
    const started = performance.now();
    try {
      const t = await this.deps.renders.trackRange(version, range, keys);
      const ms = Math.round(performance.now() - started);
      this.deps.log.info({ room: req.room, user: member.id, version: version.id, frames: range.out - range.in + 1, keys: t.keys.length, ms }, 'mask tracked');
      return { versionId: version.id, range, keys: t.keys, tracked: t.tracked, residual: t.residual, by: { id: member.id, name: member.name }, ms };
    } finally {
      const n = (this.tracking.get(req.room) ?? 1) - 1;
      if (n > 0) this.tracking.set(req.room, n);
      else this.tracking.delete(req.room);
    }
  }

  /** Cancels a queued or running job: its requester or a director of the room. */
  async cancel(member: Member, roomId: string, jobId: string): Promise<Job> {
    const rec = (await this.deps.jobs.listForRoom(roomId)).find((r) => r.job.id === jobId) as StoredRecord | undefined;
    if (!rec) throw new LoupeError(ErrorCode.JOB_NOT_FOUND, `No job ${jobId} in this room.`);
    if (rec.job.state !== 'queued' && rec.job.state !== 'running') throw new LoupeError(ErrorCode.JOB_FINISHED, `Job ${jobId} is already ${rec.job.state}.`);
    if (!canCancel(member, rec.job)) {
      throw new LoupeError(ErrorCode.FORBIDDEN_ROLE, 'Only who asked for a fix, or a director, can cancel it.');
    }
    if (rec.job.scope === 'shot') return this.deps.renders.cancel(rec as RenderRecord, member);
    return this.deps.queue.cancel(rec, member);
  }

  async jobsForRoom(roomId: string): Promise<Job[]> {
    return (await this.deps.jobs.listForRoom(roomId)).map((r) => r.job);
  }

  /** The fixes and models this server offers now. */
  async available() {
    await this.deps.models.load();
    return this.deps.models.available();
  }

  replayTiles(roomId: string, send: (t: Tile) => void): void {
    this.deps.relay.replayTiles(roomId, send);
  }

  /** The frames done so far of the room's running shot renders. */
  replayFrames(roomId: string, send: (f: RenderedFrame) => void): Promise<void> {
    return this.deps.renders.replayFrames(roomId, send);
  }

  /** Queues again what a stopped process left waiting or running: frame fixes, and renders (from where they were). */
  async resumeUnfinished(): Promise<void> {
    await this.deps.queue.resumeUnfinished();
    for (const rec of (await this.deps.jobs.unfinished()) as StoredRecord[]) if (rec.job.scope === 'shot') await this.deps.renders.queue(rec as RenderRecord);
  }

  shutdown(): Promise<void> {
    return this.deps.queue.shutdown();
  }

  /** No job waits or runs (here, or anywhere with Redis). */
  idle(): Promise<boolean> {
    return this.deps.queue.idle();
  }

  /** The room's jobs that wait or run, wherever they run. */
  private async activeJobs(roomId: string): Promise<StoredRecord[]> {
    return ((await this.deps.jobs.listForRoom(roomId)) as StoredRecord[]).filter((r) => r.job.state === 'queued' || r.job.state === 'running');
  }

  /** Arrival order across processes: milliseconds, kept increasing within this one. */
  private nextSeq(): number {
    return (this.lastSeq = Math.max(Date.now(), this.lastSeq + 1));
  }
}

export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}
export type { Region };


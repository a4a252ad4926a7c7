import crypto from 'node:crypto';
import sharp from 'sharp';
import {
  ErrorCode,
  FixCatalogue,
  FixParams,
  Limits,
  LoupeError,
  can,
  type FixRequest,
  type Job,
  type Member,
  type Provenance,
  type Region,
  type Tile,
  type Version,
} from '@loupe/shared';
import type { EnsuredModel } from '@loupe/models';
import type { Logger } from '../log.js';
import type { BlobRepository } from '../store/blob.repository.js';
import type { JobRecord, JobRepository } from '../store/job.repository.js';
import type { RoomRepository } from '../store/room.repository.js';
import type { VersionRepository } from '../store/version.repository.js';
import type { FrameService } from '../media/frame.service.js';
import type { InferenceService } from '../inference/inference.service.js';
import { shortId } from '../rooms/room.service.js';
import { maskAlpha, sourceRect, type PixelRect } from './region.js';

export interface FixEvents {
  job(roomId: string, job: Job): void;
  tile(roomId: string, tile: Tile): void;
  versionCreated(roomId: string, v: Version): void;
}

interface StoredRecord extends JobRecord {
  params: { fixParams: Record<string, unknown>; sourceRect: PixelRect };
}

/**
 * The fix pipeline: validate and queue a request, run it on the inference worker, stream each tile
 * to the room, and turn the result into exactly one new version with its provenance.
 */
export class FixService {
  private queue: StoredRecord[] = [];
  private running: StoredRecord | null = null;
  /** Tiles of the running job, for members who join mid-job. */
  private tiles = new Map<string, Tile[]>();
  private stopping = false;

  constructor(
    private readonly deps: {
      jobs: JobRepository;
      versions: VersionRepository;
      rooms: RoomRepository;
      blobs: BlobRepository;
      frames: FrameService;
      inference: InferenceService;
      model: (id: string) => Promise<EnsuredModel>;
      events: FixEvents;
      log: Logger;
    },
  ) {}

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
      throw new LoupeError(ErrorCode.NOT_FIXABLE, 'Fixes run on a shot\'s source frames; pick the source version.');
    }
    if (req.frame >= version.media.frameCount) {
      throw new LoupeError(ErrorCode.FRAME_OUT_OF_RANGE, `Frame ${req.frame} is past the last frame (${version.media.frameCount - 1}).`);
    }
    const rect = sourceRect(req.region, version.media.width, version.media.height);
    const parsedParams = FixParams[req.fix].safeParse(req.params ?? {});
    if (!parsedParams.success) throw new LoupeError(ErrorCode.BAD_REQUEST, `Bad parameters for ${req.fix}: ${parsedParams.error.issues[0]?.message}`);
    const roomJobs = this.queue.filter((r) => r.roomId === req.room).length + (this.running?.roomId === req.room ? 1 : 0);
    if (roomJobs >= Limits.maxQueuedJobsPerRoom) {
      throw new LoupeError(ErrorCode.QUEUE_FULL, `This room already has ${roomJobs} fixes waiting; try again when one finishes.`);
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
    const rec: StoredRecord = { job, roomId: req.room, params: { fixParams: parsedParams.data, sourceRect: rect } };
    this.deps.jobs.insert(rec, req.idempotencyKey);
    this.queue.push(rec);
    this.renumber();
    this.deps.log.info({ room: req.room, job: job.id, user: member.id, fix: job.fix, frame: job.frame }, 'fix queued');
    queueMicrotask(() => this.pump());
    return { ...job };
  }

  jobsForRoom(roomId: string): Job[] {
    return this.deps.jobs.listForRoom(roomId).map((r) => r.job);
  }

  replayTiles(roomId: string, send: (t: Tile) => void): void {
    if (this.running?.roomId !== roomId) return;
    for (const t of this.tiles.get(this.running.job.id) ?? []) send(t);
  }

  /** Re-queues the jobs a stopped process left queued or running. Their versions are still made once. */
  resumeUnfinished(): void {
    for (const rec of this.deps.jobs.unfinished() as StoredRecord[]) {
      rec.job = { ...rec.job, state: 'queued', progress: 0, tilesDone: 0 };
      this.queue.push(rec);
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

  private pump() {
    if (this.stopping || this.running || this.queue.length === 0) return;
    const rec = this.queue.shift()!;
    this.running = rec;
    this.renumber();
    this.execute(rec)
      .catch((e: Error) => {
        this.deps.log.error({ room: rec.roomId, job: rec.job.id, err: e.message }, 'fix failed');
        rec.job = { ...rec.job, state: 'failed', position: 0, error: { code: ErrorCode.FIX_FAILED, message: e.message } };
        this.save(rec);
      })
      .finally(() => {
        this.tiles.delete(rec.job.id);
        this.running = null;
        this.pump();
      });
  }

  private async execute(rec: StoredRecord) {
    const { job } = rec;
    const started = new Date().toISOString();
    rec.job = { ...job, state: 'running', position: 0 };
    this.save(rec);

    const version = this.deps.versions.get(job.versionId)!;
    const fix = FixCatalogue[job.fix];
    const model = await this.deps.model(fix.model);
    const frameSha = await this.deps.frames.frame(version, job.frame);
    const rect = rec.params.sourceRect;
    const { data: rgb, info } = await sharp(this.deps.blobs.path(frameSha))
      .extract({ left: rect.x, top: rect.y, width: rect.width, height: rect.height })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const outW = info.width * fix.scale;
    const outH = info.height * fix.scale;
    const alpha = job.region.mask ? await maskAlpha(job.region, rect, version.media.width, version.media.height, outW, outH) : null;

    const tiles: Tile[] = [];
    this.tiles.set(job.id, tiles);
    const encodes: Promise<void>[] = [];
    const { provider, rgb: out } = await this.deps.inference.run(
      job.id,
      { modelPath: model.path, rgb, width: info.width, height: info.height, scale: fix.scale, tileSize: model.manifest.tile.size, context: model.manifest.tile.context },
      {
        onStart: ({ tiles: n, width, height }) => {
          rec.job = { ...rec.job, tilesTotal: n, output: { width, height } };
          this.save(rec);
        },
        onTile: ({ index, rect: r, rgb: pixels }) => {
          encodes.push(
            encodePng(pixels, r.width, r.height, alpha && cropAlpha(alpha, outW, r)).then((png) => {
              const tile: Tile = { jobId: job.id, index, ...r, mime: 'image/png', data: png };
              tiles.push(tile);
              this.deps.events.tile(rec.roomId, tile);
              const done = rec.job.tilesDone + 1;
              const total = rec.job.tilesTotal;
              rec.job = { ...rec.job, tilesDone: done, progress: total ? done / total : 0 };
              this.save(rec);
              if (total && Math.floor((4 * done) / total) > Math.floor((4 * (done - 1)) / total)) {
                this.deps.log.info({ room: rec.roomId, job: job.id, tiles: `${done}/${total}` }, `fix ${Math.round((100 * done) / total)}%`);
              }
            }),
          );
        },
      },
    );
    await Promise.all(encodes);

    // The result is stored before the version that points at it; the version is made once per job.
    const png = await encodePng(out, outW, outH, alpha, 6);
    const sha256 = await this.deps.blobs.put(png);
    this.deps.rooms.grantBlob(rec.roomId, sha256);
    const finished = new Date().toISOString();
    const provenance: Provenance = {
      aiMade: true,
      jobId: job.id,
      fix: job.fix,
      params: rec.params.fixParams,
      model: { id: model.manifest.id, name: model.manifest.name, version: model.manifest.version, sha256: model.sha256, licence: model.manifest.licence },
      provider,
      sourceVersionId: version.id,
      frame: job.frame,
      region: job.region,
      sourceRect: rect,
      requestedBy: job.requestedBy,
      requestedAt: job.createdAt,
      startedAt: started,
      finishedAt: finished,
      tiles: rec.job.tilesTotal,
      output: { width: outW, height: outH, sha256 },
    };
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
        createdAt: finished,
        provenance,
      },
      job.id,
    );
    rec.job = { ...rec.job, state: 'done', progress: 1, resultVersionId: created.id };
    this.save(rec);
    this.deps.events.versionCreated(rec.roomId, created);
    this.deps.log.info({ room: rec.roomId, job: job.id, version: created.id, provider, ms: Date.parse(finished) - Date.parse(started) }, 'fix done');
  }
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

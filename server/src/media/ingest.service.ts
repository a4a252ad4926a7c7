import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  ErrorCode,
  LoupeError,
  MovieCodecs,
  SequenceError,
  badFileName,
  can,
  extensionOf,
  imageFormatOf,
  layoutSequence,
  mediaKindOf,
  sequenceLabel,
  type FrameGap,
  type InviteClaims,
  type IngestStage,
  type MediaProgress,
  type MediaSource,
  type Shot,
  type Version,
  type VersionMedia,
} from '@loupe/shared';
import type { MediaConfig } from '../config.js';
import type { Logger } from '../log.js';
import { CancelReason, done, skipped, type JobContext, type JobSystem, type Outcome } from '../jobs/job-system.js';
import type { BlobStore } from '../store/blob.repository.js';
import type { IngestRecord, IngestRepository } from '../store/ingest.repository.js';
import type { RoomRepository } from '../store/room.repository.js';
import type { VersionRepository } from '../store/version.repository.js';
import { storageRefusal } from '../store/storage-errors.js';
import { shortId } from '../rooms/room.service.js';
import { FfmpegError } from './ffmpeg.js';
import { imageHeader, sniff, type ImageHeader } from './inspect.js';
import { decoderFor, fpsOf, frameIndexMode, packetTimes, probeImage, probeMovie, toRational, type Rational } from './probe.js';
import { fitBox, ladderRungs, ladderSizes, movieProxy, sequenceProxy, storeLadder, thumbnails, type ProxyResult, type RungFile } from './proxy.js';
import { VIEW_TRANSFORM_ID } from './view-transform.js';
import { unzipImages } from './zip.js';

/** What a client asks for when it announces an upload. */
export interface CreateIngest {
  files: { name: string; size: number }[];
  shotId?: string | null;
  shotName?: string | null;
  fps?: number | null;
}

export interface IngestEvents {
  progress(roomId: string, p: MediaProgress): void;
  shotCreated(roomId: string, shot: Shot): void;
  versionCreated(roomId: string, v: Version): void;
}

export interface IngestDeps {
  config: MediaConfig;
  dataDir: string;
  ingests: IngestRepository;
  rooms: RoomRepository;
  versions: VersionRepository;
  blobs: BlobStore;
  events: IngestEvents;
  log: Logger;
  /**
   * Runs an ingest once its bytes are in: an `ingest.process` job on the media lane, keyed by the
   * ingest. This service registers the handler, so every node that has one runs ingests. With Redis
   * (BullMQ) the job is locked by the node running it; a node that dies has it run again by another
   * once the lock lapses. In this process alone, the next start runs it again.
   */
  jobs: JobSystem;
}

export const INGEST_JOB = 'ingest.process';
/** The job key of an ingest, also the `job` its version is stored under (one version per ingest). */
export const ingestKey = (ingestId: string) => `ingest:${ingestId}`;
/** Runs of an ingest's job: a node stopping hands it on (a retry); a failure of the media is final. */
const INGEST_ATTEMPTS = 10;
/** What a stopping node answers: the job waits this long (for another node; in one process, for the next start). */
const handOn = (message: string): Outcome => ({ status: 'failed', code: ErrorCode.INGEST_FAILED, message, retry: true, retryInMs: 1000 });

/** The files of one sequence's frames, in frame order, as stored in the manifest blob. */
export interface SequenceManifest {
  format: 'png' | 'jpeg' | 'tiff' | 'exr' | 'dpx';
  firstFrame: number;
  lastFrame: number;
  bitDepth: number;
  frames: { frame: number; sha256: string }[];
}

/** What GET /api/ingests/:id answers. */
export interface IngestView {
  id: string;
  room: string;
  state: IngestRecord['state'];
  stage: IngestStage;
  percent: number;
  label: string;
  shotId: string | null;
  by: { id: string; name: string };
  files: { name: string; size: number; offset: number; uploadUrl: string }[];
  error: IngestRecord['error'];
  result: IngestRecord['result'];
  createdAt: string;
}

const MAX_SEQUENCE_SPAN = 100_000;

export const uploadUrl = (ingestId: string, index: number) => `/api/uploads/${ingestId}.${index}`;
/** A tus upload id: `<ingest>.<index of the file>`. */
const UPLOAD_ID = /^([A-Za-z0-9]{6,32})\.(\d{1,6})$/;

/**
 * Uploads and their processing. An upload is announced with its files (names and sizes), each file
 * is received through the tus protocol (resumable), and once every byte is in, the ingest runs in the
 * background: unpack, probe, proxy, thumbnails. Only then, in one transaction, the shot (when new) and
 * the version are created: a failure at any step leaves no shot and no version.
 */
export class IngestService {
  /** The ingests this process is running now (jobs it took), to stop them at shutdown. */
  private readonly running = new Map<string, { abort: AbortController; done: Promise<Outcome> }>();
  private readonly live = new Map<string, IngestRecord & { received?: number }>();
  private readonly writers = new Map<string, { req: Readable; done: Promise<unknown> }>();
  private readonly lastEmit = new Map<string, number>();
  private stopping = false;
  /** Per ingest, the last write of its record: writes land in the order they were made. */
  private readonly writes = new Map<string, Promise<unknown>>();
  private readonly expiryTimer: NodeJS.Timeout;
  /** This node's data folder, as named in the ingests whose files it receives. */
  private readonly folder: string;

  constructor(private readonly deps: IngestDeps) {
    deps.jobs.register<{ id: string }>({ name: INGEST_JOB, lane: 'media', run: (d, ctx) => this.run(d.id, ctx) });
    fs.mkdirSync(this.uploadsRoot, { recursive: true });
    this.folder = folderId(this.uploadsRoot);
    this.expiryTimer = setInterval(() => void this.expireOld().catch((err: Error) => this.deps.log.error({ err: err.message }, 'could not expire old uploads')), 3600_000);
    this.expiryTimer.unref();
  }

  /** No ingest running in this process. */
  get idle(): boolean {
    return this.running.size === 0;
  }

  private get uploadsRoot() {
    return path.join(this.deps.dataDir, 'uploads');
  }
  /** The folder uploads are received into (one folder per ingest, `<index>.part` per file). */
  get uploadsDir(): string {
    return this.uploadsRoot;
  }
  private uploadDir(id: string) {
    return path.join(this.uploadsRoot, id);
  }
  private partPath(id: string, index: number) {
    return path.join(this.uploadDir(id), `${index}.part`);
  }
  private workDir(id: string) {
    return path.join(this.deps.dataDir, 'tmp', `ingest-${id}`);
  }

  // ---------------------------------------------------------------------------------------------
  // Receiving

  /** Checks an announced upload (names, formats, sizes, shot) and makes room for its files. Nothing is processed yet. */
  async create(claims: InviteClaims, req: CreateIngest): Promise<IngestRecord> {
    this.mayUpload(claims);
    const { config } = this.deps;
    const files = req.files;
    if (!Array.isArray(files) || files.length === 0) throw new LoupeError(ErrorCode.BAD_REQUEST, 'An upload needs at least one file.');
    if (files.length > config.uploadMaxFiles) {
      throw new LoupeError(ErrorCode.UPLOAD_TOO_MANY_FILES, `${files.length} files in one upload; at most ${config.uploadMaxFiles} (UPLOAD_MAX_FILES).`);
    }
    let total = 0;
    for (const f of files) {
      const bad = badFileName(f?.name);
      if (bad) throw new LoupeError(ErrorCode.BAD_FILE_NAME, `Bad file name: ${bad}.`);
      if (!Number.isSafeInteger(f.size) || f.size < 0) throw new LoupeError(ErrorCode.BAD_REQUEST, `${f.name}: the size must be a whole number of bytes.`);
      if (f.size === 0) throw new LoupeError(ErrorCode.CORRUPT_MEDIA, `${f.name} is empty.`);
      total += f.size;
    }
    if (total > config.uploadMaxBytes) {
      throw new LoupeError(ErrorCode.UPLOAD_TOO_LARGE, `The upload is ${total} bytes; at most ${config.uploadMaxBytes} bytes (UPLOAD_MAX_BYTES).`);
    }
    const kinds = files.map((f) => mediaKindOf(f.name));
    const unknown = files.find((_, i) => !kinds[i]);
    if (unknown) {
      throw new LoupeError(
        ErrorCode.UNSUPPORTED_FORMAT,
        `${unknown.name}: Loupe ingests movies (.mp4, .mov), image sequences (.png, .jpg, .tif, .exr, .dpx) and zips of sequences; not .${extensionOf(unknown.name) || '(no extension)'}.`,
      );
    }
    let label: string;
    if (kinds.includes('movie') || kinds.includes('archive')) {
      if (files.length > 1) throw new LoupeError(ErrorCode.BAD_REQUEST, 'Upload one movie or one zip at a time (or the frame files of one sequence).');
      label = files[0].name;
    } else {
      try {
        label = sequenceLabel(layoutSequence(files.map((f) => f.name), { maxFrames: MAX_SEQUENCE_SPAN }));
      } catch (e) {
        if (e instanceof SequenceError) throw new LoupeError(ErrorCode.SEQUENCE_INVALID, `Not one image sequence: ${e.message}.`);
        throw e;
      }
    }
    if (req.shotId && !(await this.deps.rooms.shots(claims.room)).some((s) => s.id === req.shotId)) {
      throw new LoupeError(ErrorCode.SHOT_NOT_FOUND, `There is no shot ${req.shotId} in this room.`);
    }
    if (req.fps != null && !(Number.isFinite(req.fps) && req.fps > 0 && req.fps <= 1000)) {
      throw new LoupeError(ErrorCode.BAD_REQUEST, 'fps must be a number between 0 and 1000.');
    }
    if (req.shotName != null && (typeof req.shotName !== 'string' || req.shotName.length > 200)) {
      throw new LoupeError(ErrorCode.BAD_REQUEST, 'The shot name must be text of at most 200 characters.');
    }
    const now = new Date().toISOString();
    const rec: IngestRecord = {
      id: shortId().replace(/[-_]/g, 'x'),
      roomId: claims.room,
      state: 'uploading',
      files: files.map((f) => ({ name: f.name, size: f.size })),
      label,
      shotId: req.shotId ?? null,
      shotName: req.shotName?.trim() || null,
      fps: req.fps ?? null,
      by: { id: claims.sub, name: claims.name, role: claims.role },
      createdAt: now,
      updatedAt: now,
      stage: 'uploading',
      percent: 0,
      error: null,
      result: null,
      folder: this.folder,
    };
    fs.mkdirSync(this.uploadDir(rec.id), { recursive: true });
    rec.files.forEach((_, i) => fs.writeFileSync(this.partPath(rec.id, i), ''));
    await this.deps.ingests.insert(rec);
    this.deps.log.info({ room: rec.roomId, ingest: rec.id, user: claims.sub, files: files.length, bytes: total }, `upload announced: ${label}`);
    this.emit(rec, true);
    return rec;
  }

  /**
   * Ingests a file already on this machine (the first-start demo's movies) exactly as an upload of it:
   * announced by `claims`, moved in as the received bytes, queued, probed, proxied, thumbnailed.
   * Resolves with the finished record (state 'done' or 'failed'); `label` names the version.
   */
  async ingestLocal(claims: InviteClaims, file: string, req: Omit<CreateIngest, 'files'> & { name: string; label?: string }): Promise<IngestRecord> {
    const size = fs.statSync(file).size;
    const rec = this.liveRecord(await this.create(claims, { ...req, files: [{ name: req.name, size }] }));
    await fs.promises.rename(file, this.partPath(rec.id, 0));
    rec.received = size;
    if (req.label) rec.label = req.label;
    await this.enqueue(rec);
    for (;;) {
      const now = this.live.get(rec.id) ?? (await this.deps.ingests.get(rec.id));
      if (!now || now.state === 'done' || now.state === 'failed' || now.state === 'cancelled') return (await this.deps.ingests.get(rec.id)) ?? rec;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** The record of an ingest the member's room owns (UPLOAD_NOT_FOUND otherwise). */
  async record(id: string, claims: InviteClaims): Promise<IngestRecord> {
    const rec = this.live.get(id) ?? (await this.deps.ingests.get(id));
    if (!rec || rec.roomId !== claims.room) throw new LoupeError(ErrorCode.UPLOAD_NOT_FOUND, `No upload ${id} in this room.`);
    return rec;
  }

  view(rec: IngestRecord): IngestView {
    return {
      id: rec.id,
      room: rec.roomId,
      state: rec.state,
      stage: rec.stage,
      percent: rec.percent,
      label: rec.label,
      shotId: rec.result?.shotId ?? rec.shotId,
      by: { id: rec.by.id, name: rec.by.name },
      files: rec.files.map((f, i) => ({ ...f, offset: this.offsetOf(rec, i), uploadUrl: uploadUrl(rec.id, i) })),
      error: rec.error,
      result: rec.result,
      createdAt: rec.createdAt,
    };
  }

  async list(roomId: string): Promise<IngestRecord[]> {
    return (await this.deps.ingests.listForRoom(roomId)).map((r) => this.live.get(r.id) ?? r);
  }

  private offsetOf(rec: IngestRecord, index: number): number {
    if (rec.state !== 'uploading') return rec.state === 'cancelled' || rec.state === 'failed' ? 0 : rec.files[index].size;
    try {
      return fs.statSync(this.partPath(rec.id, index)).size;
    } catch {
      return 0;
    }
  }

  /** Resolves a tus upload id (`<ingest>.<file>`) to its ingest and file. */
  async file(uploadId: string, claims: InviteClaims): Promise<{ rec: IngestRecord; index: number; size: number; offset: number }> {
    const m = UPLOAD_ID.exec(uploadId);
    if (!m) throw new LoupeError(ErrorCode.UPLOAD_NOT_FOUND, `No upload ${uploadId}.`);
    const rec = await this.record(m[1], claims);
    const index = Number(m[2]);
    if (index >= rec.files.length) throw new LoupeError(ErrorCode.UPLOAD_NOT_FOUND, `No upload ${uploadId}.`);
    return { rec, index, size: rec.files[index].size, offset: this.offsetOf(rec, index) };
  }

  /** The file on disk that tus upload `uploadId` is received into (UPLOAD_NOT_FOUND for an id that is none). */
  partFile(uploadId: string): string {
    const m = UPLOAD_ID.exec(uploadId);
    if (!m) throw new LoupeError(ErrorCode.UPLOAD_NOT_FOUND, `No upload ${uploadId}.`);
    return this.partPath(m[1], Number(m[2]));
  }

  /**
   * If a request is still writing this file (a client resuming after its connection dropped, before
   * the server noticed), stops it and waits for its bytes to land, so the offset is final.
   */
  async settle(uploadId: string): Promise<void> {
    const w = this.writers.get(uploadId);
    if (!w) return;
    w.req.destroy();
    await w.done.catch(() => {});
  }

  /**
   * Receives bytes of one file (the tus store's write, once the tus server has checked the offset and
   * the size): `body` is piped into `sink` (the part file opened at the offset), counted for the room's
   * progress. A dropped connection keeps what was written; a full disk is STORAGE_FULL. Returns the
   * new offset. Queuing the ingest once every file is in is `received`'s (the tus finish hook).
   */
  async receive(uploadId: string, claims: InviteClaims, body: Readable, sink: () => Writable): Promise<number> {
    this.mayUpload(claims);
    const { rec, index } = await this.file(uploadId, claims);
    if (rec.state !== 'uploading') {
      if (rec.state === 'cancelled' || rec.state === 'failed') throw new LoupeError(ErrorCode.UPLOAD_NOT_FOUND, `Upload ${uploadId} was ${rec.state}.`);
      throw new LoupeError(ErrorCode.UPLOAD_OFFSET_MISMATCH, `Upload ${uploadId} is complete.`);
    }
    const live = this.liveRecord(rec);
    let before = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        before += chunk.length;
        cb(null, chunk);
      },
    });
    const done = pipeline(body, counter, sink());
    this.writers.set(uploadId, { req: body, done });
    const tick = setInterval(() => this.uploadProgress(live, before), 500);
    try {
      await done;
    } catch (e) {
      // The disk is full: say so (what was written stays, and the upload resumes once there is space).
      const full = storageRefusal(e);
      if (full) throw full;
      // A refusal of the tus server (more bytes than announced, say) is its to answer.
      if (e instanceof LoupeError || (typeof e === 'object' && e !== null && 'status_code' in e)) throw e;
      // The client went away, or a newer request took over: what arrived is kept, and a HEAD tells where to resume.
      this.deps.log.info({ ingest: rec.id, file: index, err: (e as Error).message }, 'upload interrupted');
    } finally {
      clearInterval(tick);
      if (this.writers.get(uploadId)?.done === done) this.writers.delete(uploadId);
    }
    live.received = (live.received ?? 0) + before;
    // Progress counts against expiry, also after a restart.
    live.updatedAt = new Date().toISOString();
    await this.persist(live);
    this.uploadProgress(live, 0);
    return fs.statSync(this.partPath(rec.id, index)).size;
  }

  /** A file of the upload has all its bytes (tus finish hook): once every file has, the ingest is queued. */
  async received(uploadId: string, claims: InviteClaims): Promise<IngestRecord> {
    const { rec } = await this.file(uploadId, claims);
    const live = this.liveRecord(rec);
    const complete = rec.files.every((f, i) => this.offsetOf(live, i) === f.size);
    if (complete && live.state === 'uploading') await this.enqueue(live);
    return live;
  }

  private uploadProgress(rec: IngestRecord & { received?: number }, extra: number) {
    if (rec.state !== 'uploading') return;
    const total = rec.files.reduce((s, f) => s + f.size, 0);
    const got = Math.min(total, (rec.received ?? 0) + extra);
    this.progress(rec, 'uploading', total ? (100 * got) / total : 0);
  }

  /**
   * Cancels an upload (tus DELETE): its bytes are removed; nothing was created. Once queued, its job
   * is taken out of the lane, or aborted on whichever node runs it (that node removes what it made).
   */
  async cancel(id: string, claims: InviteClaims): Promise<void> {
    this.mayUpload(claims);
    const rec = this.liveRecord(await this.record(id, claims));
    if (rec.state === 'done' || rec.state === 'failed' || rec.state === 'cancelled') return;
    const was = rec.state;
    await Promise.all(rec.files.map((_, i) => this.settle(`${rec.id}.${i}`)));
    rec.state = 'cancelled';
    await this.setStage(rec, 'cancelled', 0, true);
    this.forget(rec);
    this.deps.log.info({ room: rec.roomId, ingest: rec.id, was }, `upload cancelled: ${rec.label}`);
    const mine = !rec.folder || rec.folder === this.folder;
    if (was === 'uploading' || (mine && (await this.deps.jobs.remove('media', ingestKey(rec.id))))) {
      await fs.promises.rm(this.uploadDir(rec.id), { recursive: true, force: true });
      return;
    }
    // Running somewhere, or its files are in another data folder (removed there at the next start).
    await this.deps.jobs.cancel('media', ingestKey(rec.id), { ingest: rec.id });
  }

  private mayUpload(claims: InviteClaims) {
    if (!can(claims.role, 'upload')) {
      throw new LoupeError(ErrorCode.FORBIDDEN_ROLE, `A ${claims.role} cannot upload media; ask for an artist, editor or director invite.`);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Progress

  private liveRecord(rec: IngestRecord): IngestRecord & { received?: number } {
    let live = this.live.get(rec.id);
    if (!live) {
      live = { ...rec };
      if (live.state === 'uploading') live.received = rec.files.reduce((s, _, i) => s + this.offsetOf(rec, i), 0);
      this.live.set(rec.id, live);
    }
    return live;
  }

  private forget(rec: IngestRecord) {
    this.live.delete(rec.id);
    this.lastEmit.delete(rec.id);
  }

  /**
   * Updates the stage (stored and sent at once) or the percent (sent at most every 250 ms). Resolves
   * once stored; callers on a progress callback need not wait (a failed write is logged there).
   */
  private setStage(rec: IngestRecord, stage: IngestStage, percent: number, store: boolean): Promise<void> {
    const changed = rec.stage !== stage;
    rec.stage = stage;
    rec.percent = Math.max(0, Math.min(100, Math.round(percent * 10) / 10));
    rec.updatedAt = new Date().toISOString();
    const stored = store || changed ? this.persist(rec) : Promise.resolve();
    this.emit(rec, store || changed);
    return stored;
  }

  /** Progress that need not wait for its write (a callback of ffmpeg, say). */
  private progress(rec: IngestRecord, stage: IngestStage, percent: number): void {
    this.setStage(rec, stage, percent, false).catch((err: Error) => this.deps.log.warn({ ingest: rec.id, err: err.message }, 'ingest progress not stored'));
  }

  /** Stores the record as it is now, after the writes made before (each write is the whole record). */
  private persist(rec: IngestRecord & { received?: number }): Promise<void> {
    const snapshot = stripLive(rec);
    const write = (this.writes.get(rec.id) ?? Promise.resolve()).catch(() => {}).then(() => this.deps.ingests.update(snapshot));
    this.writes.set(rec.id, write);
    void write.catch(() => {}).then(() => this.writes.get(rec.id) === write && this.writes.delete(rec.id));
    return write;
  }

  private emit(rec: IngestRecord, force: boolean) {
    const now = Date.now();
    if (!force && now - (this.lastEmit.get(rec.id) ?? 0) < 250) return;
    this.lastEmit.set(rec.id, now);
    const p: MediaProgress = {
      uploadId: rec.id,
      room: rec.roomId,
      name: rec.label,
      stage: rec.stage,
      percent: rec.percent,
      by: { id: rec.by.id, name: rec.by.name },
      shotId: rec.result?.shotId ?? rec.shotId,
    };
    if (rec.result) Object.assign(p, { versionId: rec.result.versionId, gaps: rec.result.gaps });
    if (rec.error) p.error = rec.error;
    this.deps.events.progress(rec.roomId, p);
  }

  // ---------------------------------------------------------------------------------------------
  // Processing

  /** Every byte is in: the ingest waits for a node to take its job (this one or another). */
  private async enqueue(rec: IngestRecord) {
    rec.state = 'queued';
    await this.setStage(rec, 'queued', 0, true);
    // Whichever node takes the job runs it from the stored record: this node's copy is dropped.
    this.forget(rec);
    this.deps.log.info({ room: rec.roomId, ingest: rec.id }, `upload received: ${rec.label}`);
    await this.queueJob(rec.id);
  }

  private queueJob(id: string): Promise<void> {
    return this.deps.jobs.add('media', INGEST_JOB, { id }, { key: ingestKey(id), attempts: INGEST_ATTEMPTS });
  }

  /**
   * At start: the job of every unfinished ingest is queued again. One already waiting or running (on
   * another node, under its lock) has the same key, so this adds nothing and disturbs nothing; one the
   * job system lost (this process stopped, Redis emptied) runs again.
   */
  async resumeUnfinished() {
    for (const rec of await this.deps.ingests.inStates(['queued', 'processing'])) {
      if (this.stopping) return;
      await this.queueJob(rec.id);
    }
    await this.removeOrphanWork();
    await this.expireOld();
  }

  /**
   * Leftovers in this data folder: work folders of ingests that are over (or unknown), and received
   * files of ingests that are over (a cancel from a node on another folder). Those of ingests waiting
   * or running, here or on another node sharing the folder, are not touched.
   */
  private async removeOrphanWork() {
    const over = async (id: string, unknown: boolean) => {
      const rec = await this.deps.ingests.get(id);
      return rec ? rec.state === 'done' || rec.state === 'failed' || rec.state === 'cancelled' : unknown;
    };
    const tmp = path.join(this.deps.dataDir, 'tmp');
    for (const d of await fs.promises.readdir(tmp).catch(() => [] as string[])) {
      if (d.startsWith('ingest-') && (await over(d.slice('ingest-'.length), true))) await fs.promises.rm(path.join(tmp, d), { recursive: true, force: true });
    }
    // An upload's folder is made just before its record: one without a record may be an upload being announced.
    for (const d of await fs.promises.readdir(this.uploadsRoot).catch(() => [] as string[])) {
      if (!d.startsWith('.') && (await over(d, false))) await fs.promises.rm(this.uploadDir(d), { recursive: true, force: true });
    }
  }

  /** Unfinished uploads older than UPLOAD_EXPIRY_HOURS are removed. */
  async expireOld() {
    const cutoff = Date.now() - this.deps.config.uploadExpiryHours * 3600_000;
    for (const rec of await this.deps.ingests.inStates(['uploading'])) {
      const live = this.live.get(rec.id) ?? rec;
      if (Date.parse(live.updatedAt) >= cutoff || this.writersFor(rec.id)) continue;
      live.state = 'cancelled';
      live.error = { code: ErrorCode.UPLOAD_NOT_FOUND, message: `The upload expired after ${this.deps.config.uploadExpiryHours} hours without progress.` };
      await this.setStage(live, 'cancelled', 0, true);
      this.forget(live);
      fs.rmSync(this.uploadDir(rec.id), { recursive: true, force: true });
      this.deps.log.info({ room: rec.roomId, ingest: rec.id }, 'unfinished upload expired');
    }
  }

  private writersFor(id: string) {
    return [...this.writers.keys()].some((k) => k.startsWith(`${id}.`));
  }

  /**
   * The `ingest.process` job. Idempotent: it may run again after a node died mid-way (its work folder,
   * this ingest's own, is made anew) or after the version was stored (then it is not made twice).
   */
  private async run(id: string, ctx: JobContext): Promise<Outcome> {
    if (this.stopping) return handOn('this node is stopping');
    const stored = await this.deps.ingests.get(id);
    if (!stored) return skipped('no such ingest');
    const unfinished = stored.state === 'queued' || stored.state === 'processing';
    if (stored.folder && stored.folder !== this.folder && (unfinished || stored.state === 'cancelled')) return this.elsewhere(stored, unfinished);
    if (!unfinished) {
      // Cancelled while its job waited for a node (or one that died): what it left goes now.
      if (stored.state === 'cancelled') await this.removeReceived(stored, this.workDir(id));
      return skipped(`the ingest is ${stored.state}`);
    }
    const abort = new AbortController();
    const signal = AbortSignal.any([ctx.signal, abort.signal]);
    const run = this.process(this.liveRecord(stored), signal, ctx.attempt);
    this.running.set(id, { abort, done: run });
    try {
      return await run;
    } finally {
      this.running.delete(id);
    }
  }

  private async process(rec: IngestRecord, signal: AbortSignal, attempt: number): Promise<Outcome> {
    const started = Date.now();
    rec.state = 'processing';
    if (attempt > 1) this.deps.log.info({ room: rec.roomId, ingest: rec.id, attempt }, `ingest runs again: ${rec.label}`);
    // This ingest's own folder: what a run before left half-made (a node that died) is made anew.
    const work = this.workDir(rec.id);
    await fs.promises.rm(work, { recursive: true, force: true });
    await fs.promises.mkdir(work, { recursive: true });
    try {
      const { shot, version, gaps } = (await this.stored(rec)) ?? (await this.ingest(rec, work, signal));
      // The received files go before the room hears "done": what is announced holds no leftovers.
      await this.removeReceived(rec, work);
      rec.state = 'done';
      const shotName = shot?.name ?? (await this.deps.rooms.shots(rec.roomId).catch(() => [])).find((s) => s.id === version.shotId)?.name;
      rec.result = { shotId: version.shotId, versionId: version.id, versionNumber: version.number, gaps, newShot: !!shot, shotName };
      if (shot) this.deps.events.shotCreated(rec.roomId, shot);
      this.deps.events.versionCreated(rec.roomId, version);
      await this.setStage(rec, 'done', 100, true);
      this.deps.log.info({ room: rec.roomId, ingest: rec.id, version: version.id, shot: version.shotId, ms: Date.now() - started }, `ingest done: ${rec.label}`);
      return done();
    } catch (e) {
      if (signal.aborted) return this.stopped(rec, work, signal.reason);
      const err = toIngestError(e, this.deps.dataDir);
      await this.removeReceived(rec, work);
      rec.state = 'failed';
      rec.error = err;
      await this.setStage(rec, 'failed', 0, true).catch((e: Error) => this.deps.log.error({ ingest: rec.id, err: e.message }, 'ingest failure not stored'));
      this.deps.log.warn({ room: rec.roomId, ingest: rec.id, code: err.code, err: err.message }, `ingest failed: ${rec.label}`);
      return { status: 'failed', code: err.code, message: err.message };
    } finally {
      this.forget(rec);
    }
  }

  /** The version a run before this one stored (its node died before saying so), with its shot when it made one. */
  private async stored(rec: IngestRecord): Promise<{ shot: Shot | null; version: Version; gaps: FrameGap[] } | null> {
    const version = await this.deps.versions.byJob(ingestKey(rec.id));
    if (!version) return null;
    const shot = rec.shotId ? null : ((await this.deps.rooms.shots(rec.roomId)).find((s) => s.id === version.shotId) ?? null);
    const source = version.media.type === 'video' ? version.media.source : undefined;
    return { shot, version, gaps: (source?.kind === 'sequence' && source.gaps) || [] };
  }

  /**
   * Its files were received in another data folder (nodes with folders of their own): a node there runs
   * it. If none has for UPLOAD_EXPIRY_HOURS (that folder's nodes are gone), it fails.
   */
  private async elsewhere(rec: IngestRecord, unfinished: boolean): Promise<Outcome> {
    const { uploadExpiryHours } = this.deps.config;
    if (Date.parse(rec.updatedAt) >= Date.now() - uploadExpiryHours * 3600_000) return { status: 'elsewhere', reason: `its files are in data folder ${rec.folder}` };
    if (!unfinished) return skipped(`the ingest is ${rec.state}; its files are in data folder ${rec.folder}, which no server runs on`);
    rec.state = 'failed';
    rec.error = { code: ErrorCode.INGEST_FAILED, message: `No server that received this upload has processed it for ${uploadExpiryHours} hours; upload it again.` };
    await this.setStage(rec, 'failed', 0, true);
    this.forget(rec);
    return { status: 'failed', code: rec.error.code, message: rec.error.message };
  }

  /**
   * A run aborted: cancelled (the files go, the room hears "cancelled"), or this node stopping (the
   * ingest waits again, queued, for another node or the next start; its received files stay).
   */
  private async stopped(rec: IngestRecord, work: string, reason: unknown): Promise<Outcome> {
    if (reason instanceof CancelReason) {
      await this.removeReceived(rec, work);
      rec.state = 'cancelled';
      await this.setStage(rec, 'cancelled', 0, true);
      this.deps.log.info({ room: rec.roomId, ingest: rec.id }, `ingest cancelled while processing: ${rec.label}`);
      return skipped('cancelled');
    }
    await fs.promises.rm(work, { recursive: true, force: true }).catch(() => {});
    rec.state = 'queued';
    await this.setStage(rec, 'queued', 0, true);
    return handOn('the node running it stopped');
  }

  private async removeReceived(rec: IngestRecord, work: string): Promise<void> {
    await fs.promises.rm(work, { recursive: true, force: true }).catch(() => {});
    await fs.promises.rm(this.uploadDir(rec.id), { recursive: true, force: true }).catch(() => {});
  }

  private async ingest(rec: IngestRecord, work: string, signal: AbortSignal): Promise<{ shot: Shot | null; version: Version; gaps: FrameGap[] }> {
    const files = rec.files.map((f, i) => ({ name: f.name, path: this.partPath(rec.id, i), size: f.size }));
    for (const f of files) {
      const size = fs.statSync(f.path).size;
      if (size !== f.size) throw new LoupeError(ErrorCode.INGEST_FAILED, `${f.name}: ${size} of ${f.size} bytes arrived.`);
    }
    const kind = mediaKindOf(files[0].name);
    if (kind === 'movie') return this.ingestMovie(rec, files[0], work, signal);
    let images = files;
    if (kind === 'archive') {
      await this.setStage(rec, 'unpacking', 0, true);
      const sniffed = await sniff(files[0].path);
      if (sniffed !== 'zip') throw mismatch(files[0].name, 'zip', sniffed);
      const { config } = this.deps;
      images = await unzipImages(files[0].path, path.join(work, 'unzipped'), { maxEntries: config.uploadMaxFiles, maxBytes: config.unpackMaxBytes }, (pct) =>
        this.progress(rec, 'unpacking', pct),
      );
    }
    return this.ingestSequence(rec, images, work, signal);
  }

  private async ingestMovie(rec: IngestRecord, file: { name: string; path: string; size: number }, work: string, signal: AbortSignal) {
    const { config } = this.deps;
    await this.setStage(rec, 'probing', 0, true);
    const sniffed = await sniff(file.path);
    if (sniffed !== 'isobmff') throw mismatch(file.name, 'movie', sniffed);
    const p = await probeMovie(file.path, file.name);
    if (!(MovieCodecs as readonly string[]).includes(p.codec)) {
      throw new LoupeError(ErrorCode.UNSUPPORTED_CODEC, `${file.name} is ${p.codec}; Loupe takes H.264, HEVC, ProRes and DNxHD/DNxHR movies.`);
    }
    if (!p.width || !p.height) throw new LoupeError(ErrorCode.CORRUPT_MEDIA, `${file.name}: the video stream has no size.`);
    checkPixels(file.name, p.width, p.height, config.maxPixels);
    this.progress(rec, 'probing', 50);

    const size = fitBox(p.width, p.height, p.sar, config.proxyMaxWidth, config.proxyMaxHeight);
    await this.setStage(rec, 'proxy', 0, true);
    const proxyFile = path.join(work, 'proxy.mp4');
    const onFrame = (n: number) => p.frameCount && this.progress(rec, 'proxy', (100 * n) / p.frameCount);
    const proxy = await decodeErrors(file.name, () =>
      movieProxy(file.path, proxyFile, p, size, config.proxyGop, onFrame, signal).catch((e) => {
        // A sound track ffmpeg cannot decode should not cost the picture: try again without it.
        if (!(e instanceof FfmpegError) || !p.hasAudio || signal.aborted) throw e;
        this.deps.log.warn({ ingest: rec.id, err: e.message }, 'proxy with audio failed; making it without');
        return movieProxy(file.path, proxyFile, { ...p, hasAudio: false }, size, config.proxyGop, onFrame, signal);
      }),
    );
    if (proxy.frames === 0) throw new LoupeError(ErrorCode.CORRUPT_MEDIA, `${file.name}: no frame could be decoded.`);
    if (p.frameCount && proxy.frames < p.frameCount * 0.98 - 2) {
      throw new LoupeError(ErrorCode.CORRUPT_MEDIA, `${file.name}: only ${proxy.frames} of its ${p.frameCount} frames could be decoded.`);
    }
    const lookup = frameIndexMode(await packetTimes(file.path), p.rate, proxy.frames);
    const rungs = await this.ladder(rec, proxyFile, proxy, work, signal);

    await this.setStage(rec, 'thumbnails', 0, true);
    const thumbs = await thumbnails(proxyFile, { frames: proxy.frames, rate: p.rate, gop: config.proxyGop, width: size.width, height: size.height }, work);
    this.progress(rec, 'thumbnails', 50);

    const source: MediaSource = {
      kind: 'movie',
      name: file.name,
      blob: '',
      codec: p.codec,
      profile: p.profile,
      pixFmt: p.pixFmt,
      bitDepth: p.bitDepth,
      colour: p.colour,
      rate: p.rate,
      durationS: proxy.frames / fpsOf(p.rate),
      startTimecode: p.startTimecode,
      dropFrame: p.dropFrame,
      ...(p.reel ? { reel: p.reel } : {}),
      sceneLinear: false,
      viewTransform: null,
      sizeBytes: file.size,
      frameLookup: lookup,
    };
    const blobs = await this.storeOutputs(proxyFile, thumbs, rungs);
    source.blob = await this.deps.blobs.putFile(file.path);
    const media: VersionMedia = {
      type: 'video',
      blob: blobs.proxy,
      width: p.width,
      height: p.height,
      fps: fpsOf(p.rate),
      frameCount: proxy.frames,
      proxy: { width: proxy.width, height: proxy.height, gop: config.proxyGop, bitrate: bitrateOf(blobs.proxyBytes, proxy.frames / fpsOf(p.rate)) },
      ladder: blobs.ladder,
      source,
      thumbnail: blobs.poster,
      filmstrip: { blob: blobs.strip, frames: thumbs.stripFrames, tileWidth: thumbs.tileWidth, tileHeight: thumbs.tileHeight, columns: thumbs.stripFrames.length },
    };
    const shotName = rec.shotName ?? file.name.replace(/\.[^.]+$/, '');
    const created = await this.createVersion(rec, media, shotName, [...blobs.grants, source.blob]);
    return { ...created, gaps: [] };
  }

  private async ingestSequence(rec: IngestRecord, files: { name: string; path: string; size: number }[], work: string, signal: AbortSignal) {
    const { config } = this.deps;
    await this.setStage(rec, 'probing', 0, true);
    let layout;
    try {
      layout = layoutSequence(
        files.map((f) => f.name),
        { maxFrames: MAX_SEQUENCE_SPAN },
      );
    } catch (e) {
      if (e instanceof SequenceError) throw new LoupeError(ErrorCode.SEQUENCE_INVALID, `Not one image sequence: ${e.message}.`);
      throw e;
    }
    const byName = new Map(files.map((f) => [f.name, f]));
    const ordered = layout.files.map((n) => byName.get(n)!);
    const format = imageFormatOf(ordered[0].name)!;
    let first: ImageHeader | undefined;
    let bitDepth = 8;
    for (const [i, f] of ordered.entries()) {
      const sniffed = await sniff(f.path);
      if (sniffed !== format) throw mismatch(f.name, format, sniffed);
      const h = await imageHeader(f.path, format, f.name);
      checkPixels(f.name, h.width, h.height, config.maxPixels);
      if (!first) first = h;
      else if (h.width !== first.width || h.height !== first.height) {
        throw new LoupeError(ErrorCode.SEQUENCE_INVALID, `${f.name} is ${h.width}x${h.height}; the first frame is ${first.width}x${first.height}.`);
      }
      bitDepth = Math.max(bitDepth, h.bitDepth);
      if (i % 50 === 0) this.progress(rec, 'probing', (80 * i) / ordered.length);
    }
    const decoded = await probeImage(ordered[0].path, ordered[0].name, format);
    checkPixels(ordered[0].name, decoded.width, decoded.height, config.maxPixels);
    const rate: Rational = toRational(rec.fps ?? first!.fps ?? config.sequenceFps);
    const sceneLinear = format === 'exr';

    // Frames 0..span-1 as links named for ffmpeg; a missing frame holds the one before it.
    const span = layout.lastFrame - layout.firstFrame + 1;
    const linkDir = path.join(work, 'frames');
    await fs.promises.mkdir(linkDir, { recursive: true });
    const ext = extensionOf(ordered[0].name);
    let j = 0;
    for (let i = 0; i < span; i++) {
      while (j + 1 < layout.frames.length && layout.frames[j + 1] <= layout.firstFrame + i) j++;
      await fs.promises.symlink(path.resolve(ordered[j].path), path.join(linkDir, `f_${String(i).padStart(8, '0')}.${ext}`));
    }

    const size = fitBox(decoded.width, decoded.height, 1, config.proxyMaxWidth, config.proxyMaxHeight);
    await this.setStage(rec, 'proxy', 0, true);
    const proxyFile = path.join(work, 'proxy.mp4');
    const proxy = await decodeErrors(layout.files[0], () =>
      sequenceProxy(
        path.join(linkDir, `f_%08d.${ext}`),
        proxyFile,
        { decoder: decoderFor(format), pixFmt: decoded.pixFmt, colour: decoded.colour, rate, sceneLinear },
        size,
        config.proxyGop,
        (n) => this.progress(rec, 'proxy', (100 * n) / span),
        signal,
      ),
    );
    if (proxy.frames !== span) {
      throw new LoupeError(ErrorCode.CORRUPT_MEDIA, `${sequenceLabel(layout)}: ${proxy.frames} of ${span} frames could be decoded; a frame file is damaged.`);
    }
    const rungs = await this.ladder(rec, proxyFile, proxy, work, signal);

    await this.setStage(rec, 'thumbnails', 0, true);
    const thumbs = await thumbnails(proxyFile, { frames: span, rate, gop: config.proxyGop, width: size.width, height: size.height }, work);

    const blobs = await this.storeOutputs(proxyFile, thumbs, rungs);
    const frames: SequenceManifest['frames'] = [];
    for (const [i, f] of ordered.entries()) frames.push({ frame: layout.frames[i], sha256: await this.deps.blobs.putFile(f.path) });
    const manifest: SequenceManifest = { format, firstFrame: layout.firstFrame, lastFrame: layout.lastFrame, bitDepth, frames };
    const manifestSha = await this.deps.blobs.put(Buffer.from(JSON.stringify(manifest)));
    const label = sequenceLabel(layout);
    const source: MediaSource = {
      kind: 'sequence',
      name: label,
      manifest: manifestSha,
      codec: decoded.codec,
      pixFmt: decoded.pixFmt,
      bitDepth,
      colour: decoded.colour,
      rate,
      durationS: span / fpsOf(rate),
      startTimecode: first!.timecode ?? '00:00:00:00',
      dropFrame: !!first!.dropFrame,
      ...(first!.reel ? { reel: first!.reel } : {}),
      firstFrame: layout.firstFrame,
      lastFrame: layout.lastFrame,
      gaps: layout.gaps,
      sceneLinear,
      viewTransform: sceneLinear ? VIEW_TRANSFORM_ID : null,
      sizeBytes: files.reduce((s, f) => s + f.size, 0),
    };
    const media: VersionMedia = {
      type: 'video',
      blob: blobs.proxy,
      width: decoded.width,
      height: decoded.height,
      fps: fpsOf(rate),
      frameCount: span,
      proxy: { width: proxy.width, height: proxy.height, gop: config.proxyGop, bitrate: bitrateOf(blobs.proxyBytes, span / fpsOf(rate)) },
      ladder: blobs.ladder,
      source,
      thumbnail: blobs.poster,
      filmstrip: { blob: blobs.strip, frames: thumbs.stripFrames, tileWidth: thumbs.tileWidth, tileHeight: thumbs.tileHeight, columns: thumbs.stripFrames.length },
    };
    const shotName = rec.shotName ?? (layout.prefix.replace(/[._-]+$/, '') || label);
    const created = await this.createVersion(rec, media, shotName, blobs.grants);
    return { ...created, gaps: layout.gaps };
  }

  /**
   * The ladder's rungs, made from the proxy (stage `ladder`, percent of frames; no stage when the proxy
   * is 360p or smaller and gets none). A rung that fails fails the ingest: a version gets all its media or none.
   */
  private async ladder(rec: IngestRecord, proxyFile: string, proxy: ProxyResult, work: string, signal: AbortSignal): Promise<RungFile[]> {
    if (ladderSizes(proxy).length === 0) return [];
    await this.setStage(rec, 'ladder', 0, true);
    const started = Date.now();
    const rungs = await ladderRungs(proxyFile, proxy, work, (n) => this.progress(rec, 'ladder', (100 * n) / proxy.frames), signal).catch((e: unknown) => {
      // The proxy decoded before: a failure here is the server's, not the upload's.
      if (e instanceof FfmpegError) throw new LoupeError(ErrorCode.INGEST_FAILED, `The proxy ladder could not be made (${e.message.replace(/^ffmpeg exited with \d+: /, '')}).`);
      throw e;
    });
    this.deps.log.info({ ingest: rec.id, rungs: rungs.map((r) => r.name), ms: Date.now() - started }, 'proxy ladder made');
    return rungs;
  }

  /** Stores the proxy, its rungs and the thumbnails; `grants` are the blobs the room may read. */
  private async storeOutputs(proxyFile: string, thumbs: { poster: string; strip: string }, rungs: RungFile[]) {
    const put = (file: string) => this.deps.blobs.putFile(file);
    const proxyBytes = (await fs.promises.stat(proxyFile)).size;
    const proxy = await put(proxyFile);
    const ladder = await storeLadder(rungs, put);
    const poster = await put(thumbs.poster);
    const strip = await put(thumbs.strip);
    return { proxy, proxyBytes, ladder, poster, strip, grants: [proxy, ...(ladder ?? []).map((r) => r.blob), poster, strip] };
  }

  /** The only write of an ingest: the shot (when new) and the version, in one transaction, once per ingest. */
  private createVersion(rec: IngestRecord, media: VersionMedia & { type: 'video' }, shotName: string, grants: string[]): Promise<{ shot: Shot | null; version: Version }> {
    const jobId = `ingest:${rec.id}`;
    return this.deps.versions.transaction(async (trx) => {
      const rooms = this.deps.rooms.in(trx);
      const versions = this.deps.versions.in(trx);
      const existing = await versions.byJob(jobId);
      if (existing) return { shot: null, version: existing };
      const now = new Date().toISOString();
      let shot: Shot | null = null;
      let shotId = rec.shotId;
      if (shotId) {
        if (!(await rooms.shots(rec.roomId)).some((s) => s.id === shotId)) throw new LoupeError(ErrorCode.SHOT_NOT_FOUND, `Shot ${shotId} is gone from the room.`);
      } else {
        const src = media.source!;
        shot = {
          id: shortId(),
          name: shotName.slice(0, 200),
          fps: media.fps,
          dropFrame: src.dropFrame,
          width: media.width,
          height: media.height,
          frameCount: media.frameCount,
          startTimecode: src.startTimecode,
        };
        await rooms.addShot(rec.roomId, shot, now);
        shotId = shot.id;
      }
      for (const sha of grants) await rooms.grantBlob(rec.roomId, sha);
      const version = await versions.insert(
        rec.roomId,
        {
          id: shortId(),
          shotId,
          label: rec.label,
          kind: 'source',
          status: 'pending',
          parentVersionId: null,
          media,
          createdBy: { id: rec.by.id, name: rec.by.name },
          createdAt: now,
          provenance: null,
        },
        jobId,
      );
      return { shot, version };
    });
  }

  /**
   * Stops processing: a running ingest is aborted and waits again, queued (another node takes its
   * job, or this one after the restart); uploads in flight keep what they wrote.
   */
  async shutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.expiryTimer);
    for (const w of this.writers.values()) w.req.destroy();
    const running = [...this.running.values()];
    for (const r of running) r.abort.abort(new Error('stopping'));
    await Promise.allSettled(running.map((r) => r.done));
    // Before the database closes.
    await Promise.allSettled([...this.writes.values()]);
  }
}

/**
 * The id of the data folder `dir` is in, made by the first node on it: nodes sharing the folder share
 * the id. Made under a temporary name and linked into place, so no node reads it half-written.
 */
function folderId(dir: string): string {
  const file = path.join(dir, '.folder-id');
  if (!fs.existsSync(file)) {
    const tmp = `${file}.${crypto.randomBytes(6).toString('hex')}`;
    fs.writeFileSync(tmp, crypto.randomUUID());
    try {
      fs.linkSync(tmp, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }
  return fs.readFileSync(file, 'utf8').trim();
}

/** Average bits per second of `bytes` over `seconds`. */
function bitrateOf(bytes: number, seconds: number): number {
  return seconds > 0 ? Math.round((bytes * 8) / seconds) : 0;
}

function stripLive(rec: IngestRecord & { received?: number }): IngestRecord {
  const { received: _r, ...rest } = rec;
  return rest;
}

function checkPixels(name: string, width: number, height: number, max: number) {
  if (width * height > max) {
    throw new LoupeError(ErrorCode.IMAGE_TOO_LARGE, `${name} is ${width}x${height} (${(width * height / 1e6).toFixed(1)} MP); at most ${(max / 1e6).toFixed(1)} MP (MEDIA_MAX_PIXELS).`);
  }
}

const KIND_NAMES: Record<string, string> = {
  isobmff: 'an MP4/QuickTime movie',
  png: 'a PNG image',
  jpeg: 'a JPEG image',
  tiff: 'a TIFF image',
  exr: 'an OpenEXR image',
  dpx: 'a DPX image',
  zip: 'a zip archive',
  unknown: 'no format Loupe knows',
};

function mismatch(name: string, expected: string, found: string): LoupeError {
  const want = expected === 'movie' ? KIND_NAMES.isobmff : KIND_NAMES[expected] ?? expected;
  return new LoupeError(ErrorCode.CONTENT_MISMATCH, `${name} is named as ${want} but its content is ${KIND_NAMES[found] ?? found}.`);
}

/** ffmpeg failures while decoding a source are the source's fault: CORRUPT_MEDIA. */
async function decodeErrors<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof FfmpegError) throw new LoupeError(ErrorCode.CORRUPT_MEDIA, `${name} could not be decoded (${e.message.replace(/^ffmpeg exited with \d+: /, '')}).`);
    throw e;
  }
}

function toIngestError(e: unknown, dataDir: string): { code: string; message: string } {
  const full = storageRefusal(e);
  const r = full
    ? { code: full.code, message: full.message }
    : e instanceof LoupeError
      ? { code: e.code, message: e.message }
      : e instanceof FfmpegError
        ? { code: ErrorCode.CORRUPT_MEDIA, message: e.message }
        : { code: ErrorCode.INGEST_FAILED, message: `Processing failed: ${(e as Error)?.message ?? String(e)}` };
  // The uploader reads this: no server paths, no decoder addresses.
  r.message = r.message
    .replace(/\[[\w,]+ @ 0x[0-9a-f]+\] ?/g, '')
    .split(dataDir)
    .join('')
    .replace(/\/(uploads|tmp)\/[^\s:|)]*/g, '(file)');
  return r;
}

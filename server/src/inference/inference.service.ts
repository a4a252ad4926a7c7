import { fork, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.js';
import { blit, type Pixels, type Rect } from './tiling.js';
import type { EncodedTile } from './png.js';
import type { ChunkRun, InferenceRun, ModelInspection, PngText, RegionView, SourceRegion, ViewPixels, WorkerReply, WorkerRequest } from './messages.js';

/** A frame of a chunk, written by the worker: its full-quality PNG and its preview JPEG (temporary files). */
export interface ChunkFrameWritten {
  frame: number;
  png: string;
  preview: string;
  ms: number;
}
export type { InferenceRun };

export interface InferenceEvents {
  /** `restored`: tiles an earlier run of the job computed, loaded from its checkpoint (they come first, flagged). */
  onStart(info: { provider: string; tiles: number; width: number; height: number; restored?: number }): void;
  /** A tile: raw pixels, or encoded for the room when the run writes a result file; `restored`: the room has it already. */
  onTile(tile: { index: number; rect: Rect; rgb?: Pixels; encoded?: EncodedTile; preview?: boolean; restored?: boolean }): void;
  /** A sealed result is encoded: the text its file carries (the run fails if this throws). */
  seal?(result: { provider: string; depth: 8 | 16 }): Promise<PngText>;
}

export interface InferenceResult {
  provider: string;
  /** The result, width x height as announced at start, at the depth of its tiles (8 or 16 bits); absent when written to `resultPath`. */
  rgb?: Pixels;
  /** The result PNG the worker wrote (runs with a result file), and its depth. */
  resultPath?: string;
  depth?: 8 | 16;
  /** A sealed result file's sha256 (hashed as the worker wrote it). */
  sha256?: string;
  info?: Record<string, unknown>;
}

/**
 * How the worker's C library hands out memory. Its big buffers (a 16-bit 1080p frame is 12 MB, its
 * float tiles twice that) are kept by the process once freed, and in transparent huge pages, rather
 * than mapped fresh for each and unmapped when freed: on a virtual machine the first touch of fresh
 * memory is slow (measured here: 29 ms to fill 10 MB just allocated, 0.3-0.7 ms with these settings).
 * glibc reads it at start (other C libraries ignore it); a GLIBC_TUNABLES of the server's own comes
 * after, and wins.
 */
const WORKER_MALLOC = 'glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824';

/** Why a run was stopped from outside: the job was cancelled, or ran past its time. */
export class RunStopped extends Error {
  constructor(readonly reason: 'cancelled' | 'timeout') {
    super(reason === 'cancelled' ? 'cancelled' : 'timed out');
  }
}

/**
 * Runs models and fill algorithms in a worker process, one run at a time, so the event loop keeps
 * serving the rooms. Stopping a run kills the process (it is restarted on the next run): nothing of
 * a stopped run can come back afterwards.
 */
export class InferenceService {
  private worker: ChildProcess | null = null;
  private current: {
    jobId: string;
    events: InferenceEvents;
    resolve: (r: InferenceResult) => void;
    /** Set while the worker reads the job's region (before its run). */
    onRead?: (views: ViewPixels[]) => void;
    /** Set while the worker renders a chunk of a shot. */
    chunk?: { onFrame: (f: ChunkFrameWritten) => void; resolve: (r: { segment: string; provider: string }) => void };
    reject: (e: Error) => void;
    /** Output size announced at start, and the result assembled from the final tiles. */
    size?: { width: number; height: number };
    assembled?: Pixels;
  } | null = null;
  private inspections = new Map<string, { resolve: (r: ModelInspection) => void; reject: (e: Error) => void }>();

  constructor(
    private readonly providers: string[],
    private readonly log: Logger,
    /** false on a node that runs no fixes (ROLE=api): asking it to run anything is a bug, and fails. */
    private readonly runs = true,
  ) {}

  /**
   * Worker reads made ahead of a job (fix:prepare): while one is in flight, the jobs' own requests
   * wait for it (a short decode and plan) rather than find the worker busy.
   */
  private aheadOfJobs: Promise<void> | null = null;

  /**
   * Runs `fn` (which reads through the worker) ahead of any job, when the worker is free now and no
   * other such work is in flight; null, and `fn` not called, when it is not (or on a node that runs no fixes).
   */
  ahead<T>(fn: () => Promise<T>): Promise<T> | null {
    if (this.current || this.aheadOfJobs || !this.runs) return null;
    const work = fn();
    const settled = work.then(
      () => {},
      () => {},
    );
    this.aheadOfJobs = settled;
    void settled.then(() => {
      if (this.aheadOfJobs === settled) this.aheadOfJobs = null;
    });
    return work;
  }

  async run(jobId: string, req: InferenceRun, events: InferenceEvents): Promise<InferenceResult> {
    await this.aheadOfJobs;
    if (this.current) throw new Error('inference worker is busy');
    const worker = this.ensureWorker();
    return new Promise((resolve, reject) => {
      this.current = { jobId, events, resolve, reject };
      const msg = { ...req, type: 'run', jobId, providers: this.providers } as WorkerRequest;
      worker.send(msg);
    });
  }

  /**
   * Has the worker decode a job's region now, once: it keeps the pixels for the job's tile run (the
   * same `source`), and returns the 8-bit `views` the server plans from, so the frame is not decoded
   * twice (once here to plan, once there to run). Stoppable like a run.
   */
  async read(jobId: string, source: SourceRegion, views: RegionView[], ahead = false): Promise<ViewPixels[]> {
    if (!ahead) await this.aheadOfJobs;
    if (this.current) throw new Error('inference worker is busy');
    const worker = this.ensureWorker();
    return new Promise((onRead, reject) => {
      this.current = { jobId, events: { onStart() {}, onTile() {} }, resolve() {}, onRead, reject };
      const msg: WorkerRequest = { type: 'read', jobId, source, views, providers: this.providers };
      worker.send(msg);
    });
  }

  /**
   * Has the worker render a chunk of a shot (chunk.ts): `onFrame` hears each frame once its files are
   * written; resolves with the chunk's proxy segment. Stoppable like a run.
   */
  async chunk(jobId: string, req: ChunkRun, onFrame: (f: ChunkFrameWritten) => void): Promise<{ segment: string; provider: string }> {
    await this.aheadOfJobs;
    if (this.current) throw new Error('inference worker is busy');
    const worker = this.ensureWorker();
    return new Promise((resolve, reject) => {
      this.current = { jobId, events: { onStart() {}, onTile() {} }, resolve() {}, reject, chunk: { onFrame, resolve } };
      const msg: WorkerRequest = { ...req, type: 'chunk', jobId, providers: this.providers };
      worker.send(msg);
    });
  }

  /** The model's real inputs and outputs, and the provider it loads on (for checking manifests). */
  inspect(modelPath: string): Promise<ModelInspection> {
    const worker = this.ensureWorker();
    const requestId = crypto.randomUUID();
    return new Promise((resolve, reject) => {
      this.inspections.set(requestId, { resolve, reject });
      const msg: WorkerRequest = { type: 'inspect', requestId, modelPath, providers: this.providers };
      worker.send(msg);
    });
  }

  /** Stops the run of `jobId` if it is the one running; its promise rejects with RunStopped. */
  async stop(jobId: string, reason: RunStopped['reason']): Promise<boolean> {
    if (this.current?.jobId !== jobId) return false;
    const cur = this.current;
    this.current = null;
    cur.reject(new RunStopped(reason));
    await this.close();
    return true;
  }

  get busy(): boolean {
    return this.current !== null;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w && w.exitCode === null && w.signalCode === null) {
      const exited = new Promise((r) => w.once('exit', r));
      // Profiled (LOUPE_WORKER_PROF): let it exit by itself, which writes its profiles.
      if (process.env.LOUPE_WORKER_PROF) w.disconnect();
      else w.kill('SIGKILL');
      await exited;
    }
  }

  private ensureWorker(): ChildProcess {
    if (this.worker) return this.worker;
    if (!this.runs) throw new Error('This node runs no fixes (ROLE=api): the inference process is started on the workers only.');
    const worker = fork(fileURLToPath(new URL('./inference.worker.mjs', import.meta.url)), [], {
      serialization: 'advanced',
      // LOUPE_WORKER_PROF=<folder>: CPU profiles of the worker's threads (docs/gpu.md, "Profiling the worker").
      execArgv: process.env.LOUPE_WORKER_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.LOUPE_WORKER_PROF}`] : [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, GLIBC_TUNABLES: [WORKER_MALLOC, process.env.GLIBC_TUNABLES].filter(Boolean).join(':') },
    });
    worker.on('message', (m: WorkerReply) => {
      if (this.worker === worker) this.onMessage(m);
    });
    worker.on('error', (e) => {
      if (this.worker === worker) this.fail(new Error(`inference worker failed: ${e.message}`));
    });
    worker.on('exit', (code, signal) => {
      if (this.worker !== worker) return; // stopped on purpose; its run was settled then
      this.worker = null;
      this.fail(new Error(`The inference worker stopped (${signal ?? `exit code ${code}`}) during the run; nothing of it was kept. Ask for the fix again.`));
    });
    this.worker = worker;
    return worker;
  }

  private onMessage(m: WorkerReply) {
    if (m.type === 'log') return this.log.info(m.message);
    if (m.type === 'inspected') {
      const p = this.inspections.get(m.requestId);
      this.inspections.delete(m.requestId);
      if (m.result) p?.resolve(m.result);
      else p?.reject(new Error(m.error ?? 'inspection failed'));
      return;
    }
    const cur = this.current;
    if (!cur || cur.jobId !== m.jobId) return;
    if (m.type === 'frame') {
      cur.chunk?.onFrame({ frame: m.frame, png: m.png, preview: m.preview, ms: m.ms });
    } else if (m.type === 'chunk-done') {
      this.current = null;
      cur.chunk?.resolve({ segment: m.segment, provider: m.provider });
    } else if (m.type === 'read') {
      this.current = null;
      cur.onRead?.(m.views);
    } else if (m.type === 'started') {
      cur.size = { width: m.width, height: m.height };
      cur.events.onStart(m);
    } else if (m.type === 'tile') {
      if (!m.preview && cur.size && m.rgb) {
        cur.assembled ??= m.rgb instanceof Uint16Array ? new Uint16Array(cur.size.width * cur.size.height * 3) : new Uint8Array(cur.size.width * cur.size.height * 3);
        if (cur.assembled.constructor === m.rgb.constructor) blit(cur.assembled, cur.size.width, m.rgb, m.rect);
      }
      cur.events.onTile({ index: m.index, rect: m.rect, rgb: m.rgb, encoded: m.encoded, preview: m.preview, restored: m.restored });
    } else if (m.type === 'encoded') {
      const worker = this.worker;
      const seal = cur.events.seal ? cur.events.seal({ provider: m.provider, depth: m.depth }) : Promise.reject(new Error('a sealed result needs a seal'));
      seal.then(
        (text) => {
          if (this.current === cur) worker?.send({ type: 'seal', jobId: m.jobId, text } satisfies WorkerRequest);
        },
        (e: Error) => {
          // Nothing of the run is kept: the worker, waiting for its seal, is stopped.
          if (this.current !== cur) return;
          this.current = null;
          cur.reject(e);
          void this.close();
        },
      );
    } else if (m.type === 'done') {
      this.current = null;
      const rgb = m.rgb ?? cur.assembled;
      if (!rgb && !m.resultPath) return cur.reject(new Error('the inference worker sent no result'));
      cur.resolve({ provider: m.provider, rgb, resultPath: m.resultPath, depth: m.depth, sha256: m.sha256, info: m.info });
    } else if (m.type === 'error') {
      this.current = null;
      cur.reject(new Error(m.message));
    }
  }

  private fail(e: Error) {
    const cur = this.current;
    this.current = null;
    cur?.reject(e);
    for (const p of this.inspections.values()) p.reject(e);
    this.inspections.clear();
  }
}

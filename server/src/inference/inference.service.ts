import { Worker } from 'node:worker_threads';
import type { Logger } from '../log.js';
import type { Rect } from './tiling.js';
import type { WorkerReply, WorkerRequest } from './messages.js';

export interface InferenceRun {
  modelPath: string;
  rgb: Uint8Array;
  width: number;
  height: number;
  scale: number;
  tileSize: number;
  context: number;
}

export interface InferenceEvents {
  onStart(info: { provider: string; tiles: number; width: number; height: number }): void;
  onTile(tile: { index: number; rect: Rect; rgb: Uint8Array }): void;
}

/** Runs models in a worker thread, one run at a time, so the event loop keeps serving the rooms. */
export class InferenceService {
  private worker: Worker | null = null;
  private current: { jobId: string; events: InferenceEvents; resolve: (r: { provider: string; rgb: Uint8Array }) => void; reject: (e: Error) => void } | null = null;

  constructor(
    private readonly providers: string[],
    private readonly log: Logger,
  ) {}

  run(jobId: string, req: InferenceRun, events: InferenceEvents): Promise<{ provider: string; rgb: Uint8Array }> {
    if (this.current) return Promise.reject(new Error('inference worker is busy'));
    const worker = this.ensureWorker();
    return new Promise((resolve, reject) => {
      this.current = { jobId, events, resolve, reject };
      const rgb = req.rgb.slice().buffer as ArrayBuffer;
      const msg: WorkerRequest = { type: 'run', jobId, providers: this.providers, ...req, rgb };
      worker.postMessage(msg, [rgb]);
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./inference.worker.mjs', import.meta.url));
    worker.unref();
    worker.on('message', (m: WorkerReply) => this.onMessage(m));
    worker.on('error', (e) => this.fail(new Error(`inference worker crashed: ${e.message}`)));
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = null;
      if (code !== 0) this.fail(new Error(`inference worker exited with code ${code}`));
    });
    this.worker = worker;
    return worker;
  }

  private onMessage(m: WorkerReply) {
    if (m.type === 'log') return this.log.info(m.message);
    const cur = this.current;
    if (!cur || cur.jobId !== m.jobId) return;
    if (m.type === 'started') cur.events.onStart(m);
    else if (m.type === 'tile') cur.events.onTile({ index: m.index, rect: m.rect, rgb: new Uint8Array(m.rgb) });
    else if (m.type === 'done') {
      this.current = null;
      cur.resolve({ provider: m.provider, rgb: new Uint8Array(m.rgb) });
    } else if (m.type === 'error') this.fail(new Error(m.message));
  }

  private fail(e: Error) {
    const cur = this.current;
    this.current = null;
    cur?.reject(e);
  }
}

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.js';
import type { Rect } from './tiling.js';
import type { InferenceRun, WorkerReply, WorkerRequest } from './messages.js';
export type { InferenceRun };

export interface InferenceEvents {
  onStart(info: { provider: string; tiles: number; width: number; height: number }): void;
  onTile(tile: { index: number; rect: Rect; rgb: Uint8Array }): void;
}

/** Runs models in a worker process, one run at a time, so the event loop keeps serving the rooms. */
export class InferenceService {
  private worker: ChildProcess | null = null;
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
      const msg: WorkerRequest = { type: 'run', jobId, providers: this.providers, ...req };
      worker.send(msg);
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w && w.exitCode === null) {
      const exited = new Promise((r) => w.once('exit', r));
      w.kill('SIGKILL');
      await exited;
    }
  }

  private ensureWorker(): ChildProcess {
    if (this.worker) return this.worker;
    const worker = fork(fileURLToPath(new URL('./inference.worker.mjs', import.meta.url)), [], {
      serialization: 'advanced',
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    worker.on('message', (m: WorkerReply) => this.onMessage(m));
    worker.on('error', (e) => this.fail(new Error(`inference worker failed: ${e.message}`)));
    worker.on('exit', (code, signal) => {
      if (this.worker === worker) this.worker = null;
      this.fail(new Error(`inference worker stopped (${signal ?? `exit code ${code}`})`));
    });
    this.worker = worker;
    return worker;
  }

  private onMessage(m: WorkerReply) {
    if (m.type === 'log') return this.log.info(m.message);
    const cur = this.current;
    if (!cur || cur.jobId !== m.jobId) return;
    if (m.type === 'started') cur.events.onStart(m);
    else if (m.type === 'tile') cur.events.onTile({ index: m.index, rect: m.rect, rgb: m.rgb });
    else if (m.type === 'done') {
      this.current = null;
      cur.resolve({ provider: m.provider, rgb: m.rgb });
    } else if (m.type === 'error') this.fail(new Error(m.message));
  }

  private fail(e: Error) {
    const cur = this.current;
    this.current = null;
    cur?.reject(e);
  }
}

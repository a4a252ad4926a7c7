/**
 * ONNX Runtime sessions living on one worker thread (ort.thread.mjs). onnxruntime-node's
 * `session.run` is synchronous underneath its promise: on the calling thread nothing else happens
 * until it returns. Hosted here, the caller's thread stays free while a batch runs: it prepares the
 * next batch's tensor, turns the last batch's output into pixels and tiles, and sends them, so that
 * this work overlaps inference instead of adding to it (docs/gpu.md, "How fast the fix pipeline is").
 * Tensors cross by transfer, not by copy.
 */
import { Worker } from 'node:worker_threads';
import type ort from 'onnxruntime-node';

export type TensorType = 'float32' | 'uint8' | 'int64' | 'float16' | 'int32' | 'uint16';
export interface HostTensor {
  type: TensorType;
  data: Float32Array | Uint8Array | Uint16Array | Int32Array | BigInt64Array;
  dims: number[];
}
export interface ValueMeta {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: (number | string)[];
}
export interface HostedSession {
  id: number;
  inputs: ValueMeta[];
  outputs: ValueMeta[];
}

type Reply = { id: number; value?: unknown; error?: string };

export class OrtHost {
  private worker: Worker | null = null;

  /** `lost` is called when the thread ends (its sessions are gone with it). */
  constructor(private readonly lost: () => void = () => {}) {}

  private next = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  /** Opens a session on the thread; rejects with ORT's message (a provider that cannot load, a bad file). */
  async create(path: string, options: ort.InferenceSession.SessionOptions): Promise<HostedSession> {
    const session = this.next++;
    const meta = (await this.call({ type: 'create', session, path, options })) as Omit<HostedSession, 'id'>;
    return { id: session, ...meta };
  }

  /** One session.run on the thread. The feeds' buffers move to the thread (they are unusable here afterwards). */
  async run(session: HostedSession, feeds: Record<string, HostTensor>): Promise<{ outputs: Record<string, HostTensor>; ms: number }> {
    const transfer = [...new Set(Object.values(feeds).map((t) => t.data.buffer as ArrayBuffer))];
    return (await this.call({ type: 'run', session: session.id, feeds }, transfer)) as { outputs: Record<string, HostTensor>; ms: number };
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    await w?.terminate();
  }

  private call(msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<unknown> {
    const w = this.ensure();
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // The thread keeps the process alive only while it has work (tests and the benchmark drive this in-process).
      w.ref();
      w.postMessage({ ...msg, id }, transfer);
    });
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./ort.thread.mjs', import.meta.url));
    w.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      if (!p) return;
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve(m.value);
    });
    const fail = (e: Error) => {
      if (this.worker === w) this.worker = null;
      this.lost();
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    w.on('error', (e) => fail(new Error(`ONNX Runtime thread failed: ${e.message}`)));
    w.on('exit', (code) => fail(new Error(`ONNX Runtime thread exited (${code})`)));
    w.unref();
    this.worker = w;
    return w;
  }
}

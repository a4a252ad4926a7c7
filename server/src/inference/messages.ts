import type { Rect } from './tiling.js';

/** Main thread -> inference worker. */
export interface WorkerRequest {
  type: 'run';
  jobId: string;
  modelPath: string;
  providers: string[];
  /** Interleaved RGB8 of the input, width x height. */
  rgb: ArrayBuffer;
  width: number;
  height: number;
  scale: number;
  tileSize: number;
  context: number;
}

/** Inference worker -> main thread. */
export type WorkerReply =
  | { type: 'log'; message: string }
  | { type: 'started'; jobId: string; provider: string; tiles: number; width: number; height: number }
  | { type: 'tile'; jobId: string; index: number; rect: Rect; rgb: ArrayBuffer }
  | { type: 'done'; jobId: string; provider: string; rgb: ArrayBuffer }
  | { type: 'error'; jobId: string; message: string };

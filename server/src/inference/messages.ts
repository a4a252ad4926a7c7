import type { Rect } from './tiling.js';

/** One model run over an image, tile by tile. */
export interface InferenceRun {
  modelPath: string;
  /** Interleaved RGB8 of the input, width x height. */
  rgb: Uint8Array;
  width: number;
  height: number;
  scale: number;
  tileSize: number;
  context: number;
}

/** Server -> inference worker process (IPC with advanced serialization, so typed arrays travel as such). */
export interface WorkerRequest extends InferenceRun {
  type: 'run';
  jobId: string;
  providers: string[];
}

/** Inference worker process -> server. */
export type WorkerReply =
  | { type: 'log'; message: string }
  | { type: 'started'; jobId: string; provider: string; tiles: number; width: number; height: number }
  | { type: 'tile'; jobId: string; index: number; rect: Rect; rgb: Uint8Array }
  | { type: 'done'; jobId: string; provider: string; rgb: Uint8Array }
  | { type: 'error'; jobId: string; message: string };

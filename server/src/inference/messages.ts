import type { Rect } from './tiling.js';

/** A float32 tensor that travels to the worker as is (advanced IPC serialization keeps typed arrays). */
export interface TensorData {
  dims: number[];
  data: Float32Array;
}

/** An ONNX model run over an image, tile by tile (upscale, colour, denoise). */
export interface TileRun {
  kind: 'tiles';
  modelPath: string;
  inputName: string;
  outputName: string;
  /** Value range the model expects / produces; pixels are 0..255 on both ends in Loupe. */
  inputRange: [number, number];
  outputRange: [number, number];
  /** Interleaved RGB8 of the input, width x height. */
  rgb: Uint8Array;
  width: number;
  height: number;
  scale: number;
  tileSize: number;
  context: number;
  /** Per-job inputs (colour matrix, curves, noise sigma ...), the same for every tile. */
  extraInputs?: Record<string, TensorData>;
  /** Name of an input that receives each tile's [x, y] in the image (then tiles run one at a time). */
  tileOrigin?: string;
  /** Most tiles of equal size run in one session.run (1 when the model's batch is fixed). */
  batch?: number;
}

/** An inpainting model a studio installed (LaMa-style): fixed or dynamic size, image + mask in. */
export interface InpaintModel {
  modelPath: string;
  imageInput: string;
  maskInput: string;
  outputName: string;
  inputRange: [number, number];
  outputRange: [number, number];
  maskRange: [number, number];
  polarity: 'hole-is-1' | 'hole-is-0';
  size: 'dynamic' | [number, number];
}

/** Fill a hole in a crop of the picture: a JS algorithm or an inpainting model. */
export interface InpaintRun {
  kind: 'inpaint';
  method: 'patchmatch' | 'diffuse' | 'model';
  /** The crop around the hole (with margin), interleaved RGB8. */
  rgb: Uint8Array;
  width: number;
  height: number;
  /** width x height, 1 = fill. */
  hole: Uint8Array;
  /** The part of the crop the result covers (the job's region). */
  out: Rect;
  /** Side of the tiles the result is streamed in. */
  tileSize: number;
  model?: InpaintModel;
  seed?: number;
}

export type InferenceRun = TileRun | InpaintRun;

/** Server -> inference worker process (IPC with advanced serialization, so typed arrays travel as such). */
export type WorkerRequest =
  | (InferenceRun & { type: 'run'; jobId: string; providers: string[] })
  | { type: 'inspect'; requestId: string; modelPath: string; providers: string[] };

export interface ModelInspection {
  provider: string;
  inputs: { name: string; isTensor: boolean; type?: string; shape?: (number | string)[] }[];
  outputs: { name: string; isTensor: boolean; type?: string; shape?: (number | string)[] }[];
}

/** Inference worker process -> server. */
export type WorkerReply =
  | { type: 'log'; message: string }
  | { type: 'started'; jobId: string; provider: string; tiles: number; width: number; height: number }
  | { type: 'tile'; jobId: string; index: number; rect: Rect; rgb: Uint8Array; preview?: boolean }
  | { type: 'done'; jobId: string; provider: string; rgb: Uint8Array; info?: Record<string, unknown> }
  | { type: 'error'; jobId: string; message: string }
  | { type: 'inspected'; requestId: string; result?: ModelInspection; error?: string };

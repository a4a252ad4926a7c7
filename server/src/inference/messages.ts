import type { EnsuredModel } from '@loupe/models';
import type { Tile } from '@loupe/shared';
import type { Pixels, Rect } from './tiling.js';
import type { EncodedTile } from './png.js';
import type { FrameFeed } from '../media/feeds.js';
import type { MaskKey, TrackedFrame } from './removal/track.js';

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
  /** Value range the model expects / produces (mapped from and to the pixels' 0..255 or 0..65535). */
  inputRange: [number, number];
  outputRange: [number, number];
  /**
   * Interleaved RGB of the input, width x height: 8 bits, or 16 bits for a deeper source. The tiles
   * (and so the result) come back at the same depth. Either this or `source`.
   */
  rgb?: Pixels;
  /** The input as a picture file and the rect of it (width x height) that the worker reads itself, at `depth` bits. */
  source?: SourceRegion;
  width: number;
  height: number;
  /**
   * The worker writes the result here as PNG (at the input's depth, with `alpha` when given, 8 bits,
   * result size) and streams 8-bit PNG tiles; without it, tiles carry raw pixels to be assembled.
   */
  result?: {
    path: string;
    alpha?: Uint8Array;
    /**
     * Sealed: once the picture is encoded the worker says so ('encoded') and waits for the text the
     * file carries (the server's provenance: 'seal'), then writes the file with it, once, and says its
     * sha256 ('done'): the server moves the file into the store without reading it back.
     */
    sealed?: boolean;
  };
  /**
   * With a result file: each computed batch of tiles is written into this folder before its tiles are
   * sent (checkpoint.ts), checked against `id` (the job, its parameters, its source frame, its model).
   * `resume`: a run of a job that ran before: the batches found there are loaded, not computed.
   */
  checkpoint?: { dir: string; id: string; resume: boolean };
  scale: number;
  tileSize: number;
  context: number;
  /** A fixed-size model's [height, width]: every tile is mirrored out to it. */
  inputSize?: [number, number];
  /** A dynamic model that needs sizes in multiples of this: tiles are mirrored out to the next multiple. */
  multipleOf?: number;
  /** Per-job inputs (colour matrix, curves, noise sigma ...), the same for every tile. */
  extraInputs?: Record<string, TensorData>;
  /** Name of an input of shape [N, 2] that receives each batch item's tile [x, y] in the image. */
  tileOrigin?: string;
  /** Most tiles of equal size run in one session.run (1 when the model's batch is fixed). */
  batch?: number;
}

/**
 * The tile run of a catalogue model over a picture: names, value ranges, scale, tiling and batch
 * from its manifest; `extra` holds per-job inputs by name (only those the manifest declares).
 */
export function tileRunFor(
  model: Pick<EnsuredModel, 'path' | 'manifest'>,
  picture: Pick<TileRun, 'width' | 'height' | 'rgb' | 'source'>,
  extra: Record<string, Float32Array> = {},
): TileRun {
  const m = model.manifest;
  return {
    kind: 'tiles',
    modelPath: model.path,
    inputName: m.input.name,
    outputName: m.output.name,
    inputRange: m.input.range,
    outputRange: m.output.range,
    ...picture,
    scale: m.scale,
    tileSize: m.tile.size,
    context: m.tile.context,
    ...(m.input.size !== 'dynamic' ? { inputSize: m.input.size } : m.input.multipleOf > 1 ? { multipleOf: m.input.multipleOf } : {}),
    extraInputs: Object.fromEntries(m.extraInputs.filter((e) => extra[e.name]).map((e) => [e.name, { dims: e.dims, data: extra[e.name] }])),
    tileOrigin: m.tileOrigin,
    batch: m.input.batch === 'dynamic' ? 4 : 1,
  };
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

/** A picture file's rect, read at `depth` bits. */
export interface SourceRegion {
  path: string;
  rect: Rect;
  depth: 8 | 16;
}

/**
 * What the server plans from (8-bit RGB), made by the worker from the pixels it decoded: the region
 * resized (`fit` as sharp's), or a part of it.
 */
export type RegionView = { kind: 'resize'; width: number; height: number; fit: 'inside' | 'fill' } | { kind: 'crop'; rect: Rect };

export interface ViewPixels {
  rgb: Uint8Array;
  width: number;
  height: number;
}

/** Server -> inference worker process (IPC with advanced serialization, so typed arrays travel as such). */
export type WorkerRequest =
  | (InferenceRun & { type: 'run'; jobId: string; providers: string[] })
  | { type: 'inspect'; requestId: string; modelPath: string; providers: string[] }
  /**
   * Decode a job's region now (once): the worker keeps the pixels for the job's tile run with the same
   * `source`, and answers with the 8-bit views the server plans from.
   */
  | { type: 'read'; jobId: string; source: SourceRegion; views: RegionView[]; providers: string[] }
  /** A chunk of a shot render: the worker decodes, fixes and writes its frames (chunk.ts). */
  | (ChunkRun & { type: 'chunk'; jobId: string; providers: string[] })
  /** The text a sealed result carries (an iTXt chunk after IHDR), in answer to 'encoded'. */
  | { type: 'seal'; jobId: string; text: PngText };

/** A PNG text chunk. */
export interface PngText {
  keyword: string;
  text: string;
}

export interface ModelInspection {
  provider: string;
  inputs: { name: string; isTensor: boolean; type?: string; shape?: (number | string)[] }[];
  outputs: { name: string; isTensor: boolean; type?: string; shape?: (number | string)[] }[];
}

/** Inference worker process -> server. */
export type WorkerReply =
  | { type: 'log'; message: string }
  /** `restored`: how many of the tiles an earlier run of the job computed (loaded from its checkpoint). */
  | { type: 'started'; jobId: string; provider: string; tiles: number; width: number; height: number; restored?: number }
  /**
   * A tile as raw pixels, or (tile runs with a result file) encoded for the room (encodeTile).
   * `restored`: from the checkpoint of an earlier run, which sent it to the room already.
   */
  | { type: 'tile'; jobId: string; index: number; rect: Rect; rgb?: Pixels; encoded?: EncodedTile; preview?: boolean; restored?: boolean }
  /**
   * The result: `rgb` (hole fills), or the PNG the worker wrote at `resultPath` (tile runs with a
   * result file), or neither: the final raw tiles cover the result exactly once, assemble them.
   */
  | { type: 'done'; jobId: string; provider: string; rgb?: Uint8Array; resultPath?: string; depth?: 8 | 16; sha256?: string; info?: Record<string, unknown> }
  /** A sealed result is encoded: it waits for its 'seal' (then 'done' carries the file's sha256). */
  | { type: 'encoded'; jobId: string; provider: string; depth: 8 | 16 }
  | { type: 'read'; jobId: string; views: ViewPixels[] }
  /** A frame of a chunk is written: its full-quality PNG and its preview JPEG, in the chunk's folder. */
  | { type: 'frame'; jobId: string; frame: number; png: string; preview: string; ms: number }
  /** The chunk is done: every frame is written, and its proxy segment. */
  | { type: 'chunk-done'; jobId: string; provider: string; segment: string }
  | { type: 'error'; jobId: string; message: string }
  | { type: 'inspected'; requestId: string; result?: ModelInspection; error?: string };

/** A tile as the room receives it: an 8-bit preview (png.ts encodeTile). */

// A chunk of a shot render (chunk.ts runs it in the worker).

export type TileTemplate = Omit<TileRun, 'kind' | 'rgb' | 'source' | 'width' | 'height' | 'result' | 'checkpoint'>;

export type ChunkFix =
  /**
   * A model over each frame. With `keyed`, some per-job inputs differ by frame: given at keyframes,
   * eased between them (smoothstep), held before the first and after the last.
   */
  | { kind: 'tiles'; run: TileTemplate; keyed?: { frames: number[]; inputs: Record<string, TensorData>[] } }
  /**
   * Denoise with the neighbouring frames: each frame averaged with the `radius` frames either side
   * where the motion allows (temporal/denoise.ts), then the spatial model at the noise left, its input
   * `sigmaInput`.
   */
  | { kind: 'temporal-denoise'; run: TileTemplate; sigma: number; strength: number; radius: number; sigmaInput: string }
  /**
   * Remove an object (removal/shot.ts): `feeds` decode the whole range; each frame's mask is the
   * keyframes' masks (coverage at source size, on range frames `index`) moved by its track (`track[i]`:
   * frame `first + i`, shifts in source pixels, blended by weight), grown by `grow`; the holes filled
   * from the clean plate.
   */
  | {
      kind: 'remove';
      first: number;
      keys: MaskKey[];
      track: TrackedFrame['parts'][];
      grow: number;
      /** The frame on screen (absolute): the plate is made on it, and it goes to the room before the others. */
      focus?: number;
    };

/** The scale and model of a fix's run ('remove' has neither: an algorithm at scale 1). */
export interface ChunkFrame {
  frame: number;
  /** A stored result of this frame (a retried chunk): not computed again, only read for the segment. */
  reuse?: string;
}

export interface ChunkRun {
  kind: 'chunk';
  /** The decoded frames: the chunk's, plus `radius` either side for temporal fixes (within the shot). */
  feeds: FrameFeed[];
  width: number;
  height: number;
  depth: 8 | 16;
  /** The chunk's frames in order. */
  frames: ChunkFrame[];
  fix: ChunkFix;
  /** Where the fix applies, in source pixels; `alpha` (rect-sized, 0..255) blends it in. Null: the whole frame. */
  region: { rect: Rect; alpha: Uint8Array | null } | null;
  out: {
    /** Folder the worker writes `f<frame>.png`, `f<frame>.jpg` and `segment.mp4` into. */
    dir: string;
    preview: { width: number; height: number };
    segment: { gop: number; rate: { num: number; den: number } };
  };
}


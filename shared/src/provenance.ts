import type { Region } from './protocol.js';
import type { FixId } from './fixes.js';

/** Everything needed to tell how an AI-made version came to be, and to redo it. */
export interface Provenance {
  aiMade: true;
  jobId: string;
  fix: FixId;
  /** The parameters as asked for (defaults filled in). */
  params: Record<string, unknown>;
  /** What the server derived from the pictures for this job: white-balance gains, noise sigma, the fitted colour transform, the fill method ... */
  computed?: Record<string, unknown>;
  /**
   * The model (or, for algorithms such as PatchMatch, the code) that made the pixels: sha256 of the
   * ONNX file, or of the algorithm's source file.
   */
  model: { id: string; name: string; version: string; sha256: string; licence: string };
  /** Execution provider ONNX Runtime actually ran on: 'cuda', 'webgpu' or 'cpu'; 'js' for algorithms run in the worker. */
  provider: string;
  sourceVersionId: string;
  /** The exact input: the source version's media blob and (for a still) the extracted frame's PNG blob. */
  source?: { versionId: string; mediaSha256: string; frameSha256?: string };
  /** 'shot': every frame of `range` rendered into a new version of the shot; absent or 'frame': a still. */
  scope?: 'frame' | 'shot';
  /** Shot renders: the frames fixed (the others are the source's). */
  range?: { in: number; out: number };
  /** Match grade: the reference picture. */
  reference?: { versionId: string; frame: number; sha256: string };
  frame: number;
  region: Region;
  /** Region in source pixels (the whole frame when the request had none). */
  sourceRect: { x: number; y: number; width: number; height: number };
  /** The rasterised mask at source resolution (PNG blob, 255 = inside), when the request had one. */
  mask?: { sha256: string; width: number; height: number };
  requestedBy: { id: string; name: string; role: string };
  requestedAt: string;
  startedAt: string;
  finishedAt: string;
  tiles: number;
  output: { width: number; height: number; sha256: string };
  /** True when the source version's media changed while the job ran (the result was computed from older pixels). */
  stale?: boolean;
  /** Blob (sha256) of the sidecar JSON holding this provenance, stored next to the result. */
  sidecarSha256?: string;
}

/** iTXt keyword under which the provenance JSON is embedded in result PNGs. */
export const PROVENANCE_PNG_KEYWORD = 'loupe:provenance';

import type { Region } from './protocol.js';
import type { FixId } from './fixes.js';

/** Everything needed to tell how an AI-made version came to be, and to redo it. */
export interface Provenance {
  aiMade: true;
  jobId: string;
  fix: FixId;
  params: Record<string, unknown>;
  model: { id: string; name: string; version: string; sha256: string; licence: string };
  /** Execution provider ONNX Runtime actually ran on: 'cuda', 'webgpu' or 'cpu'. */
  provider: string;
  sourceVersionId: string;
  frame: number;
  region: Region;
  /** Region in source pixels. */
  sourceRect: { x: number; y: number; width: number; height: number };
  requestedBy: { id: string; name: string; role: string };
  requestedAt: string;
  startedAt: string;
  finishedAt: string;
  tiles: number;
  output: { width: number; height: number; sha256: string };
}

import type { Region } from './region.js';
import type { FixId, ModelKind } from './fixes.js';

/** Everything needed to tell how a fix-made version came to be, and to redo it. */
export interface Provenance {
  /** True when a learned model computed the pixels; false for an algorithm (records made before issue 19 say true for both: see makerOf). */
  aiMade: boolean;
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
  model: ProvenanceModel;
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

/** The model or algorithm of a provenance record. `kind` and `technique` are absent from records made before they existed. */
export interface ProvenanceModel {
  id: string;
  name: string;
  version: string;
  sha256: string;
  licence: string;
  kind?: ModelKind;
  /** Short human name of how it works: "ESRGAN (RDN) network", "guided filter", "PatchMatch". */
  technique?: string;
}

/** What the built-in models and algorithms were, for records made before models declared it. */
const EARLIER: Record<string, { kind: ModelKind; technique: string }> = {
  'esrgan-slim-x2': { kind: 'learned', technique: 'ESRGAN (RDN) network' },
  'esrgan-slim-x4': { kind: 'learned', technique: 'ESRGAN (RDN) network' },
  'esrgan-medium-x2': { kind: 'learned', technique: 'ESRGAN (RDN) network' },
  'esrgan-medium-x4': { kind: 'learned', technique: 'ESRGAN (RDN) network' },
  'loupe-colour': { kind: 'algorithm', technique: 'colour matrix and curves' },
  'loupe-denoise': { kind: 'algorithm', technique: 'guided filter' },
  patchmatch: { kind: 'algorithm', technique: 'PatchMatch' },
  diffuse: { kind: 'algorithm', technique: 'diffusion fill' },
};

/**
 * Whether a learned model or an algorithm made a result, and how it works. Records without `kind`
 * (made before it existed) are read from the built-in ids of the time; an unknown model of such a
 * record was a studio's ONNX model, a network.
 */
export function makerOf(model: ProvenanceModel): { kind: ModelKind; technique: string } {
  if (model.kind) return { kind: model.kind, technique: model.technique ?? model.name };
  return EARLIER[model.id] ?? { kind: 'learned', technique: model.name };
}

/** The badge: "AI" for a learned model, "Algorithm" for code. */
export const makerBadge = (model: ProvenanceModel) => (makerOf(model).kind === 'learned' ? 'AI' : 'Algorithm');

/** "AI · learned model (ESRGAN (RDN) network, sha256 80f099a01f43…)" or "Algorithm (guided filter)". */
export function makerLabel(model: ProvenanceModel): string {
  const m = makerOf(model);
  return m.kind === 'learned' ? `AI · learned model (${m.technique}, sha256 ${model.sha256.slice(0, 12)}…)` : `Algorithm (${m.technique})`;
}

/** For a fix-made version: "AI · learned model (…)" or "Algorithm (…)"; for an upload, null. Records without provenance were made by a fix before provenance existed: "AI-made". */
export function versionMaker(v: { kind: string; provenance?: Provenance | null }): { kind: ModelKind | 'unknown'; label: string; badge: string } | null {
  if (v.kind !== 'ai') return null;
  if (!v.provenance) return { kind: 'unknown', label: 'made by a fix (no provenance record)', badge: 'AI' };
  return { kind: makerOf(v.provenance.model).kind, label: makerLabel(v.provenance.model), badge: makerBadge(v.provenance.model) };
}

/** The exports' and event log's aiMade: a learned model made it (or a fix of before provenance, which did not say). */
export const aiMadeVersion = (v: { kind: string; provenance?: Provenance | null }) => ['learned', 'unknown'].includes(versionMaker(v)?.kind ?? '');

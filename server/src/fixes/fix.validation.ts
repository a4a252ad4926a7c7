/**
 * The checks of a fix request that need the server's state (installed models, the room's versions),
 * in one place: the service refuses a request with them before queueing it, and the runners (a still,
 * a shot render) resolve the same model and reference when they run it.
 */
import { ErrorCode, FixCatalogue, LoupeError, type FixId, type MatchGradeParams, type RemoveObjectParams, type Version } from '@loupe/shared';
import type { ModelRegistry, RegisteredModel } from '../inference/model.registry.js';
import type { VersionRepository } from '../store/version.repository.js';

/** The model a fix runs (null: an algorithm of the worker, no model file), or a refusal with a code. */
export function resolveModel(models: ModelRegistry, fixId: FixId, params: Record<string, unknown>): RegisteredModel | null {
  const fix = FixCatalogue[fixId];
  if (fix.task === 'inpaint') {
    const p = params as RemoveObjectParams;
    if (p.method === 'patchmatch' || p.method === 'diffuse') return null;
    const installed = models.byTask('inpaint');
    const chosen = p.model ? installed.find((m) => m.manifest.id === p.model) : installed[0];
    if (p.method === 'model' && !chosen) {
      throw new LoupeError(ErrorCode.MODEL_UNAVAILABLE, p.model ? `No inpainting model ${p.model} is installed.` : 'No inpainting model is installed; use PatchMatch.');
    }
    return chosen ?? null;
  }
  const id = (params.model as string | undefined) ?? fix.model;
  const model = models.get(id);
  if (!model) {
    const why = models.refused.get(id);
    throw new LoupeError(ErrorCode.MODEL_UNAVAILABLE, why ? `Model ${id} was refused at start: ${why}` : `Model ${id} is not installed.`);
  }
  if (model.manifest.task !== fix.task || model.manifest.scale !== fix.scale) {
    throw new LoupeError(ErrorCode.BAD_REQUEST, `Model ${id} is a ${model.manifest.task} x${model.manifest.scale} model; ${fix.label} needs ${fix.task} x${fix.scale}.`);
  }
  return model;
}

/** Match grade's reference version: in the same room, and its frame within it. */
export async function referenceOf(versions: VersionRepository, roomId: string, p: MatchGradeParams): Promise<Version> {
  const ref = await versions.get(p.referenceVersionId);
  if (!ref || (await versions.roomOf(ref.id)) !== roomId) throw new LoupeError(ErrorCode.VERSION_NOT_FOUND, `No reference version ${p.referenceVersionId} in this room.`);
  if (ref.media.type === 'video' && p.referenceFrame >= ref.media.frameCount) {
    throw new LoupeError(ErrorCode.FRAME_OUT_OF_RANGE, `Reference frame ${p.referenceFrame} is past the last frame (${ref.media.frameCount - 1}).`);
  }
  return ref;
}

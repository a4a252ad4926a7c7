import { z } from 'zod';
import { AnnotationKinds, packedPointCount } from './annotations.js';
import { Limits } from './limits.js';

/**
 * What a member may write into the room's Y.Doc, checked by the server before an update is applied.
 * Objects may carry extra fields (forward compatibility); the fields below must be right.
 */
const coord = z.number().finite().min(-1).max(2);
const frame = z.number().int().min(0).max(10_000_000);
const author = z.object({ id: z.string().min(1).max(128), name: z.string().max(200) });
const shortId = z.string().min(1).max(128);

export const AnnotationSchema = z
  .object({
    id: shortId,
    kind: z.enum(AnnotationKinds),
    versionId: shortId,
    frame,
    frameEnd: frame,
    packedPoints: z
      .instanceof(Uint8Array)
      .refine((p) => packedPointCount(p) >= 0, 'not packed points (format 1)')
      .refine((p) => packedPointCount(p) <= Limits.maxStrokePoints, `at most ${Limits.maxStrokePoints} points`)
      .optional(),
    // The format before packing: still accepted (plugins written against it), no longer written by Loupe.
    points: z.array(z.tuple([coord, coord, z.number().finite().min(0).max(1)])).max(Limits.maxStrokePoints).optional(),
    color: z.string().max(32),
    size: z.number().finite().positive().max(1),
    text: z.string().max(Limits.maxTextLength).optional(),
    author,
    createdAt: z.string().max(40),
  })
  .passthrough()
  .refine((a) => a.frameEnd >= a.frame, 'frameEnd must not be before frame')
  .refine((a) => (a.packedPoints === undefined) !== (a.points === undefined), 'exactly one of packedPoints and points');

export const NoteSchema = z
  .object({
    id: shortId,
    parentId: shortId.nullable(),
    versionId: shortId,
    frame,
    frameEnd: frame,
    text: z.string().min(1).max(Limits.maxTextLength),
    author,
    createdAt: z.string().max(40),
    status: z.enum(['open', 'resolved']),
    resolvedBy: z.object({ id: z.string().max(128), name: z.string().max(200), at: z.string().max(40) }).nullable().optional(),
    annotationIds: z.array(shortId).max(500),
  })
  .passthrough()
  .refine((n) => n.frameEnd >= n.frame, 'frameEnd must not be before frame');

/** The top-level maps a member may write, and the schema of each value. */
export const WritableMaps: Record<string, z.ZodType<{ id: string; author: { id: string } }>> = {
  annotations: AnnotationSchema,
  notes: NoteSchema,
};

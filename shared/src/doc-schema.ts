import { z } from 'zod';
import { ANNOTATIONS_KEY, AnnotationKinds, decodeAnnotation, packedPointCount } from './annotations.js';
import { Limits } from './limits.js';
import { can, type Role } from './roles.js';

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

/**
 * A value as stored in the map `root`, read the way its schema is checked: a packed annotation
 * (shared/src/annotations.ts, encodeAnnotation) is decoded, anything else is as it is. Throws, with
 * the reason, on a packed annotation that cannot be decoded.
 */
export function documentValue(root: string, value: unknown): unknown {
  return root === ANNOTATIONS_KEY && value instanceof Uint8Array ? decodeAnnotation(value) : value;
}

/** A stored value read for its schema (see documentValue), or why it cannot be: over the limits in either form, or not decodable. */
export type StoredValue = { value: unknown } | { tooBig: string } | { undecodable: string };

/**
 * A stored value as its schema checks it: within Limits.maxValueDepth / maxValueBytes as stored and,
 * for a packed annotation, decoded and within them again (its extra fields ride inside the binary).
 * One reading for the write guard, the load-time repair and readers (isReadableValue).
 */
export function storedValue(root: string, stored: unknown): StoredValue {
  const raw = valueProblem(stored);
  if (raw) return { tooBig: raw };
  let value: unknown;
  try {
    value = documentValue(root, stored);
  } catch (e) {
    return { undecodable: (e as Error).message };
  }
  const decoded = value === stored ? null : valueProblem(value);
  return decoded ? { tooBig: decoded } : { value };
}

/**
 * Why a value may not be stored, whatever its schema: nested deeper than Limits.maxValueDepth or
 * larger than Limits.maxValueBytes (as Yjs encodes it, roughly), extra fields included. Null when it
 * may. Walks the value without recursion, so even a value nested a million levels deep is answered.
 */
export function valueProblem(value: unknown): string | null {
  const stack: [unknown, number][] = [[value, 1]];
  let bytes = 0;
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v === 'string') bytes += utf8Length(v) + 5;
    else if (v === null || typeof v !== 'object') bytes += 9;
    else if (v instanceof Uint8Array) bytes += v.byteLength + 5;
    else if (depth > Limits.maxValueDepth) return `nested more than ${Limits.maxValueDepth} levels deep`;
    else if (Array.isArray(v)) {
      bytes += 5;
      for (const e of v) stack.push([e, depth + 1]);
    } else {
      bytes += 5;
      for (const [k, e] of Object.entries(v)) {
        bytes += utf8Length(k) + 5;
        stack.push([e, depth + 1]);
      }
    }
    if (bytes > Limits.maxValueBytes) return `larger than ${Limits.maxValueBytes} bytes`;
  }
  return null;
}

function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) n += c >= 0x800 && (c < 0xd800 || c > 0xdfff) ? 2 : 1;
  }
  return n;
}

/** Who writes: a member and their role (docs/security.md, "authorship"). */
export interface DocWriter {
  id: string;
  role: Role;
}

type Authored = { author?: { id?: unknown }; resolvedBy?: { id?: unknown } | null };

/**
 * Why `writer` may not set `next` under a key whose value is `current` (undefined: a new key), in the
 * map `root`; null when they may. Only the author changes a value's content; a director (moderate)
 * may resolve or reopen someone else's note, changing only `status` and `resolvedBy`; `resolvedBy`,
 * whenever it changes to someone, is the writer.
 */
export function writeProblem(root: string, current: unknown, next: { author: { id: string } } & Authored, writer: DocWriter): string | null {
  const what = root === 'notes' ? 'note' : 'drawing';
  const cur = current as Authored | undefined;
  const owner = cur?.author?.id;
  if (cur !== undefined && owner !== writer.id) {
    if (next.author.id !== owner) return `This ${what} is someone else's: keep its author.`;
    if (root !== 'notes' || !can(writer.role, 'moderate')) return `Only its author can change this ${what}.`;
    if (!sameValue(cur, next, ['status', 'resolvedBy'])) return "A director changes only the status of someone else's note (status, resolvedBy).";
  } else if (next.author.id !== writer.id) {
    return 'You can only write as yourself: author.id must be your member id.';
  }
  const resolvedBy = next.resolvedBy ?? null;
  if (resolvedBy !== null && !sameValue(cur?.resolvedBy ?? null, resolvedBy) && resolvedBy.id !== writer.id) {
    return 'resolvedBy must name you, the member who resolves the note.';
  }
  return null;
}

/** Whether `writer` may delete a value of the room document: their own, or anyone's for a director. */
export function mayDelete(value: unknown, writer: DocWriter): boolean {
  return can(writer.role, 'moderate') || (value as Authored | null)?.author?.id === writer.id;
}

/**
 * Deep equality of two document values (plain objects, arrays, bytes, scalars), ignoring the
 * top-level fields in `except`. Values deeper than Limits.maxValueDepth never equal anything.
 */
export function sameValue(a: unknown, b: unknown, except: readonly string[] = [], depth = 0): boolean {
  if (a === b) return true;
  if (depth > Limits.maxValueDepth || typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keysA = Object.keys(a).filter((k) => !except.includes(k));
  const keysB = Object.keys(b).filter((k) => !except.includes(k));
  if (keysA.length !== keysB.length) return false;
  const rb = b as Record<string, unknown>;
  const ra = a as Record<string, unknown>;
  return keysA.every((k) => Object.hasOwn(rb, k) && sameValue(ra[k], rb[k], [], depth + 1));
}

const readable = new WeakMap<object, boolean>();

/**
 * Whether a value read from the room document is one the schema admits, so a reader may draw or
 * list it: the server refuses anything else, but a document written before it did may still hold
 * such values, and a reader skips them rather than fail. A packed annotation is decoded first (one
 * that cannot be is not readable). Checked once per value object (values are immutable).
 */
export function isReadableValue(root: 'annotations' | 'notes', value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  let ok = readable.get(value);
  if (ok === undefined) {
    const read = storedValue(root, value);
    ok = 'value' in read && WritableMaps[root].safeParse(read.value).success;
    readable.set(value, ok);
  }
  return ok;
}

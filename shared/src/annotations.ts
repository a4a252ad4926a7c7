import type * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';

/**
 * The room's Y.Doc schema (see docs/annotations.md). The doc holds only client-writable state.
 *
 *   doc.getMap('annotations'): Y.Map<StoredAnnotation>  keyed by annotation id; values are
 *   immutable, replaced whole, so one gesture is one transaction. A value is either a packed
 *   annotation (one binary, see encodeAnnotation: what Loupe writes) or a plain object (the
 *   documented format: what plugins write, and what Loupe wrote before packing). Both are read.
 */
export const ANNOTATIONS_KEY = 'annotations';

export const AnnotationKinds = ['pen', 'arrow', 'line', 'rect', 'ellipse', 'text'] as const;
export type AnnotationKind = (typeof AnnotationKinds)[number];

/** A point normalised to the picture: x and y in 0..1 from the top-left, p the pen pressure 0..1. */
export type Point = [x: number, y: number, p: number];

/**
 * A drawing. Its points are stored packed (`packedPoints`, see packPoints): one binary value instead
 * of nested arrays of float64, so a 10,000-stroke room loads fast. Rooms drawn before packing hold
 * `points` arrays instead; both are read (annotationPoints), only the packed form is written.
 * Exactly one of the two is present.
 */
export interface Annotation {
  id: string;
  kind: AnnotationKind;
  /** Version the drawing was made on. */
  versionId: string;
  /** First frame it shows on (0-based). */
  frame: number;
  /** Last frame it shows on, inclusive; equal to frame for a single-frame drawing. */
  frameEnd: number;
  /**
   * The points, packed by packPoints. pen: the stroke's points; arrow/line/rect/ellipse: [start, end];
   * text: [anchor].
   */
  packedPoints?: Uint8Array;
  /** The same points as arrays: the format before packing, still read, no longer written. */
  points?: Point[];
  color: string;
  /** Stroke width as a fraction of the picture's height. */
  size: number;
  text?: string;
  author: { id: string; name: string };
  createdAt: string;
}

/*
 * Packed points, format 1: one Uint8Array per drawing.
 *   byte 0   format (1)
 *   byte 1   flags: bit 0 set when pressure is stored; without it every point's pressure is 0.5
 *            (what a mouse reports), so mouse strokes take 4 bytes a point
 *   then per point, little-endian uint16: x, y[, p]
 * x and y are quantised over [-1, 2] (what the schema accepts: a stroke may leave the picture while
 * the pointer is captured) in steps of 3/65535 (max error 2.3e-5 of the picture: 0.09 px at 4K);
 * p over [0, 1] in steps of 1/65535.
 */
export const PACKED_POINTS_FORMAT = 1;
const HEADER = 2;
const HAS_PRESSURE = 1;
const COORD_MIN = -1;
const COORD_SPAN = 3;
const Q = 65535;

const quantise = (v: number, min: number, span: number) => Math.round(Math.min(1, Math.max(0, (v - min) / span)) * Q);

/** Packs points (normalised x, y in [-1, 2], pressure in [0, 1]) into the stored binary form. */
export function packPoints(points: readonly (readonly number[])[]): Uint8Array {
  const pressure = points.some((p) => (p[2] ?? 0.5) !== 0.5);
  const stride = pressure ? 6 : 4;
  const out = new Uint8Array(HEADER + points.length * stride);
  out[0] = PACKED_POINTS_FORMAT;
  out[1] = pressure ? HAS_PRESSURE : 0;
  const view = new DataView(out.buffer);
  let at = HEADER;
  for (const p of points) {
    view.setUint16(at, quantise(p[0], COORD_MIN, COORD_SPAN), true);
    view.setUint16(at + 2, quantise(p[1], COORD_MIN, COORD_SPAN), true);
    if (pressure) view.setUint16(at + 4, quantise(p[2] ?? 0.5, 0, 1), true);
    at += stride;
  }
  return out;
}

/** How many points a packed value holds, or -1 when it is not packed points of a known format. */
export function packedPointCount(packed: Uint8Array): number {
  if (packed.byteLength < HEADER || packed[0] !== PACKED_POINTS_FORMAT || (packed[1] & ~HAS_PRESSURE) !== 0) return -1;
  const stride = packed[1] & HAS_PRESSURE ? 6 : 4;
  const bytes = packed.byteLength - HEADER;
  return bytes % stride === 0 ? bytes / stride : -1;
}

/** The inverse of packPoints (to the quantisation step). Throws on a value that is not packed points. */
export function unpackPoints(packed: Uint8Array): Point[] {
  const n = packedPointCount(packed);
  if (n < 0) throw new Error('not packed points (format 1)');
  const pressure = (packed[1] & HAS_PRESSURE) !== 0;
  const stride = pressure ? 6 : 4;
  const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  const out: Point[] = new Array(n);
  for (let i = 0, at = HEADER; i < n; i++, at += stride) {
    out[i] = [
      COORD_MIN + (view.getUint16(at, true) / Q) * COORD_SPAN,
      COORD_MIN + (view.getUint16(at + 2, true) / Q) * COORD_SPAN,
      pressure ? view.getUint16(at + 4, true) / Q : 0.5,
    ];
  }
  return out;
}

const unpacked = new WeakMap<Annotation, Point[]>();

/**
 * A drawing's points, whichever format it is stored in. Values in the document are immutable
 * (replaced whole), so the unpacked points are kept per value object.
 */
export function annotationPoints(a: Annotation): Point[] {
  if (!a.packedPoints) return a.points ?? [];
  let pts = unpacked.get(a);
  if (!pts) unpacked.set(a, (pts = unpackPoints(a.packedPoints)));
  return pts;
}

/** A value of the annotations map as stored: packed (Loupe) or a plain object (the documented format). */
export type StoredAnnotation = Annotation | Uint8Array;

/*
 * Packed annotation, format 1: the whole drawing in one Uint8Array (lib0 encoding), so that a room's
 * document holds one binary per drawing instead of ~20 strings and two objects: a 10,000-stroke room
 * decodes in about half the time (npm run bench -- coldload), and a drawing is decoded only when it
 * is read (its frame shown). The header lets a reader find a frame's drawings without decoding any.
 *   uint8        format (1)
 *   varUint      frame, frameEnd
 *   varString    versionId, id
 *   uint8        kind (index in AnnotationKinds)
 *   varString    color
 *   float64      size
 *   varString    author.id, author.name, createdAt
 *   uint8        flags: bit 0 text follows, bit 1 extra fields follow
 *   [varString   text]
 *   varUint8Array packedPoints (packed points, format 1; `points` arrays are packed on the way in)
 *   [any         the extra fields, an object (forward compatibility: kept, as for plain values)]
 */
export const PACKED_ANNOTATION_FORMAT = 1;
const HAS_TEXT = 1;
const HAS_EXTRAS = 2;
const KNOWN_FIELDS = new Set(['id', 'kind', 'versionId', 'frame', 'frameEnd', 'packedPoints', 'points', 'color', 'size', 'text', 'author', 'createdAt']);

/** Packs a drawing into its stored form (what Loupe writes into the annotations map). */
export function encodeAnnotation(a: Annotation): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeUint8(e, PACKED_ANNOTATION_FORMAT);
  encoding.writeVarUint(e, a.frame);
  encoding.writeVarUint(e, a.frameEnd);
  encoding.writeVarString(e, a.versionId);
  encoding.writeVarString(e, a.id);
  const kind = AnnotationKinds.indexOf(a.kind);
  if (kind < 0) throw new Error(`unknown drawing kind ${String(a.kind)}`);
  encoding.writeUint8(e, kind);
  encoding.writeVarString(e, a.color);
  encoding.writeFloat64(e, a.size);
  encoding.writeVarString(e, a.author.id);
  encoding.writeVarString(e, a.author.name);
  encoding.writeVarString(e, a.createdAt);
  const extras = Object.fromEntries(Object.entries(a).filter(([k, v]) => !KNOWN_FIELDS.has(k) && v !== undefined));
  const hasExtras = Object.keys(extras).length > 0;
  encoding.writeUint8(e, (a.text !== undefined ? HAS_TEXT : 0) | (hasExtras ? HAS_EXTRAS : 0));
  if (a.text !== undefined) encoding.writeVarString(e, a.text);
  encoding.writeVarUint8Array(e, a.packedPoints ?? packPoints(a.points ?? []));
  if (hasExtras) encoding.writeAny(e, extras as { [k: string]: encoding.AnyEncodable });
  return encoding.toUint8Array(e);
}

const decoded = new WeakMap<Uint8Array, Annotation>();

/**
 * The drawing a packed value holds (kept per value: values are immutable). Throws on a value that
 * is not a packed annotation of a known format, or has bytes left over.
 */
export function decodeAnnotation(packed: Uint8Array): Annotation {
  const known = decoded.get(packed);
  if (known) return known;
  const d = decoding.createDecoder(packed);
  if (decoding.readUint8(d) !== PACKED_ANNOTATION_FORMAT) throw new Error('not a packed annotation (format 1)');
  const frame = decoding.readVarUint(d);
  const frameEnd = decoding.readVarUint(d);
  const versionId = decoding.readVarString(d);
  const id = decoding.readVarString(d);
  const kind = AnnotationKinds[decoding.readUint8(d)];
  if (kind === undefined) throw new Error('packed annotation of an unknown kind');
  const color = decoding.readVarString(d);
  const size = decoding.readFloat64(d);
  const author = { id: decoding.readVarString(d), name: decoding.readVarString(d) };
  const createdAt = decoding.readVarString(d);
  const flags = decoding.readUint8(d);
  if (flags & ~(HAS_TEXT | HAS_EXTRAS)) throw new Error('packed annotation with unknown flags');
  const text = flags & HAS_TEXT ? decoding.readVarString(d) : undefined;
  const packedPoints = decoding.readVarUint8Array(d);
  const extras = flags & HAS_EXTRAS ? decoding.readAny(d) : null;
  if (decoding.hasContent(d)) throw new Error('packed annotation with bytes left over');
  if (extras !== null && (typeof extras !== 'object' || Array.isArray(extras) || extras instanceof Uint8Array)) throw new Error('packed annotation with malformed extra fields');
  const a: Annotation = {
    ...(extras && Object.fromEntries(Object.entries(extras).filter(([k]) => !KNOWN_FIELDS.has(k)))),
    id,
    kind,
    versionId,
    frame,
    frameEnd,
    packedPoints,
    color,
    size,
    ...(text !== undefined ? { text } : {}),
    author,
    createdAt,
  };
  decoded.set(packed, a);
  return a;
}

/**
 * The drawing a stored value holds, whichever form it is in: a plain object as it is, a packed one
 * decoded. Undefined for a packed value that cannot be decoded (readers skip it; the server refuses
 * such values). A plain object is not checked here: see isReadableValue.
 */
export function readAnnotation(value: unknown): Annotation | undefined {
  if (value instanceof Uint8Array) {
    try {
      return decodeAnnotation(value);
    } catch {
      return undefined;
    }
  }
  return typeof value === 'object' && value !== null ? (value as Annotation) : undefined;
}

/**
 * The annotations map, read and written as drawings: `get`, `values` and `entries` decode packed
 * values (once each), `set` packs. `raw` is the Y.Map itself (observers, the undo manager, the
 * server's checks). Values that cannot be read are left out of `values` and `entries`.
 */
export class AnnotationMap {
  constructor(readonly raw: Y.Map<StoredAnnotation>) {}

  get size(): number {
    return this.raw.size;
  }

  has(id: string): boolean {
    return this.raw.has(id);
  }

  get(id: string): Annotation | undefined {
    return readAnnotation(this.raw.get(id));
  }

  set(id: string, a: Annotation): void {
    this.raw.set(id, encodeAnnotation(a));
  }

  delete(id: string): void {
    this.raw.delete(id);
  }

  keys(): IterableIterator<string> {
    return this.raw.keys();
  }

  *values(): IterableIterator<Annotation> {
    for (const v of this.raw.values()) {
      const a = readAnnotation(v);
      if (a) yield a;
    }
  }

  *entries(): IterableIterator<[string, Annotation]> {
    for (const [k, v] of this.raw.entries()) {
      const a = readAnnotation(v);
      if (a) yield [k, a];
    }
  }

  observe(fn: Parameters<Y.Map<StoredAnnotation>['observe']>[0]): void {
    this.raw.observe(fn);
  }

  unobserve(fn: Parameters<Y.Map<StoredAnnotation>['unobserve']>[0]): void {
    this.raw.unobserve(fn);
  }
}

export function annotationsMap(doc: Y.Doc): AnnotationMap {
  return new AnnotationMap(doc.getMap<StoredAnnotation>(ANNOTATIONS_KEY));
}

/**
 * The frames [frame, frameEnd] a stored value shows on when it is a drawing of `versionId`, else
 * null; read from a packed value's header without decoding the drawing. `versionBytes`: the version
 * id, UTF-8.
 */
function rangeOf(value: StoredAnnotation, versionId: string, versionBytes: Uint8Array): [number, number] | null {
  if (!(value instanceof Uint8Array)) {
    const a = value as Partial<Annotation> | null;
    return typeof a === 'object' && a !== null && a.versionId === versionId ? [a.frame as number, a.frameEnd as number] : null;
  }
  try {
    const d = decoding.createDecoder(value);
    if (decoding.readUint8(d) !== PACKED_ANNOTATION_FORMAT) return null;
    const frame = decoding.readVarUint(d);
    const frameEnd = decoding.readVarUint(d);
    const n = decoding.readVarUint(d);
    if (n !== versionBytes.byteLength || d.pos + n > value.byteLength) return null;
    for (let i = 0; i < n; i++) if (value[d.pos + i] !== versionBytes[i]) return null;
    return [frame, frameEnd];
  } catch {
    return null;
  }
}

const utf8 = new TextEncoder();

/**
 * The frame ranges [frame, frameEnd] of a version's drawings, one per drawing, none decoded (the
 * timeline's marks). `keep` may skip plain values (asked of those only: a packed value was checked
 * whole by the server when it was written, and its header is all the marks need).
 */
export function annotationRanges(doc: Y.Doc, versionId: string, keep?: (a: Annotation) => boolean): [number, number][] {
  const versionBytes = utf8.encode(versionId);
  const out: [number, number][] = [];
  for (const v of annotationsMap(doc).raw.values()) {
    const r = rangeOf(v, versionId, versionBytes);
    if (!r) continue;
    if (keep && !(v instanceof Uint8Array)) {
      const a = readAnnotation(v);
      if (!a || !keep(a)) continue;
    }
    out.push(r);
  }
  return out;
}

/**
 * The drawings of a version shown on a frame in [from, to] (every frame by default), oldest first;
 * `keep` may skip values (e.g. ones a reader cannot draw). Only those drawings are decoded.
 */
export function annotationsIn(doc: Y.Doc, versionId: string, from = 0, to = Number.MAX_SAFE_INTEGER, keep: (a: Annotation) => boolean = () => true): Annotation[] {
  const versionBytes = utf8.encode(versionId);
  const out: Annotation[] = [];
  for (const v of annotationsMap(doc).raw.values()) {
    const r = rangeOf(v, versionId, versionBytes);
    if (!r || r[0] > to || r[1] < from) continue;
    const a = readAnnotation(v);
    if (a && keep(a)) out.push(a);
  }
  return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

/** The drawings on a frame, oldest first; `keep` may skip values (e.g. ones a reader cannot draw). */
export function annotationsOn(doc: Y.Doc, versionId: string, frame: number, keep: (a: Annotation) => boolean = () => true): Annotation[] {
  return annotationsIn(doc, versionId, frame, frame, keep);
}

/** Map a pointer position inside a displayed picture rectangle to normalised picture coordinates. */
export function normalisePoint(
  clientX: number,
  clientY: number,
  rect: { left: number; top: number; width: number; height: number },
): [number, number] {
  return [(clientX - rect.left) / rect.width, (clientY - rect.top) / rect.height];
}

/** The inverse: where a normalised point sits on a picture drawn at rect. */
export function denormalisePoint(
  p: readonly [number, number] | Point,
  rect: { left: number; top: number; width: number; height: number },
): [number, number] {
  return [rect.left + p[0] * rect.width, rect.top + p[1] * rect.height];
}

/** Largest rectangle of the media's aspect ratio that fits in a box, centred (object-fit: contain). */
export function fitContain(
  mediaWidth: number,
  mediaHeight: number,
  boxWidth: number,
  boxHeight: number,
): { left: number; top: number; width: number; height: number } {
  const scale = Math.min(boxWidth / mediaWidth, boxHeight / mediaHeight);
  const width = mediaWidth * scale;
  const height = mediaHeight * scale;
  return { left: (boxWidth - width) / 2, top: (boxHeight - height) / 2, width, height };
}

/**
 *   doc.getMap('notes'): Y.Map<Note>  keyed by note id. A reply is a Note with parentId set, so
 *   concurrent replies never overwrite each other. Resolving replaces the top-level note's value.
 */
export const NOTES_KEY = 'notes';

export interface Note {
  id: string;
  /** The thread this note answers; null for a top-level note. */
  parentId: string | null;
  versionId: string;
  /** Frame or frame range (inclusive) the note is about; replies copy their parent's. */
  frame: number;
  frameEnd: number;
  text: string;
  author: { id: string; name: string };
  createdAt: string;
  /** Top-level notes only. */
  status: 'open' | 'resolved';
  resolvedBy?: { id: string; name: string; at: string } | null;
  /** Drawings attached to the note (annotation ids). */
  annotationIds: string[];
}

export function notesMap(doc: Y.Doc): Y.Map<Note> {
  return doc.getMap<Note>(NOTES_KEY);
}

/** Top-level notes with their replies (oldest first), threads ordered by frame then time; `keep` may skip values. */
export function noteThreads(doc: Y.Doc, keep: (n: Note) => boolean = () => true): { note: Note; replies: Note[] }[] {
  const all = [...notesMap(doc).values()].filter(keep);
  const byTime = (a: Note, b: Note) => a.createdAt.localeCompare(b.createdAt);
  return all
    .filter((n) => n.parentId === null)
    .sort((a, b) => a.frame - b.frame || byTime(a, b))
    .map((note) => ({ note, replies: all.filter((r) => r.parentId === note.id).sort(byTime) }));
}

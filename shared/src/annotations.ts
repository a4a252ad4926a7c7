import type * as Y from 'yjs';

/**
 * The room's Y.Doc schema (see docs/annotations.md). The doc holds only client-writable state.
 *
 *   doc.getMap('annotations'): Y.Map<Annotation>  keyed by annotation id; values are immutable
 *   plain objects, replaced whole, so one gesture is one transaction.
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

export function annotationsMap(doc: Y.Doc): Y.Map<Annotation> {
  return doc.getMap<Annotation>(ANNOTATIONS_KEY);
}

/** The drawings on a frame, oldest first; `keep` may skip values (e.g. ones a reader cannot draw). */
export function annotationsOn(doc: Y.Doc, versionId: string, frame: number, keep: (a: Annotation) => boolean = () => true): Annotation[] {
  const out: Annotation[] = [];
  for (const a of annotationsMap(doc).values()) {
    if (a.versionId === versionId && a.frame <= frame && frame <= a.frameEnd && keep(a)) out.push(a);
  }
  return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
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

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

export interface Annotation {
  id: string;
  kind: AnnotationKind;
  /** Version the drawing was made on. */
  versionId: string;
  /** First frame it shows on (0-based). */
  frame: number;
  /** Last frame it shows on, inclusive; equal to frame for a single-frame drawing. */
  frameEnd: number;
  /** pen: the stroke's points; arrow/line/rect/ellipse: [start, end]; text: [anchor]. */
  points: Point[];
  color: string;
  /** Stroke width as a fraction of the picture's height. */
  size: number;
  text?: string;
  author: { id: string; name: string };
  createdAt: string;
}

export function annotationsMap(doc: Y.Doc): Y.Map<Annotation> {
  return doc.getMap<Annotation>(ANNOTATIONS_KEY);
}

export function annotationsOn(doc: Y.Doc, versionId: string, frame: number): Annotation[] {
  const out: Annotation[] = [];
  for (const a of annotationsMap(doc).values()) {
    if (a.versionId === versionId && a.frame <= frame && frame <= a.frameEnd) out.push(a);
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

/** Top-level notes with their replies (oldest first), threads ordered by frame then time. */
export function noteThreads(doc: Y.Doc): { note: Note; replies: Note[] }[] {
  const all = [...notesMap(doc).values()];
  const byTime = (a: Note, b: Note) => a.createdAt.localeCompare(b.createdAt);
  return all
    .filter((n) => n.parentId === null)
    .sort((a, b) => a.frame - b.frame || byTime(a, b))
    .map((note) => ({ note, replies: all.filter((r) => r.parentId === note.id).sort(byTime) }));
}

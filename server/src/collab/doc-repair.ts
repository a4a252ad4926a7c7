import * as Y from 'yjs';
import { WritableMaps, annotationsMap, can, storedValue, type Annotation, type Role } from '@loupe/shared';

/** The member a Yjs client id of the room is bound to (client-id bindings), with their role when known. */
export interface BoundWriter {
  member: string;
  role?: Role;
}

/** A stored value the write guard (update-guard.ts) would refuse today. */
export interface BadValue {
  root: string;
  key: string;
  why: string;
}

/**
 * The version of the write rules (update-guard.ts, and badValues below) a stored row was checked
 * under (doc_updates.checked). Bump it when the rules come to refuse something they accepted: rows
 * checked under an older version are then checked again (badValues) when their room loads.
 */
export const WRITE_RULES_VERSION = 1;

/** Whether every one of the rows was checked under today's write rules. */
export function allChecked(rows: readonly { checked: number | null }[]): boolean {
  return rows.every((r) => r.checked === WRITE_RULES_VERSION);
}

/**
 * The values of a room document that the write guard would refuse if they were written now: stored
 * by a Loupe from before the guard (issue 15), or written around it. Same rules as guardUpdate, for
 * what a stored document can still tell:
 * - a plain value (no nested shared type), within Limits.maxValueDepth / maxValueBytes, valid against
 *   its map's schema, its id equal to its key;
 * - written under a Yjs client id bound to a member: its author is that member, or that member is a
 *   director who changed the status of someone else's note. A value written under a client id bound to
 *   nobody (before bindings were kept) cannot be attributed, and is judged on its content alone.
 * Only reads the document (values are walked without recursion: a value nested a million levels deep
 * is answered too).
 */
export function badValues(doc: Y.Doc, writerOf: (clientId: number) => BoundWriter | undefined): BadValue[] {
  const bad: BadValue[] = [];
  for (const [root, schema] of Object.entries(WritableMaps)) {
    if (!doc.share.has(root)) continue;
    const map = doc.getMap(root);
    for (const [key, item] of map._map) {
      if (item.deleted) continue;
      const why = problemOf(root, schema, key, item, writerOf);
      if (why) bad.push({ root, key, why });
    }
  }
  return bad;
}

function problemOf(root: string, schema: (typeof WritableMaps)[string], key: string, item: Y.Item, writerOf: (clientId: number) => BoundWriter | undefined): string | null {
  const values = plainValues(item.content);
  if (!values) return 'not a plain value (a nested shared type)';
  const read = storedValue(root, values[values.length - 1]);
  if ('tooBig' in read) return `the value is ${read.tooBig}`;
  if ('undecodable' in read) return `invalid: ${read.undecodable}`;
  const value = read.value;
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return `invalid: ${issue?.path.join('.') || 'value'}: ${issue?.message}`;
  }
  if (parsed.data.id !== key) return 'its id is not its key';
  const writer = writerOf(item.id.client);
  if (writer && writer.member !== parsed.data.author.id) {
    const moderated = root === 'notes' && writer.role !== undefined && can(writer.role, 'moderate');
    if (!moderated) return `written by member ${writer.member} under the author ${parsed.data.author.id}`;
  }
  return null;
}

/**
 * The values an item holds when they are plain (JSON-like values, or a binary: a packed annotation),
 * else null (a nested shared type, text...). A key's value is the last.
 */
export function plainValues(content: Y.Item['content']): unknown[] | null {
  if (content instanceof Y.ContentAny) return content.arr;
  if (content instanceof Y.ContentBinary) return [content.content];
  return null;
}

/** A change of `doc` as one update, made on a copy (the live document is not touched): store it, then apply it. Null when it changes nothing. */
function updateOnCopy(doc: Y.Doc, change: (copy: Y.Doc) => void): Uint8Array | null {
  const copy = new Y.Doc({ gc: true });
  try {
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc));
    const updates: Uint8Array[] = [];
    copy.on('update', (u: Uint8Array) => updates.push(u));
    copy.transact(() => change(copy));
    return updates.length ? Y.mergeUpdates(updates) : null;
  } finally {
    copy.destroy();
  }
}

/** The removal of `bad` from `doc` as one update (see updateOnCopy). Null when there is nothing to remove. */
export function removalUpdate(doc: Y.Doc, bad: BadValue[]): Uint8Array | null {
  if (!bad.length) return null;
  return updateOnCopy(doc, (copy) => {
    for (const b of bad) copy.getMap(b.root).delete(b.key);
  });
}

/** Whether the document holds drawings stored as plain objects (plugins, rooms drawn before protocol 2). */
export function holdsPlainDrawings(doc: Y.Doc): boolean {
  for (const v of annotationsMap(doc).raw.values()) if (!(v instanceof Uint8Array)) return true;
  return false;
}

/**
 * The drawings `doc` holds as plain objects, packed (one binary each, as Loupe writes them), as one
 * update (see updateOnCopy): same keys, same content (legacy `points` arrays quantised as packPoints
 * does, within 0.09 px at 4K). Values that cannot be packed are left as they are. Null when none.
 */
export function packingUpdate(doc: Y.Doc): { update: Uint8Array; count: number } | null {
  const plain = [...annotationsMap(doc).raw.entries()].filter(([, v]) => !(v instanceof Uint8Array));
  let count = 0;
  const update = plain.length === 0 ? null : updateOnCopy(doc, (copy) => {
    const map = annotationsMap(copy);
    for (const [key, value] of plain) {
      try {
        map.set(key, value as Annotation);
        count++;
      } catch {
        // Not a drawing Loupe can pack (the write guard would have refused it): left for readers to skip.
      }
    }
  });
  return update && count > 0 ? { update, count } : null;
}

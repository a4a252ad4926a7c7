import * as Y from 'yjs';
import { ErrorCode, LoupeError, WritableMaps, documentValue, mayDelete, storedValue, writeProblem, type DocWriter } from '@loupe/shared';
import { squatted } from './client-ids.js';
import { plainValues } from './doc-repair.js';

type Struct = ReturnType<typeof Y.decodeUpdate>['structs'][number];
type DeleteSet = ReturnType<typeof Y.decodeUpdate>['ds'];

export interface GuardContext {
  doc: Y.Doc;
  writer: DocWriter;
  /** The member a Yjs client id of the room belongs to, if anyone's. */
  ownerOf(clientId: number): string | undefined;
}

/**
 * Authorises a member's Yjs update before anything of it is applied (docs/security.md), or throws
 * BAD_ANNOTATION. `structs`: the update's structs the document lacks (changesDoc), `ds` its delete set.
 *
 * - Every new struct is written under a Yjs client id that is the member's or nobody's yet.
 * - Every new item is a value set on a key of a writable top-level map (annotations, notes), within
 *   Limits.maxValueDepth / maxValueBytes, valid against its schema, and allowed by writeProblem
 *   against the value it replaces: only the author changes a value's content, a director may
 *   resolve or reopen a note. Nested types, text and arrays are refused.
 * - Every deletion (the delete set, or a deleted item set on a key) removes a value the member may
 *   delete (mayDelete: their own; any, for a director), or the value a key set by this update replaces.
 *   Deleting what the server does not have yet is allowed only under the member's own client ids.
 *
 * Returns the client ids the update uses that belong to nobody yet: bind them to the member before
 * applying it.
 */
export function guardUpdate(ctx: GuardContext, structs: Struct[], ds: DeleteSet): number[] {
  const { doc, writer } = ctx;
  const fresh = new Set<number>();
  for (const s of structs) {
    const owner = ctx.ownerOf(s.id.client);
    if (owner === undefined) fresh.add(s.id.client);
    else if (owner !== writer.id) throw squatted(s.id.client);
  }
  const ownClient = (client: number) => fresh.has(client) || ctx.ownerOf(client) === writer.id;

  const items = structs.filter((s): s is Y.Item => s instanceof Y.Item);
  const located = new Map<Y.Item, { root: string; key: string }>();
  const findInUpdate = (id: Y.ID): Y.Item | undefined =>
    items.find((i) => i.id.client === id.client && i.id.clock <= id.clock && id.clock < i.id.clock + i.length);

  const locate = (item: Y.Item, depth = 0): { root: string; key: string } => {
    const known = located.get(item);
    if (known) return known;
    if (depth > 10_000) throw refuse('The update is too deeply chained.');
    let where: { root: string; key: string };
    if (typeof item.parent === 'string') {
      if (item.parentSub === null) throw refuse(`"${item.parent}" is a map: set values by key.`);
      where = { root: item.parent, key: item.parentSub };
    } else if (item.parent !== null) {
      throw refuse('Nested shared types are not part of the room document.');
    } else {
      const origin = item.origin ?? item.rightOrigin;
      if (!origin) throw refuse('An item without a parent or origin.');
      const inUpdate = findInUpdate(origin);
      if (inUpdate) where = locate(inUpdate, depth + 1);
      else {
        let prev: Y.Item | Y.GC;
        try {
          prev = Y.getItem(doc.store, origin) as Y.Item | Y.GC;
        } catch {
          throw refuse('The update depends on changes the server does not have; resync and try again.');
        }
        const where2 = keyOf(prev);
        if (!where2) throw refuse("The update writes outside the room's annotation and note maps.");
        where = where2;
      }
    }
    located.set(item, where);
    return where;
  };

  // What each key holds as this update goes (its own earlier sets included), and the keys it sets.
  const setInUpdate = new Map<string, unknown>();
  const current = (root: string, key: string) => {
    const k = `${root}\0${key}`;
    return setInUpdate.has(k) ? setInUpdate.get(k) : readable(root, doc.getMap(root).get(key));
  };
  for (const item of items) {
    const { root, key } = locate(item);
    const schema = WritableMaps[root];
    if (!schema) throw refuse(`"${root}" is not writable; members write only ${Object.keys(WritableMaps).join(' and ')}.`);
    const content = item.content;
    const what = root.replace(/s$/, '');
    if (content instanceof Y.ContentDeleted) {
      // A deleted item set on a key removes the key's value, as a delete would.
      const before = current(root, key);
      if (before !== undefined && !mayDelete(before, writer)) throw refuse(`Only its author or a director can delete this ${what}.`);
      setInUpdate.set(`${root}\0${key}`, undefined);
      continue;
    }
    const values = plainValues(content);
    if (!values) throw refuse(`Values in "${root}" must be plain objects.`);
    for (const stored of values) {
      const read = storedValue(root, stored);
      if ('tooBig' in read) throw refuse(`Invalid ${what}: the value is ${read.tooBig}.`);
      if ('undecodable' in read) throw refuse(`Invalid ${what}: ${read.undecodable}.`);
      const value = read.value;
      const parsed = schema.safeParse(value);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw refuse(`Invalid ${what}: ${issue.path.join('.') || 'value'}: ${issue.message}`);
      }
      if (parsed.data.id !== key) throw refuse(`The ${what} id must equal its key.`);
      const problem = writeProblem(root, current(root, key), value as Parameters<typeof writeProblem>[2], writer);
      if (problem) throw refuse(problem);
      setInUpdate.set(`${root}\0${key}`, value);
    }
  }

  for (const [client, ranges] of ds.clients) {
    const state = Y.getState(doc.store, client);
    for (const { clock, len } of ranges) {
      const end = clock + len;
      if (end > state && !ownClient(client)) throw refuse('The update deletes changes the server does not have.');
      for (let at = clock; at < Math.min(end, state); ) {
        const struct = Y.getItem(doc.store, Y.createID(client, at)) as Y.Item | Y.GC;
        at = struct.id.clock + struct.length;
        if (struct.deleted || !(struct instanceof Y.Item)) continue;
        const where = keyOf(struct);
        // The value a key set by this update replaces: Yjs deletes it anyway.
        if (where && setInUpdate.has(`${where.root}\0${where.key}`)) continue;
        const value = where ? readable(where.root, plainValues(struct.content)?.at(-1)) : undefined;
        if (!mayDelete(value, writer)) throw refuse(`Only its author or a director can delete this ${where?.root === 'notes' ? 'note' : 'drawing'}.`);
      }
    }
  }
  return [...fresh];
}

/** A value the document holds, as its schema reads it; one that cannot be decoded as it is (nobody's). */
function readable(root: string, value: unknown): unknown {
  try {
    return documentValue(root, value);
  } catch {
    return value;
  }
}

/** The top-level map and key an item of the document is a value of, or null. */
function keyOf(struct: Y.Item | Y.GC): { root: string; key: string } | null {
  if (!(struct instanceof Y.Item) || !(struct.parent instanceof Y.AbstractType) || struct.parent._item !== null || struct.parentSub === null) return null;
  return { root: Y.findRootTypeKey(struct.parent), key: struct.parentSub };
}

function refuse(message: string): LoupeError {
  return new LoupeError(ErrorCode.BAD_ANNOTATION, message);
}

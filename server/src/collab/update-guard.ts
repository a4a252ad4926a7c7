import * as Y from 'yjs';
import { ErrorCode, LoupeError, WritableMaps } from '@loupe/shared';

type Struct = ReturnType<typeof Y.decodeUpdate>['structs'][number];

/**
 * Authorises a member's Yjs update before it is applied: every new item must be a value set on a
 * key of a writable top-level map (annotations, notes), the value must match its schema, and a new
 * value must be authored by the member — or keep the author of the value it replaces (resolving
 * someone's note). Deleting is allowed (the eraser). Nested types, text and arrays are refused.
 * `structs`: the update's structs when the caller has decoded them already (each update is then
 * decoded once); only the structs the document lacks need checking.
 */
export function guardUpdate(doc: Y.Doc, update: Uint8Array, memberId: string, structs: Struct[] = Y.decodeUpdate(update).structs): void {
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
        if (!(prev instanceof Y.Item) || !(prev.parent instanceof Y.AbstractType) || prev.parent._item !== null || prev.parentSub === null) {
          throw refuse('The update writes outside the room\'s annotation and note maps.');
        }
        where = { root: Y.findRootTypeKey(prev.parent), key: prev.parentSub };
      }
    }
    located.set(item, where);
    return where;
  };

  for (const item of items) {
    const { root, key } = locate(item);
    const schema = WritableMaps[root];
    if (!schema) throw refuse(`"${root}" is not writable; members write only ${Object.keys(WritableMaps).join(' and ')}.`);
    const content = item.content;
    if (content instanceof Y.ContentDeleted) continue;
    if (!(content instanceof Y.ContentAny)) throw refuse(`Values in "${root}" must be plain objects.`);
    for (const value of content.arr) {
      const parsed = schema.safeParse(value);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw refuse(`Invalid ${root.replace(/s$/, '')}: ${issue.path.join('.') || 'value'}: ${issue.message}`);
      }
      if (parsed.data.id !== key) throw refuse(`The ${root.replace(/s$/, '')} id must equal its key.`);
      if (parsed.data.author.id !== memberId) {
        const current = doc.getMap<{ author?: { id?: string } }>(root).get(key);
        if (current?.author?.id !== parsed.data.author.id) {
          throw refuse('You can only write as yourself: author.id must be your member id.');
        }
      }
    }
  }
}

function refuse(message: string): LoupeError {
  return new LoupeError(ErrorCode.BAD_ANNOTATION, message);
}

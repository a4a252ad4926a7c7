import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';
import * as syncProtocol from 'y-protocols/sync';
import { ErrorCode, LoupeError, can, type DocWriter } from '@loupe/shared';
import { guardUpdate } from './update-guard.js';
import type { ClientIdBindings } from './client-ids.js';
import { changesDoc, type LoadedRoom, type Origin, type RoomDocRegistry } from './room-doc.registry.js';

/** What a sync message leads to: the reply to send back at once, and the member's update being stored. */
export interface SyncOutcome {
  reply: Uint8Array | null;
  /**
   * Resolves once the member's update is stored and shown to the room (at once when the message
   * carries none, or nothing new); rejects with the refusal (BAD_ANNOTATION, FORBIDDEN_ROLE,
   * STORAGE_FULL ...), the update then shown to nobody.
   */
  stored: Promise<void>;
}

/**
 * Handles one y-protocols sync message from a member. Step 1 is answered with step 2; step 2 and
 * updates are stored and applied only if the member may write and the update guard accepts all of
 * it — a refused message changes nothing, in memory or stored — checked against the document as it
 * is when their turn comes (see RoomDocRegistry.submit). Throws at once only for a message that
 * cannot be read.
 */
export function applySyncMessage(
  room: LoadedRoom,
  data: Uint8Array,
  origin: Origin & { kind: 'socket' | 'ws' },
  writer: DocWriter,
  deps: { docs: RoomDocRegistry; clientIds: ClientIdBindings },
): SyncOutcome {
  const decoder = decoding.createDecoder(data);
  let type: number;
  try {
    type = decoding.readVarUint(decoder);
  } catch {
    throw new LoupeError(ErrorCode.BAD_YJS_MESSAGE, 'Empty Yjs message.');
  }
  if (type === syncProtocol.messageYjsSyncStep1) {
    let sv: Uint8Array;
    try {
      sv = decoding.readVarUint8Array(decoder);
    } catch {
      throw new LoupeError(ErrorCode.BAD_YJS_MESSAGE, 'Malformed sync step 1.');
    }
    const encoder = encoding.createEncoder();
    try {
      syncProtocol.writeSyncStep2(encoder, room.doc, sv);
    } catch {
      throw new LoupeError(ErrorCode.BAD_YJS_MESSAGE, 'Malformed state vector in sync step 1.');
    }
    return { reply: encoding.toUint8Array(encoder), stored: Promise.resolve() };
  }
  if (type !== syncProtocol.messageYjsSyncStep2 && type !== syncProtocol.messageYjsUpdate) {
    throw new LoupeError(ErrorCode.BAD_YJS_MESSAGE, `Unknown sync message type ${type}.`);
  }
  let update: Uint8Array;
  try {
    update = decoding.readVarUint8Array(decoder);
  } catch {
    throw new LoupeError(ErrorCode.BAD_YJS_MESSAGE, 'Malformed Yjs update.');
  }
  const { clientIds } = deps;
  const decode = () => {
    try {
      return changesDoc(room.doc, update);
    } catch {
      throw new LoupeError(ErrorCode.BAD_YJS_MESSAGE, 'Malformed Yjs update.');
    }
  };
  const guard = (changes: NonNullable<ReturnType<typeof changesDoc>>) =>
    guardUpdate({ doc: room.doc, writer, ownerOf: (c) => clientIds.ownerOf(room, c) }, changes.structs, changes.ds);
  const check = async () => {
    let changes = decode();
    if (!changes) return false;
    if (!can(writer.role, 'annotate')) throw new LoupeError(ErrorCode.FORBIDDEN_ROLE, 'Your role can view this room but not draw in it.');
    // Who owns the client ids it uses, as stored (another node may have bound one since this room loaded).
    const ids = new Set<number>(changes.structs.map((st) => st.id.client));
    for (const c of changes.ds.clients.keys()) ids.add(c);
    await clientIds.load(room, ids);
    // The document may have moved on meanwhile (other nodes): decoded and guarded again, as it is now.
    changes = decode();
    if (!changes) return false;
    const fresh = guard(changes);
    if (fresh.length === 0) return true;
    await clientIds.bind(room, fresh, writer.id);
    changes = decode();
    if (!changes) return false;
    guard(changes);
    return true;
  };
  return { reply: null, stored: deps.docs.submit(room, update, origin, check) };
}

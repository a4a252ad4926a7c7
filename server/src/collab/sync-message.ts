import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';
import * as syncProtocol from 'y-protocols/sync';
import { ErrorCode, LoupeError, can, type DocWriter } from '@loupe/shared';
import { guardUpdate } from './update-guard.js';
import type { ClientIdBindings } from './client-ids.js';
import { changesDoc, type LoadedRoom, type Origin, type RoomDocRegistry } from './room-doc.registry.js';

/**
 * Handles one y-protocols sync message from a member. Step 1 is answered with step 2; step 2 and
 * updates are applied (and stored) only if the member may write and the update guard accepts all of
 * it — a refused message changes nothing, in memory or stored. Returns the reply to send back, if any.
 */
export function applySyncMessage(
  room: LoadedRoom,
  data: Uint8Array,
  origin: Origin & { kind: 'socket' | 'ws' },
  writer: DocWriter,
  deps: { docs: RoomDocRegistry; clientIds: ClientIdBindings },
): Uint8Array | null {
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
    return encoding.toUint8Array(encoder);
  }
  if (type !== syncProtocol.messageYjsSyncStep2 && type !== syncProtocol.messageYjsUpdate) {
    throw new LoupeError(ErrorCode.BAD_YJS_MESSAGE, `Unknown sync message type ${type}.`);
  }
  let update: Uint8Array;
  let changes: ReturnType<typeof changesDoc>;
  try {
    update = decoding.readVarUint8Array(decoder);
    changes = changesDoc(room.doc, update);
  } catch {
    throw new LoupeError(ErrorCode.BAD_YJS_MESSAGE, 'Malformed Yjs update.');
  }
  if (!changes) return null;
  if (!can(writer.role, 'annotate')) throw new LoupeError(ErrorCode.FORBIDDEN_ROLE, 'Your role can view this room but not draw in it.');
  // The guard reads what changesDoc decoded: each update is decoded once, not twice.
  const { clientIds } = deps;
  const fresh = guardUpdate({ doc: room.doc, writer, ownerOf: (c) => clientIds.ownerOf(room, c) }, changes.structs, changes.ds);
  clientIds.bind(room, fresh, writer.id);
  deps.docs.applyUpdate(room, update, origin);
  return null;
}

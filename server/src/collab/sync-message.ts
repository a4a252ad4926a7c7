import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';
import * as syncProtocol from 'y-protocols/sync';
import { ErrorCode, LoupeError } from '@loupe/shared';
import { guardUpdate } from './update-guard.js';
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
 * updates are stored and applied only if the member may write — a reader's message that would
 * change the document is refused — and checked against the document as it is when their turn comes
 * (see RoomDocRegistry.submit). Throws at once only for a message that cannot be read.
 */
export function applySyncMessage(room: LoadedRoom, data: Uint8Array, origin: Origin, mayWrite: boolean, docs: RoomDocRegistry): SyncOutcome {
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
  const check = () => {
    let changes: ReturnType<typeof changesDoc>;
    try {
      changes = changesDoc(room.doc, update);
    } catch {
      throw new LoupeError(ErrorCode.BAD_YJS_MESSAGE, 'Malformed Yjs update.');
    }
    if (!changes) return false;
    if (!mayWrite) throw new LoupeError(ErrorCode.FORBIDDEN_ROLE, 'Your role can view this room but not draw in it.');
    // The guard reads the structs changesDoc decoded: each update is decoded once, not twice.
    if (origin.kind === 'socket' || origin.kind === 'ws') guardUpdate(room.doc, update, origin.memberId, changes.structs);
    return true;
  };
  return { reply: null, stored: docs.submit(room, update, origin, check) };
}

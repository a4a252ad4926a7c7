import * as decoding from 'lib0/decoding';
import { ErrorCode, LoupeError } from '@loupe/shared';

/**
 * Checks an awareness update before it is applied: a connection may only publish the client ids it
 * introduced itself (nobody moves another member's cursor or removes their presence), and a state
 * that names a user must name the member who sends it.
 * `owners` maps client id -> connection id for the room.
 */
export function guardAwareness(update: Uint8Array, connectionId: string, memberId: string, owners: Map<number, string>): number[] {
  const claimed: number[] = [];
  try {
    const decoder = decoding.createDecoder(update);
    const n = decoding.readVarUint(decoder);
    if (n > 16) throw new LoupeError(ErrorCode.BAD_YJS_MESSAGE, 'Too many awareness states in one update.');
    for (let i = 0; i < n; i++) {
      const clientId = decoding.readVarUint(decoder);
      decoding.readVarUint(decoder); // clock
      const state = JSON.parse(decoding.readVarString(decoder));
      const owner = owners.get(clientId);
      if (owner !== undefined && owner !== connectionId) {
        throw new LoupeError(ErrorCode.FORBIDDEN_ROLE, 'That presence belongs to another member.');
      }
      const userId = state?.user?.id;
      if (state !== null && userId !== undefined && userId !== memberId) {
        throw new LoupeError(ErrorCode.FORBIDDEN_ROLE, 'You can only publish your own presence.');
      }
      claimed.push(clientId);
    }
  } catch (e) {
    if (e instanceof LoupeError) throw e;
    throw new LoupeError(ErrorCode.BAD_YJS_MESSAGE, 'Malformed awareness update.');
  }
  return claimed;
}

import { ErrorCode, LoupeError } from '@loupe/shared';
import type { ClientIdRepository } from '../store/client-id.repository.js';
import type { LoadedRoom } from './room-doc.registry.js';

/**
 * Each Yjs client id of a room belongs to the member who first used it, in a document change or as
 * their presence (the web client's presence id is its document's client id, so a member's id is
 * theirs before they draw). Stored, so it holds across restarts and nodes; remembered per loaded room.
 */
export class ClientIdBindings {
  private readonly known = new WeakMap<LoadedRoom, Map<number, string>>();

  constructor(private readonly repo: ClientIdRepository) {}

  /** The member the client id belongs to, if anyone's. */
  ownerOf(room: LoadedRoom, clientId: number): string | undefined {
    const known = this.cache(room);
    let owner = known.get(clientId);
    if (owner === undefined) {
      owner = this.repo.ownerOf(room.id, clientId);
      if (owner !== undefined) known.set(clientId, owner);
    }
    return owner;
  }

  /**
   * Binds the client ids to the member; refuses (binding none after it) if one is another member's:
   * BAD_ANNOTATION for a document change, FORBIDDEN_ROLE for presence.
   */
  bind(room: LoadedRoom, clientIds: Iterable<number>, memberId: string, use: 'document' | 'presence' = 'document'): void {
    const known = this.cache(room);
    for (const c of clientIds) {
      if (known.get(c) === memberId) continue;
      const owner = known.get(c) ?? this.repo.bind(room.id, c, memberId);
      known.set(c, owner);
      if (owner !== memberId) throw squatted(c, use);
    }
  }

  private cache(room: LoadedRoom): Map<number, string> {
    let known = this.known.get(room);
    if (!known) this.known.set(room, (known = new Map()));
    return known;
  }
}

export function squatted(clientId: number, use: 'document' | 'presence' = 'document'): LoupeError {
  const message = `Yjs client id ${clientId} belongs to another member of this room`;
  return use === 'document'
    ? new LoupeError(ErrorCode.BAD_ANNOTATION, `${message}: write with your own document.`)
    : new LoupeError(ErrorCode.FORBIDDEN_ROLE, `${message}: publish your own presence.`);
}

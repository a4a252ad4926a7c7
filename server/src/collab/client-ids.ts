import { ErrorCode, LoupeError } from '@loupe/shared';
import type { ClientIdRepository } from '../store/client-id.repository.js';
import type { LoadedRoom } from './room-doc.registry.js';

/**
 * Each Yjs client id of a room belongs to the member who first used it, in a document change or as
 * their presence (the web client's presence id is its document's client id, so a member's id is
 * theirs before they draw). Stored, so it holds across restarts and nodes; remembered per loaded room.
 *
 * Document changes are checked against the stored owners (`load` reads the ones this node does not
 * know yet, `bind` stores new ones; the database settles two nodes binding the same id at once).
 * Presence, which is never stored, is checked against what this node knows (`claim`): the room's
 * bindings are read when it loads, and a new presence id is stored in the background.
 */
export class ClientIdBindings {
  private readonly known = new WeakMap<LoadedRoom, Map<number, string>>();

  constructor(private readonly repo: ClientIdRepository) {}

  /** The member the client id belongs to, as far as this node knows. */
  ownerOf(room: LoadedRoom, clientId: number): string | undefined {
    return this.cache(room).get(clientId);
  }

  /** Reads the stored owners of the client ids this node does not know yet. */
  async load(room: LoadedRoom, clientIds: Iterable<number>): Promise<void> {
    const known = this.cache(room);
    for (const c of clientIds) {
      if (known.has(c)) continue;
      const owner = await this.repo.ownerOf(room.id, c);
      if (owner !== undefined) known.set(c, owner);
    }
  }

  /** Every stored binding of the room (when it loads). */
  async preload(room: LoadedRoom): Promise<void> {
    const known = this.cache(room);
    for (const [c, owner] of await this.repo.ofRoom(room.id)) if (!known.has(c)) known.set(c, owner);
  }

  /**
   * Binds the client ids to the member, stored; refuses (binding none after it) if one is another
   * member's: BAD_ANNOTATION for a document change.
   */
  async bind(room: LoadedRoom, clientIds: Iterable<number>, memberId: string): Promise<void> {
    const known = this.cache(room);
    for (const c of clientIds) {
      if (known.get(c) === memberId) continue;
      const owner = known.get(c) ?? (await this.repo.bind(room.id, c, memberId));
      known.set(c, owner);
      if (owner !== memberId) throw squatted(c);
    }
  }

  /**
   * Presence: refuses (FORBIDDEN_ROLE) a client id another member owns; binds a new one to the member
   * at once here, and stores it in the background.
   */
  claim(room: LoadedRoom, clientIds: Iterable<number>, memberId: string, onError: (e: Error) => void): void {
    const known = this.cache(room);
    const fresh: number[] = [];
    for (const c of clientIds) {
      const owner = known.get(c);
      if (owner === undefined) fresh.push(c);
      else if (owner !== memberId) throw squatted(c, 'presence');
    }
    for (const c of fresh) {
      known.set(c, memberId);
      this.repo.bind(room.id, c, memberId).then(
        (owner) => known.set(c, owner),
        (e: Error) => onError(e),
      );
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

import type { Db } from './database.js';

/**
 * Which member each Yjs client id of a room belongs to: the first member who used it. Yjs orders a
 * client's changes by (client id, clock), so someone writing under another member's id could take
 * the clock of that member's offline work and make it vanish on reconnect.
 */
export class ClientIdRepository {
  constructor(private readonly db: Db) {}

  /** Binds the client id to the member unless it is bound already (say, by another node a moment ago); returns its owner. */
  bind(roomId: string, clientId: number, memberId: string): string {
    this.db.prepare('INSERT OR IGNORE INTO doc_clients (room_id, client_id, member_id) VALUES (?, ?, ?)').run(roomId, clientId, memberId);
    return this.ownerOf(roomId, clientId)!;
  }

  ownerOf(roomId: string, clientId: number): string | undefined {
    const row = this.db.prepare('SELECT member_id AS memberId FROM doc_clients WHERE room_id = ? AND client_id = ?').get(roomId, clientId) as { memberId: string } | undefined;
    return row?.memberId;
  }
}

import type { Db } from './database.js';

/**
 * Which member each Yjs client id of a room belongs to: the first member who used it. Yjs orders a
 * client's changes by (client id, clock), so someone writing under another member's id could take
 * the clock of that member's offline work and make it vanish on reconnect.
 */
export class ClientIdRepository {
  constructor(private readonly db: Db) {}

  /** Binds the client id to the member unless it is bound already (say, by another node a moment ago); returns its owner. */
  async bind(roomId: string, clientId: number, memberId: string): Promise<string> {
    await this.db
      .insertInto('doc_clients')
      .values({ room_id: roomId, client_id: clientId, member_id: memberId })
      .onConflict((oc) => oc.columns(['room_id', 'client_id']).doNothing())
      .execute();
    return (await this.ownerOf(roomId, clientId))!;
  }

  /** Every binding of the room: client id -> member. */
  async ofRoom(roomId: string): Promise<Map<number, string>> {
    const rows = await this.db.selectFrom('doc_clients').select(['client_id', 'member_id']).where('room_id', '=', roomId).execute();
    return new Map(rows.map((r) => [Number(r.client_id), r.member_id]));
  }

  async ownerOf(roomId: string, clientId: number): Promise<string | undefined> {
    const row = await this.db.selectFrom('doc_clients').select('member_id').where('room_id', '=', roomId).where('client_id', '=', clientId).executeTakeFirst();
    return row?.member_id;
  }
}

import { Repository } from './database.js';

export interface InviteRow {
  id: string;
  roomId: string;
  role: string;
  name: string;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
}

/** Invites issued for each room, so that one can be listed and revoked. */
export class InviteRepository extends Repository {
  async insert(row: Omit<InviteRow, 'revokedAt'>): Promise<void> {
    await this.db
      .insertInto('invites')
      .values({ id: row.id, room_id: row.roomId, role: row.role, name: row.name, created_at: row.createdAt, expires_at: row.expiresAt })
      .execute();
  }

  listForRoom(roomId: string): Promise<InviteRow[]> {
    return this.db
      .selectFrom('invites')
      .select(['id', 'room_id as roomId', 'role', 'name', 'created_at as createdAt', 'expires_at as expiresAt', 'revoked_at as revokedAt'])
      .where('room_id', '=', roomId)
      .orderBy('created_at')
      .execute();
  }

  /** Returns false if no such invite exists. */
  async revoke(id: string, at: string): Promise<boolean> {
    const r = await this.db
      .updateTable('invites')
      .set({ revoked_at: (eb) => eb.fn.coalesce('revoked_at', eb.val(at)) })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** The invites among `ids` that were revoked (one query). */
  async revokedAmong(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.db.selectFrom('invites').select('id').where('revoked_at', 'is not', null).where('id', 'in', ids).execute();
    return rows.map((r) => r.id);
  }

  async isRevoked(id: string): Promise<boolean> {
    return !!(await this.db.selectFrom('invites').select('revoked_at').where('id', '=', id).executeTakeFirst())?.revoked_at;
  }
}

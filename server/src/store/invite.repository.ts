import type { Db } from './database.js';

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
export class InviteRepository {
  constructor(private readonly db: Db) {}

  insert(row: Omit<InviteRow, 'revokedAt'>): void {
    this.db
      .prepare('INSERT INTO invites (id, room_id, role, name, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(row.id, row.roomId, row.role, row.name, row.createdAt, row.expiresAt);
  }

  listForRoom(roomId: string): InviteRow[] {
    return this.db
      .prepare(
        `SELECT id, room_id AS roomId, role, name, created_at AS createdAt, expires_at AS expiresAt, revoked_at AS revokedAt
         FROM invites WHERE room_id = ? ORDER BY created_at`,
      )
      .all(roomId) as InviteRow[];
  }

  /** Returns false if no such invite exists. */
  revoke(id: string, at: string): boolean {
    return this.db.prepare('UPDATE invites SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?').run(at, id).changes > 0;
  }

  /** The invites among `ids` that were revoked (one query; `ids` not empty). */
  revokedAmong(ids: string[]): string[] {
    if (ids.length === 0) return [];
    const rows = this.db.prepare(`SELECT id FROM invites WHERE revoked_at IS NOT NULL AND id IN (${ids.map(() => '?').join(', ')})`).all(...ids) as { id: string }[];
    return rows.map((r) => r.id);
  }

  isRevoked(id: string): boolean {
    return !!(this.db.prepare('SELECT revoked_at FROM invites WHERE id = ?').get(id) as { revoked_at: string | null } | undefined)?.revoked_at;
  }
}

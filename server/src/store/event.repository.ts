import type { Db } from './database.js';

/** One entry of a room's session event log (see docs/exports.md). */
export interface RoomEvent {
  /** Increases across the whole server: the order events happened in. */
  id: number;
  roomId: string;
  at: string;
  /** `domain.action`, e.g. `member.joined`, `note.added`, `version.decided`. */
  type: string;
  /** Who did it; null for the server itself. */
  actor: { id: string; name: string; role?: string } | null;
  data: Record<string, unknown>;
}

interface EventRow {
  id: number;
  room_id: string;
  at: string;
  type: string;
  actor: string | null;
  data: string;
}

/** The append-only session event log. Rows are never updated or deleted. */
export class EventRepository {
  constructor(private readonly db: Db) {}

  /** Appends an event; `ref` (a job or version id) lets callers ask whether it was logged already. */
  append(e: Omit<RoomEvent, 'id'>, ref: string | null = null): RoomEvent {
    const { lastInsertRowid } = this.db
      .prepare('INSERT INTO room_events (room_id, at, type, actor, data, ref) VALUES (?, ?, ?, ?, ?, ?)')
      .run(e.roomId, e.at, e.type, e.actor ? JSON.stringify(e.actor) : null, JSON.stringify(e.data), ref);
    return { id: Number(lastInsertRowid), ...e };
  }

  has(roomId: string, type: string, ref: string): boolean {
    return !!this.db.prepare('SELECT 1 FROM room_events WHERE room_id = ? AND type = ? AND ref = ?').get(roomId, type, ref);
  }

  /**
   * The room's events, oldest first, read a page at a time: no statement stays open between pages,
   * so a consumer may await (a slow download) while the database serves others.
   */
  *iterate(roomId: string, pageSize = 500): Generator<RoomEvent> {
    const page = this.db.prepare('SELECT id, room_id, at, type, actor, data FROM room_events WHERE room_id = ? AND id > ? ORDER BY id LIMIT ?');
    for (let after = 0; ; ) {
      const rows = page.all(roomId, after, pageSize) as EventRow[];
      for (const r of rows) yield toEvent(r);
      if (rows.length < pageSize) return;
      after = rows[rows.length - 1].id;
    }
  }

  list(roomId: string): RoomEvent[] {
    return [...this.iterate(roomId)];
  }
}

function toEvent(r: EventRow): RoomEvent {
  return { id: r.id, roomId: r.room_id, at: r.at, type: r.type, actor: r.actor ? JSON.parse(r.actor) : null, data: JSON.parse(r.data) };
}

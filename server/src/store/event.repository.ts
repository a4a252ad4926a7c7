import { Repository } from './database.js';

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
export class EventRepository extends Repository {
  /** Appends an event; `ref` (a job or version id) lets callers ask whether it was logged already. */
  async append(e: Omit<RoomEvent, 'id'>, ref: string | null = null): Promise<RoomEvent> {
    const { id } = await this.db
      .insertInto('room_events')
      .values({ room_id: e.roomId, at: e.at, type: e.type, actor: e.actor ? JSON.stringify(e.actor) : null, data: JSON.stringify(e.data), ref })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { id: Number(id), ...e };
  }

  async has(roomId: string, type: string, ref: string): Promise<boolean> {
    return !!(await this.db.selectFrom('room_events').select('id').where('room_id', '=', roomId).where('type', '=', type).where('ref', '=', ref).executeTakeFirst());
  }

  /**
   * The room's events, oldest first, read a page at a time: no statement stays open between pages,
   * so a consumer may await (a slow download) while the database serves others.
   */
  async *iterate(roomId: string, pageSize = 500): AsyncGenerator<RoomEvent> {
    for (let after = 0; ; ) {
      const rows: EventRow[] = await this.db
        .selectFrom('room_events')
        .select(['id', 'room_id', 'at', 'type', 'actor', 'data'])
        .where('room_id', '=', roomId)
        .where('id', '>', after)
        .orderBy('id')
        .limit(pageSize)
        .execute();
      for (const r of rows) yield toEvent(r);
      if (rows.length < pageSize) return;
      after = rows[rows.length - 1].id;
    }
  }

  async list(roomId: string): Promise<RoomEvent[]> {
    const all: RoomEvent[] = [];
    for await (const e of this.iterate(roomId)) all.push(e);
    return all;
  }
}

function toEvent(r: EventRow): RoomEvent {
  return { id: Number(r.id), roomId: r.room_id, at: r.at, type: r.type, actor: r.actor ? JSON.parse(r.actor) : null, data: JSON.parse(r.data) };
}

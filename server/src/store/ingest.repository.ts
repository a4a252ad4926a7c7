import type { FrameGap, IngestStage, Role } from '@loupe/shared';
import type { Db } from './database.js';

export type IngestState = 'uploading' | 'queued' | 'processing' | 'done' | 'failed' | 'cancelled';

/** One upload (a movie, a zip, or the frames of a sequence) from its creation to its version. */
export interface IngestRecord {
  id: string;
  roomId: string;
  state: IngestState;
  /** The files announced at creation, in order; file i is received as upload `${id}.${i}`. */
  files: { name: string; size: number }[];
  /** What the room sees: the file name or the sequence pattern. */
  label: string;
  /** Existing shot to add a version to, or null for a new shot. */
  shotId: string | null;
  /** Name of the new shot (default: from the file name). */
  shotName: string | null;
  /** Frame rate for sequences that carry none. */
  fps: number | null;
  by: { id: string; name: string; role: Role };
  createdAt: string;
  updatedAt: string;
  stage: IngestStage;
  percent: number;
  error: { code: string; message: string } | null;
  result: { shotId: string; versionId: string; versionNumber: number; gaps: FrameGap[] } | null;
}

export class IngestRepository {
  constructor(private readonly db: Db) {}

  insert(rec: IngestRecord): void {
    this.db
      .prepare('INSERT INTO ingests (id, room_id, state, data, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(rec.id, rec.roomId, rec.state, JSON.stringify(rec), rec.createdAt, rec.updatedAt);
  }

  update(rec: IngestRecord): void {
    this.db.prepare('UPDATE ingests SET state = ?, data = ?, updated_at = ? WHERE id = ?').run(rec.state, JSON.stringify(rec), rec.updatedAt, rec.id);
  }

  get(id: string): IngestRecord | undefined {
    const row = this.db.prepare('SELECT data FROM ingests WHERE id = ?').get(id) as { data: string } | undefined;
    return row && JSON.parse(row.data);
  }

  /** The room's most recent ingests, newest first. */
  listForRoom(roomId: string, limit = 50): IngestRecord[] {
    const rows = this.db.prepare('SELECT data FROM ingests WHERE room_id = ? ORDER BY created_at DESC LIMIT ?').all(roomId, limit) as { data: string }[];
    return rows.map((r) => JSON.parse(r.data));
  }

  inStates(states: IngestState[]): IngestRecord[] {
    if (!states.length) return []; // `IN ()` is SQLite's only
    const rows = this.db
      .prepare(`SELECT data FROM ingests WHERE state IN (${states.map(() => '?').join(',')}) ORDER BY created_at`)
      .all(...states) as { data: string }[];
    return rows.map((r) => JSON.parse(r.data));
  }
}

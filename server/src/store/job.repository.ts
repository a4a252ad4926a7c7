import type { Job } from '@loupe/shared';
import type { Db } from './database.js';

/** A job as stored: what the room sees plus what the worker needs. */
export interface JobRecord {
  job: Job;
  roomId: string;
  params: Record<string, unknown>;
}

export class JobRepository {
  constructor(private readonly db: Db) {}

  insert(rec: JobRecord, idempotencyKey: string): void {
    this.db
      .prepare('INSERT INTO jobs (id, room_id, idempotency_key, state, data, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(rec.job.id, rec.roomId, idempotencyKey, rec.job.state, JSON.stringify(rec), rec.job.createdAt);
  }

  byIdempotencyKey(roomId: string, key: string): JobRecord | undefined {
    const row = this.db.prepare('SELECT data FROM jobs WHERE room_id = ? AND idempotency_key = ?').get(roomId, key) as { data: string } | undefined;
    return row && JSON.parse(row.data);
  }

  get(id: string): JobRecord | undefined {
    const row = this.db.prepare('SELECT data FROM jobs WHERE id = ?').get(id) as { data: string } | undefined;
    return row && JSON.parse(row.data);
  }

  update(rec: JobRecord): void {
    this.db.prepare('UPDATE jobs SET state = ?, data = ? WHERE id = ?').run(rec.job.state, JSON.stringify(rec), rec.job.id);
  }

  listForRoom(roomId: string): JobRecord[] {
    const rows = this.db.prepare('SELECT data FROM jobs WHERE room_id = ? ORDER BY created_at').all(roomId) as { data: string }[];
    return rows.map((r) => JSON.parse(r.data));
  }

  /** Jobs that were queued or running when the process stopped, oldest first. */
  unfinished(): JobRecord[] {
    const rows = this.db.prepare("SELECT data FROM jobs WHERE state IN ('queued', 'running') ORDER BY created_at").all() as { data: string }[];
    return rows.map((r) => JSON.parse(r.data));
  }
}

import type { Job } from '@loupe/shared';
import { Repository } from './database.js';

/** A job as stored: what the room sees plus what the worker needs. */
export interface JobRecord {
  job: Job;
  roomId: string;
  params: Record<string, unknown>;
}

export class JobRepository extends Repository {
  async insert(rec: JobRecord, idempotencyKey: string): Promise<void> {
    await this.db
      .insertInto('jobs')
      .values({ id: rec.job.id, room_id: rec.roomId, idempotency_key: idempotencyKey, state: rec.job.state, data: JSON.stringify(rec), created_at: rec.job.createdAt })
      .execute();
  }

  async byIdempotencyKey(roomId: string, key: string): Promise<JobRecord | undefined> {
    const row = await this.db.selectFrom('jobs').select('data').where('room_id', '=', roomId).where('idempotency_key', '=', key).executeTakeFirst();
    return row && JSON.parse(row.data);
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const row = await this.db.selectFrom('jobs').select('data').where('id', '=', id).executeTakeFirst();
    return row && JSON.parse(row.data);
  }

  async update(rec: JobRecord): Promise<void> {
    await this.db.updateTable('jobs').set({ state: rec.job.state, data: JSON.stringify(rec) }).where('id', '=', rec.job.id).execute();
  }

  async listForRoom(roomId: string): Promise<JobRecord[]> {
    const rows = await this.db.selectFrom('jobs').select('data').where('room_id', '=', roomId).orderBy('created_at').execute();
    return rows.map((r) => JSON.parse(r.data));
  }

  /** Jobs that were queued or running when the process stopped, oldest first. */
  async unfinished(): Promise<JobRecord[]> {
    const rows = await this.db.selectFrom('jobs').select('data').where('state', 'in', ['queued', 'running']).orderBy('created_at').execute();
    return rows.map((r) => JSON.parse(r.data));
  }
}

import type { FrameGap, IngestStage, Role } from '@loupe/shared';
import { Repository } from './database.js';

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
  /** newShot and shotName: whether the upload made a new shot, and its name (absent on uploads from before they were kept). */
  result: { shotId: string; versionId: string; versionNumber: number; gaps: FrameGap[]; newShot?: boolean; shotName?: string } | null;
  /**
   * The data folder that holds its received files (DATA_DIR/uploads/.folder-id): only a node on that
   * folder processes it. Absent on ingests from before it was kept (any node may).
   */
  folder?: string;
}

export class IngestRepository extends Repository {
  async insert(rec: IngestRecord): Promise<void> {
    await this.db
      .insertInto('ingests')
      .values({ id: rec.id, room_id: rec.roomId, state: rec.state, data: JSON.stringify(rec), created_at: rec.createdAt, updated_at: rec.updatedAt })
      .execute();
  }

  async update(rec: IngestRecord): Promise<void> {
    await this.db.updateTable('ingests').set({ state: rec.state, data: JSON.stringify(rec), updated_at: rec.updatedAt }).where('id', '=', rec.id).execute();
  }

  async get(id: string): Promise<IngestRecord | undefined> {
    const row = await this.db.selectFrom('ingests').select('data').where('id', '=', id).executeTakeFirst();
    return row && JSON.parse(row.data);
  }

  /** The room's most recent ingests, newest first. */
  async listForRoom(roomId: string, limit = 50): Promise<IngestRecord[]> {
    const rows = await this.db.selectFrom('ingests').select('data').where('room_id', '=', roomId).orderBy('created_at', 'desc').limit(limit).execute();
    return rows.map((r) => JSON.parse(r.data));
  }

  async inStates(states: IngestState[]): Promise<IngestRecord[]> {
    if (!states.length) return []; // `IN ()` is SQLite's only
    const rows = await this.db.selectFrom('ingests').select('data').where('state', 'in', states).orderBy('created_at').execute();
    return rows.map((r) => JSON.parse(r.data));
  }
}

import type { Db } from './database.js';

/** A frame of a shot render, stored: its full-quality PNG and the room's preview JPEG (blobs). */
export interface StoredRenderFrame {
  frame: number;
  sha256: string;
  preview: string;
}

/**
 * What a shot render has made so far, frame by frame and chunk by chunk. A frame is written once:
 * a chunk that runs again (its worker died) finds its stored frames here and does not redo them.
 */
export class RenderRepository {
  constructor(private readonly db: Db) {}

  /** Stores a frame unless it is stored already; true when this call stored it. */
  async putFrame(jobId: string, f: StoredRenderFrame): Promise<boolean> {
    const r = await this.db
      .insertInto('render_frames')
      .values({ job_id: jobId, frame: f.frame, sha256: f.sha256, preview: f.preview })
      .onConflict((oc) => oc.columns(['job_id', 'frame']).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async frames(jobId: string, first = 0, last = Number.MAX_SAFE_INTEGER): Promise<StoredRenderFrame[]> {
    return this.db
      .selectFrom('render_frames')
      .select(['frame', 'sha256', 'preview'])
      .where('job_id', '=', jobId)
      .where('frame', '>=', first)
      .where('frame', '<=', last)
      .orderBy('frame')
      .execute();
  }

  async putChunk(jobId: string, chunk: number, segment: string): Promise<void> {
    await this.db
      .insertInto('render_chunks')
      .values({ job_id: jobId, chunk, segment })
      .onConflict((oc) => oc.columns(['job_id', 'chunk']).doUpdateSet({ segment }))
      .execute();
  }

  async chunks(jobId: string): Promise<{ chunk: number; segment: string }[]> {
    return this.db.selectFrom('render_chunks').select(['chunk', 'segment']).where('job_id', '=', jobId).orderBy('chunk').execute();
  }

  /** Forgets a cancelled or failed render's frames and chunks. */
  async clear(jobId: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('render_frames').where('job_id', '=', jobId).execute();
      await trx.deleteFrom('render_chunks').where('job_id', '=', jobId).execute();
    });
  }
}

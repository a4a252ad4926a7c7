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
  putFrame(jobId: string, f: StoredRenderFrame): boolean {
    const r = this.db
      .prepare('INSERT INTO render_frames (job_id, frame, sha256, preview) VALUES (?, ?, ?, ?) ON CONFLICT (job_id, frame) DO NOTHING')
      .run(jobId, f.frame, f.sha256, f.preview);
    return r.changes > 0;
  }

  frames(jobId: string, first = 0, last = Number.MAX_SAFE_INTEGER): StoredRenderFrame[] {
    return this.db
      .prepare('SELECT frame, sha256, preview FROM render_frames WHERE job_id = ? AND frame >= ? AND frame <= ? ORDER BY frame')
      .all(jobId, first, last) as StoredRenderFrame[];
  }

  frameCount(jobId: string): number {
    return Number((this.db.prepare('SELECT COUNT(*) AS n FROM render_frames WHERE job_id = ?').get(jobId) as { n: number | string }).n);
  }

  putChunk(jobId: string, chunk: number, segment: string): void {
    this.db
      .prepare('INSERT INTO render_chunks (job_id, chunk, segment) VALUES (?, ?, ?) ON CONFLICT (job_id, chunk) DO UPDATE SET segment = excluded.segment')
      .run(jobId, chunk, segment);
  }

  chunks(jobId: string): { chunk: number; segment: string }[] {
    return this.db.prepare('SELECT chunk, segment FROM render_chunks WHERE job_id = ? ORDER BY chunk').all(jobId) as { chunk: number; segment: string }[];
  }

  /** Forgets a cancelled or failed render's frames and chunks. */
  clear(jobId: string): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM render_frames WHERE job_id = ?').run(jobId);
      this.db.prepare('DELETE FROM render_chunks WHERE job_id = ?').run(jobId);
    })();
  }
}

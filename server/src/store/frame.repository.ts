import type { Db } from './database.js';

/** Cache of full-quality frames extracted from a version's media: (version, frame) -> blob. */
export class FrameRepository {
  constructor(private readonly db: Db) {}

  get(versionId: string, frame: number): string | undefined {
    return (this.db.prepare('SELECT sha256 FROM frames WHERE version_id = ? AND frame = ?').get(versionId, frame) as { sha256: string } | undefined)?.sha256;
  }

  put(versionId: string, frame: number, sha256: string): void {
    // An upsert both engines accept (INSERT OR REPLACE is SQLite's own).
    this.db
      .prepare('INSERT INTO frames (version_id, frame, sha256) VALUES (?, ?, ?) ON CONFLICT (version_id, frame) DO UPDATE SET sha256 = excluded.sha256')
      .run(versionId, frame, sha256);
  }
}

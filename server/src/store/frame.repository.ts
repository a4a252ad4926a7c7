import type { Db } from './database.js';

/** Cache of full-quality frames extracted from a version's media: (version, frame) -> blob. */
export class FrameRepository {
  constructor(private readonly db: Db) {}

  get(versionId: string, frame: number): string | undefined {
    return (this.db.prepare('SELECT sha256 FROM frames WHERE version_id = ? AND frame = ?').get(versionId, frame) as { sha256: string } | undefined)?.sha256;
  }

  put(versionId: string, frame: number, sha256: string): void {
    this.db.prepare('INSERT OR REPLACE INTO frames (version_id, frame, sha256) VALUES (?, ?, ?)').run(versionId, frame, sha256);
  }
}

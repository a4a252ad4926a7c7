import type { DecisionRecord, Version } from '@loupe/shared';
import { isUniqueViolation, type Db } from './database.js';

interface VersionRow {
  id: string;
  shot_id: string;
  number: number;
  label: string;
  kind: Version['kind'];
  status: Version['status'];
  parent_version_id: string | null;
  media: string;
  created_by: string;
  created_at: string;
  provenance: string | null;
}

export class VersionRepository {
  constructor(private readonly db: Db) {}

  /**
   * Inserts a version with the next number of its shot. With a jobId, at most one version per job
   * ever exists: a second insert for the same job returns the first.
   */
  insert(roomId: string, v: Omit<Version, 'number' | 'decisions'>, jobId: string | null): Version {
    // Another node (PostgreSQL) may take the same number or job between our read and our insert:
    // the unique keys refuse the second row, and the retry returns the job's version or takes the next number.
    for (let attempt = 1; ; attempt++) {
      try {
        return this.tryInsert(roomId, v, jobId);
      } catch (e) {
        if (attempt >= 5 || !isUniqueViolation(e) || this.get(v.id)) throw e;
      }
    }
  }

  private tryInsert(roomId: string, v: Omit<Version, 'number' | 'decisions'>, jobId: string | null): Version {
    return this.db.transaction(() => {
      if (jobId) {
        const existing = this.db.prepare('SELECT id FROM versions WHERE job_id = ?').get(jobId) as { id: string } | undefined;
        if (existing) return this.get(existing.id)!;
      }
      const { n } = this.db.prepare('SELECT COALESCE(MAX(number), 0) + 1 AS n FROM versions WHERE shot_id = ?').get(v.shotId) as { n: number };
      this.db
        .prepare(
          `INSERT INTO versions (id, shot_id, room_id, number, label, kind, status, parent_version_id, media, created_by, created_at, provenance, job_id)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          v.id, v.shotId, roomId, n, v.label, v.kind, v.status, v.parentVersionId, JSON.stringify(v.media),
          JSON.stringify(v.createdBy), v.createdAt, v.provenance ? JSON.stringify(v.provenance) : null, jobId,
        );
      return this.get(v.id)!;
    })();
  }

  /** The version a job (or an ingest, `ingest:<id>`) made, if any. */
  byJob(jobId: string): Version | undefined {
    const row = this.db.prepare('SELECT id FROM versions WHERE job_id = ?').get(jobId) as { id: string } | undefined;
    return row && this.get(row.id);
  }

  /** Runs `fn` in one transaction (nested calls become savepoints). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  get(id: string): Version | undefined {
    const row = this.db.prepare('SELECT * FROM versions WHERE id = ?').get(id) as VersionRow | undefined;
    return row && this.toVersion(row);
  }

  /** The room a version belongs to, or undefined. */
  roomOf(id: string): string | undefined {
    return (this.db.prepare('SELECT room_id FROM versions WHERE id = ?').get(id) as { room_id: string } | undefined)?.room_id;
  }

  listForRoom(roomId: string): Version[] {
    const rows = this.db.prepare('SELECT * FROM versions WHERE room_id = ? ORDER BY created_at, number').all(roomId) as VersionRow[];
    return rows.map((r) => this.toVersion(r));
  }

  /** Sets the status and appends the decision to the audit trail, atomically. */
  decide(versionId: string, roomId: string, record: DecisionRecord): Version {
    return this.db.transaction(() => {
      this.db.prepare('UPDATE versions SET status = ? WHERE id = ?').run(record.decision, versionId);
      this.db
        .prepare('INSERT INTO decisions (version_id, room_id, decision, note, by, at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(versionId, roomId, record.decision, record.note, JSON.stringify(record.by), record.at);
      return this.get(versionId)!;
    })();
  }

  private decisions(versionId: string): DecisionRecord[] {
    const rows = this.db.prepare('SELECT decision, note, by, at FROM decisions WHERE version_id = ? ORDER BY id').all(versionId) as {
      decision: DecisionRecord['decision'];
      note: string;
      by: string;
      at: string;
    }[];
    return rows.map((r) => ({ ...r, by: JSON.parse(r.by) }));
  }

  private toVersion(r: VersionRow): Version {
    return {
      id: r.id,
      shotId: r.shot_id,
      number: r.number,
      label: r.label,
      kind: r.kind,
      status: r.status,
      parentVersionId: r.parent_version_id,
      media: JSON.parse(r.media),
      createdBy: JSON.parse(r.created_by),
      createdAt: r.created_at,
      provenance: r.provenance ? JSON.parse(r.provenance) : null,
      decisions: this.decisions(r.id),
    };
  }
}

import type { DecisionRecord, Version } from '@loupe/shared';
import type { Selectable } from 'kysely';
import { isUniqueViolation, Repository, transaction, type Db } from './database.js';
import type { Tables } from './schema.js';

type VersionRow = Selectable<Tables['versions']>;

export class VersionRepository extends Repository {
  /**
   * Inserts a version with the next number of its shot. With a jobId, at most one version per job
   * ever exists: a second insert for the same job returns the first.
   */
  async insert(roomId: string, v: Omit<Version, 'number' | 'decisions'>, jobId: string | null): Promise<Version> {
    // Another node (PostgreSQL) may take the same number or job between our read and our insert:
    // the unique keys refuse the second row, and the retry returns the job's version or takes the next number.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.transaction((trx) => this.in(trx).tryInsert(roomId, v, jobId));
      } catch (e) {
        if (attempt >= 5 || !isUniqueViolation(e) || (await this.get(v.id))) throw e;
      }
    }
  }

  private async tryInsert(roomId: string, v: Omit<Version, 'number' | 'decisions'>, jobId: string | null): Promise<Version> {
    if (jobId) {
      const existing = await this.byJob(jobId);
      if (existing) return existing;
    }
    const { n } = await this.db
      .selectFrom('versions')
      .select((eb) => eb(eb.fn.coalesce(eb.fn.max('number'), eb.lit(0)), '+', eb.lit(1)).as('n'))
      .where('shot_id', '=', v.shotId)
      .executeTakeFirstOrThrow();
    await this.db
      .insertInto('versions')
      .values({
        id: v.id,
        shot_id: v.shotId,
        room_id: roomId,
        number: Number(n),
        label: v.label,
        kind: v.kind,
        status: v.status,
        parent_version_id: v.parentVersionId,
        media: JSON.stringify(v.media),
        created_by: JSON.stringify(v.createdBy),
        created_at: v.createdAt,
        provenance: v.provenance ? JSON.stringify(v.provenance) : null,
        job_id: jobId,
      })
      .execute();
    return (await this.get(v.id))!;
  }

  /** The version a job (or an ingest, `ingest:<id>`) made, if any. */
  async byJob(jobId: string): Promise<Version | undefined> {
    const row = await this.db.selectFrom('versions').selectAll().where('job_id', '=', jobId).executeTakeFirst();
    return row && this.toVersion(row);
  }

  /**
   * Runs `fn` in one transaction (nested calls become savepoints). `fn` gets the transaction: the
   * repositories it uses must be bound to it (`repo.in(trx)`).
   */
  transaction<T>(fn: (trx: Db) => Promise<T>): Promise<T> {
    return transaction(this.db, fn);
  }

  async get(id: string): Promise<Version | undefined> {
    const row = await this.db.selectFrom('versions').selectAll().where('id', '=', id).executeTakeFirst();
    return row && this.toVersion(row);
  }

  /** The room a version belongs to, or undefined. */
  async roomOf(id: string): Promise<string | undefined> {
    return (await this.db.selectFrom('versions').select('room_id').where('id', '=', id).executeTakeFirst())?.room_id;
  }

  async listForRoom(roomId: string): Promise<Version[]> {
    const rows = await this.db.selectFrom('versions').selectAll().where('room_id', '=', roomId).orderBy('created_at').orderBy('number').execute();
    if (!rows.length) return [];
    // The decisions of all the room's versions in one query, not one per version.
    const decisions = await this.db
      .selectFrom('decisions')
      .innerJoin('versions', 'versions.id', 'decisions.version_id')
      .select(['decisions.version_id', 'decisions.decision', 'decisions.note', 'decisions.by', 'decisions.at'])
      .where('versions.room_id', '=', roomId)
      .orderBy('decisions.id')
      .execute();
    const byVersion = new Map<string, DecisionRecord[]>();
    for (const d of decisions) {
      let list = byVersion.get(d.version_id);
      if (!list) byVersion.set(d.version_id, (list = []));
      list.push(toDecision(d));
    }
    return rows.map((r) => toVersion(r, byVersion.get(r.id) ?? []));
  }

  /** Sets the status and appends the decision to the audit trail, atomically. */
  decide(versionId: string, roomId: string, record: DecisionRecord): Promise<Version> {
    return this.transaction(async (trx) => {
      await trx.updateTable('versions').set({ status: record.decision }).where('id', '=', versionId).execute();
      await trx
        .insertInto('decisions')
        .values({ version_id: versionId, room_id: roomId, decision: record.decision, note: record.note, by: JSON.stringify(record.by), at: record.at })
        .execute();
      return (await this.in(trx).get(versionId))!;
    });
  }

  private async toVersion(r: VersionRow): Promise<Version> {
    const rows = await this.db.selectFrom('decisions').select(['version_id', 'decision', 'note', 'by', 'at']).where('version_id', '=', r.id).orderBy('id').execute();
    return toVersion(r, rows.map(toDecision));
  }
}

function toDecision(r: { decision: string; note: string; by: string; at: string }): DecisionRecord {
  return { decision: r.decision as DecisionRecord['decision'], note: r.note, by: JSON.parse(r.by), at: r.at };
}

function toVersion(r: VersionRow, decisions: DecisionRecord[]): Version {
  return {
    id: r.id,
    shotId: r.shot_id,
    number: Number(r.number),
    label: r.label,
    kind: r.kind as Version['kind'],
    status: r.status as Version['status'],
    parentVersionId: r.parent_version_id,
    media: JSON.parse(r.media),
    createdBy: JSON.parse(r.created_by),
    createdAt: r.created_at,
    provenance: r.provenance ? JSON.parse(r.provenance) : null,
    decisions,
  };
}

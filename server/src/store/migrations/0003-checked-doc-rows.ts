import type { Kysely } from 'kysely';

/**
 * doc_updates.checked: the version of the write rules (collab/doc-repair.ts WRITE_RULES_VERSION) a
 * stored row was checked under, or null when nobody knows (rows written before this column, or by
 * hand). A room whose rows are all checked under the current rules is not checked again at load.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('doc_updates').addColumn('checked', 'integer').execute();
}

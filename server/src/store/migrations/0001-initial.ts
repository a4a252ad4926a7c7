import { PostgresAdapter, type CreateTableBuilder, type Kysely } from 'kysely';

/**
 * The schema Loupe had before migrations, on either engine. Every statement is IF NOT EXISTS, and
 * the names and types are those the old `CREATE TABLE IF NOT EXISTS` schema gave (on PostgreSQL:
 * BIGINT, DOUBLE PRECISION, BYTEA, BIGSERIAL and PostgreSQL's own constraint names), so a database
 * made before migrations existed takes this step unchanged and ends up like a new one.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  // SQLite's integers are 64-bit and its REAL a double: PostgreSQL keeps both ranges.
  const int = pg ? 'bigint' : 'integer';
  const real = pg ? 'double precision' : 'real';
  const blob = pg ? 'bytea' : 'blob';
  const serialId = (t: CreateTableBuilder<string, never>) =>
    pg ? t.addColumn('id', 'bigserial', (c) => c.primaryKey()) : t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
  const s = db.schema;

  await s.createTable('settings').ifNotExists()
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute();
  await s.createTable('rooms').ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await s.createTable('shots').ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('room_id', 'text', (c) => c.notNull().references('rooms.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('fps', real, (c) => c.notNull())
    .addColumn('drop_frame', int, (c) => c.notNull())
    .addColumn('width', int, (c) => c.notNull())
    .addColumn('height', int, (c) => c.notNull())
    .addColumn('frame_count', int, (c) => c.notNull())
    .addColumn('start_timecode', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await s.createTable('versions').ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('shot_id', 'text', (c) => c.notNull().references('shots.id'))
    .addColumn('room_id', 'text', (c) => c.notNull())
    .addColumn('number', int, (c) => c.notNull())
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('parent_version_id', 'text')
    .addColumn('media', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('provenance', 'text')
    .addColumn('job_id', 'text')
    .addUniqueConstraint('versions_job_id_key', ['job_id'])
    .addUniqueConstraint('versions_shot_id_number_key', ['shot_id', 'number'])
    .execute();
  await serialId(s.createTable('decisions').ifNotExists())
    .addColumn('version_id', 'text', (c) => c.notNull().references('versions.id'))
    .addColumn('room_id', 'text', (c) => c.notNull())
    .addColumn('decision', 'text', (c) => c.notNull())
    .addColumn('note', 'text', (c) => c.notNull())
    .addColumn('by', 'text', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .execute();
  await s.createTable('jobs').ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('room_id', 'text', (c) => c.notNull())
    .addColumn('idempotency_key', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('jobs_room_id_idempotency_key_key', ['room_id', 'idempotency_key'])
    .execute();
  await serialId(s.createTable('doc_updates').ifNotExists())
    .addColumn('room_id', 'text', (c) => c.notNull())
    .addColumn('data', blob, (c) => c.notNull())
    .execute();
  await s.createIndex('doc_updates_room').ifNotExists().on('doc_updates').columns(['room_id', 'id']).execute();
  await s.createTable('room_blobs').ifNotExists()
    .addColumn('room_id', 'text', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('room_blobs_pkey', ['room_id', 'sha256'])
    .execute();
  await s.createTable('invites').ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('room_id', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('revoked_at', 'text')
    .execute();
  await s.createTable('frames').ifNotExists()
    .addColumn('version_id', 'text', (c) => c.notNull())
    .addColumn('frame', int, (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('frames_pkey', ['version_id', 'frame'])
    .execute();
  await s.createTable('ingests').ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('room_id', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await s.createIndex('ingests_room').ifNotExists().on('ingests').columns(['room_id', 'created_at']).execute();
  await s.createIndex('ingests_state').ifNotExists().on('ingests').column('state').execute();
  await serialId(s.createTable('room_events').ifNotExists())
    .addColumn('room_id', 'text', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('actor', 'text')
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('ref', 'text')
    .execute();
  await s.createIndex('room_events_room').ifNotExists().on('room_events').columns(['room_id', 'id']).execute();
  await s.createIndex('room_events_ref').ifNotExists().on('room_events').column('ref').where('ref', 'is not', null).execute();
  await s.createTable('webhooks').ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('room_id', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
}

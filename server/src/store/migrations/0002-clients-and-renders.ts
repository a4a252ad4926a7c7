import { PostgresAdapter, type Kysely } from 'kysely';

/**
 * Yjs client ids bound to the member who first used them (doc_clients), and what shot renders have
 * stored so far, frame by frame and chunk by chunk (render_frames, render_chunks).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  const int = pg ? 'bigint' : 'integer';
  const s = db.schema;
  await s.createTable('doc_clients').ifNotExists()
    .addColumn('room_id', 'text', (c) => c.notNull())
    .addColumn('client_id', int, (c) => c.notNull())
    .addColumn('member_id', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('doc_clients_pkey', ['room_id', 'client_id'])
    .execute();
  await s.createTable('render_frames').ifNotExists()
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('frame', int, (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('preview', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('render_frames_pkey', ['job_id', 'frame'])
    .execute();
  await s.createTable('render_chunks').ifNotExists()
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('chunk', int, (c) => c.notNull())
    .addColumn('segment', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('render_chunks_pkey', ['job_id', 'chunk'])
    .execute();
}

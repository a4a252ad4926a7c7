import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import type { Tables } from './schema.js';
import { migrations } from './migrations/index.js';

/**
 * The query layer of the repositories: Kysely, typed by ./schema.ts, on SQLite (better-sqlite3, the
 * default) or PostgreSQL (pg). Every call is async; on PostgreSQL the event loop is free while the
 * server answers. Inside a transaction, use the transaction's `Db` (see `transaction`) and nothing
 * else: on SQLite the one connection is held by the transaction, and a query on the outer `Db` would
 * wait for it forever.
 */
export type Db = Kysely<Tables>;

/** True for a duplicate key on either engine (e.g. two nodes racing to insert the same row). */
export function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** True when a write failed because the disk (or the database's volume) is full, on either engine. */
export function isStorageFull(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  // 53100: PostgreSQL's disk_full; SQLITE_FULL: SQLite could not grow its file or journal.
  return code === 'ENOSPC' || code === 'SQLITE_FULL' || code === '53100' || code === 'EDQUOT';
}

let savepoints = 0;

/**
 * Runs `fn` in a transaction on `db` and returns its result; a throw rolls it back. Called with a
 * transaction's `Db` (nested), it runs in a savepoint: a throw undoes the savepoint only, and the
 * outer transaction goes on or rolls back as its own code decides.
 */
export async function transaction<T>(db: Db, fn: (trx: Db) => Promise<T>): Promise<T> {
  if (!db.isTransaction) return db.transaction().execute(fn);
  const name = sql.id(`loupe_${++savepoints}`);
  await sql`SAVEPOINT ${name}`.execute(db);
  let result: T;
  try {
    result = await fn(db);
  } catch (e) {
    try {
      await sql`ROLLBACK TO SAVEPOINT ${name}`.execute(db);
      await sql`RELEASE SAVEPOINT ${name}`.execute(db);
    } catch {
      // The whole transaction is gone (a lost connection, SQLite rolling back on a full disk): the caller's error is the one to see.
    }
    throw e;
  }
  await sql`RELEASE SAVEPOINT ${name}`.execute(db);
  return result;
}

/** A repository's queries on another `Db` (a transaction's), sharing nothing else. */
export abstract class Repository {
  constructor(protected readonly db: Db) {}

  /** This repository working inside the transaction `trx` (see `transaction`). */
  in(trx: Db): this {
    return Object.assign(Object.create(Object.getPrototypeOf(this)), this, { db: trx });
  }
}

/**
 * Opens the database and brings its schema up to date (./migrations, in order, each once):
 * PostgreSQL when `databaseUrl` is given (postgres://...), else SQLite under the data folder.
 */
export async function openDatabase(dataDir: string, databaseUrl?: string): Promise<Db> {
  if (databaseUrl) {
    const db = await openPostgres(databaseUrl);
    // Kysely's migrator serialises nodes starting at once with an advisory lock, and runs in a transaction.
    return migrated(db, () => migrate(db));
  }
  fs.mkdirSync(dataDir, { recursive: true });
  const raw = new Database(path.join(dataDir, 'loupe.sqlite'));
  // WAL: a crashed process loses no commit.
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = NORMAL');
  raw.pragma('foreign_keys = ON');
  raw.pragma('busy_timeout = 5000');
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: cachingStatements(raw) }) });
  return migrated(db, async () => {
    // Kysely runs SQLite migrations outside a transaction; this one holds the write lock throughout,
    // so a CLI and a server starting on a new data folder together migrate it once.
    raw.exec('BEGIN IMMEDIATE');
    try {
      await migrate(db);
      raw.exec('COMMIT');
    } catch (e) {
      if (raw.inTransaction) raw.exec('ROLLBACK');
      throw e;
    }
  });
}

async function migrated(db: Db, run: () => Promise<void>): Promise<Db> {
  try {
    await run();
  } catch (e) {
    await db.destroy();
    throw e;
  }
  return db;
}

async function migrate(db: Db): Promise<void> {
  const { error } = await new Migrator({ db, provider: migrations }).migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(`database migration failed: ${String(error)}`);
}

/**
 * better-sqlite3 as Kysely's SQLite driver sees it, with each statement prepared once: preparing
 * on every call cost ~15 µs of the ~75 µs an INSERT took.
 */
function cachingStatements(raw: Database.Database) {
  const cache = new Map<string, Database.Statement>();
  return {
    close: () => raw.close(),
    prepare(text: string) {
      let stmt = cache.get(text);
      if (!stmt) {
        stmt = raw.prepare(text);
        // Statements built on the fly (IN lists, multi-row inserts) are few; the cap only bounds the map.
        if (cache.size < 1000) cache.set(text, stmt);
      }
      return stmt;
    },
  };
}

// better-sqlite3 returns integers as numbers; PostgreSQL sends BIGINT (COUNT, BIGSERIAL) and NUMERIC as text.
const pgTypes = {
  getTypeParser: ((oid: number, format?: string) =>
    (oid === 20 || oid === 1700) && format !== 'binary' ? Number : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

async function openPostgres(url: string): Promise<Db> {
  const pool = new pg.Pool({ connectionString: url, types: pgTypes, connectionTimeoutMillis: 10_000, application_name: 'loupe', max: 10 });
  // An idle connection that dies (server restart, failover) is dropped by the pool and opened again on
  // the next query; without a listener its error would end the process. A connection lost inside a
  // transaction fails that transaction's next statement: the caller sees it.
  pool.on('error', () => {});
  // The same for a connection lost while in use (inside a transaction): its statement fails, and that is what the caller sees.
  pool.on('connect', (client) => client.on('error', () => {}));
  try {
    (await pool.connect()).release();
  } catch (e) {
    await pool.end().catch(() => {});
    throw new Error(`cannot connect to PostgreSQL (${redact(url)}): ${(e as Error).message}`);
  }
  return new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

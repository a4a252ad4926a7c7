import { createSyncFn } from 'synckit';
import type { Db, RunResult, Statement, TransactionArgs } from '../database.js';
import { schemaToPostgres, toPostgres } from './dialect.js';

type Op = 'open' | 'query' | 'exec' | 'close';
type Call = (op: Op, handle: number, text?: string, values?: unknown[], name?: string, mayReconnect?: boolean) => unknown;

interface QueryResult {
  rows: Record<string, unknown>[];
  rowCount: number;
}

/** One worker thread per process serves every connection (synckit keeps one per worker file). */
function worker(): Call {
  return createSyncFn(new URL('./postgres.worker.mjs', import.meta.url).href) as Call;
}

/**
 * The `Db` of the repositories on one PostgreSQL connection, called synchronously: each statement
 * blocks the event loop for one round trip to the worker thread and the server, as SQLite blocks it
 * for a disk read. One connection per process, so transactions are simply BEGIN/COMMIT on it.
 */
export class PostgresDb implements Db {
  private readonly call = worker();
  private readonly handle: number;
  private readonly names = new Map<string, string>();
  private serialTables = new Set<string>();
  private depth = 0;

  constructor(url: string) {
    this.handle = this.call('open', 0, url) as number;
  }

  prepare(sql: string): Statement {
    const { text, returnsId } = toPostgres(sql, this.serialTables);
    const query = (params: unknown[]) => this.query(text, params);
    return {
      run: (...params) => {
        const r = query(params);
        return { changes: r.rowCount, lastInsertRowid: returnsId ? Number(r.rows[0]?.id ?? 0) : 0 } satisfies RunResult;
      },
      get: (...params) => query(params).rows[0],
      all: (...params) => query(params).rows,
    };
  }

  /** DDL in the SQLite dialect (the schema); also learns which tables auto-increment their id. */
  exec(sql: string): void {
    const { text, serialTables } = schemaToPostgres(sql);
    for (const t of serialTables) this.serialTables.add(t);
    this.execRaw(text);
  }

  /** Like better-sqlite3: the outermost call is BEGIN/COMMIT, nested ones are savepoints; a throw rolls back. */
  transaction<F extends (...args: any[]) => unknown>(fn: F): (...args: TransactionArgs<F>) => ReturnType<F> {
    return (...args) => {
      const depth = this.depth;
      const savepoint = `loupe_${depth}`;
      this.execRaw(depth === 0 ? 'BEGIN' : `SAVEPOINT ${savepoint}`);
      this.depth = depth + 1;
      let result: ReturnType<F>;
      try {
        result = fn(...args) as ReturnType<F>;
        if (typeof (result as { then?: unknown })?.then === 'function') throw new TypeError('Transaction function cannot return a promise');
      } catch (e) {
        try {
          this.execRaw(depth === 0 ? 'ROLLBACK' : `ROLLBACK TO SAVEPOINT ${savepoint}; RELEASE SAVEPOINT ${savepoint}`, false);
        } catch {
          // The connection is gone, and the transaction with it: the caller's error is the one to see.
        }
        throw e;
      } finally {
        this.depth = depth;
      }
      // Never on a reopened connection: COMMIT there would "succeed" with nothing to commit.
      // A failed COMMIT has already rolled back on the server: nothing to undo here.
      this.execRaw(depth === 0 ? 'COMMIT' : `RELEASE SAVEPOINT ${savepoint}`, false);
      return result;
    };
  }

  close(): void {
    this.call('close', this.handle);
  }

  /** Outside a transaction a lost connection may be opened again; inside one the error must reach the caller. */
  private execRaw(text: string, mayReconnect = this.depth === 0): void {
    this.call('exec', this.handle, text, undefined, undefined, mayReconnect);
  }

  private query(text: string, params: unknown[]): QueryResult {
    let name = this.names.get(text);
    // Statements built on the fly (IN lists) are few; the cap only guards against an unbounded map.
    if (!name && this.names.size < 1000) this.names.set(text, (name = `loupe_${this.names.size}`));
    const r = this.call('query', this.handle, text, params, name, this.depth === 0) as QueryResult;
    for (const row of r.rows) {
      // Buffers cross the thread as plain Uint8Arrays: give callers the Buffer better-sqlite3 gives.
      for (const [k, v] of Object.entries(row)) if (v instanceof Uint8Array) row[k] = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    }
    return r;
  }
}

/** Opens PostgreSQL and creates the schema, serialised by an advisory lock so that several nodes may start at once. */
export function openPostgres(url: string, schema: string): PostgresDb {
  const db = new PostgresDb(url);
  try {
    db.transaction(() => {
      db.prepare('SELECT pg_advisory_xact_lock(7254121)').get();
      db.exec(schema);
    })();
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}

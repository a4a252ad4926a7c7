import crypto from 'node:crypto';
import pg from 'pg';

/** The PostgreSQL the tests use (CI runs one); each test file gets its own database on it. */
export const PG_ADMIN_URL = process.env.LOUPE_TEST_PG_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/postgres';

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5000 });
  try {
    await c.connect();
  } catch (e) {
    // Fail, never skip: a missing PostgreSQL must not pass for a green run.
    throw new Error(`PostgreSQL is not reachable at ${PG_ADMIN_URL} (${(e as Error).message}): start it, or set LOUPE_TEST_PG_URL`);
  }
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Creates an empty database `loupe_test_<random>`; `drop()` removes it, closing what is still connected. */
export async function freshPgDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `loupe_test_${crypto.randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return { url: url.href, drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined) };
}

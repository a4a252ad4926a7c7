import { Client } from 'pg';
import { afterAll, beforeAll, expect } from 'vitest';
import { freshPgDatabase } from './pg.js';

// A whole server on PostgreSQL: the room suite (join, draw, restart, presence) and the fix suite
// (jobs, one version per job across a restart, provenance, decisions) run again, with DATABASE_URL
// pointing every server of this file (a test worker of its own) at a fresh database.
const pg = { url: '' };

let db: Awaited<ReturnType<typeof freshPgDatabase>>;
beforeAll(async () => {
  db = await freshPgDatabase();
  pg.url = db.url;
  process.env.DATABASE_URL = db.url;
});
afterAll(async () => {
  delete process.env.DATABASE_URL;
  if (!db) return; // beforeAll failed, and said why
  // The suites passed on PostgreSQL only if their rows went there.
  const c = new Client(pg.url);
  await c.connect();
  const { rows } = await c.query('SELECT (SELECT COUNT(*) FROM rooms) AS rooms, (SELECT COUNT(*) FROM jobs) AS jobs');
  await c.end();
  await db.drop();
  expect(Number(rows[0].rooms)).toBeGreaterThan(0);
  expect(Number(rows[0].jobs)).toBeGreaterThan(0);
});

await import('./room.spec.js');
await import('./fix.spec.js');

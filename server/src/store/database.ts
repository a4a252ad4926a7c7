import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { openPostgres } from './postgres/postgres.database.js';

export interface RunResult {
  changes: number;
  lastInsertRowid: number | bigint;
}

/** Spelt as @types/better-sqlite3 spells it, so that its Database is a Db. */
export type TransactionArgs<F> = F extends (...args: infer A) => unknown ? A : never;

export interface Statement {
  run(...params: unknown[]): RunResult;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

/**
 * The query layer the repositories use: the part of better-sqlite3's API they need, synchronous.
 * Two engines: better-sqlite3 itself (the default) and PostgreSQL (./postgres), which translates
 * this SQLite dialect (`?` placeholders, INSERT OR IGNORE, AUTOINCREMENT, BLOB) in one place.
 * Write SQL both accept: ON CONFLICT (...) DO UPDATE rather than INSERT OR REPLACE, `AS camelCase`
 * aliases with AS, no empty `IN ()`.
 */
export interface Db {
  prepare(sql: string): Statement;
  /** Returns a function running `fn` in a transaction (nested: a savepoint); a throw rolls back. */
  transaction<F extends (...args: any[]) => unknown>(fn: F): (...args: TransactionArgs<F>) => ReturnType<F>;
  exec(sql: string): void;
  close(): void;
}

/** True for a duplicate key on either engine (e.g. two nodes racing to insert the same row). */
export function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rooms (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shots (
  id TEXT PRIMARY KEY, room_id TEXT NOT NULL REFERENCES rooms(id), name TEXT NOT NULL,
  fps REAL NOT NULL, drop_frame INTEGER NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,
  frame_count INTEGER NOT NULL, start_timecode TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS versions (
  id TEXT PRIMARY KEY, shot_id TEXT NOT NULL REFERENCES shots(id), room_id TEXT NOT NULL,
  number INTEGER NOT NULL, label TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
  parent_version_id TEXT, media TEXT NOT NULL, created_by TEXT NOT NULL, created_at TEXT NOT NULL,
  provenance TEXT, job_id TEXT UNIQUE, UNIQUE (shot_id, number));
CREATE TABLE IF NOT EXISTS decisions (
  id INTEGER PRIMARY KEY AUTOINCREMENT, version_id TEXT NOT NULL REFERENCES versions(id),
  room_id TEXT NOT NULL, decision TEXT NOT NULL, note TEXT NOT NULL, by TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY, room_id TEXT NOT NULL, idempotency_key TEXT NOT NULL, state TEXT NOT NULL,
  data TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE (room_id, idempotency_key));
CREATE TABLE IF NOT EXISTS doc_updates (
  id INTEGER PRIMARY KEY AUTOINCREMENT, room_id TEXT NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS doc_updates_room ON doc_updates (room_id, id);
CREATE TABLE IF NOT EXISTS doc_clients (
  room_id TEXT NOT NULL, client_id INTEGER NOT NULL, member_id TEXT NOT NULL, PRIMARY KEY (room_id, client_id));
CREATE TABLE IF NOT EXISTS room_blobs (
  room_id TEXT NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (room_id, sha256));
CREATE TABLE IF NOT EXISTS invites (
  id TEXT PRIMARY KEY, room_id TEXT NOT NULL, role TEXT NOT NULL, name TEXT NOT NULL,
  created_at TEXT NOT NULL, expires_at TEXT NOT NULL, revoked_at TEXT);
CREATE TABLE IF NOT EXISTS frames (
  version_id TEXT NOT NULL, frame INTEGER NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (version_id, frame));
CREATE TABLE IF NOT EXISTS ingests (
  id TEXT PRIMARY KEY, room_id TEXT NOT NULL, state TEXT NOT NULL, data TEXT NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ingests_room ON ingests (room_id, created_at);
CREATE INDEX IF NOT EXISTS ingests_state ON ingests (state);
CREATE TABLE IF NOT EXISTS room_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, room_id TEXT NOT NULL, at TEXT NOT NULL, type TEXT NOT NULL,
  actor TEXT, data TEXT NOT NULL, ref TEXT);
CREATE INDEX IF NOT EXISTS room_events_room ON room_events (room_id, id);
CREATE INDEX IF NOT EXISTS room_events_ref ON room_events (ref) WHERE ref IS NOT NULL;
CREATE TABLE IF NOT EXISTS render_frames (
  job_id TEXT NOT NULL, frame INTEGER NOT NULL, sha256 TEXT NOT NULL, preview TEXT NOT NULL, PRIMARY KEY (job_id, frame));
CREATE TABLE IF NOT EXISTS render_chunks (
  job_id TEXT NOT NULL, chunk INTEGER NOT NULL, segment TEXT NOT NULL, PRIMARY KEY (job_id, chunk));
CREATE TABLE IF NOT EXISTS webhooks (
  id TEXT PRIMARY KEY, room_id TEXT NOT NULL, url TEXT NOT NULL, created_at TEXT NOT NULL);
`;

/**
 * Opens (and creates) the database: PostgreSQL when `databaseUrl` is given (postgres://...), else
 * SQLite under the data folder. WAL: a crashed process loses no commit.
 */
export function openDatabase(dataDir: string, databaseUrl?: string): Db {
  if (databaseUrl) return openPostgres(databaseUrl, SCHEMA);
  fs.mkdirSync(dataDir, { recursive: true });
  const db = new Database(path.join(dataDir, 'loupe.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.exec(SCHEMA);
  return db;
}

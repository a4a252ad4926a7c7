import { describe, expect, it } from 'vitest';
import { schemaToPostgres, toPostgres } from './dialect.js';

describe('SQLite to PostgreSQL', () => {
  it('numbers placeholders outside string literals, identifiers and comments', () => {
    expect(toPostgres("SELECT '?', \"a?\", x FROM t WHERE a = ? AND b = 'it''s ?' AND c = ? -- ?\n AND d = ? /* ? */").text).toBe(
      "SELECT '?', \"a?\", x FROM t WHERE a = $1 AND b = 'it''s ?' AND c = $2 -- ?\n AND d = $3 /* ? */",
    );
  });

  it('quotes camelCase aliases only', () => {
    expect(toPostgres('SELECT created_at AS createdAt, COUNT(*) AS n, CAST(x AS INTEGER) as Total FROM t').text).toBe(
      'SELECT created_at AS "createdAt", COUNT(*) AS n, CAST(x AS BIGINT) as Total FROM t',
    );
  });

  it('turns INSERT OR IGNORE into ON CONFLICT DO NOTHING and refuses INSERT OR REPLACE', () => {
    expect(toPostgres('INSERT OR IGNORE INTO s (a) VALUES (?);').text).toBe('INSERT INTO s (a) VALUES ($1) ON CONFLICT DO NOTHING');
    expect(() => toPostgres('INSERT OR REPLACE INTO s (a) VALUES (?)')).toThrow(/ON CONFLICT/);
  });

  it('returns the id of inserts into auto-increment tables', () => {
    const serial = new Set(['events']);
    expect(toPostgres('INSERT INTO events (a) VALUES (?)', serial)).toEqual({ text: 'INSERT INTO events (a) VALUES ($1) RETURNING id', returnsId: true });
    expect(toPostgres('INSERT INTO rooms (a) VALUES (?)', serial).returnsId).toBe(false);
  });

  it('translates the schema types', () => {
    const { text, serialTables } = schemaToPostgres(
      "CREATE TABLE IF NOT EXISTS e (\n  id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER NOT NULL, fps REAL, data BLOB, note TEXT DEFAULT 'BLOB');",
    );
    expect(text).toBe("CREATE TABLE IF NOT EXISTS e (\n  id BIGSERIAL PRIMARY KEY, n BIGINT NOT NULL, fps DOUBLE PRECISION, data BYTEA, note TEXT DEFAULT 'BLOB');");
    expect([...serialTables]).toEqual(['e']);
  });
});

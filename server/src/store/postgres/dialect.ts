/**
 * The one place where the SQLite dialect the repositories write becomes PostgreSQL.
 * Rewrites apply only to SQL text outside string literals, quoted identifiers and comments.
 */

interface Segment {
  code: boolean;
  text: string;
}

/** Splits SQL into code and non-code ('...', "...", -- and block comments) segments. */
function segments(sql: string): Segment[] {
  const out: Segment[] = [];
  let code = '';
  for (let i = 0; i < sql.length; ) {
    const c = sql[i];
    let end = -1;
    if (c === "'" || c === '"') {
      // A doubled quote escapes itself in both dialects: scan to the first lone closing quote.
      end = i + 1;
      while (end < sql.length && !(sql[end] === c && sql[end + 1] !== c)) end += sql[end] === c ? 2 : 1;
      end = Math.min(end + 1, sql.length);
    } else if (c === '-' && sql[i + 1] === '-') {
      end = sql.indexOf('\n', i);
      if (end < 0) end = sql.length;
    } else if (c === '/' && sql[i + 1] === '*') {
      end = sql.indexOf('*/', i + 2);
      end = end < 0 ? sql.length : end + 2;
    }
    if (end < 0) {
      code += c;
      i++;
      continue;
    }
    if (code) out.push({ code: true, text: code });
    out.push({ code: false, text: sql.slice(i, end) });
    code = '';
    i = end;
  }
  if (code) out.push({ code: true, text: code });
  return out;
}

const REWRITES: [RegExp, string | ((m: string, ...g: string[]) => string)][] = [
  [/\bINTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT\b/gi, 'BIGSERIAL PRIMARY KEY'],
  // SQLite integers are 64-bit and REAL is a double: keep both ranges.
  [/\bINTEGER\b/gi, 'BIGINT'],
  [/\bREAL\b/gi, 'DOUBLE PRECISION'],
  [/\bBLOB\b/gi, 'BYTEA'],
  // PostgreSQL folds unquoted names to lower case: quote mixed-case aliases so `AS createdAt` stays camelCase.
  // All-upper words are left alone (CAST(x AS INTEGER)).
  [/\bAS\s+([A-Za-z_][A-Za-z0-9_]*)\b/g, (m, name) => (/[a-z]/.test(name) && /[A-Z]/.test(name) ? `AS "${name}"` : m)],
];

export interface Translated {
  text: string;
  /** The statement inserts into a table with an auto-increment id: `RETURNING id` was added for lastInsertRowid. */
  returnsId: boolean;
}

/**
 * Translates one statement. `serialTables` are the tables whose `id` is auto-incremented, so that an
 * INSERT into them reports the new id as better-sqlite3's `lastInsertRowid` does.
 */
export function toPostgres(sql: string, serialTables: ReadonlySet<string> = new Set()): Translated {
  let n = 0;
  let text = segments(sql)
    .map((s) => {
      if (!s.code) return s.text;
      let t = s.text.replace(/\?/g, () => `$${++n}`);
      for (const [re, to] of REWRITES) t = t.replace(re, to as string);
      return t;
    })
    .join('');

  if (/^\s*INSERT\s+OR\s+REPLACE\b/i.test(text)) {
    // Needs the conflict target, which only the author knows.
    throw new Error('INSERT OR REPLACE is not portable: write INSERT ... ON CONFLICT (key) DO UPDATE SET ...');
  }
  const ignore = /^\s*INSERT\s+OR\s+IGNORE\b/i.test(text);
  if (ignore) text = text.replace(/^(\s*INSERT)\s+OR\s+IGNORE\b/i, '$1');
  text = text.replace(/;\s*$/, '');
  if (ignore) text += ' ON CONFLICT DO NOTHING';

  const into = /^\s*INSERT\s+INTO\s+"?(\w+)"?/i.exec(text);
  const returnsId = !!into && serialTables.has(into[1].toLowerCase()) && !/\bRETURNING\b/i.test(text);
  if (returnsId) text += ' RETURNING id';
  return { text, returnsId };
}

/** Translates DDL (several statements); returns the tables whose `id` is auto-incremented. */
export function schemaToPostgres(schema: string): { text: string; serialTables: Set<string> } {
  const serialTables = new Set<string>();
  for (const m of schema.matchAll(/CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?"?(\w+)"?\s*\(\s*id\s+INTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT/gi)) {
    serialTables.add(m[1].toLowerCase());
  }
  const text = segments(schema)
    .map((s) => (s.code ? REWRITES.reduce((t, [re, to]) => t.replace(re, to as string), s.text) : s.text))
    .join('');
  return { text, serialTables };
}

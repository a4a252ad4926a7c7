// The thread that owns the PostgreSQL connections. The main thread calls it synchronously through
// synckit (Atomics.wait), so the repositories keep better-sqlite3's synchronous interface.
// Plain JavaScript: a worker thread does not inherit the TypeScript loader of vitest or the CLI.
import pg from 'pg';
import { runAsWorker } from 'synckit';

// better-sqlite3 returns integers as numbers; PostgreSQL sends BIGINT (COUNT, BIGSERIAL) and NUMERIC as text.
const types = {
  getTypeParser: (oid, format) => ((oid === 20 || oid === 1700) && format !== 'binary' ? Number : pg.types.getTypeParser(oid, format)),
};

/** @type {Map<number, { url: string, client: pg.Client, lost?: Error }>} */
const connections = new Map();
let nextHandle = 1;

async function connect(url) {
  const entry = { url, client: new pg.Client({ connectionString: url, types, connectionTimeoutMillis: 10_000, application_name: 'loupe' }) };
  // Without a listener an idle connection's error would kill the thread; the next call reports it instead.
  entry.client.on('error', (e) => (entry.lost = e));
  entry.client.on('end', () => (entry.lost ??= new Error('the server closed the connection')));
  try {
    await entry.client.connect();
  } catch (e) {
    throw new Error(`cannot connect to PostgreSQL (${redact(url)}): ${e.message}`);
  }
  return entry;
}

/**
 * The connection of a handle. A lost one (server restart, failover) is opened again, but only between
 * transactions (`mayReconnect`): inside one, the statements already run are gone, so the caller must fail.
 */
async function connection(handle, mayReconnect) {
  let c = connections.get(handle);
  if (!c) throw new Error('PostgreSQL connection is closed');
  if (c.lost && mayReconnect) {
    c.client.end().catch(() => {});
    connections.set(handle, (c = await connect(c.url)));
  }
  if (c.lost) throw new Error(`PostgreSQL connection lost: ${c.lost.message}`);
  return c.client;
}

runAsWorker(async (op, handle, text, values, name, mayReconnect) => {
  switch (op) {
    case 'open': {
      const h = nextHandle++;
      connections.set(h, await connect(text));
      return h;
    }
    case 'query': {
      // A name makes pg prepare the statement once per connection.
      const r = await (await connection(handle, mayReconnect)).query({ text, values, name });
      return { rows: r.rows, rowCount: r.rowCount ?? 0 };
    }
    case 'exec':
      // Simple protocol: several statements in one string, no parameters.
      await (await connection(handle, mayReconnect)).query(text);
      return null;
    case 'close': {
      const c = connections.get(handle);
      connections.delete(handle);
      if (c && !c.lost) await c.client.end();
      return null;
    }
    default:
      throw new Error(`unknown operation ${op}`);
  }
});

function redact(url) {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

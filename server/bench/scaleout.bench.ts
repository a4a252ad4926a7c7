/**
 * Annotation fan-out through two API nodes next to one, in the same run with the same load (the
 * fan-out benchmark's default scenario: 1 room x 50 clients, 10 drawing at 30 Hz). Every node is a
 * real `loupe serve` process; with two, the room's clients alternate between the nodes, so most
 * deliveries cross Redis (the room's stream). Goals: two nodes add at most 5 ms at p99 (issue #6),
 * and two nodes on Redis and PostgreSQL stay within 5 ms at p99 of one node on SQLite (issue #16).
 *
 *   npm run bench -- scaleout [--clients 50 --drawers 10 --hz 30 --seconds 10 --redis redis://127.0.0.1:6379
 *                              --pg postgres://postgres:postgres@127.0.0.1:5432/postgres]
 *
 * Runs: one node on its own (the embedded default: SQLite, no Redis), one node on Redis, two nodes on
 * Redis (SQLite in the shared folder), two nodes on Redis and PostgreSQL (a fresh database, dropped after).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bench, BenchRow } from './runner.js';
import { measure, type Phase } from './fanout.bench.js';
import { barChartSvg, resultsDir, stamp, writeMarkdown, type Comparison } from './report.js';
import { startServer } from '../src/main.js';
import { createLogger } from '../src/log.js';
import { dropRedisKeys } from '../src/cluster/redis.js';
import fs from 'node:fs';
import pg from 'pg';

const BIN = fileURLToPath(new URL('../bin/loupe.mjs', import.meta.url));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}


/** A `loupe serve` process; resolves when /healthz answers. */
async function node(dataDir: string, env: Record<string, string>): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [BIN, '--data', dataDir, 'serve', '--port', String(port), '--no-demo'], {
    env: { ...process.env, HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`loupe serve exited: ${err}`);
    if ((await fetch(`${url}/healthz`).catch(() => null))?.status === 200) break;
    if (i > 1200) throw new Error(`loupe serve not ready after 120 s: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    stop: () => new Promise<void>((r) => (child.exitCode !== null ? r() : (child.once('exit', () => r()), child.kill('SIGTERM')))),
  };
}

export const bench: Bench = {
  name: 'scaleout',
  description: 'annotation fan-out through two API nodes on Redis next to one node (real loupe processes)',
  async run({ options, tmp, log }) {
    const clients = Number(options.clients ?? 50);
    const drawers = Math.min(clients, Number(options.drawers ?? 10));
    const hz = Number(options.hz ?? 30);
    const seconds = Number(options.seconds ?? 10);
    const full = Math.min(clients, Number(options.full ?? 4));
    const redisUrl = options.redis ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    const prefix = `loupe-bench-${crypto.randomBytes(4).toString('hex')}`;
    const draw = { type: 'draw', hz, seconds, warmupSeconds: Number(options.warmup ?? 2), drainMs: 3000 } as const;
    log(`1 room x ${clients} clients, ${drawers} drawing at ${hz} Hz, ${seconds} s; Redis ${redisUrl} (prefix ${prefix})`);

    // One data folder with the room, made by an in-process server; the nodes share it.
    const dataDir = path.join(tmp, 'data');
    // The PostgreSQL run gets a database of its own, made here and dropped at the end.
    const pgAdmin = options.pg ?? process.env.LOUPE_TEST_PG_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/postgres';
    const pgName = `loupe_bench_${crypto.randomBytes(4).toString('hex')}`;
    const pgUrl = Object.assign(new URL(pgAdmin), { pathname: `/${pgName}` }).href;
    const admin = async (q: string) => {
      const c = new pg.Client({ connectionString: pgAdmin });
      await c.connect();
      await c.query(q).finally(() => c.end());
    };
    await admin(`CREATE DATABASE ${pgName}`);
    const roomIn = async (databaseUrl?: string) => {
      const seed = await startServer({ port: 0, host: '127.0.0.1', dataDir, databaseUrl }, { log: createLogger('silent') });
      const { room, invites } = await seed.services.roomService.create('Scale-out bench', { demo: false });
      await seed.close();
      return [{ id: room.id, drawerToken: invites.find((x) => x.role === 'artist')!.token, viewerToken: invites.find((x) => x.role === 'viewer')!.token }];
    };
    const setup = (urls: string[], rooms: Awaited<ReturnType<typeof roomIn>>) => ({ type: 'setup', mode: 'loupe', url: urls[0], urls, rooms, clientsPerRoom: clients, drawersPerRoom: drawers, fullPerRoom: full }) as const;

    const runs: Record<string, Phase> = {};
    const cluster = { REDIS_URL: redisUrl, REDIS_PREFIX: prefix, ROLE: 'api' };
    const onPg = { ...cluster, DATABASE_URL: pgUrl };
    try {
      const sqliteRooms = await roomIn();
      const pgRooms = await roomIn(pgUrl);
      for (const [name, envs, rooms] of [
        ['one node, no Redis', [{}], sqliteRooms],
        ['one node on Redis', [cluster], sqliteRooms],
        ['two nodes on Redis', [cluster, cluster], sqliteRooms],
        ['two nodes on Redis and PostgreSQL', [onPg, onPg], pgRooms],
      ] as const) {
        const nodes = [];
        for (const env of envs) nodes.push(await node(dataDir, env));
        try {
          log(`${name}: ${nodes.map((n) => n.url).join(', ')}`);
          runs[name] = await measure(setup(nodes.map((n) => n.url), rooms), draw, log);
        } finally {
          await Promise.all(nodes.map((n) => n.stop()));
        }
      }
    } finally {
      await dropRedisKeys(redisUrl, prefix).catch(() => {});
      await admin(`DROP DATABASE IF EXISTS ${pgName} WITH (FORCE)`).catch(() => {});
    }

    const one = runs['one node on Redis'];
    const two = runs['two nodes on Redis'];
    const solo = runs['one node, no Redis'];
    const added = two.result.p99 - one.result.p99;
    const onPostgres = runs['two nodes on Redis and PostgreSQL'];
    const addedPg = onPostgres.result.p99 - solo.result.p99;
    const rows: BenchRow[] = [];
    for (const [name, r] of Object.entries(runs)) {
      rows.push(
        { metric: `p50 delivery latency, ${name}`, value: r.result.p50, unit: 'ms' },
        { metric: `p99 delivery latency, ${name}`, value: r.result.p99, unit: 'ms' },
        { metric: `delivered ratio, ${name}`, value: r.deliveredRatio, unit: '', note: `${r.result.delivered}/${r.result.expected}` },
      );
    }
    rows.push({ metric: 'p99 added by the second node', value: added, unit: 'ms', note: `two nodes vs one node on Redis; goal <= 5 ms: ${added <= 5 ? 'PASS' : 'FAIL'}` });
    rows.push({ metric: 'p99 added by two nodes on PostgreSQL', value: addedPg, unit: 'ms', note: `two nodes on Redis and PostgreSQL vs one node on SQLite; goal <= 5 ms: ${addedPg <= 5 ? 'PASS' : 'FAIL'}` });
    const comparisons: Comparison[] = [
      { metric: 'p50 delivery latency', unit: 'ms', ours: two.result.p50, baseline: one.result.p50 },
      { metric: 'p99 delivery latency', unit: 'ms', ours: two.result.p99, baseline: one.result.p99, goal: 'two nodes add <= 5 ms', pass: added <= 5 },
      { metric: 'p99, one node on Redis vs on its own', unit: 'ms', ours: one.result.p99, baseline: solo.result.p99 },
      { metric: 'p99, two nodes on Redis and PostgreSQL vs one node on SQLite', unit: 'ms', ours: onPostgres.result.p99, baseline: solo.result.p99, goal: 'adds <= 5 ms', pass: addedPg <= 5 },
    ];
    const dir = resultsDir(options);
    const name = `scaleout-${stamp()}`;
    const svg = path.join(dir, `${name}.svg`);
    const labels = Object.keys(runs);
    fs.writeFileSync(
      svg,
      barChartSvg({
        title: 'Annotation fan-out through one and two nodes (1 room x 50 clients, 10 drawing at 30 Hz)',
        unit: 'ms',
        labels,
        series: [
          { name: 'p50', color: '#6aa9ff', values: labels.map((l) => runs[l].result.p50) },
          { name: 'p99', color: '#ff8a5b', values: labels.map((l) => runs[l].result.p99) },
        ],
      }),
    );
    const md = path.join(dir, `${name}.md`);
    writeMarkdown(
      md,
      'Scale-out benchmark: annotation fan-out through two nodes',
      [
        `1 room x ${clients} clients, ${drawers} drawing at ${hz} Hz for ${seconds} s; real \`loupe serve\` processes sharing a data folder; with two nodes the clients alternate between them, so about half the deliveries cross Redis.`,
        'All runs use the same load generator (its own process) in the same run; the machine running the nodes also runs Redis and the load generator.',
      ],
      comparisons,
      rows,
      path.basename(svg),
    );
    log(`report: ${path.relative(process.cwd(), md)}`);
    return { rows, meta: { clients, drawers, hz, seconds, runs, report: md, chart: svg } };
  },
};

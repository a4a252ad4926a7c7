/**
 * Annotation fan-out: R rooms x C clients, K of them (per room) drawing at H Hz with real
 * socket.io-client sockets and Y.Docs (RoomDocProvider), the load generator in its own process.
 * Measured twice in the same run with the same load: against Loupe (startServer in this process)
 * and against a bare Socket.IO relay (join a room, rebroadcast the binary update, nothing else).
 *
 *   npm run bench -- fanout [--rooms 1 --clients 50 --drawers 10 --hz 30 --seconds 10 --warmup 2 --full 4]
 *
 * --full N: clients per room that keep a whole Y.Doc in sync (RoomDocProvider; latency from the
 * doc's events); the others are real sockets in the room that read the send time from the bytes
 * they receive, so the one load-generator process is not the bottleneck on a 2-core machine.
 *   npm run bench -- fanout --scenario viewers   (1 room x 201 clients, 1 drawer)
 *   npm run bench -- fanout --scenario rooms     (100 rooms x 10 clients, 1 drawer each)
 *   npm run bench -- fanout --scenario throughput (1 room x 100 clients, 11 drawers: 32.7k deliveries/s offered)
 *   npm run bench -- fanout --scenario dcc       (the y-websocket path: 1 room x 50 stock y-websocket clients,
 *                                                 10 drawing, next to a bare y-protocols relay)
 *   npm run bench -- fanout                      (all five, one after the other: ~4 minutes)
 * Through two nodes on Redis next to one: `npm run bench -- scaleout`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Server } from 'socket.io';
import WebSocket, { WebSocketServer } from 'ws';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';
import * as syncProtocol from 'y-protocols/sync';
import type { Bench, BenchRow } from './runner.js';
import type { LoadMessage, LoadReply } from './fanout-load.js';
import { barChartSvg, resultsDir, stamp, writeMarkdown, type Comparison } from './report.js';
import { startServer } from '../src/main.js';
import { createLogger } from '../src/log.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The scenarios; `seconds` of measurement each (after the warm-up), so that all three fit in ~3 minutes on 2 cores. */
const SCENARIOS: Record<string, { rooms: number; clients: number; drawers: number; hz: number; seconds: number; full?: number; label: string; /** The DCC-tool path: stock y-websocket clients. */ yws?: true }> = {
  default: { rooms: 1, clients: 50, drawers: 10, hz: 30, seconds: 10, label: '1 room x 50 clients, 10 drawing' },
  viewers: { rooms: 1, clients: 201, drawers: 1, hz: 30, seconds: 8, label: '200 viewers, 1 drawer' },
  rooms: { rooms: 100, clients: 10, drawers: 1, hz: 30, seconds: 8, full: 2, label: '100 rooms x 10 clients' },
  // Offers 11 x 30 x 99 = 32,670 deliveries/s: enough to test the 30,000/s goal (the others offer less).
  throughput: { rooms: 1, clients: 100, drawers: 11, hz: 30, seconds: 8, label: '1 room x 100 clients, 11 drawing (32.7k deliveries/s offered)' },
  // The y-websocket path (DCC tools): the default scenario's load with stock WebsocketProviders, each keeping a whole Y.Doc.
  dcc: { rooms: 1, clients: 50, drawers: 10, hz: 30, seconds: 10, yws: true, label: 'y-websocket: 1 room x 50 stock clients, 10 drawing' },
};

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function memory() {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed + m.external + m.arrayBuffers, rss: m.rss };
}

/** The load generator: a forked process spoken to over IPC. */
class LoadGen {
  private child: ChildProcess;
  private waiting: ((m: LoadReply) => void)[] = [];
  private failed: Error | null = null;
  constructor() {
    this.child = fork(path.join(here, 'fanout-load.ts'), [], { execArgv: ['--import', 'tsx'], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: LoadReply) => this.waiting.shift()?.(m));
    this.child.on('exit', (code) => {
      this.failed = new Error(`load generator exited (${code})`);
      for (const w of this.waiting.splice(0)) w({ type: 'error', message: this.failed.message });
    });
  }
  /** Sends `m` (if any) and waits for the next reply, which must be `want`. */
  async ask<T extends LoadReply['type']>(m: LoadMessage | null, want: T, timeoutMs: number): Promise<Extract<LoadReply, { type: T }>> {
    if (this.failed) throw this.failed;
    const reply = await new Promise<LoadReply>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`load generator: no '${want}' within ${timeoutMs} ms`)), timeoutMs);
      this.waiting.push((r) => (clearTimeout(t), resolve(r)));
      if (m) this.child.send(m);
    });
    if (reply.type === 'error') throw new Error(`load generator: ${reply.message}`);
    if (reply.type !== want) throw new Error(`load generator: expected ${want}, got ${reply.type}`);
    return reply as Extract<LoadReply, { type: T }>;
  }
  kill(): void {
    if (this.child.exitCode === null) this.child.kill();
  }
}

/** The baseline: a Socket.IO server that joins rooms and rebroadcasts binary payloads. */
async function bareRelay(): Promise<{ url: string; close(): Promise<void> }> {
  const httpServer = http.createServer();
  const io = new Server(httpServer, { transports: ['websocket'] });
  io.on('connection', (socket) => {
    let room = '';
    socket.on('join', (r: string, ack: () => void) => {
      room = r;
      void socket.join(r);
      ack();
    });
    socket.on('u', (data: Buffer) => {
      if (room) socket.to(room).emit('u', data);
    });
  });
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
  const { port } = httpServer.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => io.close(() => r())) };
}

/**
 * The y-websocket path's baseline: a bare y-protocols relay (`ws://HOST:PORT/<room>`) that holds and
 * applies nothing. It answers a client's sync step 1 with an empty step 2 (so that a stock provider
 * counts itself synced) and relays every other sync message (updates) and awareness message as
 * received, one Buffer to each other client of the room.
 */
async function bareYjsRelay(): Promise<{ url: string; close(): Promise<void> }> {
  const httpServer = http.createServer();
  const wss = new WebSocketServer({ server: httpServer });
  const rooms = new Map<string, Set<WebSocket>>();
  const enc = encoding.createEncoder();
  encoding.writeVarUint(enc, 0); // sync
  syncProtocol.writeSyncStep2(enc, new Y.Doc());
  const emptyStep2 = encoding.toUint8Array(enc);
  wss.on('connection', (ws, req) => {
    const roomId = (req.url ?? '/').slice(1).split('?')[0];
    let set = rooms.get(roomId);
    if (!set) rooms.set(roomId, (set = new Set()));
    set.add(ws);
    ws.on('message', (data: Buffer) => {
      const decoder = decoding.createDecoder(data);
      const type = decoding.readVarUint(decoder);
      if (type === 0 && decoding.readVarUint(decoder) === syncProtocol.messageYjsSyncStep1) return ws.send(emptyStep2);
      if (type !== 0 && type !== 1) return;
      for (const other of set) if (other !== ws && other.readyState === WebSocket.OPEN) other.send(data);
    });
    ws.on('close', () => set.delete(ws));
  });
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
  const { port } = httpServer.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => httpServer.close(() => r()));
      }),
  };
}

export interface Phase {
  connections: number;
  setupMs: number;
  result: Extract<LoadReply, { type: 'result' }>;
  serverCpuPct: number;
  loopP50: number;
  loopP99: number;
  loopMax: number;
  heapPerConn: number;
  rssPerConn: number;
  deliveriesPerSec: number;
  deliveredRatio: number;
}

export async function measure(setup: Extract<LoadMessage, { type: 'setup' }>, draw: Extract<LoadMessage, { type: 'draw' }>, log: (l: string) => void): Promise<Phase> {
  const gen = new LoadGen();
  try {
    const m0 = memory();
    const ready = await gen.ask(setup, 'ready', 120_000);
    const m1 = memory();
    log(`${setup.mode}: ${ready.connections} connections in ${(ready.setupMs / 1000).toFixed(1)} s`);
    const loop = monitorEventLoopDelay({ resolution: 5 });
    await gen.ask(draw, 'measuring', (draw.warmupSeconds + 30) * 1000);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    loop.enable();
    const result = await gen.ask(null, 'result', (draw.seconds + 60) * 1000);
    loop.disable();
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    await gen.ask({ type: 'close' }, 'closed', 30_000);
    log(`${setup.mode}: sent ${result.sent} strokes, ${result.delivered}/${result.expected} deliveries, p99 ${result.p99.toFixed(1)} ms`);
    return {
      connections: ready.connections,
      setupMs: ready.setupMs,
      result,
      serverCpuPct: ((cpu.user + cpu.system) / 1000 / wall) * 100,
      loopP50: loop.percentile(50) / 1e6,
      loopP99: loop.percentile(99) / 1e6,
      loopMax: loop.max / 1e6,
      heapPerConn: (m1.heap - m0.heap) / ready.connections,
      rssPerConn: (m1.rss - m0.rss) / ready.connections,
      deliveriesPerSec: result.delivered / (result.drawMs / 1000),
      deliveredRatio: result.expected ? result.delivered / result.expected : NaN,
    };
  } finally {
    gen.kill();
  }
}

export const bench: Bench = {
  name: 'fanout',
  description: 'annotation fan-out latency and throughput (real sockets + Yjs, load in its own process), next to a bare Socket.IO relay; scenario dcc: stock y-websocket clients next to a bare y-protocols relay',
  async run({ options, tmp, log }) {
    // No scenario and no load shape given: all three scenarios, each with its own report.
    const shaped = ['rooms', 'clients', 'drawers', 'hz'].some((k) => options[k] !== undefined);
    const names = options.scenario ? [options.scenario] : shaped ? ['default'] : Object.keys(SCENARIOS);
    for (const name of names) if (!SCENARIOS[name]) throw new Error(`unknown scenario ${name}; there are: ${Object.keys(SCENARIOS).join(', ')}`);
    if (names.length === 1) return runScenario(names[0], options, path.join(tmp, names[0]), log);
    const rows: BenchRow[] = [];
    const meta: Record<string, unknown> = {};
    for (const name of names) {
      const r = await runScenario(name, options, path.join(tmp, name), log);
      // The default scenario's rows keep their names; the others are prefixed with the scenario.
      rows.push(...r.rows.map((row) => (name === 'default' ? row : { ...row, metric: `${SCENARIOS[name].label}: ${row.metric}` })));
      meta[name] = r.meta;
    }
    return { rows, meta };
  },
};

async function runScenario(scenarioName: string, options: Record<string, string>, tmp: string, log: (l: string) => void): Promise<{ rows: BenchRow[]; meta: Record<string, unknown> }> {
  const base = SCENARIOS[scenarioName];
  const rooms = Number(options.rooms ?? base.rooms);
  const clients = Number(options.clients ?? base.clients);
  const drawers = Math.min(clients, Number(options.drawers ?? base.drawers));
  const hz = Number(options.hz ?? base.hz);
  const seconds = Number(options.seconds ?? base.seconds);
  // Clients per room that keep a whole Y.Doc in sync; the others read the send time from the bytes.
  // Stock y-websocket clients all keep one.
  const yws = base.yws === true;
  const full = yws ? clients : Math.min(clients, Number(options.full ?? base.full ?? 4));
  const isDefault = rooms === 1 && clients === 50 && drawers === 10 && hz === 30;
  const relayName = yws ? 'bare y-protocols relay' : 'bare Socket.IO relay';
  const load = yws
    ? `${rooms} room(s) x ${clients} stock y-websocket clients, ${drawers} drawing at ${hz} Hz per room, ${seconds} s (all full Y.Doc clients)`
    : `${rooms} room(s) x ${clients} clients, ${drawers} drawing at ${hz} Hz per room, ${seconds} s (${full} full Y.Doc clients per room)`;
  log(`scenario ${scenarioName}: ${load}`);
  const warmupSeconds = Number(options.warmup ?? 2);
  const draw = { type: 'draw', hz, seconds, warmupSeconds, drainMs: 3000 } as const;

  // Baseline first, then Loupe, each with a fresh load-generator process.
  const relay = yws ? await bareYjsRelay() : await bareRelay();
  let bare: Phase;
  try {
    const fakeRooms = Array.from({ length: rooms }, (_, i) => ({ id: `bare-${i}`, drawerToken: '', viewerToken: '' }));
    bare = await measure({ type: 'setup', mode: yws ? 'yws-bare' : 'bare', url: relay.url, rooms: fakeRooms, clientsPerRoom: clients, drawersPerRoom: drawers, fullPerRoom: full }, draw, log);
  } finally {
    await relay.close();
  }

  const server = await startServer({ port: 0, host: '127.0.0.1', dataDir: path.join(tmp, 'data') }, { log: createLogger('silent') });
  let ours: Phase;
  try {
    const list = [];
    for (let i = 0; i < rooms; i++) {
      const { room, invites } = await server.services.roomService.create(`Bench ${i}`, { demo: false });
      list.push({ id: room.id, drawerToken: invites.find((x) => x.role === 'artist')!.token, viewerToken: invites.find((x) => x.role === 'viewer')!.token });
    }
    ours = await measure({ type: 'setup', mode: yws ? 'yws' : 'loupe', url: server.url, rooms: list, clientsPerRoom: clients, drawersPerRoom: drawers, fullPerRoom: full }, draw, log);
  } finally {
    await server.close();
  }

  const ratio = ours.result.p99 / bare.result.p99;
  const pf = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  const p99Goal = ours.result.p99 <= 1.5 * bare.result.p99 && ours.result.p99 <= 25;
  const rateGoal = ours.deliveriesPerSec >= 30_000 && ours.result.p99 < 50;
  // Each goal is judged where the issue sets it: p99 in the default scenario, the rate in the one that offers 30,000/s.
  const judgesRate = scenarioName === 'throughput';
  const comparisons: Comparison[] = [
    { metric: 'p50 delivery latency', unit: 'ms', ours: ours.result.p50, baseline: bare.result.p50 },
    { metric: 'p95 delivery latency', unit: 'ms', ours: ours.result.p95, baseline: bare.result.p95 },
    { metric: 'p99 delivery latency', unit: 'ms', ours: ours.result.p99, baseline: bare.result.p99, goal: '≤ 1.5x bare and ≤ 25 ms (default scenario)', pass: isDefault ? p99Goal : undefined },
    { metric: 'max delivery latency', unit: 'ms', ours: ours.result.max, baseline: bare.result.max },
    { metric: 'delivered ratio', unit: '', ours: ours.deliveredRatio, baseline: bare.deliveredRatio, goal: '1.00', pass: ours.deliveredRatio >= 0.999 },
    { metric: 'deliveries per second', unit: '/s', ours: ours.deliveriesPerSec, baseline: bare.deliveriesPerSec, goal: '≥ 30,000/s with p99 < 50 ms (throughput scenario)', pass: judgesRate ? rateGoal : undefined },
    { metric: 'server CPU', unit: '% of a core', ours: ours.serverCpuPct, baseline: bare.serverCpuPct },
    { metric: 'event-loop delay p99', unit: 'ms', ours: ours.loopP99, baseline: bare.loopP99 },
    { metric: 'event-loop delay max', unit: 'ms', ours: ours.loopMax, baseline: bare.loopMax },
    { metric: 'heap per connection', unit: 'KB', ours: ours.heapPerConn / 1024, baseline: bare.heapPerConn / 1024, goal: '≤ 64 KB', pass: ours.heapPerConn / 1024 <= 64 },
    { metric: 'RSS per connection', unit: 'KB', ours: ours.rssPerConn / 1024, baseline: bare.rssPerConn / 1024 },
    { metric: 'load generator CPU', unit: '% of a core', ours: ours.result.loadCpuPct, baseline: bare.result.loadCpuPct },
  ];
  const rows: BenchRow[] = [
    { metric: 'load', value: ours.connections, unit: 'connections', note: `${load}; stroke update ~${Math.round(ours.result.payloadBytes)} B` },
    { metric: 'strokes sent', value: ours.result.sent, unit: 'strokes', note: `bare: ${bare.result.sent}` },
  ];
  for (const c of comparisons) {
    const note = c.pass === undefined ? '' : ` — goal ${c.goal}: ${pf(c.pass)}`;
    rows.push({ metric: `${c.metric}, Loupe`, value: c.ours, unit: c.unit, note: note.slice(3) || undefined });
    rows.push({ metric: `${c.metric}, ${relayName}`, value: c.baseline, unit: c.unit });
  }
  rows.push({
    metric: 'goal: p99 vs bare relay',
    value: ratio,
    unit: 'x',
    note: isDefault
      ? `${pf(ratio <= 1.5)} (≤ 1.5x); p99 ${ours.result.p99.toFixed(1)} ms ${pf(ours.result.p99 <= 25)} (≤ 25 ms)`
      : `for reference: the goal (≤ 1.5x and ≤ 25 ms) is judged in the default scenario`,
  });
  rows.push({
    metric: 'goal: deliveries per second',
    value: ours.deliveriesPerSec,
    unit: '/s',
    note: judgesRate ? `${pf(rateGoal)} (≥ 30,000/s with p99 < 50 ms)` : 'for reference: the goal (≥ 30,000/s at p99 < 50 ms) is judged in the throughput scenario, which offers that load',
  });
  if (yws) {
    const perStroke = (r: Phase['result']) => r.messages / (r.delivered || 1);
    rows.push({ metric: 'messages received per stroke delivered, Loupe', value: perStroke(ours.result), unit: 'messages', note: 'below 1: strokes of one tick merged into one message' });
    rows.push({ metric: `messages received per stroke delivered, ${relayName}`, value: perStroke(bare.result), unit: 'messages' });
  }
  if (ours.result.refusals) rows.push({ metric: yws ? 'connections closed while measuring (Loupe)' : 'refused updates (Loupe)', value: ours.result.refusals, unit: yws ? 'closes' : 'updates' });

  const out = resultsDir(options);
  const name = `fanout-${scenarioName}-${stamp()}`;
  const svg = path.join(out, `${name}.svg`);
  fs.writeFileSync(
    svg,
    barChartSvg({
      title: `Fan-out delivery latency — ${load}`.slice(0, 90),
      unit: 'ms',
      labels: ['p50', 'p95', 'p99'],
      series: [
        { name: 'Loupe', color: '#3b6fd8', values: [ours.result.p50, ours.result.p95, ours.result.p99] },
        { name: relayName, color: '#9a9a9a', values: [bare.result.p50, bare.result.p95, bare.result.p99] },
      ],
      goal: { value: 25, label: 'goal p99 ≤ 25 ms' },
    }),
  );
  const md = path.join(out, `${name}.md`);
  writeMarkdown(
    md,
    `Fan-out benchmark (${scenarioName}: ${base.label})`,
    [`Load: ${load}.`, `Run: ${new Date().toISOString()}; both measured in the same run with the same load generator (own process).`, '', '## What was tried', '', ...TRIED],
    comparisons,
    rows,
    svg,
  );
  log(`report: ${path.relative(process.cwd(), md)}, chart: ${path.relative(process.cwd(), svg)}`);
  return { rows, meta: { scenario: scenarioName, rooms, clients, drawers, hz, seconds, ours, bare, comparisons, report: md, chart: svg } };
}

/** The report's record of what was tried about the p99 goal (figures: the tables of the runs named). */
const TRIED = [
  '- Stroke updates carry packed points (one Uint8Array, ~470 B an update instead of ~1.4 KB): Yjs decoding and the update guard\'s zod check of a stroke got cheaper (server work per update at p50, measured step by step in one process: ~190 µs before, ~80 µs after).',
  '- Server work per update, step by step (p50, packed): SQLite INSERT before the fan-out ~35 µs (p99 ~0.9 ms, tens of ms at WAL checkpoints; ~75 µs on a quiet disk, of which ~15 µs preparing the statement on every call), changesDoc (diffUpdate + decode) ~30 µs, the guard (a second decode + zod) ~15 µs, Y.applyUpdate ~10 µs. A CPU profile of the 100-rooms scenario: DocRepository.append is 60% of the time spent applying updates.',
  '- Why p99 misses under load: the server saturates first. 100 rooms x 1 drawer at 30 Hz is 3,000 updates/s; at ~0.25 ms each (write, two decodes, guard, apply, ack, event log) the event loop is ~95% busy next to the fan-out, so queues grow (event-loop delay p99 in seconds) while the bare relay, which does only the fan-out, stays at ~55-70% of a core.',
  '- Batching the SQLite writes alone (one transaction per event-loop turn, statement still prepared per call, still before the fan-out): no clear change (the server stayed saturated).',
  '- Landed (server/src/collab/room-doc.registry.ts, sync-message.ts, gateway.ts, store/doc.repository.ts): fan out first, store the updates of one event-loop turn in one transaction with a statement prepared once, publish to other nodes after the write, ack after the write (an ack still means stored); decode each update once (the guard reads changesDoc\'s structs). Measured back to back before landing: 100 rooms p99 7.6 s -> 0.95 s with every update delivered (was 73%), event-loop delay p99 7.9 s -> 0.9 s; default scenario server CPU 78% -> 58% of a core (bare relay 45-49%). This machine was shared with other test runs: the bare relay\'s own p99 ranged 18-340 ms between runs, so compare each run with its own baseline.',
  '- A CPU profile of the 100-rooms scenario after that: writev was 37% of the server\'s CPU, and a third of the writes came from engine.io flushing the second packet of each binary event (Socket.IO sends the JSON head and the bytes as two packets; the transport is busy until the first write completes, so the bytes leave one event-loop turn later, in a write of their own). Landed (server/src/realtime/coalesce-writes.ts): both packets are queued and flushed together and the TCP socket is corked while the transport writes a batch, so each message is one writev. Measured back to back: 100 rooms p99 249 -> 116 ms (bare 49-53 ms); throughput scenario 32.4k deliveries/s at p99 17 ms (was 126 ms; bare 34 ms), server CPU 61% of a core (bare 70%); default scenario p99 7 ms (bare 8.6 ms). The bare relay is stock Socket.IO on purpose: it is what a plain relay gets.',
  '- Seen means stored (issue 15 item 8, issue 16): each update is now checked, stored, and only then applied, fanned out and acknowledged; the updates arriving while a write is in flight go into the next write (group commit, one multi-row INSERT), on Kysely over better-sqlite3 with statements cached. Default scenario, alternated A/B on a machine saturated by other test runs (bare relay p99 155-1063 ms between runs): before p99 718 / 1287 ms, after 363 / 457 ms; p50 before 138 / 79 ms, after 7.9 / 40 ms. The noise is larger than any cost of storing first: rerun on a quiet machine to judge the 25 ms goal.',
  '- The y-websocket path (scenario dcc, stock WebsocketProviders; issue 16 §5): it wrote each stored update to each peer as it was applied, framed per update (a stroke from each of 10 tools in one tick: 10 messages to every peer). Landed (server/src/collab/yjs-websocket.ts, Outbox): the updates of one group-committed batch are sent once the batch is applied, merged and framed once per room, the same Buffer written to every peer that sent none of them (a sender gets the others\' merged, never its own); presence gathered per turn and encoded once per sender. Seen means stored holds (test/yjs-websocket-fanout.spec.ts: one message for two tools\' strokes of one tick; SIGKILL right after a tool saw a stroke, the stroke is stored). Smoke runs, 8 s each, before/after back to back on the shared 2-core box at load average 10-14 (the load generator managed a third to two thirds of the offered 300 strokes/s), two pairs: p99 2.25x and 2.02x its relay before, 1.76x and 0.89x after (p99 320-890 ms, p50 63-151 ms, relay p50 31-93 ms): the noise is larger than the change; judge the goal on a quiet box. What the noise does not blur: messages a client received per stroke delivered, 1.02 before (one per update), 0.21 after (a write in flight gathers the next ones), 1.02 through the relay.',
  '- What is left in the 100-rooms scenario: the server does 3,000 updates/s of Yjs work (changesDoc, guard, apply, store, event log, ack) next to the fan-out, ~92% of a core against the bare relay\'s ~70%, on a machine whose other core runs the load generator; p99 follows the event-loop delay (~70 ms). No goal is set for it; next steps would be a cheaper "is this new" check than diffUpdate + decode, and fewer timers in the event log\'s drawing tally.',
];

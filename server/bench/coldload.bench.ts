/**
 * Room cold load: a room document with N pen strokes (20-60 points each) stored in SQLite the way a
 * live session stores it (one update per stroke), then a fresh server and the first room:join timed
 * up to the client holding the whole document. Measured twice: the first load after the session
 * (N separate updates, which the server compacts) and the next one (from the compacted snapshot).
 * Baseline, same run: a bare Y.applyUpdate of the same snapshot (and merge + apply of the N updates).
 *
 *   npm run bench -- coldload [--strokes 10000]
 */
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { io as ioClient } from 'socket.io-client';
import * as Y from 'yjs';
import { Awareness } from 'y-protocols/awareness';
import { RoomDocProvider, annotationsMap, type Ack, type Annotation, type RoomState } from '@loupe/shared';
import type { Bench, BenchRow } from './runner.js';
import { barChartSvg, resultsDir, stamp, writeMarkdown, type Comparison } from './report.js';
import { startServer } from '../src/main.js';
import { createLogger } from '../src/log.js';
import { DocRepository } from '../src/store/doc.repository.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const heap = () => {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function strokes(n: number, memberId: string): Uint8Array[] {
  let seed = 3;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const doc = new Y.Doc();
  const updates: Uint8Array[] = [];
  doc.on('update', (u: Uint8Array) => updates.push(u));
  const map = annotationsMap(doc);
  const t = Date.UTC(2026, 0, 1);
  for (let i = 0; i < n; i++) {
    const count = 20 + Math.floor(rnd() * 41);
    let x = rnd(), y = rnd();
    const points: [number, number, number][] = [];
    for (let j = 0; j < count; j++) {
      x = Math.min(1, Math.max(0, x + (rnd() - 0.5) * 0.02));
      y = Math.min(1, Math.max(0, y + (rnd() - 0.5) * 0.02));
      points.push([x, y, 0.3 + rnd() * 0.7]);
    }
    const frame = Math.floor(rnd() * 2400);
    const a: Annotation = {
      id: crypto.randomUUID(),
      kind: 'pen',
      versionId: 'v-bench',
      frame,
      frameEnd: frame,
      points,
      color: '#ff4d4d',
      size: 0.004,
      author: { id: memberId, name: 'Bench' },
      createdAt: new Date(t + i * 1000).toISOString(),
    };
    map.set(a.id, a); // one transaction, one stored update per stroke, as in a live session
  }
  doc.destroy();
  return updates;
}

interface Load {
  connectMs: number;
  joinAckMs: number;
  syncedMs: number;
  heapDelta: number;
  storedRows: number;
  snapshot: Uint8Array;
  strokes: number;
}

/** A fresh server on the data folder; times the first join until the client holds the document. */
async function firstJoin(dataDir: string, roomId: string, token: string): Promise<Load> {
  const server = await startServer({ port: 0, host: '127.0.0.1', dataDir, roomIdleUnloadMs: 600_000 }, { log: createLogger('silent') });
  try {
    const storedRows = new DocRepository(server.services.db).count(roomId);
    const h0 = heap();
    const t0 = performance.now();
    const socket = ioClient(server.url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
    await new Promise<void>((resolve, reject) => (socket.once('connect', () => resolve()), socket.once('connect_error', reject)));
    const t1 = performance.now();
    const ack = (await socket.timeout(60_000).emitWithAck('room:join', { room: roomId })) as Ack<RoomState>;
    const t2 = performance.now();
    if (!ack.ok) throw new Error(`join refused: ${ack.code} ${ack.message}`);
    let doc: Y.Doc | null = new Y.Doc();
    let awareness: Awareness | null = new Awareness(doc);
    let provider: RoomDocProvider | null = new RoomDocProvider(socket, roomId, doc, awareness);
    provider.start(new Uint8Array(ack.sync));
    await provider.whenSynced();
    const t3 = performance.now();
    const count = annotationsMap(doc).size;
    provider.destroy();
    awareness.destroy();
    doc.destroy();
    provider = awareness = doc = null;
    socket.disconnect();
    await new Promise((r) => setTimeout(r, 100));
    const heapDelta = heap() - h0; // the server's loaded room (held for the idle-unload delay)
    const snapshot = Y.encodeStateAsUpdate(server.docs.get(roomId)!.doc);
    return { connectMs: t1 - t0, joinAckMs: t2 - t1, syncedMs: t3 - t1, heapDelta, storedRows, snapshot, strokes: count };
  } finally {
    await server.close();
  }
}

export const bench: Bench = {
  name: 'coldload',
  description: 'first room:join of a room with many strokes on a fresh server (SQLite load + sync), next to a bare Y.applyUpdate',
  async run({ options, tmp, log }) {
    const n = Number(options.strokes ?? 10_000);
    const dataDir = path.join(tmp, 'data');

    // The room, its strokes stored as a live session stores them.
    const seed = await startServer({ port: 0, host: '127.0.0.1', dataDir }, { log: createLogger('silent') });
    let roomId: string, token: string, updates: Uint8Array[];
    try {
      const { room, invites } = await seed.services.roomService.create('Cold load', { demo: false });
      roomId = room.id;
      token = invites.find((i) => i.role === 'artist')!.token;
      const memberId = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sub as string;
      const t = performance.now();
      updates = strokes(n, memberId);
      const repo = new DocRepository(seed.services.db);
      seed.services.db.transaction(() => updates.forEach((u) => repo.append(roomId, u)))();
      log(`${n} strokes, ${updates.length} updates, ${(updates.reduce((s, u) => s + u.byteLength, 0) / 1e6).toFixed(1)} MB stored in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    } finally {
      await seed.close();
    }
    const storedBytes = updates.reduce((s, u) => s + u.byteLength, 0);

    const first = await firstJoin(dataDir, roomId, token);
    log(`first load after the session (${first.storedRows} rows): join ack ${first.joinAckMs.toFixed(0)} ms, synced ${first.syncedMs.toFixed(0)} ms`);
    const again = await firstJoin(dataDir, roomId, token);
    log(`load from the compacted snapshot (${again.storedRows} row(s)): join ack ${again.joinAckMs.toFixed(0)} ms, synced ${again.syncedMs.toFixed(0)} ms`);
    if (first.strokes !== n || again.strokes !== n) throw new Error(`client got ${first.strokes} / ${again.strokes} strokes, expected ${n}`);

    // Baseline: bare Yjs on the same bytes, in this process.
    const snapshot = again.snapshot;
    const applyRuns: number[] = [];
    let bareHeap = 0;
    for (let i = 0; i < 5; i++) {
      const h0 = i === 0 ? heap() : 0;
      const t = performance.now();
      const d = new Y.Doc();
      Y.applyUpdate(d, snapshot);
      applyRuns.push(performance.now() - t);
      if (i === 0) bareHeap = heap() - h0;
      d.destroy();
    }
    const mergeRuns: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      const d = new Y.Doc();
      Y.applyUpdate(d, Y.mergeUpdates(updates));
      mergeRuns.push(performance.now() - t);
      d.destroy();
    }
    const bareApply = median(applyRuns);
    const bareMerge = median(mergeRuns);

    const pf = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
    const comparisons: Comparison[] = [
      { metric: `first join to synced, compacted room (${n} strokes)`, unit: 'ms', ours: again.syncedMs, baseline: bareApply, goal: '< 200 ms', pass: again.syncedMs < 200 },
      { metric: 'first join ack (server load), compacted', unit: 'ms', ours: again.joinAckMs, baseline: bareApply, goal: '< 200 ms', pass: again.joinAckMs < 200 },
      { metric: `first join to synced, after a session (${first.storedRows} updates)`, unit: 'ms', ours: first.syncedMs, baseline: bareMerge, goal: '< 200 ms', pass: first.syncedMs < 200 },
      { metric: 'first join ack (server load), after a session', unit: 'ms', ours: first.joinAckMs, baseline: bareMerge, goal: '< 200 ms', pass: first.joinAckMs < 200 },
      { metric: 'heap of the loaded room', unit: 'MB', ours: again.heapDelta / 1e6, baseline: bareHeap / 1e6 },
    ];
    const rows: BenchRow[] = [
      { metric: 'strokes', value: n, unit: 'strokes', note: '20-60 points each' },
      { metric: 'stored updates (as drawn)', value: storedBytes / 1e6, unit: 'MB', note: `${updates.length} rows in doc_updates` },
      { metric: 'snapshot size', value: snapshot.byteLength / 1e6, unit: 'MB', note: 'Y.encodeStateAsUpdate of the loaded room' },
      { metric: 'first join to synced (compacted)', value: again.syncedMs, unit: 'ms', note: `goal < 200 ms: ${pf(again.syncedMs < 200)}; ${(again.syncedMs / bareApply).toFixed(1)}x bare apply` },
      { metric: 'first join ack (compacted)', value: again.joinAckMs, unit: 'ms', note: 'SQLite load + Y.Doc + sync step 1' },
      { metric: 'first join to synced (after a session)', value: first.syncedMs, unit: 'ms', note: `${first.storedRows} stored updates, merged and compacted on load; goal < 200 ms: ${pf(first.syncedMs < 200)}` },
      { metric: 'first join ack (after a session)', value: first.joinAckMs, unit: 'ms' },
      { metric: 'socket connect', value: again.connectMs, unit: 'ms', note: 'not part of the load time' },
      { metric: 'heap delta, loaded room', value: again.heapDelta / 1e6, unit: 'MB', note: 'server process, after GC, client gone' },
      { metric: 'bare Y.applyUpdate of the snapshot', value: bareApply, unit: 'ms', note: `median of ${applyRuns.length}` },
      { metric: 'bare Y.mergeUpdates + applyUpdate (as stored)', value: bareMerge, unit: 'ms', note: `median of ${mergeRuns.length}` },
      { metric: 'bare heap of the applied doc', value: bareHeap / 1e6, unit: 'MB' },
    ];

    const out = resultsDir(options);
    const name = `coldload-${stamp()}`;
    const svg = path.join(out, `${name}.svg`);
    fs.writeFileSync(
      svg,
      barChartSvg({
        title: `Room cold load, ${n} strokes`,
        unit: 'ms',
        labels: ['compacted: ack', 'compacted: synced', 'after session: ack', 'after session: synced'],
        series: [
          { name: 'Loupe first join', color: '#3b6fd8', values: [again.joinAckMs, again.syncedMs, first.joinAckMs, first.syncedMs] },
          { name: 'bare Yjs apply', color: '#9a9a9a', values: [bareApply, bareApply, bareMerge, bareMerge] },
        ],
        goal: { value: 200, label: 'goal < 200 ms' },
      }),
    );
    const md = path.join(out, `${name}.md`);
    writeMarkdown(md, 'Room cold load benchmark', [`${n} pen strokes (20-60 points), stored one update per stroke; fresh server per load.`, `Run: ${new Date().toISOString()}.`], comparisons, rows, svg);
    log(`report: ${path.relative(process.cwd(), md)}, chart: ${path.relative(process.cwd(), svg)}`);
    return { rows, meta: { strokes: n, first: { ...first, snapshot: first.snapshot.byteLength }, again: { ...again, snapshot: again.snapshot.byteLength }, applyRuns, mergeRuns, comparisons, report: md, chart: svg } };
  },
};

/**
 * The fan-out benchmark's load generator, run in its own process (forked by fanout.bench.ts, driven
 * over IPC). It opens real socket.io-client sockets with a Y.Doc each and draws strokes at a fixed
 * rate; every receiver computes the delivery latency from the stroke's send time (carried in
 * `createdAt`, high-resolution, this process's clock — sender and receivers share it).
 *
 * mode 'loupe': the Loupe server, room:join + RoomDocProvider (y:sync), strokes are Y.Map sets.
 * mode 'bare':  a bare Socket.IO relay; the same Y.Map sets, the raw update bytes relayed as-is and
 *               applied by the receivers, so the client-side work is the same in both modes.
 * mode 'yws':   the Loupe server's y-websocket endpoint (`/yjs/<room>`, the DCC-tool path), every client
 *               a stock y-websocket WebsocketProvider (with `ws`) keeping a whole Y.Doc in sync.
 * mode 'yws-bare': the same stock providers against a bare y-protocols relay (fanout.bench.ts).
 */
import { io as ioClient, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { Awareness } from 'y-protocols/awareness';
import * as syncProtocol from 'y-protocols/sync';
import * as encoding from 'lib0/encoding';
import { RoomDocProvider, annotationsMap, packPoints, type Ack, type Annotation, type Point, type RoomState } from '@loupe/shared';

export type LoadMessage =
  | { type: 'setup'; mode: 'loupe' | 'bare' | 'yws' | 'yws-bare'; url: string; /** Several nodes: client c of each room uses urls[c % n]. */ urls?: string[]; rooms: { id: string; drawerToken: string; viewerToken: string }[]; clientsPerRoom: number; drawersPerRoom: number; fullPerRoom: number }
  | { type: 'draw'; hz: number; seconds: number; warmupSeconds: number; drainMs: number }
  | { type: 'close' };

export type LoadReply =
  | { type: 'ready'; connections: number; setupMs: number }
  | { type: 'result'; sent: number; expected: number; delivered: number; late: number; p50: number; p95: number; p99: number; max: number; mean: number; payloadBytes: number; refusals: number; loadCpuPct: number; drawMs: number; /** Stock clients: WebSocket messages received while measuring (updates and presence). */ messages: number }
  | { type: 'measuring' }
  | { type: 'closed' }
  | { type: 'error'; message: string };

interface Client {
  socket?: Socket;
  /** A stock y-websocket client (modes yws, yws-bare). */
  yws?: WebsocketProvider;
  doc: Y.Doc;
  awareness?: Awareness;
  provider?: RoomDocProvider;
  drawer: boolean;
  memberId: string;
  room: number;
}

const REMOTE = Symbol('remote');
const clients: Client[] = [];
let latencies: number[] = [];
let measuring = false;
/** Strokes sent before this (the warm-up) are not counted. */
let measureFrom = Infinity;
let refusals = 0;
let messagesIn = 0;
let payloadBytes = 0;
let payloadCount = 0;

const send = (m: LoadReply) => process.send!(m);
// Each stock WebsocketProvider listens for the process's exit: dozens of them are expected here.
process.setMaxListeners(0);

function connect(url: string, token: string | undefined): Promise<Socket> {
  const socket = ioClient(url, { auth: token ? { token } : {}, transports: ['websocket'], reconnection: false, forceNew: true });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

function observe(doc: Y.Doc, isRemote: (origin: unknown) => boolean): void {
  annotationsMap(doc).observe((event) => {
    if (!measuring || !isRemote(event.transaction.origin)) return;
    const now = performance.now();
    for (const key of event.keysChanged) {
      const a = annotationsMap(doc).get(key);
      if (a && Number(a.createdAt) >= measureFrom) latencies.push(now - Number(a.createdAt));
    }
  });
}

const KEY = Buffer.from('createdAt');
/** The bench author's name as a packed annotation holds it (varString), just before createdAt. */
const NAME = Buffer.from([5, ...Buffer.from('Bench')]);
const SEND_TIME = /^\d+(\.\d+)?$/;
/**
 * The send times carried by a message's stroke updates, read from the bytes without a Y.Doc (light
 * receivers). A packed annotation (what Loupe writes, shared/src/annotations.ts) holds author.name
 * then createdAt as lib0 varStrings; a plain object, the key, then 119 (string), a varuint length
 * and the characters. A node that reads several updates from Redis at once sends them as one merged
 * update: every stroke in it counts as a delivery.
 */
export function sendTimesOf(bytes: Uint8Array): number[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const times: number[] = [];
  for (let at = buf.indexOf(NAME); at >= 0; at = buf.indexOf(NAME, at + NAME.length)) {
    const len = buf[at + NAME.length];
    const s = buf.toString('latin1', at + NAME.length + 1, at + NAME.length + 1 + len);
    if (SEND_TIME.test(s)) times.push(Number(s)); // a plain object's name is followed by the key createdAt instead
  }
  for (let at = buf.indexOf(KEY); at >= 0; at = buf.indexOf(KEY, at + KEY.length)) {
    if (buf[at + KEY.length] !== 119) continue;
    const len = buf[at + KEY.length + 1];
    times.push(Number(buf.toString('latin1', at + KEY.length + 2, at + KEY.length + 2 + len)));
  }
  return times;
}

function lightReceive(bytes: Uint8Array): void {
  if (!measuring) return;
  const now = performance.now();
  for (const sentAt of sendTimesOf(bytes)) if (sentAt >= measureFrom) latencies.push(now - sentAt);
}

/**
 * full: a whole client (Y.Doc kept in sync; latency from the doc's events). Otherwise light: a real
 * socket in the room that reads the send time from the bytes it receives (a drawer that is not full
 * still draws into its own Y.Doc and sends the updates, but does not apply others'), so that one
 * load-generator process can stand for many clients without becoming the bottleneck itself.
 */
async function openClient(m: Extract<LoadMessage, { type: 'setup' }>, roomIndex: number, drawer: boolean, full: boolean, url: string): Promise<Client> {
  const r = m.rooms[roomIndex];
  const doc = new Y.Doc();
  if (m.mode === 'yws' || m.mode === 'yws-bare') return openStockClient(m.mode, r, roomIndex, drawer, url, doc);
  if (m.mode === 'bare') {
    const socket = await connect(url, undefined);
    await socket.timeout(30_000).emitWithAck('join', r.id);
    if (full) {
      socket.on('u', (data: ArrayBuffer) => Y.applyUpdate(doc, new Uint8Array(data), REMOTE));
      observe(doc, (o) => o === REMOTE);
    } else socket.on('u', (data: ArrayBuffer) => lightReceive(new Uint8Array(data)));
    doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin !== REMOTE) socket.emit('u', update);
    });
    return { socket, doc, drawer, memberId: 'bare', room: roomIndex };
  }
  const socket = await connect(url, drawer ? r.drawerToken : r.viewerToken);
  const ack = (await socket.timeout(30_000).emitWithAck('room:join', { room: r.id })) as Ack<RoomState>;
  if (!ack.ok) throw new Error(`join refused: ${ack.code} ${ack.message}`);
  if (!full) {
    socket.on('y:sync', (p: { data: ArrayBuffer }) => lightReceive(new Uint8Array(p.data)));
    doc.on('update', (update: Uint8Array) => {
      const encoder = encoding.createEncoder();
      syncProtocol.writeUpdate(encoder, update);
      socket.emit('y:sync', { room: r.id, data: encoding.toUint8Array(encoder) }, (a: Ack) => void (a.ok || refusals++));
    });
    return { socket, doc, drawer, memberId: ack.member.id, room: roomIndex };
  }
  const awareness = new Awareness(doc);
  const provider = new RoomDocProvider(socket, r.id, doc, awareness, { onRefusal: () => refusals++ });
  provider.start(new Uint8Array(ack.sync));
  await provider.whenSynced();
  observe(doc, (o) => o === provider);
  return { socket, doc, awareness, provider, drawer, memberId: ack.member.id, room: roomIndex };
}

/**
 * A stock y-websocket client, as a DCC plug-in opens one (docs/annotations.md): `url` + `/yjs` on
 * Loupe, the relay's root otherwise; synced once the server's sync step 2 arrived. Latency from the
 * doc's events (what the provider applied).
 */
async function openStockClient(mode: 'yws' | 'yws-bare', r: { id: string; drawerToken: string; viewerToken: string }, roomIndex: number, drawer: boolean, url: string, doc: Y.Doc): Promise<Client> {
  const token = drawer ? r.drawerToken : r.viewerToken;
  const base = url.replace(/^http/, 'ws') + (mode === 'yws' ? '/yjs' : '');
  const provider = new WebsocketProvider(base, r.id, doc, {
    params: mode === 'yws' ? { token } : {},
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
  });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`stock client not synced within 30 s (${base}/${r.id})`)), 30_000);
    provider.once('sync', () => (clearTimeout(t), resolve()));
  });
  // A connection lost while measuring (counted with refusals).
  provider.on('connection-close', () => measuring && refusals++);
  // One message may carry several strokes (a server that merges what arrived together).
  provider.ws?.addEventListener('message', () => measuring && measureFrom !== Infinity && messagesIn++);
  observe(doc, (o) => o === provider);
  const memberId = mode === 'yws' ? JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sub : 'bare';
  return { yws: provider, doc, drawer, memberId, room: roomIndex };
}

async function setup(m: Extract<LoadMessage, { type: 'setup' }>): Promise<void> {
  const t0 = performance.now();
  const plan: { room: number; drawer: boolean; full: boolean; url: string }[] = [];
  for (let room = 0; room < m.rooms.length; room++) {
    for (let c = 0; c < m.clientsPerRoom; c++) plan.push({ room, drawer: c < m.drawersPerRoom, full: c < m.fullPerRoom, url: m.urls?.[c % m.urls.length] ?? m.url });
  }
  // A few dozen joins at a time: a thousand at once only measures the handshake queue.
  for (let i = 0; i < plan.length; i += 25) {
    clients.push(...(await Promise.all(plan.slice(i, i + 25).map((p) => openClient(m, p.room, p.drawer, p.full, p.url)))));
  }
  send({ type: 'ready', connections: clients.length, setupMs: performance.now() - t0 });
}

let seed = 7;
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;

function stroke(c: Client, n: number): Annotation {
  const count = 20 + Math.floor(rnd() * 41); // 20-60 points, like a pen stroke
  let x = rnd(), y = rnd();
  const points: Point[] = [];
  for (let i = 0; i < count; i++) {
    x = Math.min(1, Math.max(0, x + (rnd() - 0.5) * 0.02));
    y = Math.min(1, Math.max(0, y + (rnd() - 0.5) * 0.02));
    points.push([x, y, 0.3 + rnd() * 0.7]);
  }
  return {
    id: `${c.doc.clientID}-${n}`,
    kind: 'pen',
    versionId: 'bench',
    frame: n % 240,
    frameEnd: n % 240,
    packedPoints: packPoints(points), // as the room UI writes it
    color: '#ff4d4d',
    size: 0.004,
    author: { id: c.memberId, name: 'Bench' },
    createdAt: performance.now().toFixed(4),
  };
}

async function draw(m: Extract<LoadMessage, { type: 'draw' }>): Promise<void> {
  latencies = [];
  measuring = true;
  measureFrom = Infinity;
  const drawers = clients.filter((c) => c.drawer);
  const perRoom = new Map<number, number>();
  for (const c of clients) perRoom.set(c.room, (perRoom.get(c.room) ?? 0) + 1);
  let sent = 0;
  let expected = 0;
  // Warm-up: draw without counting (JIT, first-time allocations), then measure `seconds`.
  const w0 = performance.now();
  let t0 = w0;
  let cpu0 = process.cpuUsage();
  const total = (m.warmupSeconds + m.seconds) * 1000;
  const warm = setTimeout(() => {
    latencies = [];
    sent = expected = messagesIn = 0;
    t0 = measureFrom = performance.now();
    cpu0 = process.cpuUsage();
    process.send!({ type: 'measuring' });
  }, m.warmupSeconds * 1000);
  const period = 1000 / m.hz;
  const timers: NodeJS.Timeout[] = [];
  const measure = (c: Client) => {
    c.doc.once('update', (u: Uint8Array) => ((payloadBytes += u.byteLength), payloadCount++));
  };
  await new Promise<void>((resolve) => {
    for (const c of drawers) {
      let n = 0;
      // Each drawer starts at its own phase, as people do: no artificial bursts.
      const start = setTimeout(() => {
        const tick = () => {
          if (performance.now() - w0 >= total) return;
          measure(c);
          const a = stroke(c, n++);
          c.doc.transact(() => annotationsMap(c.doc).set(a.id, a));
          sent++;
          expected += perRoom.get(c.room)! - 1;
        };
        tick();
        timers.push(setInterval(tick, period));
      }, rnd() * period);
      timers.push(start);
    }
    setTimeout(resolve, total);
  });
  const drawMs = performance.now() - t0;
  for (const t of [...timers, warm]) clearTimeout(t), clearInterval(t);
  // Let what is in flight arrive, up to drainMs.
  const drainStart = performance.now();
  while (latencies.length < expected && performance.now() - drainStart < m.drainMs) await new Promise((r) => setTimeout(r, 20));
  measuring = false;
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - t0;
  const sorted = Float64Array.from(latencies).sort();
  const q = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : NaN);
  const late = latencies.filter((l) => l > 1000).length;
  send({
    type: 'result',
    sent,
    expected,
    delivered: latencies.length,
    late,
    p50: q(0.5),
    p95: q(0.95),
    p99: q(0.99),
    max: sorted.length ? sorted[sorted.length - 1] : NaN,
    mean: latencies.reduce((s, x) => s + x, 0) / (latencies.length || 1),
    payloadBytes: payloadBytes / (payloadCount || 1),
    refusals,
    loadCpuPct: ((cpu.user + cpu.system) / 1000 / wall) * 100,
    drawMs,
    messages: messagesIn,
  });
}

function close(): void {
  for (const c of clients) {
    c.provider?.destroy();
    c.awareness?.destroy();
    c.yws?.destroy();
    c.socket?.disconnect();
  }
  clients.length = 0;
  send({ type: 'closed' });
  setTimeout(() => process.exit(0), 50);
}

process.on('message', (m: LoadMessage) => {
  const run = m.type === 'setup' ? setup(m) : m.type === 'draw' ? draw(m) : Promise.resolve(close());
  run.catch((e: Error) => send({ type: 'error', message: e.stack ?? String(e) }));
});
process.on('disconnect', () => process.exit(0));

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach } from 'vitest';
import { io as ioClient, type Socket } from 'socket.io-client';
import * as Y from 'yjs';
import { Awareness } from 'y-protocols/awareness';
import { WebsocketProvider } from 'y-websocket';
import WebSocket from 'ws';
import * as encoding from 'lib0/encoding';
import * as syncProtocol from 'y-protocols/sync';
import {
  RoomDocProvider,
  annotationsMap,
  packPoints,
  type Ack,
  type Annotation,
  type ClientToServerEvents,
  type Job,
  type Refusal,
  type RoomState,
  type ServerToClientEvents,
  type Tile,
  type Version,
} from '@loupe/shared';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { openServices, startServer, type RunningServer } from '../src/main.js';
import { loadConfig } from '../src/config.js';
import { createLogger, type Logger } from '../src/log.js';

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export function tmpDataDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-test-'));
}

let template: Promise<string> | undefined;
/** A data folder that already holds the generated demo shot, made once per test process. */
function templateDir(): Promise<string> {
  template ??= (async () => {
    const dir = tmpDataDir();
    const s = await startServer({ port: 0, host: '127.0.0.1', dataDir: dir }, { log: createLogger('silent') });
    await s.services.roomService.create('Template');
    await s.close();
    return dir;
  })();
  return template;
}

/** A real server on a random port with its own data folder (a fresh copy unless one is given). */
export async function testServer(dataDir?: string, port = 0): Promise<RunningServer & { dataDir: string }> {
  if (!dataDir) {
    dataDir = tmpDataDir();
    fs.cpSync(await templateDir(), dataDir, { recursive: true });
  }
  const server = await startServer({ port, host: '127.0.0.1', dataDir, roomIdleUnloadMs: 50 }, { log: createLogger(process.env.LOUPE_TEST_LOG ?? 'silent') });
  return Object.assign(server, { dataDir });
}

export async function demoRoom(server: RunningServer, name = 'Test room') {
  const { room, invites } = await server.services.roomService.create(name);
  const token = (role: string) => invites.find((i) => i.role === role)!.token;
  return { room, invites, token };
}

export function connect(url: string, token: string | undefined): ClientSocket {
  return ioClient(url, { auth: token === undefined ? {} : { token }, transports: ['websocket'], reconnection: false, forceNew: true });
}

export function connectError(socket: ClientSocket): Promise<{ message: string; code?: string }> {
  return new Promise((resolve) => socket.once('connect_error', (e: Error & { data?: { code?: string } }) => resolve({ message: e.message, code: e.data?.code })));
}

export function emitAck<T extends object = object>(socket: ClientSocket, event: string, payload: unknown): Promise<Ack<T>> {
  return (socket as unknown as { timeout(ms: number): { emitWithAck(e: string, p: unknown): Promise<Ack<T>> } }).timeout(10_000).emitWithAck(event, payload);
}

/** A member in a room: socket, joined state, Y.Doc and awareness kept in sync. */
export interface Member {
  socket: ClientSocket;
  state: RoomState;
  doc: Y.Doc;
  awareness: Awareness;
  provider: RoomDocProvider;
  refusals: Refusal[];
  close(): void;
}

/**
 * Joins as the web client does: `fresh` (an empty document) unless told otherwise, so the ack brings
 * the document; `tab`: the page's tab id, as the web client sends it.
 */
export async function joinRoom(url: string, roomId: string, token: string, before?: (s: ClientSocket) => void, fresh = true, tab?: string): Promise<Member> {
  const socket = connect(url, token);
  before?.(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  const ack = await emitAck<RoomState>(socket, 'room:join', { room: roomId, fresh, ...(tab ? { tab } : {}) });
  if (!ack.ok) throw new Error(`join refused: ${ack.code} ${ack.message}`);
  const doc = new Y.Doc();
  const awareness = new Awareness(doc);
  const refusals: Refusal[] = [];
  const provider = new RoomDocProvider(socket, roomId, doc, awareness, { onRefusal: (r) => refusals.push(r) });
  provider.start(ack.sync, ack.state);
  await provider.whenSynced();
  return {
    socket,
    state: ack,
    doc,
    awareness,
    provider,
    refusals,
    close() {
      provider.destroy();
      socket.disconnect();
    },
  };
}

export function stroke(versionId: string, frame: number, authorId = 'tester'): Annotation {
  return {
    id: crypto.randomUUID(),
    kind: 'pen',
    versionId,
    frame,
    frameEnd: frame,
    packedPoints: packPoints([
      [0.1, 0.1, 0.5],
      [0.2, 0.25, 0.6],
      [0.3, 0.2, 0.7],
    ]),
    color: '#ff4d4d',
    size: 0.005,
    author: { id: authorId, name: 'Tester' },
    createdAt: new Date().toISOString(),
  };
}

/** Draws as the member: the server refuses annotations authored by anyone else. */
export function draw(member: Member, a: Annotation): void {
  const mine = { ...a, author: { id: member.state.member.id, name: member.state.member.name } };
  member.doc.transact(() => annotationsMap(member.doc).set(a.id, mine));
}

/** The member id an invite token carries (its JWT subject). */
export function memberIdOf(token: string): string {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sub;
}

/** Waits until `check` returns (or resolves to) a truthy value, polling. */
export async function until<T>(check: () => T | undefined | null | false | Promise<T | undefined | null | false>, what: string, timeoutMs = 10_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A TCP port free right now on 127.0.0.1 (for servers started in other processes). */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Things to undo after each test of the file that calls this, last first. */
export function autoCleanup(): (() => unknown)[] {
  const list: (() => unknown)[] = [];
  afterEach(async () => {
    for (const fn of list.splice(0).reverse()) await fn();
  });
  return list;
}

/** A real server with a demo room and members joined in the given roles, all closed after the test. */
export async function roomWith(cleanup: (() => unknown)[], ...roles: string[]) {
  const server = await testServer();
  cleanup.push(() => server.close());
  const { room, token } = await demoRoom(server);
  const members: Member[] = [];
  for (const role of roles) {
    const m = await joinRoom(server.url, room.id, token(role));
    cleanup.push(() => m.close());
    members.push(m);
  }
  return { server, room, token, members };
}

const BIN = path.resolve(import.meta.dirname, '../bin/loupe.mjs');

/**
 * `loupe serve` in a child process on the data folder (a crash there is seen, not suffered), once it
 * answers /healthz; `output` collects what it prints.
 */
export async function spawnServer(data: string, port: number, env: Record<string, string> = {}, output?: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, '--data', data, 'serve', '--port', String(port), '--no-demo'], {
    env: { ...process.env, LOG_LEVEL: 'warn', HOST: '127.0.0.1', ...env },
    stdio: output ? ['ignore', 'pipe', 'pipe'] : 'ignore',
  });
  for (const s of output ? [child.stdout!, child.stderr!] : []) s.on('data', (d: Buffer) => output!.push(d.toString()));
  for (let i = 0; i < 300; i++) {
    if ((await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server did not start');
}

/** A room created in a fresh data folder, for a server started on it in another process (spawnServer). */
export async function storedRoom(name: string) {
  const data = tmpDataDir();
  const services = await openServices(loadConfig({ DATA_DIR: data }), createLogger('silent'), () => {});
  const { room, invites } = await services.roomService.create(name, { demo: false });
  await services.db.destroy();
  const token = (role: string) => invites.find((i) => i.role === role)!.token;
  return { data, room, token };
}

/** The room as the server holds it: its document in memory, encoded, and its stored rows. */
export async function roomSnapshot(server: RunningServer, roomId: string) {
  const doc = server.docs.get(roomId)?.doc;
  const rows = await server.services.db.selectFrom('doc_updates').select(['id', 'data']).where('room_id', '=', roomId).orderBy('id').execute();
  return {
    memory: doc ? Buffer.from(Y.encodeStateAsUpdate(doc)).toString('base64') : null,
    stored: rows.map((r) => `${r.id}:${Buffer.from(r.data).toString('base64')}`),
  };
}

/** An update made on a copy of the server's document (as any client could make it), optionally under a chosen Yjs client id. */
export function changeOf(server: RunningServer, roomId: string, change: (d: Y.Doc) => void, clientID?: number): Uint8Array {
  const scratch = new Y.Doc();
  Y.applyUpdate(scratch, Y.encodeStateAsUpdate(server.docs.get(roomId)!.doc));
  // After the state: Yjs gives a document a new client id when a remote update uses its own.
  if (clientID !== undefined) scratch.clientID = clientID;
  const sv = Y.encodeStateVector(scratch);
  change(scratch);
  return Y.encodeStateAsUpdate(scratch, sv);
}

/** Sends one Yjs update over the member's socket, as is, and returns the ack. */
export function sendUpdate(m: Member, update: Uint8Array) {
  const enc = encoding.createEncoder();
  syncProtocol.writeUpdate(enc, update);
  return emitAck(m.socket, 'y:sync', { room: m.state.room.id, data: encoding.toUint8Array(enc) });
}

/** An object nested `depth` levels deep ({ x: { x: ... {} } }). */
export function nested(depth: number): Record<string, unknown> {
  let v: Record<string, unknown> = {};
  for (let i = 0; i < depth; i++) v = { x: v };
  return v;
}


/** A stock y-websocket client (the y-websocket package's provider) on the room, destroyed after the test. */
export function stockClient(url: string, roomId: string, token: string, cleanup: (() => unknown)[]) {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(url.replace('http', 'ws') + '/yjs', roomId, doc, {
    params: { token },
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
  });
  cleanup.push(() => provider.destroy());
  return { doc, provider };
}

/** Moves a member to a new connection (on `url`) with the document it has, as the web client does after a blip or when its node goes. */
export async function rejoin(m: Member, url: string, roomId: string, token: string): Promise<Member> {
  m.provider.destroy();
  m.socket.disconnect();
  const socket = connect(url, token);
  await new Promise<void>((resolve, reject) => (socket.once('connect', () => resolve()), socket.once('connect_error', reject)));
  const ack = await emitAck<RoomState>(socket, 'room:join', { room: roomId });
  if (!ack.ok) throw new Error(`${ack.code} ${ack.message}`);
  const awareness = new Awareness(m.doc);
  const provider = new RoomDocProvider(socket, roomId, m.doc, awareness, { onRefusal: (r) => m.refusals.push(r) });
  provider.start(new Uint8Array(ack.sync));
  await provider.whenSynced();
  return { ...m, socket, state: ack, awareness, provider, close: () => (provider.destroy(), socket.disconnect()) };
}

/** A logger at `info` that keeps every line it writes (parsed), for tests that assert what an operator reads. */
export function capturingLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

/** What a socket hears about fixes: tiles, job states, versions made (attach before joining to hear the replay). */
export function listenFixes(socket: ClientSocket) {
  const heard = { tiles: [] as Tile[], jobs: [] as Job[], versions: [] as Version[] };
  socket.on('fix:tile', (t) => heard.tiles.push(t));
  socket.on('fix:job', (j) => heard.jobs.push(j));
  socket.on('version:created', (v) => heard.versions.push(v));
  return heard;
}

/**
 * A frame fix long enough to cut short: upscale x2 of 1024x768 source pixels (48 tiles, several
 * seconds on a CPU) on frame 12 of the member's first version; resolves with the job's id.
 */
export async function askLongFix(m: Member, roomId: string, idempotencyKey: string): Promise<string> {
  const region = { x: 0, y: 0, width: 1024 / 1920, height: 768 / 1080 };
  const ack = await emitAck<{ job: Job }>(m.socket, 'fix:request', { room: roomId, versionId: m.state.versions[0].id, frame: 12, region, fix: 'upscale-x2', params: {}, idempotencyKey });
  if (!ack.ok) throw new Error(ack.message);
  return ack.job.id;
}

/** The indices of a job's tiles heard, in the order heard (previews left out). */
export const tileIndices = (heard: ReturnType<typeof listenFixes>, jobId: string) => heard.tiles.filter((t) => t.jobId === jobId && !t.preview).map((t) => t.index);

/** What a resumed run's worker logged: how many tiles it loaded from the checkpoint and how many it computed. */
export function resumedCounts(output: string[], jobId: string): { restored: number; computed: number; total: number } {
  const m = new RegExp(`job ${jobId} resumed: (\\d+) of (\\d+) tiles from its checkpoint, (\\d+) to compute`).exec(output.join(''));
  if (!m) throw new Error(`no resumed run of ${jobId} in the log`);
  return { restored: Number(m[1]), total: Number(m[2]), computed: Number(m[3]) };
}

/** The pixels of a fix's version: a still in the blob folder of `dataDir`. */
export function stillPixels(dataDir: string, v: Version) {
  if (v.media.type !== 'still') throw new Error(`version ${v.id} is not a still`);
  return sharp(path.join(dataDir, 'blobs', v.media.blob.slice(0, 2), v.media.blob)).raw().toBuffer({ resolveWithObject: true });
}

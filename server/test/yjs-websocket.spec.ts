import net from 'node:net';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import WebSocket from 'ws';
import * as encoding from 'lib0/encoding';
import * as syncProtocol from 'y-protocols/sync';
import { Awareness, encodeAwarenessUpdate } from 'y-protocols/awareness';
import { CloseCode, Limits, annotationsMap } from '@loupe/shared';
import { autoCleanup, demoRoom, draw, freePort, joinRoom, memberIdOf, sleep, spawnServer, storedRoom, stockClient, stroke, testServer, until, roomWith } from './helpers.js';

const cleanup = autoCleanup();


describe('the standard y-websocket endpoint', () => {
  it('lets a stock Yjs client read and draw the room\'s annotations with the same role rules', async () => {
    const { server, room, token, members: [member] } = await roomWith(cleanup, 'artist');
    const versionId = member.state.versions[0].id;
    const fromRoom = stroke(versionId, 1);
    draw(member, fromRoom);
    await member.provider.whenAcked();

    const plugin = stockClient(server.url, room.id, token('editor'), cleanup);
    await until(() => annotationsMap(plugin.doc).get(fromRoom.id), 'room stroke in the stock client');
    const fromPlugin = stroke(versionId, 2, memberIdOf(token('editor')));
    plugin.doc.transact(() => annotationsMap(plugin.doc).set(fromPlugin.id, fromPlugin));
    await until(() => annotationsMap(member.doc).get(fromPlugin.id), 'plugin stroke in the room');

    const reader = stockClient(server.url, room.id, token('viewer'), cleanup);
    await until(() => annotationsMap(reader.doc).get(fromPlugin.id), 'viewer reads');
    const forbidden = stroke(versionId, 3, memberIdOf(token('viewer')));
    reader.doc.transact(() => annotationsMap(reader.doc).set(forbidden.id, forbidden));
    await sleep(500);
    expect(annotationsMap(member.doc).has(forbidden.id)).toBe(false);
    expect(annotationsMap(server.docs.get(room.id)!.doc).has(forbidden.id)).toBe(false);
  });

  it('refuses a connection without a valid token for the room', async () => {
    const server = await testServer();
    cleanup.push(() => server.close());
    const { room } = await demoRoom(server);
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(server.url.replace('http', 'ws') + `/yjs/${room.id}?token=bogus`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => {});
    });
    expect(status).toBe(401);
  });
});

/** Opens the endpoint with a token and resolves with the close code the server sends after `send`. */
function closeCodeAfter(url: string, send: (ws: WebSocket) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('error', () => {}); // the server closing on us mid-frame is the point
    ws.once('open', () => send(ws));
    ws.once('close', (code) => resolve(code));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

describe('a bad peer on the y-websocket endpoint', () => {
  it('closes only its own connection (with a close code) and the server and its rooms stay up', async () => {
    // The server runs in a child process: a crash there is seen, not suffered by the test runner.
    const { data, room, token } = await storedRoom('Bad frames');
    const port = await freePort();
    const child = await spawnServer(data, port);
    cleanup.push(() => child.kill('SIGKILL'));
    const url = `http://127.0.0.1:${port}`;
    const artist = await joinRoom(url, room.id, token('artist'));
    cleanup.push(() => artist.close());
    const endpoint = `ws://127.0.0.1:${port}/yjs/${room.id}?token=${token('viewer')}`;

    // One binary frame over 1 MB, and the text frame of two bytes that are not UTF-8.
    expect(await closeCodeAfter(endpoint, (ws) => ws.send(new Uint8Array(1_100_000)))).toBe(1009);
    expect(await closeCodeAfter(endpoint, (ws) => ws.send(Buffer.from([0xc3, 0x28]), { binary: false }))).toBe(1007);
    // An upgrade request cut off with a TCP reset while the server checks its token, and one to no endpoint.
    for (const path of [`/yjs/${room.id}?token=${token('viewer')}`, '/nowhere']) {
      const raw = net.connect(port, '127.0.0.1');
      raw.on('error', () => {});
      await new Promise<void>((r) => raw.once('connect', () => r()));
      raw.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${Buffer.alloc(16, 1).toString('base64')}\r\n\r\n`);
      raw.resetAndDestroy();
    }
    await sleep(300);

    expect(child.exitCode).toBe(null);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(artist.socket.connected).toBe(true);
    const reader = await joinRoom(url, room.id, token('director'));
    cleanup.push(() => reader.close());
    const s = stroke('v1', 1);
    draw(artist, s);
    await artist.provider.whenAcked();
    await until(() => annotationsMap(reader.doc).get(s.id), 'a stroke drawn after the bad frames');
  });
});

describe('limits on the y-websocket endpoint', () => {
  it('takes document changes and presence at the Socket.IO rates: a burst waits its turn, no stroke is lost', async () => {
    const { server, room, token, members: [director] } = await roomWith(cleanup, 'director');
    const versionId = director.state.versions[0].id;
    const artistId = memberIdOf(token('artist'));
    const serverMap = () => annotationsMap(server.docs.get(room.id)!.doc);
    // Presence the server takes in (what it then sends to everyone).
    const presences: number[] = [];
    server.docs.get(room.id)!.awareness.on('update', (_c: unknown, origin: { kind?: string } | null) => origin?.kind === 'ws' && presences.push(Date.now()));

    // 1,000 stroke updates and 2,000 presence updates in one burst each, as raw y-websocket frames.
    const doc = new Y.Doc();
    const frames: Uint8Array[] = [];
    doc.on('update', (u: Uint8Array) => {
      const enc = encoding.createEncoder();
      encoding.writeVarUint(enc, 0); // sync
      syncProtocol.writeUpdate(enc, u);
      frames.push(encoding.toUint8Array(enc));
    });
    const strokes = 1000;
    for (let i = 0; i < strokes; i++) annotationsMap(doc).set(`burst-${i}`, { ...stroke(versionId, i % 50, artistId), id: `burst-${i}` });
    const awareness = new Awareness(doc);
    const presenceFrames = Array.from({ length: 2000 }, (_, i) => {
      awareness.setLocalState({ user: { id: artistId, name: 'Artist' }, cursor: { versionId, frame: 1, x: i / 2000, y: 0.5 } });
      const enc = encoding.createEncoder();
      encoding.writeVarUint(enc, 1); // awareness
      encoding.writeVarUint8Array(enc, encodeAwarenessUpdate(awareness, [doc.clientID]));
      return encoding.toUint8Array(enc);
    });
    const ws = new WebSocket(server.url.replace('http', 'ws') + `/yjs/${room.id}?token=${token('artist')}`);
    let closed: number | null = null;
    ws.on('close', (code) => (closed = code));
    await new Promise((r) => ws.once('open', r));
    cleanup.push(() => ws.close());

    for (const f of presenceFrames) ws.send(f);
    await sleep(1500);
    // At most one second's worth a second (the window may roll over once during the burst); the excess is dropped.
    expect(presences.length).toBeLessThanOrEqual(2 * Limits.maxAwarenessPerSecond);
    expect(presences.length).toBeGreaterThan(0);

    const start = Date.now();
    for (const f of frames) ws.send(f);
    await sleep(1000);
    const inFirstSecond = serverMap().size;
    expect(inFirstSecond).toBeLessThanOrEqual(2 * Limits.maxYjsMessagesPerSecond);
    // The rest is taken in turn, none dropped, on the same connection.
    await until(() => serverMap().size === strokes, 'every stroke of the burst stored', 30_000);
    expect(Date.now() - start).toBeGreaterThanOrEqual(((strokes / Limits.maxYjsMessagesPerSecond) - 2) * 1000);
    await until(() => annotationsMap(director.doc).size === strokes, 'and seen by the director');
    expect(closed).toBe(null);
  });
});

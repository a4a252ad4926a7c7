import type { ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import * as syncProtocol from 'y-protocols/sync';
import { io as ioClient } from 'socket.io-client';
import { Awareness } from 'y-protocols/awareness';
import { RoomDocProvider, annotationsMap, type Ack, type RoomState } from '@loupe/shared';
import { autoCleanup, demoRoom, emitAck, joinRoom, stroke, testServer, tmpDataDir, until, type ClientSocket, roomWith, freePort, spawnServer } from './helpers.js';
import { openServices } from '../src/main.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { openDatabase } from '../src/store/database.js';

const cleanup = autoCleanup();

describe('faults', () => {
  it('loses no acknowledged stroke when the server is killed with SIGKILL while members draw (the room compacting live meanwhile)', async () => {
    const data = tmpDataDir();
    const services = await openServices(loadConfig({ DATA_DIR: data }), createLogger('silent'), () => {});
    const { room, invites } = await services.roomService.create('Kill room', { demo: false });
    await services.db.destroy();
    const token = invites.find((i) => i.role === 'artist')!.token;
    const memberId = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sub;
    const port = await freePort();
    // Compacted live as often as it can be (every 40 stored rows), so compactions race the strokes being stored.
    let child = await spawnServer(data, port, { ROOM_COMPACT_S: '0', ROOM_COMPACT_AFTER: '40' });
    cleanup.push(() => child.kill('SIGKILL'));

    const url = `http://127.0.0.1:${port}`;
    const acked: string[] = [];
    const drawers = await Promise.all(
      [0, 1, 2].map(async () => {
        const socket: ClientSocket = ioClient(url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
        await new Promise<void>((r) => socket.once('connect', () => r()));
        const join = await emitAck<RoomState>(socket, 'room:join', { room: room.id });
        expect(join.ok).toBe(true);
        return socket;
      }),
    );
    let stop = false;
    const loops = drawers.map(async (socket) => {
      const doc = new Y.Doc();
      for (let i = 0; !stop; i++) {
        const s = { ...stroke('v', i), author: { id: memberId, name: 'Artist' } };
        let update!: Uint8Array;
        doc.once('update', (u: Uint8Array) => (update = u));
        annotationsMap(doc).set(s.id, s);
        const enc = encoding.createEncoder();
        syncProtocol.writeUpdate(enc, update);
        const ack: Ack | null = await (socket as any).timeout(2000).emitWithAck('y:sync', { room: room.id, data: encoding.toUint8Array(enc) }).catch(() => null);
        if (ack?.ok) acked.push(s.id);
        else if (!socket.connected) return;
      }
    });
    await until(() => acked.length >= 150, '150 acknowledged strokes', 20_000);
    child.kill('SIGKILL');
    stop = true;
    await Promise.all(loops);
    drawers.forEach((s) => s.close());
    // The crash left a snapshot and the rows stored since it, not one row per stroke.
    const db = await openDatabase(data);
    const rows = await db.selectFrom('doc_updates').select('id').where('room_id', '=', room.id).execute();
    await db.destroy();
    expect(rows.length).toBeLessThan(acked.length / 2);

    child = await spawnServer(data, port);
    const reader = await joinRoom(url, room.id, invites.find((i) => i.role === 'viewer')!.token);
    cleanup.push(() => reader.close());
    const map = annotationsMap(reader.doc);
    const missing = acked.filter((id) => !map.has(id));
    expect({ acked: acked.length, missing }).toEqual({ acked: acked.length, missing: [] });
  });

  it('converges: members editing at random through disconnects and a server restart end with the server\'s document', async () => {
    const server0 = await testServer();
    const { room, token } = await demoRoom(server0);
    const dataDir = server0.dataDir;
    let server = server0;
    const port = server0.port;
    const url = `http://127.0.0.1:${port}`;
    const roles = ['director', 'artist', 'editor'];
    const members = roles.map((role) => {
      const doc = new Y.Doc();
      const awareness = new Awareness(doc);
      const socket: ClientSocket = ioClient(url, { auth: { token: token(role) }, transports: ['websocket'], reconnectionDelay: 50, reconnectionDelayMax: 200, forceNew: true });
      const provider = new RoomDocProvider(socket, room.id, doc, awareness);
      socket.on('connect', async () => {
        const ack = await emitAck<RoomState>(socket, 'room:join', { room: room.id }).catch(() => null);
        if (ack?.ok) provider.start(new Uint8Array(ack.sync));
      });
      const memberId = JSON.parse(Buffer.from(token(role).split('.')[1], 'base64url').toString()).sub;
      cleanup.push(() => socket.close());
      return { doc, socket, provider, memberId, role };
    });
    await until(() => members.every((m) => m.provider.synced), 'all synced');
    const versionId = (await server.services.versions.listForRoom(room.id))[0].id;
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 40; i++) {
        const m = members[Math.floor(rand() * members.length)];
        const map = annotationsMap(m.doc);
        const mine = [...map.values()].filter((a) => a.author.id === m.memberId);
        if (mine.length && rand() < 0.3) map.delete(mine[Math.floor(rand() * mine.length)].id);
        else {
          const s = { ...stroke(versionId, Math.floor(rand() * 96)), author: { id: m.memberId, name: m.role } };
          map.set(s.id, s);
        }
        if (rand() < 0.05) m.socket.io.engine.close(); // a network blip: the client reconnects by itself
        await new Promise((r) => setTimeout(r, rand() * 10));
      }
      if (round === 2) {
        await server.close();
        server = await testServer(dataDir, port); // same port: the members reconnect by themselves
      }
    }
    cleanup.push(() => server.close());
    await until(() => members.every((m) => m.socket.connected && m.provider.synced && m.provider.unacknowledged === 0), 'everyone reconnected and acknowledged', 20_000);
    const serverDoc = () => server.docs.get(room.id)!.doc;
    const snapshot = (d: Y.Doc) => JSON.stringify([...annotationsMap(d).keys()].sort());
    await until(() => members.every((m) => snapshot(m.doc) === snapshot(serverDoc())), 'every member equals the server', 20_000).catch(() => {});
    for (const m of members) expect(snapshot(m.doc)).toBe(snapshot(serverDoc()));
    expect(annotationsMap(serverDoc()).size).toBeGreaterThan(10);
  });
});

describe('a flood of strokes', () => {
  it('is slowed down with RATE_LIMITED, and every stroke still lands', async () => {
    const { server, room, token, members: [artist, director] } = await roomWith(cleanup, 'artist', 'director');
    const codes: string[] = [];
    const sock = artist.socket as unknown as { emit: (ev: unknown, p: unknown, ack?: (r: Ack) => void) => unknown };
    const orig = sock.emit.bind(sock);
    sock.emit = (ev, p, ack) => orig(ev, p, (r: Ack) => (r.ok || codes.push(r.code), ack?.(r)));
    const ids = Array.from({ length: 350 }, (_, i) => {
      const s = { ...stroke(artist.state.versions[0].id, i % 96), author: { id: artist.state.member.id, name: 'Artist' } };
      annotationsMap(artist.doc).set(s.id, s); // one transaction (one update) each
      return s.id;
    });
    await until(() => ids.every((id) => annotationsMap(director.doc).has(id)), 'all 350 strokes on the director', 15_000);
    expect(codes).toContain('RATE_LIMITED');
    expect(artist.refusals).toHaveLength(0);
  });
});

describe('seen means stored', () => {
  it('keeps every stroke another member received when the server is killed with SIGKILL mid-stream', async () => {
    const data = tmpDataDir();
    const services = await openServices(loadConfig({ DATA_DIR: data }), createLogger('silent'), () => {});
    const { room, invites } = await services.roomService.create('Seen room', { demo: false });
    await services.db.destroy();
    const tokenOf = (role: string) => invites.find((i) => i.role === role)!.token;
    const artist = tokenOf('artist');
    const memberId = JSON.parse(Buffer.from(artist.split('.')[1], 'base64url').toString()).sub;
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const received = new Set<string>();
    let child: ChildProcess | undefined;
    cleanup.push(() => child?.kill('SIGKILL'));

    // Several rounds: each kills the server while four members stream strokes (not waiting for acks)
    // and a fifth records every stroke it receives.
    for (let round = 0; round < 3; round++) {
      child = await spawnServer(data, port);
      const join = async (token: string) => {
        const socket: ClientSocket = ioClient(url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
        await new Promise<void>((r) => socket.once('connect', () => r()));
        const ack = await emitAck<RoomState>(socket, 'room:join', { room: room.id });
        if (!ack.ok) throw new Error(ack.message);
        return { socket, ack };
      };
      const watcher = await join(tokenOf('viewer'));
      const seen = new Y.Doc();
      const provider = new RoomDocProvider(watcher.socket, room.id, seen, new Awareness(seen));
      annotationsMap(seen).observe((e) => e.keysChanged.forEach((k) => received.add(k)));
      provider.start(new Uint8Array(watcher.ack.sync));
      const drawers = await Promise.all([0, 1, 2, 3].map(() => join(artist)));
      let stop = false;
      const before = received.size;
      const loops = drawers.map(async ({ socket }) => {
        const doc = new Y.Doc();
        for (let i = 0; !stop && socket.connected; i++) {
          const s = { ...stroke('v', i % 96), author: { id: memberId, name: 'Artist' } };
          let update!: Uint8Array;
          doc.once('update', (u: Uint8Array) => (update = u));
          annotationsMap(doc).set(s.id, s);
          const enc = encoding.createEncoder();
          syncProtocol.writeUpdate(enc, update);
          socket.emit('y:sync', { room: room.id, data: encoding.toUint8Array(enc) }, () => {});
          await new Promise((r) => setTimeout(r, 4));
        }
      });
      await until(() => received.size >= before + 150 + round * 37, 'strokes reaching the watcher', 30_000);
      child.kill('SIGKILL');
      stop = true;
      await Promise.all(loops);
      provider.destroy();
      for (const s of [watcher.socket, ...drawers.map((d) => d.socket)]) s.close();
      await new Promise<void>((r) => (child!.exitCode !== null ? r() : child!.once('exit', () => r())));
    }

    child = await spawnServer(data, port);
    const reader = await joinRoom(url, room.id, tokenOf('viewer'));
    cleanup.push(() => reader.close());
    const map = annotationsMap(reader.doc);
    const missing = [...received].filter((id) => !map.has(id));
    expect({ received: received.size, missing }).toEqual({ received: received.size, missing: [] });
  }, 240_000);
});

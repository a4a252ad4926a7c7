import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { Awareness, encodeAwarenessUpdate } from 'y-protocols/awareness';
import { io as ioClient } from 'socket.io-client';
import { RoomDocProvider, annotationsMap, applyUpdates, unpackUpdates, type RoomState } from '@loupe/shared';
import { InviteService } from '../src/auth/invite.service.js';
import { autoCleanup, connect, connectError, demoRoom, draw, emitAck, joinRoom, sleep, stroke, testServer, until, type Member } from './helpers.js';

const cleanup = autoCleanup();

async function setup() {
  const server = await testServer();
  cleanup.push(() => server.close());
  const room = await demoRoom(server);
  const join = async (role: string) => {
    const m = await joinRoom(server.url, room.room.id, room.token(role));
    cleanup.push(() => m.close());
    return m;
  };
  return { server, room, join };
}

/** A room with `n` acknowledged strokes, on a new server started on its data folder: the room is cold. */
async function coldRoomWith(n: number) {
  const { server, room, join } = await setup();
  const a = await join('artist');
  const versionId = a.state.versions[0].id;
  const strokes = Array.from({ length: n }, (_, i) => stroke(versionId, i));
  for (const s of strokes) draw(a, s);
  await a.provider.whenAcked();
  a.close();
  await server.close();
  cleanup.length = 0;
  const again = await testServer(server.dataDir);
  cleanup.push(() => again.close());
  return { room, strokes, versionId, again, dataDir: server.dataDir };
}

describe('joining a room', () => {
  it('gives the member their role, the shot and its source version', async () => {
    const { join } = await setup();
    const a = await join('director');
    expect(a.state.member.role).toBe('director');
    expect(a.state.shots).toHaveLength(1);
    expect(a.state.shots[0]).toMatchObject({ width: 1920, height: 1080, fps: 24, frameCount: 96 });
    expect(a.state.versions).toHaveLength(1);
    expect(a.state.versions[0]).toMatchObject({ kind: 'source', number: 1, status: 'pending' });
  });

  it('refuses a missing, forged, expired or wrong-room token with a clear code', async () => {
    const { server, room } = await setup();
    const missing = connect(server.url, undefined);
    cleanup.push(() => missing.close());
    expect(await connectError(missing)).toMatchObject({ code: 'TOKEN_MISSING' });

    const forged = connect(server.url, await new InviteService('another-secret-entirely').sign({ room: room.room.id, role: 'director', name: 'Mallory' }, 3600));
    cleanup.push(() => forged.close());
    expect(await connectError(forged)).toMatchObject({ code: 'TOKEN_INVALID' });

    const secret = (await server.services.rooms.setting('invite_secret'))!;
    const expired = connect(server.url, await new InviteService(secret).sign({ room: room.room.id, role: 'director', name: 'Late' }, -10));
    cleanup.push(() => expired.close());
    const e = await connectError(expired);
    expect(e.code).toBe('TOKEN_EXPIRED');
    expect(e.message).toMatch(/expired/);

    const other = await server.services.roomService.create('Other room', { demo: false });
    const wrong = connect(server.url, other.invites[0].token);
    cleanup.push(() => wrong.close());
    await new Promise<void>((r) => wrong.once('connect', () => r()));
    const ack = await emitAck(wrong, 'room:join', { room: room.room.id });
    expect(ack).toMatchObject({ ok: false, code: 'WRONG_ROOM' });
  });
});

describe('drawing together', () => {
  it('sends a stroke to the others and not back to the sender', async () => {
    const { join } = await setup();
    const a = await join('director');
    const b = await join('artist');
    const echoes: unknown[] = [];
    a.socket.on('y:sync', (m) => echoes.push(m));
    const s = stroke(a.state.versions[0].id, 12, a.state.member.id);
    draw(a, s);
    const seen = await until(() => annotationsMap(b.doc).get(s.id), 'stroke on B');
    expect(seen).toMatchObject({ frame: 12, packedPoints: s.packedPoints, kind: 'pen' });
    await a.provider.whenAcked();
    await sleep(200);
    expect(echoes).toHaveLength(0);
  });

  it('keeps every acknowledged stroke across a server restart', async () => {
    const { room, strokes, again } = await coldRoomWith(20);
    const b = await joinRoom(again.url, room.room.id, room.token('viewer'));
    cleanup.push(() => b.close());
    const map = annotationsMap(b.doc);
    expect(strokes.every((s) => map.has(s.id))).toBe(true);
  });

  it('sends a cold room\'s whole document with a fresh member\'s join, and the room takes strokes at once', async () => {
    const { room, strokes: before, versionId, again, dataDir } = await coldRoomWith(30);
    expect(again.docs.get(room.room.id)).toBeUndefined(); // cold: not in memory
    // The ack alone holds every stored stroke: no sync round trip needed to see them.
    const socket = connect(again.url, room.token('director'));
    cleanup.push(() => socket.close());
    await new Promise<void>((r) => socket.once('connect', () => r()));
    const ack = await emitAck<RoomState>(socket, 'room:join', { room: room.room.id, fresh: true });
    expect(ack.ok).toBe(true);
    if (!ack.ok) return;
    expect(ack.state?.byteLength).toBeGreaterThan(0);
    const fromAck = new Y.Doc();
    applyUpdates(fromAck, unpackUpdates(new Uint8Array(ack.state!)), null);
    expect(before.every((s) => annotationsMap(fromAck).has(s.id))).toBe(true);

    // Members joining and drawing while the server builds its copy lose nothing.
    const [b, c] = await Promise.all(['artist', 'editor'].map((role) => joinRoom(again.url, room.room.id, room.token(role))));
    const during = stroke(versionId, 40);
    draw(b, during);
    await b.provider.whenAcked();
    cleanup.push(() => b.close(), () => c.close());
    await until(() => annotationsMap(c.doc).has(during.id), 'the stroke drawn right after joining reaches the others');
    expect(before.every((s) => annotationsMap(c.doc).has(s.id))).toBe(true);
    // A member whose copy is not empty (a reconnect) gets no `state`, only the sync exchange.
    const returning = await joinRoom(again.url, room.room.id, room.token('viewer'), undefined, false);
    cleanup.push(() => returning.close());
    expect(returning.state.state).toBeUndefined();
    expect(annotationsMap(returning.doc).size).toBe(before.length + 1);
    // Stored: a restart keeps it.
    b.close();
    c.close();
    socket.close();
    await again.close();
    cleanup.length = 0;
    const third = await testServer(dataDir);
    cleanup.push(() => third.close());
    const d = await joinRoom(third.url, room.room.id, room.token('viewer'));
    cleanup.push(() => d.close());
    expect(annotationsMap(d.doc).has(during.id)).toBe(true);
    expect(annotationsMap(d.doc).size).toBe(before.length + 1);
  });

  it('loads a cold room for a fresh member on HTTP long-polling too', async () => {
    const { room, strokes, versionId, again } = await coldRoomWith(10);
    const socket = ioClient(again.url, { auth: { token: room.token('editor') }, transports: ['polling'], reconnection: false, forceNew: true });
    cleanup.push(() => socket.close());
    await new Promise<void>((r) => socket.once('connect', () => r()));
    const ack = await emitAck<RoomState>(socket, 'room:join', { room: room.room.id, fresh: true });
    if (!ack.ok) throw new Error(ack.message);
    const doc = new Y.Doc();
    const provider = new RoomDocProvider(socket, room.room.id, doc, new Awareness(doc));
    provider.start(ack.sync, ack.state);
    expect(strokes.every((s) => annotationsMap(doc).has(s.id))).toBe(true);
    await provider.whenSynced();
    const mine = stroke(versionId, 30);
    doc.transact(() => annotationsMap(doc).set(mine.id, { ...mine, author: { id: ack.member.id, name: ack.member.name } }));
    await provider.whenAcked();
    expect(annotationsMap(again.docs.get(room.room.id)!.doc).has(mine.id)).toBe(true);
  });

  it('refuses a viewer\'s drawing on the server, and nobody else sees it', async () => {
    const { server, room, join } = await setup();
    const director = await join('director');
    const viewer = await join('viewer');
    const s = stroke(viewer.state.versions[0].id, 3);
    draw(viewer, s);
    await viewer.provider.whenAcked();
    expect(viewer.refusals.map((r) => r.code)).toContain('FORBIDDEN_ROLE');
    await sleep(200);
    expect(annotationsMap(director.doc).has(s.id)).toBe(false);
    expect(annotationsMap(server.docs.get(room.room.id)!.doc).has(s.id)).toBe(false);
    // A viewer who merely reconnects, holding the room's state, is not refused.
    const again = await join('viewer');
    await again.provider.whenAcked();
    expect(again.refusals).toHaveLength(0);
  });

  it('shares presence through awareness and drops it when a member leaves', async () => {
    const { join } = await setup();
    const a = await join('director');
    const b: Member = await join('artist');
    a.awareness.setLocalState({ user: { id: a.state.member.id, name: 'Dee', role: 'director', color: '#fff' }, cursor: { versionId: 'v', frame: 1, x: 0.5, y: 0.5 }, drawing: null });
    await until(() => b.awareness.getStates().get(a.doc.clientID)?.cursor, 'cursor on B');
    // B may neither move A's cursor nor publish a presence in A's name.
    const errors: string[] = [];
    b.socket.on('room:error', (r) => errors.push(r.code));
    const forged = new Awareness(new Y.Doc({ guid: 'x' }));
    (forged as any).clientID = a.doc.clientID;
    (forged.doc as any).clientID = a.doc.clientID;
    forged.setLocalState({ user: { id: b.state.member.id, name: 'B' }, cursor: { versionId: 'v', frame: 1, x: 0.9, y: 0.9 }, drawing: null });
    b.socket.emit('y:awareness', { room: b.state.room.id, data: new Uint8Array(encodeAwarenessUpdate(forged, [a.doc.clientID])) });
    b.awareness.setLocalState({ user: { id: a.state.member.id, name: 'Dee' }, cursor: null, drawing: null });
    await until(() => errors.length >= 2, 'two refusals');
    expect(errors).toEqual(['FORBIDDEN_ROLE', 'FORBIDDEN_ROLE']);
    await sleep(100);
    expect(a.awareness.getStates().get(a.doc.clientID)?.cursor).toMatchObject({ x: 0.5 });
    a.close();
    await until(() => !b.awareness.getStates().has(a.doc.clientID), 'presence gone on B', 2000);
  });
});

import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CloseCode, annotationsMap, type Refusal } from '@loupe/shared';
import { autoCleanup, connect, connectError, draw, joinRoom, sleep, stroke, testServer, tmpDataDir, until } from './helpers.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const cleanup = autoCleanup();

describe('the loupe CLI', () => {
  it('explains itself', async () => {
    const { stdout } = await run('npx', ['loupe', '--help'], { cwd: ROOT });
    expect(stdout).toMatch(/room/);
    expect(stdout).toMatch(/serve/);
  });

  it('creates a room and prints invite tokens per role as JSON that open the room', async () => {
    const data = tmpDataDir();
    const { stdout } = await run('npx', ['loupe', '--data', data, 'room', 'create', '--name', 'Grade review', '--json'], { cwd: ROOT });
    const out = JSON.parse(stdout);
    expect(out.room).toMatchObject({ name: 'Grade review' });
    expect(out.invites.map((i: { role: string }) => i.role)).toEqual(['director', 'artist', 'editor', 'viewer']);
    for (const i of out.invites) expect(i.url).toContain(`/room/${out.room.id}?token=${i.token}`);

    const server = await testServer(data);
    cleanup.push(() => server.close());
    const member = await joinRoom(server.url, out.room.id, out.invites[0].token);
    cleanup.push(() => member.close());
    expect(member.state.room.name).toBe('Grade review');
    expect(member.state.member.role).toBe('director');
    expect(member.state.shots).toHaveLength(1);
  });
});

describe('revoking an invite', () => {
  it('stops the invite at its next connection, on every way in, and leaves the others working', async () => {
    const data = tmpDataDir();
    const created = JSON.parse((await run('npx', ['loupe', '--data', data, 'room', 'create', '--name', 'Revocation', '--json', '--no-demo'], { cwd: ROOT })).stdout);
    const artist = created.invites.find((i: { role: string }) => i.role === 'artist');
    const server = await testServer(data);
    cleanup.push(() => server.close());
    const before = await joinRoom(server.url, created.room.id, artist.token);
    before.close();

    const listed = (await run('npx', ['loupe', '--data', data, 'invite', 'list', created.room.id], { cwd: ROOT })).stdout;
    expect(listed).toContain(artist.id);
    const { stdout } = await run('npx', ['loupe', '--data', data, 'invite', 'revoke', artist.id], { cwd: ROOT });
    expect(stdout).toContain(`revoked ${artist.id}`);

    const socket = connect(server.url, artist.token);
    cleanup.push(() => socket.close());
    expect(await connectError(socket)).toMatchObject({ code: 'TOKEN_REVOKED' });
    const ws = await fetch(`${server.url}/blobs/${'0'.repeat(64)}?token=${artist.token}`);
    expect(await ws.json()).toMatchObject({ code: 'TOKEN_REVOKED' });
    const director = await joinRoom(server.url, created.room.id, created.invites[0].token);
    cleanup.push(() => director.close());
    expect(director.state.member.role).toBe('director');
  });
});

/** A member's live connections, by Socket.IO and by y-websocket, and how each ended. */
async function liveMember(url: string, roomId: string, token: string) {
  const member = await joinRoom(url, roomId, token);
  cleanup.push(() => member.close());
  const ended: { socket: Refusal | null; disconnected: boolean; ws: { code: number; reason: string } | null } = { socket: null, disconnected: false, ws: null };
  member.socket.on('room:error', (r) => (ended.socket = r));
  member.socket.on('disconnect', () => (ended.disconnected = true));
  const ws = new WebSocket(`${url.replace('http', 'ws')}/yjs/${roomId}?token=${token}`);
  ws.on('close', (code, reason) => (ended.ws = { code, reason: reason.toString() }));
  await new Promise((r) => ws.once('open', r));
  cleanup.push(() => ws.terminate());
  return { member, ended };
}

describe('an invite that ends while its member is in the room', () => {
  it('closes every live connection of a revoked invite within seconds, and of an expired one', async () => {
    const data = tmpDataDir();
    const created = JSON.parse((await run('npx', ['loupe', '--data', data, 'room', 'create', '--name', 'Revoked live', '--json', '--no-demo'], { cwd: ROOT })).stdout);
    const roomId = created.room.id;
    const tokenOf = (role: string) => created.invites.find((i: { role: string }) => i.role === role);
    const server = await testServer(data);
    cleanup.push(() => server.close());
    const artist = await liveMember(server.url, roomId, tokenOf('artist').token);
    const director = await liveMember(server.url, roomId, tokenOf('director').token);

    await run('npx', ['loupe', '--data', data, 'invite', 'revoke', tokenOf('artist').id], { cwd: ROOT });
    const revokedAt = Date.now();
    await until(() => artist.ended.disconnected && artist.ended.ws, "the artist's connections closed", 10_000);
    expect(Date.now() - revokedAt).toBeLessThan(5_000);
    expect(artist.ended.socket).toMatchObject({ ok: false, code: 'TOKEN_REVOKED' });
    expect(artist.ended.ws).toMatchObject({ code: CloseCode.INVITE_ENDED, reason: expect.stringMatching(/^TOKEN_REVOKED/) });
    // What the open tab draws now reaches nobody; the director's connections stay.
    draw(artist.member, stroke('v', 1));
    const s = stroke('v', 2);
    draw(director.member, s);
    await director.member.provider.whenAcked();
    await sleep(300);
    expect([...annotationsMap(server.docs.get(roomId)!.doc).keys()]).toEqual([s.id]);
    expect(director.ended).toEqual({ socket: null, disconnected: false, ws: null });

    // An invite that expires while connected.
    const shortLived = await server.services.invites.sign({ room: roomId, role: 'editor', name: 'Temp' }, 2);
    const editor = await liveMember(server.url, roomId, shortLived);
    await until(() => editor.ended.disconnected && editor.ended.ws, "the expired editor's connections closed", 10_000);
    expect(editor.ended.socket).toMatchObject({ code: 'TOKEN_EXPIRED' });
    expect(editor.ended.ws).toMatchObject({ code: CloseCode.INVITE_ENDED, reason: expect.stringMatching(/^TOKEN_EXPIRED/) });
  });
});

import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { autoCleanup, connect, connectError, joinRoom, testServer, tmpDataDir } from './helpers.js';

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

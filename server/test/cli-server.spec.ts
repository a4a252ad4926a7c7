import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { autoCleanup, testServer, tmpDataDir } from './helpers.js';
import { ffmpeg, indexSource } from './media-helpers.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const LOUPE = 'server/bin/loupe.mjs';
const cleanup = autoCleanup();
// The CLI as a user runs it, without anything in the environment that names a server.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['LOUPE_SERVER', 'PUBLIC_URL', 'PORT', 'DATA_DIR'].includes(k)));
const loupe = (args: string[]) => run('node', [LOUPE, ...args], { cwd: ROOT, env });

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('the CLI finds the server of its data folder', () => {
  it('prints links and uploads to the running server of --data, lists the shots, says what an upload became, and falls back once the server stops', async () => {
    const data = tmpDataDir();
    const created = JSON.parse((await loupe(['--data', data, 'room', 'create', '--name', 'Reel', '--json', '--no-demo'])).stdout);
    const roomId: string = created.room.id;
    const port = await freePort();
    const server = await testServer(data, port);
    let closed = false;
    cleanup.push(() => (closed ? undefined : server.close()));
    const info = JSON.parse(fs.readFileSync(path.join(data, 'server.json'), 'utf8'));
    expect(info).toMatchObject({ url: `http://localhost:${port}`, port, pid: process.pid });

    // An invite link that opens this server: its page answers, and it points at the port the server is on.
    const link = (await loupe(['--data', data, 'invite', 'create', roomId, '--role', 'artist', '--name', 'Sam'])).stdout.trim();
    expect(link).toMatch(new RegExp(`^http://localhost:${port}/room/${roomId}\\?token=`));
    const token = new URL(link).searchParams.get('token')!;
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    // --url wins over the data folder's server.
    expect((await loupe(['--data', data, '--url', 'https://review.example.com', 'invite', 'create', roomId, '--role', 'viewer'])).stdout).toMatch(/^https:\/\/review\.example\.com\/room\//);

    // Uploads without --server go to that server; the CLI says what each upload became and how to choose.
    const clip = path.join(data, 'sh010.mp4');
    await ffmpeg([...indexSource(12), '-vf', 'noise=alls=20:allf=t+u', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-y', clip]);
    const first = await loupe(['--data', data, 'upload', roomId, clip, '--token', token, '--json']);
    const firstResult = JSON.parse(first.stdout).result;
    const shotId: string = firstResult.shotId;
    expect(first.stderr).toContain(`as a new shot`);
    expect(first.stderr).toContain(`Made a new shot sh010 (id ${shotId}) with v001.`);
    expect(first.stderr).toContain(`--shot ${shotId}`);
    const second = await loupe(['--data', data, 'upload', roomId, clip, '--token', token, '--shot', shotId]);
    expect(second.stderr).toContain(`Added v002 of shot sh010 (id ${shotId}).`);
    const third = await loupe(['--data', data, 'upload', roomId, clip, '--token', token, '--new-shot', '--name', 'sh020']);
    expect(third.stderr).toMatch(/Made a new shot sh020 \(id \w+\) with v001\./);
    const both = await loupe(['--data', data, 'upload', roomId, clip, '--token', token, '--new-shot', '--shot', shotId]).catch((e) => e);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/exclude each other/);

    // The director approves v002 of sh010 (through the server); the shot list shows it.
    const versions = await server.services.versions.listForRoom(roomId);
    const v2 = versions.find((v) => v.shotId === shotId && v.number === 2)!;
    await server.services.versions.decide(v2.id, roomId, { decision: 'approved', note: '', by: { id: 'd', name: 'Dana', role: 'director' }, at: new Date().toISOString() });
    const listed = (await loupe(['--data', data, 'shot', 'list', roomId])).stdout.trim().split('\n');
    expect(listed).toHaveLength(2);
    expect(listed[0]).toMatch(new RegExp(`^${shotId}  sh010  2 versions +latest v002 approved$`));
    expect(listed[1]).toMatch(/^\w+  sh020  1 version +latest v001 pending$/);
    const json = JSON.parse((await loupe(['--data', data, 'shot', 'list', roomId, '--json'])).stdout);
    expect(json).toEqual([
      { id: shotId, name: 'sh010', versions: 2, latest: { id: v2.id, number: 2, label: 'v002', status: 'approved' } },
      { id: expect.any(String), name: 'sh020', versions: 1, latest: expect.objectContaining({ number: 1, status: 'pending' }) },
    ]);
    const missing = await loupe(['--data', data, 'shot', 'list', 'nosuchroom']).catch((e) => e);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/ROOM_NOT_FOUND/);

    // Stopped cleanly: the file is gone and links fall back to the default.
    await server.close();
    closed = true;
    expect(fs.existsSync(path.join(data, 'server.json'))).toBe(false);
    expect((await loupe(['--data', data, 'invite', 'create', roomId, '--role', 'viewer'])).stdout).toMatch(/^http:\/\/localhost:3000\/room\//);
    // A file left by a server that died is ignored.
    fs.writeFileSync(path.join(data, 'server.json'), JSON.stringify({ url: `http://localhost:${port}`, port, pid: 2 ** 22 + 12345, startedAt: new Date().toISOString() }));
    expect((await loupe(['--data', data, 'invite', 'create', roomId, '--role', 'viewer'])).stdout).toMatch(/^http:\/\/localhost:3000\/room\//);
  });
});

import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { autoCleanup, tmpDataDir, until } from './helpers.js';
import { ffmpeg, indexSource, makeSequence, mediaServer } from './media-helpers.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
// `npx loupe` once (what people type); the bin script directly after that, which starts faster.
const LOUPE = ['server/bin/loupe.mjs'];
const cleanup = autoCleanup();

/**
 * A TCP relay to `port` that, once `dropAfter` bytes from the client have gone through, either cuts the
 * connection (once; later connections pass) or, with `stall`, silently stops forwarding.
 */
async function flakyProxy(port: number, dropAfter: number, { stall: stallAtFirst = false } = {}) {
  let stall = stallAtFirst;
  let forwarded = 0;
  let drops = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => {
      forwarded += chunk.length;
      if (stall && forwarded > dropAfter) return;
      if (!stall && drops === 0 && forwarded > dropAfter) {
        drops++;
        client.destroy();
        upstream.destroy();
        return;
      }
      upstream.write(chunk);
    });
    upstream.pipe(client);
    const close = () => (client.destroy(), upstream.destroy());
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    get forwarded() {
      return forwarded;
    },
    get drops() {
      return drops;
    },
    /** Cuts the connections open now; later ones pass. */
    heal() {
      stall = false;
      drops = 1;
      sockets.forEach((s) => s.destroy());
    },
    close: () => new Promise<void>((r) => (sockets.forEach((s) => s.destroy()), server.close(() => r()))),
  };
}

describe('loupe upload', () => {
  it('uploads a movie through a connection that drops mid-way, resumes from the server offset, and waits for the version', async () => {
    const dir = tmpDataDir();
    const movie = path.join(dir, 'cli_plate.mov');
    // Big enough to be cut mid-body: ProRes at 320x180.
    await ffmpeg([...indexSource(48), '-vf', 'noise=alls=30:allf=t+u', '-c:v', 'prores_ks', '-profile:v', '3', '-pix_fmt', 'yuv422p10le', '-y', movie]);
    const size = fs.statSync(movie).size;
    expect(size).toBeGreaterThan(500_000);

    const server = await mediaServer();
    cleanup.push(() => server.close());
    const proxy = await flakyProxy(server.port, Math.floor(size * 0.6));
    cleanup.push(() => proxy.close());

    const stateDir = path.join(dir, 'state');
    const { stdout, stderr } = await run(
      'npx',
      ['loupe', 'upload', server.room.id, movie, '--server', proxy.url, '--token', server.token('artist'), '--json'],
      { cwd: ROOT, env: { ...process.env, LOUPE_STATE_DIR: stateDir } },
    );
    const result = JSON.parse(stdout);
    expect(result).toMatchObject({ state: 'done', label: 'cli_plate.mov', result: { versionNumber: 1 } });
    expect(proxy.drops).toBe(1);
    expect(stderr).toMatch(/Connection lost/);
    expect(stderr).toMatch(/Resuming cli_plate\.mov at/);
    expect(stderr).toMatch(/uploading +\[#+\] 100%/);
    expect(stderr).toMatch(/Done: cli_plate\.mov is v001 of shot/);
    // Resumed, not restarted: about one file's worth of bytes went through, not 1.6.
    expect(proxy.forwarded).toBeLessThan(size * 1.3);
    const v = (await server.services.versions.get(result.result.versionId))!;
    if (v.media.type !== 'video') throw new Error('not video');
    const sha = crypto.createHash('sha256').update(fs.readFileSync(movie)).digest('hex');
    expect(v.media.source!.blob).toBe(sha);
    expect(v.media.frameCount).toBe(48);
    // Nothing left to resume.
    expect(fs.readdirSync(stateDir)).toEqual([]);

    // A folder of frames as the next version of the same shot; and a refusal is a clear code and exit status.
    const frames = path.join(dir, 'frames');
    await makeSequence(frames, 'cli_plate_v002.', 'png', 1001, 12);
    const next = await run('node', [...LOUPE, 'upload', server.room.id, frames, '--shot', result.result.shotId, '--server', server.url, '--token', server.token('editor'), '--json'], {
      cwd: ROOT,
      env: { ...process.env, LOUPE_STATE_DIR: stateDir },
    });
    expect(JSON.parse(next.stdout)).toMatchObject({ state: 'done', label: 'cli_plate_v002.[1001-1012].png', result: { shotId: result.result.shotId, versionNumber: 2 } });
    const refused = await run('node', [...LOUPE, 'upload', server.room.id, movie, '--server', server.url, '--token', server.token('viewer')], { cwd: ROOT }).catch((e) => e);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/FORBIDDEN_ROLE/);
  });

  it('picks up an interrupted upload where it stopped when run again with the same files', async () => {
    const dir = tmpDataDir();
    const movie = path.join(dir, 'again.mp4');
    await ffmpeg([...indexSource(24), '-vf', 'noise=alls=30:allf=t+u', '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0', '-pix_fmt', 'yuv444p', '-y', movie]);
    const size = fs.statSync(movie).size;
    expect(size).toBeGreaterThan(500_000);
    const server = await mediaServer();
    cleanup.push(() => server.close());
    const stateDir = path.join(dir, 'state');
    const env = { ...process.env, LOUPE_STATE_DIR: stateDir };

    // The first run's connection goes silent half-way; the command is killed (Ctrl+C, a crash ...).
    const proxy = await flakyProxy(server.port, Math.floor(size / 2), { stall: true });
    cleanup.push(() => proxy.close());
    const first = spawn('node', [...LOUPE, 'upload', server.room.id, movie, '--server', proxy.url, '--token', server.token('artist')], { cwd: ROOT, env, stdio: 'ignore', detached: true });
    const firstExit = new Promise((r) => first.once('exit', r));
    const received = await until(async () => {
      const [rec] = await server.ingests.list(server.room.id);
      if (!rec) return undefined;
      const offset = server.ingests.view(rec).files[0].offset;
      return offset > size / 4 ? offset : undefined;
    }, 'half the file on the server', 30_000);
    process.kill(-first.pid!, 'SIGKILL');
    await firstExit;
    proxy.heal();

    const second = await run('node', [...LOUPE, 'upload', server.room.id, movie, '--server', proxy.url, '--token', server.token('artist'), '--json'], { cwd: ROOT, env });
    expect(second.stderr).toMatch(/Resuming upload/);
    expect(second.stderr).toMatch(new RegExp(`Resuming again\\.mp4 at`));
    expect(received).toBeGreaterThan(0);
    const out = JSON.parse(second.stdout);
    expect(out.state).toBe('done');
    // One upload, one version: the second run continued the first.
    expect(await server.ingests.list(server.room.id)).toHaveLength(1);
    expect((await server.services.versions.listForRoom(server.room.id))).toHaveLength(1);
  });
});

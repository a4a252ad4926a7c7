import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tmpDataDir } from './helpers.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');

describe('npm run bench', () => {
  it('runs the media benchmark (here on a tiny clip), prints its table and writes JSON', async () => {
    const out = tmpDataDir();
    const { stdout } = await run('node', ['server/bin/bench.mjs', 'media', '--seconds', '1', '--size', '320x180', '--grabs', '2', '--out', out], { cwd: ROOT });
    expect(stdout).toMatch(/upload-to-playable\s+[\d.]+\s+s/);
    expect(stdout).toMatch(/bare ffmpeg transcode/);
    expect(stdout).toMatch(/frame grab, cold \(median\)/);
    const [file] = fs.readdirSync(out);
    const json = JSON.parse(fs.readFileSync(path.join(out, file), 'utf8'));
    expect(json).toMatchObject({ bench: 'media', options: { seconds: '1' }, machine: { cpus: expect.any(Number) } });
    const metrics = json.rows.map((r: { metric: string }) => r.metric);
    expect(metrics).toEqual(expect.arrayContaining(['upload-to-playable', 'bare ffmpeg transcode', 'frame grab, cached (median)']));
    for (const r of json.rows) expect(r.value).toBeGreaterThan(0);
  });

  it('runs the fan-out benchmark (tiny: 1 room x 4 clients, 2 drawing at 10 Hz for 1 s) against Loupe and the bare relay', async () => {
    const out = tmpDataDir();
    const { stdout } = await run('node', ['server/bin/bench.mjs', 'fanout', '--rooms', '1', '--clients', '4', '--drawers', '2', '--hz', '10', '--seconds', '1', '--warmup', '0', '--out', out], { cwd: ROOT });
    expect(stdout).toMatch(/p99 delivery latency, Loupe\s+[\d.]+\s+ms/);
    expect(stdout).toMatch(/p99 delivery latency, bare Socket\.IO relay\s+[\d.]+\s+ms/);
    // A custom load is not the default scenario: the goals are printed for reference, not judged.
    expect(stdout).toMatch(/goal: p99 vs bare relay .*judged in the default scenario/);
    expect(stdout).toMatch(/goal: deliveries per second .*judged in the throughput scenario/);
    const files = fs.readdirSync(out);
    expect(files.some((f) => f.endsWith('.svg'))).toBe(true);
    expect(files.some((f) => f.endsWith('.md'))).toBe(true);
    const json = JSON.parse(fs.readFileSync(path.join(out, files.find((f) => f.endsWith('.json'))!), 'utf8'));
    expect(json).toMatchObject({ bench: 'fanout', options: { clients: '4' } });
    const rows = Object.fromEntries(json.rows.map((r: { metric: string; value: number }) => [r.metric, r.value]));
    expect(rows['delivered ratio, Loupe']).toBe(1);
    expect(rows['delivered ratio, bare Socket.IO relay']).toBe(1);
    expect(rows['strokes sent']).toBeGreaterThan(0);
    expect(rows['p99 delivery latency, Loupe']).toBeGreaterThan(0);
  }, 60_000);

  it('runs the fan-out benchmark on the y-websocket path (tiny: 4 stock WebsocketProviders, 2 drawing) against a bare y-protocols relay', async () => {
    const out = tmpDataDir();
    const { stdout } = await run('node', ['server/bin/bench.mjs', 'fanout', '--scenario', 'dcc', '--clients', '4', '--drawers', '2', '--hz', '10', '--seconds', '1', '--warmup', '0', '--out', out], { cwd: ROOT });
    expect(stdout).toMatch(/p99 delivery latency, Loupe\s+[\d.]+\s+ms/);
    expect(stdout).toMatch(/p99 delivery latency, bare y-protocols relay\s+[\d.]+\s+ms/);
    const json = JSON.parse(fs.readFileSync(path.join(out, fs.readdirSync(out).find((f) => f.endsWith('.json'))!), 'utf8'));
    const rows = Object.fromEntries(json.rows.map((r: { metric: string; value: number }) => [r.metric, r.value]));
    expect(rows['delivered ratio, Loupe']).toBe(1);
    expect(rows['delivered ratio, bare y-protocols relay']).toBe(1);
  }, 60_000);

  it('runs the cold-load benchmark (tiny: 500 strokes) and compares with a bare Y.applyUpdate', async () => {
    const out = tmpDataDir();
    const { stdout } = await run('node', ['server/bin/bench.mjs', 'coldload', '--strokes', '500', '--unload', 'false', '--out', out], { cwd: ROOT });
    expect(stdout).toMatch(/first join to synced \(compacted\)\s+[\d.]+\s+ms/);
    expect(stdout).toMatch(/bare Y\.applyUpdate of the snapshot/);
    const json = JSON.parse(fs.readFileSync(path.join(out, fs.readdirSync(out).find((f) => f.endsWith('.json'))!), 'utf8'));
    expect(json).toMatchObject({ bench: 'coldload', meta: { strokes: 500 } });
    const metrics = json.rows.map((r: { metric: string }) => r.metric);
    expect(metrics).toEqual(expect.arrayContaining(['snapshot size', 'first join to synced (compacted)', 'heap delta, loaded room']));
  }, 60_000);

  it('says which benchmarks exist when asked for one that does not', async () => {
    const e = await run('node', ['server/bin/bench.mjs', 'nope'], { cwd: ROOT }).catch((x) => x);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/there are: .*media/);
  });
});

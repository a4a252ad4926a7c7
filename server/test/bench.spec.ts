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

  it('says which benchmarks exist when asked for one that does not', async () => {
    const e = await run('node', ['server/bin/bench.mjs', 'nope'], { cwd: ROOT }).catch((x) => x);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/there are: .*media/);
  });
});

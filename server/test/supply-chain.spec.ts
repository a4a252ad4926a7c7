import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const MINIMUM: Record<string, [number, number, number]> = {
  ws: [8, 17, 1],
  'socket.io-parser': [4, 2, 3],
  'engine.io': [6, 5, 5],
};

function collect(tree: any, out: Map<string, Set<string>>) {
  for (const [name, dep] of Object.entries<any>(tree.dependencies ?? {})) {
    if (name in MINIMUM && dep.version) (out.get(name) ?? out.set(name, new Set()).get(name)!).add(dep.version);
    collect(dep, out);
  }
}

describe('supply chain', () => {
  it('installs no copy of ws, socket.io-parser or engine.io below the versions that fixed their known advisories', async () => {
    const { stdout } = await promisify(execFile)('npm', ['ls', '--all', '--json', ...Object.keys(MINIMUM)], { cwd: ROOT, maxBuffer: 64 << 20 }).catch((e) => e);
    const found = new Map<string, Set<string>>();
    collect(JSON.parse(stdout), found);
    expect([...found.keys()].sort()).toEqual(Object.keys(MINIMUM).sort());
    for (const [name, versions] of found) {
      for (const v of versions) {
        const parts = v.split('.').map((x) => parseInt(x, 10));
        const min = MINIMUM[name];
        const ok = parts[0] > min[0] || (parts[0] === min[0] && (parts[1] > min[1] || (parts[1] === min[1] && parts[2] >= min[2])));
        expect({ name, v, ok }).toEqual({ name, v, ok: true });
      }
    }
  });
});

/**
 * A small benchmark runner. A benchmark is a file `server/bench/NAME.bench.ts` exporting
 * `bench: Bench` (with `name` = NAME). `npm run bench` runs them all; `npm run bench -- media` runs one; options after
 * the names (`--seconds 10`) reach every benchmark as `ctx.options`. Each prints a table and writes
 * `bench/results/NAME-<time>.json` (or into `--out DIR`), with the machine it ran on.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface BenchRow {
  metric: string;
  value: number;
  unit: string;
  note?: string;
}

export interface BenchContext {
  options: Record<string, string>;
  log: (line: string) => void;
  /** A scratch folder, removed afterwards. */
  tmp: string;
}

export interface Bench {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<{ rows: BenchRow[]; meta?: Record<string, unknown> }>;
}

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '../..');

function parseArgs(argv: string[]) {
  const names: string[] = [];
  const options: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const [k, v] = a.slice(2).split('=', 2);
      if (v !== undefined) options[k] = v;
      else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) options[k] = argv[++i];
      else options[k] = 'true';
    } else names.push(a);
  }
  return { names, options };
}

export function table(rows: BenchRow[]): string {
  const cells = rows.map((r) => [r.metric, formatValue(r.value), r.unit, r.note ?? '']);
  const head = ['metric', 'value', 'unit', 'note'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i === 1 ? x.padStart(widths[i]) : x.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

async function main() {
  const { names, options } = parseArgs(process.argv.slice(2));
  const files = fs
    .readdirSync(here)
    .filter((f) => f.endsWith('.bench.ts'))
    .sort();
  const benches: Bench[] = [];
  // A benchmark's name is its file's: only the ones asked for are loaded.
  for (const f of files.filter((f) => names.length === 0 || names.includes(f.replace('.bench.ts', '')))) {
    const mod = (await import(pathToFileURL(path.join(here, f)).href)) as { bench?: Bench };
    if (mod.bench) benches.push(mod.bench);
  }
  if (benches.length === 0) {
    console.error(`no benchmark named ${names.join(', ')}; there are: ${files.map((f) => f.replace('.bench.ts', '')).join(', ')}`);
    process.exit(2);
  }
  const outDir = path.resolve(options.out ?? path.join(ROOT, 'bench', 'results'));
  fs.mkdirSync(outDir, { recursive: true });
  const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memGB: Math.round(os.totalmem() / 1e9), platform: `${os.platform()} ${os.release()}`, node: process.version };
  let failed = false;
  for (const b of benches) {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `loupe-bench-${b.name}-`));
    console.log(`\n# ${b.name}: ${b.description}\n`);
    const started = new Date();
    try {
      const { rows, meta } = await b.run({ options, tmp, log: (l) => console.log(`  ${l}`) });
      console.log(`\n${table(rows)}\n`);
      const file = path.join(outDir, `${b.name}-${started.toISOString().replace(/[:.]/g, '-')}.json`);
      fs.writeFileSync(file, JSON.stringify({ bench: b.name, description: b.description, startedAt: started.toISOString(), machine, options, rows, meta }, null, 2));
      console.log(`results: ${path.relative(process.cwd(), file)}`);
    } catch (e) {
      failed = true;
      console.error(`${b.name} failed: ${(e as Error).stack ?? e}`);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  process.exit(failed ? 1 : 0);
}

await main();

/**
 * Report helpers for benchmarks: where results go, a markdown report, and a dependency-free SVG bar
 * chart (groups of bars, ours next to the baseline).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchRow } from './runner.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The folder the runner writes JSON to (`--out DIR` or bench/results/). */
export function resultsDir(options: Record<string, string>): string {
  const dir = path.resolve(options.out ?? path.join(here, '..', '..', 'bench', 'results'));
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

export const stamp = () => new Date().toISOString().replace(/[:.]/g, '-');

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '\\|');

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

export interface Comparison {
  metric: string;
  unit: string;
  ours: number;
  baseline: number;
  goal?: string;
  pass?: boolean;
}

/** Markdown: a side-by-side table (ours | baseline | goal | pass) and the runner's rows. */
export function writeMarkdown(file: string, title: string, intro: string[], comparisons: Comparison[], rows: BenchRow[], chart?: string): void {
  const lines = [`# ${title}`, '', ...intro, ''];
  if (comparisons.length) {
    lines.push('| metric | Loupe | baseline | unit | goal | pass |', '|---|---:|---:|---|---|---|');
    for (const c of comparisons) {
      lines.push(`| ${esc(c.metric)} | ${fmt(c.ours)} | ${fmt(c.baseline)} | ${c.unit} | ${esc(c.goal ?? '')} | ${c.pass === undefined ? '' : c.pass ? 'PASS' : 'FAIL'} |`);
    }
    lines.push('');
  }
  if (chart) lines.push(`![chart](${path.basename(chart)})`, '');
  lines.push('| metric | value | unit | note |', '|---|---:|---|---|');
  for (const r of rows) lines.push(`| ${esc(r.metric)} | ${fmt(r.value)} | ${r.unit} | ${esc(r.note ?? '')} |`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
}

/** A grouped bar chart: one group per label, one bar per series; optional horizontal goal line. */
export function barChartSvg(opts: { title: string; unit: string; labels: string[]; series: { name: string; color: string; values: number[] }[]; goal?: { value: number; label: string } }): string {
  const W = 640, H = 360, left = 60, right = 20, top = 40, bottom = 60;
  const all = opts.series.flatMap((s) => s.values).filter(Number.isFinite);
  const max = Math.max(1e-9, ...all, opts.goal?.value ?? 0) * 1.15;
  const y = (v: number) => top + (H - top - bottom) * (1 - v / max);
  const groupW = (W - left - right) / opts.labels.length;
  const barW = (groupW * 0.7) / opts.series.length;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(opts.title)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const v = (max / 5) * i;
    out.push(`<line x1="${left}" x2="${W - right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${fmt(v)}</text>`);
  }
  out.push(`<text x="14" y="${(top + H - bottom) / 2}" transform="rotate(-90 14 ${(top + H - bottom) / 2})" text-anchor="middle">${esc(opts.unit)}</text>`);
  opts.labels.forEach((label, g) => {
    const gx = left + g * groupW + groupW * 0.15;
    opts.series.forEach((s, i) => {
      const v = Number.isFinite(s.values[g]) ? s.values[g] : 0;
      const x = gx + i * barW;
      out.push(`<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(y(0) - y(v)).toFixed(1)}" fill="${s.color}"/>`);
      out.push(`<text x="${(x + barW / 2).toFixed(1)}" y="${(y(v) - 4).toFixed(1)}" text-anchor="middle" font-size="10">${fmt(v)}</text>`);
    });
    out.push(`<text x="${(left + g * groupW + groupW / 2).toFixed(1)}" y="${H - bottom + 18}" text-anchor="middle">${esc(label)}</text>`);
  });
  if (opts.goal) {
    out.push(`<line x1="${left}" x2="${W - right}" y1="${y(opts.goal.value)}" y2="${y(opts.goal.value)}" stroke="#c00" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${W - right}" y="${y(opts.goal.value) - 4}" text-anchor="end" fill="#c00">${esc(opts.goal.label)}</text>`);
  }
  opts.series.forEach((s, i) => {
    const lx = left + i * 160;
    out.push(`<rect x="${lx}" y="${H - 24}" width="12" height="12" fill="${s.color}"/><text x="${lx + 18}" y="${H - 14}">${esc(s.name)}</text>`);
  });
  out.push(`<line x1="${left}" x2="${W - right}" y1="${y(0)}" y2="${y(0)}" stroke="#333"/>`, '</svg>');
  return out.join('\n') + '\n';
}

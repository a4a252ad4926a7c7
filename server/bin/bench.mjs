#!/usr/bin/env node
// `npm run bench [-- NAME ... --option value]`: runs the benchmarks in server/bench/*.bench.ts
// (all, or those named), prints a table per benchmark and writes JSON to bench/results/.
import { register } from 'tsx/esm/api';
register();
await import('../bench/runner.ts');

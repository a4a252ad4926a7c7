// Lint for the whole monorepo (npm test runs it). Typed rules catch what a type check does not:
// a promise nobody awaits (a store write whose failure is lost, a refusal test that cannot fail),
// a promise used as a boolean, an await of something that is not a promise.
import tseslint from 'typescript-eslint';
import svelte from 'eslint-plugin-svelte';
import globals from 'globals';

/** http, the CLI and main sit on top of the server: nothing below imports them. */
const onTop = { group: ['../http/**', '../../http/**', '../cli/**', '../../cli/**', '../main.js', '../../main.js'], message: 'http, the CLI and main sit on top: nothing below imports them.' };

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/build/**',
      '**/.svelte-kit/**',
      'bench/results/**',
      'e2e/artifacts/**',
      'server/scratch/**',
      '**/*.mjs',
      '**/*.cjs',
      'vitest.config.ts',
      'models/src/tfjs-graph/vendor/**',
    ],
  },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: { ...globals.node },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', { ignoreVoid: true }],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/await-thenable': 'error',
      'no-debugger': 'error',
    },
  },
  {
    files: ['apps/web/**/*.svelte', 'apps/web/**/*.svelte.ts'],
    extends: [...svelte.configs['flat/base']],
    languageOptions: {
      parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.svelte'] },
      globals: { ...globals.browser },
    },
    rules: { 'no-debugger': 'error' },
  },
  // Layers (docs/architecture in README): shared is the protocol both sides import and imports
  // neither; the browser never imports the server; the store and the compute core sit at the bottom
  // of the server and reach no layer above them.
  {
    files: ['shared/src/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [
      { group: ['node:*', 'fs', 'path', 'os', 'child_process'], message: 'shared runs in the browser too: no Node built-ins.' },
      { group: ['@loupe/server', '@loupe/server/*', '@loupe/web', '@loupe/web/*', '**/server/**', '**/apps/**'], message: 'shared imports neither the server nor the web app.' },
    ] }] },
  },
  {
    files: ['apps/web/src/**/*.ts', 'apps/web/src/**/*.svelte'],
    ignores: ['**/*.spec.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [
      { group: ['@loupe/server', '@loupe/server/*', '**/server/src/**', 'node:*'], message: 'the web app talks to the server over the protocol in @loupe/shared only.' },
    ] }] },
  },
  {
    files: ['server/src/**/*.ts'],
    ignores: ['server/src/main.ts', 'server/src/cli/**', 'server/src/http/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [onTop] }] },
  },
  {
    files: ['server/src/store/**/*.ts', 'server/src/auth/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [onTop,
      { group: ['../*/**'], message: 'the store and auth are the bottom layer: they import shared, their own folder and ../log or ../config only.' },
    ] }] },
  },
  {
    files: ['server/src/inference/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [onTop,
      { group: ['auth', 'cli', 'cluster', 'collab', 'fixes', 'http', 'jobs', 'playback', 'realtime', 'review', 'rooms', 'shots', 'store'].flatMap((l) => [`../${l}/**`, `../../${l}/**`]), message: 'inference is the compute core (it runs in workers): it reaches no server layer but media decoding.' },
    ] }] },
  },
);

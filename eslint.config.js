// Lint for the whole monorepo (npm test runs it). Typed rules catch what a type check does not:
// a promise nobody awaits (a store write whose failure is lost, a refusal test that cannot fail),
// a promise used as a boolean, an await of something that is not a promise.
import tseslint from 'typescript-eslint';
import svelte from 'eslint-plugin-svelte';
import globals from 'globals';

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
);

import { defineConfig } from 'vitest/config';

// One runner for the whole monorepo: `npm test` runs every project below.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'shared', include: ['shared/src/**/*.spec.ts'] } },
      // Pure code of the room UI (view maths, .cube LUTs, frame counters); components are tested in e2e.
      // apps/web's tsconfig extends the one `svelte-kit sync` writes: use the base one, so this runs before any build.
      { tsconfig: './tsconfig.base.json', test: { name: 'web', include: ['apps/web/src/**/*.spec.ts'] } },
      { test: { name: 'models', include: ['models/src/**/*.spec.ts'], testTimeout: 120_000, hookTimeout: 120_000 } },
      {
        test: {
          name: 'server',
          include: ['server/src/**/*.spec.ts', 'server/test/**/*.spec.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          pool: 'forks',
          // Servers started by tests skip the planners' warm-up (LOUPE_WARM_UP): CPU the suite needs elsewhere.
          env: { LOUPE_WARM_UP: '0' },
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['e2e/**/*.spec.ts'],
          // Browsers decoding video need the CPU: run after every other project, not beside them.
          sequence: { groupOrder: 1 },
          testTimeout: 180_000,
          hookTimeout: 180_000,
          pool: 'forks',
          fileParallelism: false,
          env: { LOUPE_WARM_UP: '0' },
        },
      },
    ],
  },
});

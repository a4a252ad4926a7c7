import type { Migration, MigrationProvider } from 'kysely';
import * as initial from './0001-initial.js';
import * as clientsAndRenders from './0002-clients-and-renders.js';
import * as checkedDocRows from './0003-checked-doc-rows.js';

/**
 * Every migration, in order: a new one is a new file `NNNN-what.ts` added here, never an edit of
 * one that has shipped. Static (no folder scan), so the list is the same under tsx, vitest and a build.
 */
const MIGRATIONS: Record<string, Migration> = {
  '0001-initial': initial,
  '0002-clients-and-renders': clientsAndRenders,
  '0003-checked-doc-rows': checkedDocRows,
};

/** The names of every migration, in the order they run. */
export const migrationNames: readonly string[] = Object.keys(MIGRATIONS).sort();

export const migrations: MigrationProvider = { getMigrations: async () => MIGRATIONS };

import { describe, expect, it } from 'vitest';
import { can, canCancel } from './roles.js';

describe('roles', () => {
  it('lets directors decide, artists fix, editors draw and viewers only watch', () => {
    expect(can('director', 'decide')).toBe(true);
    expect(can('artist', 'decide')).toBe(false);
    expect(can('artist', 'requestFix')).toBe(true);
    expect(can('editor', 'requestFix')).toBe(false);
    expect(can('editor', 'annotate')).toBe(true);
    expect(['annotate', 'requestFix', 'decide'].some((p) => can('viewer', p as 'annotate'))).toBe(false);
  });
});

describe('canCancel', () => {
  const job = (state: string, by = 'ann') => ({ state, requestedBy: { id: by } });
  it('lets whoever asked for a fix, or a director, cancel it while it is queued or running', () => {
    expect(canCancel({ id: 'ann', role: 'artist' }, job('queued'))).toBe(true);
    expect(canCancel({ id: 'ann', role: 'artist' }, job('running'))).toBe(true);
    expect(canCancel({ id: 'dee', role: 'director' }, job('running'))).toBe(true);
  });
  it('refuses another artist, an editor or a viewer, and any finished job', () => {
    expect(canCancel({ id: 'bob', role: 'artist' }, job('queued'))).toBe(false);
    expect(canCancel({ id: 'eve', role: 'editor' }, job('queued'))).toBe(false);
    expect(canCancel({ id: 'vic', role: 'viewer' }, job('running'))).toBe(false);
    for (const state of ['done', 'failed', 'cancelled']) {
      expect(canCancel({ id: 'ann', role: 'artist' }, job(state))).toBe(false);
      expect(canCancel({ id: 'dee', role: 'director' }, job(state))).toBe(false);
    }
  });
});

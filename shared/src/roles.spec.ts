import { describe, expect, it } from 'vitest';
import { can } from './roles.js';

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

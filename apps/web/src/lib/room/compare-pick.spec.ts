import { describe, expect, it } from 'vitest';
import type { Version } from '@loupe/shared';
import { defaultCompareB } from './compare-pick';

let t = 0;
function version(id: string, number: number, kind: 'source' | 'ai', parent: string | null = null, shotId = 's1'): Version {
  return {
    id,
    shotId,
    number,
    label: id,
    kind,
    status: 'pending',
    parentVersionId: parent,
    media:
      kind === 'source'
        ? { type: 'video', blob: 'x', width: 64, height: 36, fps: 24, frameCount: 10 }
        : { type: 'still', blob: 'y', width: 16, height: 16, frame: 3, region: { x: 0, y: 0, width: 0.25, height: 0.25 } },
    createdBy: { id: 'u', name: 'U' },
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, t++)).toISOString(),
    provenance: null,
    decisions: [],
  };
}

function pick(list: Version[], a: string) {
  const byId = (id: string | null) => list.find((v) => v.id === id) ?? null;
  const videoOf = (v: Version | null): Version | null => (v && v.media.type === 'still' ? videoOf(byId(v.parentVersionId)) : v);
  return defaultCompareB(byId(a), list, videoOf)?.id ?? null;
}

describe('the version B a comparison starts with', () => {
  const v1 = version('v1', 1, 'source');
  const v2 = version('v2', 2, 'source');
  const ai3 = version('ai3', 3, 'ai', 'v2');
  const v4 = version('v4', 4, 'source');
  const list = [v1, v2, ai3, v4];

  it('is the previous version for a source version, the next one for v001', () => {
    expect(pick(list, 'v4')).toBe('v2');
    expect(pick(list, 'v2')).toBe('v1');
    expect(pick(list, 'v1')).toBe('v2');
  });

  it('is the source for an AI result', () => {
    expect(pick(list, 'ai3')).toBe('v2');
  });

  it('is the AI result when the shot has one source version, and none only when there is no other version', () => {
    const only = version('only', 1, 'source', null, 's2');
    const fix = version('fix', 2, 'ai', 'only', 's2');
    expect(pick([only, fix], 'only')).toBe('fix');
    expect(pick([only], 'only')).toBe(null);
    // Another shot's version is better than nothing.
    const other = version('other', 1, 'source', null, 's3');
    expect(pick([only, other], 'only')).toBe('other');
  });
});

import { describe, expect, it } from 'vitest';
import { adjacentShot, shotEntryVersion, shotSummaries } from './shots.js';
import type { Shot, Version } from './protocol.js';

const shot = (id: string): Shot => ({ id, name: id, fps: 24, dropFrame: false, width: 64, height: 36, frameCount: 10, startTimecode: '00:00:00:00' });
const version = (shotId: string, number: number, extra: Partial<Version> = {}, thumbnail?: string): Version => ({
  id: `${shotId}-v${number}`,
  shotId,
  number,
  label: `${shotId} v${number}`,
  kind: 'source',
  status: 'pending',
  parentVersionId: null,
  media: { type: 'video', blob: 'b', width: 64, height: 36, fps: 24, frameCount: 10, thumbnail },
  createdBy: { id: 'u', name: 'U' },
  createdAt: '2026-01-01T00:00:00Z',
  provenance: null,
  decisions: [],
  ...extra,
});

describe('the shot list', () => {
  it('counts versions per shot and reports the latest version, its status and the newest poster', () => {
    const still: Version['media'] = { type: 'still', blob: 's', width: 8, height: 8, frame: 1, region: { x: 0, y: 0, width: 8, height: 8 } };
    const versions = [
      version('b', 1, { status: 'approved' }, 'tb1'),
      version('a', 2, { status: 'changes-requested' }, 'ta2'),
      version('a', 1, {}, 'ta1'),
      version('b', 2, { media: still, status: 'pending' }),
    ];
    const list = shotSummaries([shot('a'), shot('b'), shot('c')], versions);
    expect(list.map((s) => [s.shot.id, s.versionCount, s.latest?.number ?? null, s.status, s.thumbnail])).toEqual([
      ['a', 2, 2, 'changes-requested', 'ta2'],
      // The latest is a fix's still: its status shows; the poster stays the last movie's.
      ['b', 2, 2, 'pending', 'tb1'],
      ['c', 0, null, 'pending', null],
    ]);
    // A shot opens on its latest movie, not on a still.
    expect(shotEntryVersion('b', versions)?.number).toBe(1);
    expect(shotEntryVersion('a', versions)?.number).toBe(2);
    expect(shotEntryVersion('c', versions)).toBeNull();
  });

  it('steps to the next and previous shot and stops at the ends', () => {
    const ids = ['a', 'b', 'c'];
    expect(adjacentShot(ids, 'a', 1)).toBe('b');
    expect(adjacentShot(ids, 'b', -1)).toBe('a');
    expect(adjacentShot(ids, 'c', 1)).toBeNull();
    expect(adjacentShot(ids, 'a', -1)).toBeNull();
    expect(adjacentShot(ids, 'zz', 1)).toBeNull();
    expect(adjacentShot(ids, null, 1)).toBeNull();
  });
});

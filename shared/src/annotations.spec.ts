import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { annotationsMap, annotationsOn, denormalisePoint, fitContain, normalisePoint, type Annotation } from './annotations.js';

describe('drawing geometry', () => {
  it('fits the picture inside the viewer like object-fit: contain', () => {
    const near = (r: Record<string, number>, want: Record<string, number>) => {
      for (const k of Object.keys(want)) expect(r[k]).toBeCloseTo(want[k], 6);
    };
    near(fitContain(1920, 1080, 1000, 1000), { left: 0, top: 218.75, width: 1000, height: 562.5 });
    near(fitContain(1920, 1080, 1920, 540), { left: 480, top: 0, width: 960, height: 540 });
  });

  it('puts a point at the same place on the picture whatever the window size', () => {
    const small = fitContain(1920, 1080, 800, 600);
    const big = fitContain(1920, 1080, 2560, 1300);
    const p = normalisePoint(small.left + small.width * 0.25, small.top + small.height * 0.75, small);
    expect(p[0]).toBeCloseTo(0.25);
    expect(p[1]).toBeCloseTo(0.75);
    const [x, y] = denormalisePoint(p, big);
    expect((x - big.left) / big.width).toBeCloseTo(0.25);
    expect((y - big.top) / big.height).toBeCloseTo(0.75);
  });

  it('lists the drawings held on a frame, for its version only', () => {
    const doc = new Y.Doc();
    const base = { kind: 'pen', points: [], color: '#fff', size: 0.01, author: { id: 'a', name: 'A' } } as const;
    const a: Annotation = { ...base, id: '1', versionId: 'v1', frame: 10, frameEnd: 10, createdAt: '2026-01-01T00:00:00Z', points: [] };
    const held: Annotation = { ...base, id: '2', versionId: 'v1', frame: 5, frameEnd: 20, createdAt: '2026-01-01T00:00:01Z', points: [] };
    const other: Annotation = { ...base, id: '3', versionId: 'v2', frame: 10, frameEnd: 10, createdAt: '2026-01-01T00:00:02Z', points: [] };
    doc.transact(() => [a, held, other].forEach((x) => annotationsMap(doc).set(x.id, x)));
    expect(annotationsOn(doc, 'v1', 10).map((x) => x.id)).toEqual(['1', '2']);
    expect(annotationsOn(doc, 'v1', 21).map((x) => x.id)).toEqual([]);
    expect(annotationsOn(doc, 'v1', 5).map((x) => x.id)).toEqual(['2']);
  });
});

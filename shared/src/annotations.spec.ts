import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import {
  annotationPoints,
  annotationsMap,
  annotationRanges,
  annotationsIn,
  annotationsOn,
  decodeAnnotation,
  denormalisePoint,
  encodeAnnotation,
  readAnnotation,
  fitContain,
  normalisePoint,
  packPoints,
  unpackPoints,
  type Annotation,
  type Point,
} from './annotations.js';
import { AnnotationSchema } from './doc-schema.js';

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
    // Packed (as Loupe writes) and plain (as a plugin writes) drawings side by side, found the same way.
    const plain: Annotation = { ...base, id: '4', versionId: 'v1', frame: 8, frameEnd: 12, createdAt: '2026-01-01T00:00:03Z', points: [] };
    const v10: Annotation = { ...base, id: '5', versionId: 'v10', frame: 10, frameEnd: 10, createdAt: '2026-01-01T00:00:04Z', points: [] }; // a version id that starts like v1's
    doc.transact(() => [a, held, other, v10].forEach((x) => annotationsMap(doc).set(x.id, x)));
    doc.transact(() => annotationsMap(doc).raw.set(plain.id, plain));
    expect(annotationsMap(doc).raw.get('1')).toBeInstanceOf(Uint8Array);
    expect(annotationsOn(doc, 'v1', 10).map((x) => x.id)).toEqual(['1', '2', '4']);
    expect(annotationsOn(doc, 'v1', 21).map((x) => x.id)).toEqual([]);
    expect(annotationsOn(doc, 'v1', 5).map((x) => x.id)).toEqual(['2']);
    expect(annotationsOn(doc, 'v10', 10).map((x) => x.id)).toEqual(['5']);
    expect(annotationsIn(doc, 'v1', 11, 30).map((x) => x.id)).toEqual(['2', '4']);
    expect(annotationRanges(doc, 'v1').sort()).toEqual([[10, 10], [5, 20], [8, 12]].sort());
    expect(annotationRanges(doc, 'v1', (x) => x.id !== '4').sort()).toEqual([[10, 10], [5, 20]].sort()); // keep: asked of plain values
  });
});

describe('packed points', () => {
  const pen = (extra: Partial<Annotation>): Annotation => ({
    id: 's1', kind: 'pen', versionId: 'v1', frame: 3, frameEnd: 3, color: '#f00', size: 0.01,
    author: { id: 'a', name: 'A' }, createdAt: '2026-01-01T00:00:00Z', ...extra,
  });

  it('round-trips a stroke through a Y.Doc to well under a pixel of a 4K picture', () => {
    let seed = 11;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    // Inside the picture, on its edges, and outside it (a stroke may leave the picture while drawn).
    const points: Point[] = [[0, 0, 0], [1, 1, 1], [-1, 2, 0.25], [1.25, -0.5, 0.731]];
    for (let i = 0; i < 500; i++) points.push([rnd(), rnd(), Math.round(rnd() * 1000) / 1000]);
    const sender = new Y.Doc();
    const receiver = new Y.Doc();
    sender.on('update', (u: Uint8Array) => Y.applyUpdate(receiver, u));
    annotationsMap(sender).set('s1', pen({ packedPoints: packPoints(points) }));

    const got = annotationPoints(annotationsMap(receiver).get('s1')!);
    expect(got).toHaveLength(points.length);
    const worstPx = Math.max(...got.map((p, i) => Math.max(Math.abs(p[0] - points[i][0]) * 3840, Math.abs(p[1] - points[i][1]) * 2160)));
    expect(worstPx).toBeLessThan(0.1); // 4K UHD: under a tenth of a pixel
    expect(Math.max(...got.map((p, i) => Math.abs(p[2] - points[i][2])))).toBeLessThan(1e-4);
  });

  it('keeps a mouse stroke\'s flat pressure exactly and stores it in 4 bytes a point', () => {
    const mouse: Point[] = Array.from({ length: 40 }, (_, i) => [i / 40, 0.5, 0.5]);
    const packed = packPoints(mouse);
    expect(packed.byteLength).toBe(2 + 40 * 4);
    expect(unpackPoints(packed).every((p) => p[2] === 0.5)).toBe(true);
    // A pen stroke: 6 bytes a point, against ~30 for three float64 in nested arrays.
    expect(packPoints(mouse.map(([x, y], i) => [x, y, i / 40])).byteLength).toBe(2 + 40 * 6);
  });

  it('reads drawings of both formats, and the schema accepts exactly one of them', () => {
    const points: Point[] = [[0.1, 0.2, 0.5], [0.3, 0.4, 0.5]];
    const legacy = pen({ points });
    const packed = pen({ packedPoints: packPoints(points) });
    expect(annotationPoints(legacy)).toEqual(points);
    annotationPoints(packed).forEach((p, i) => p.forEach((v, k) => expect(v).toBeCloseTo(points[i][k], 4)));
    expect(AnnotationSchema.safeParse(legacy).success).toBe(true);
    expect(AnnotationSchema.safeParse(packed).success).toBe(true);
    expect(AnnotationSchema.safeParse(pen({})).success).toBe(false);
    expect(AnnotationSchema.safeParse(pen({ points, packedPoints: packPoints(points) })).success).toBe(false);
    expect(AnnotationSchema.safeParse(pen({ packedPoints: new Uint8Array([9, 0, 1, 2, 3, 4]) })).success).toBe(false); // unknown format
    expect(AnnotationSchema.safeParse(pen({ packedPoints: new Uint8Array([1, 0, 1, 2, 3]) })).success).toBe(false); // torn point
    expect(AnnotationSchema.safeParse(pen({ packedPoints: packPoints(Array.from({ length: 4001 }, () => [0.5, 0.5, 0.5])) })).success).toBe(false);
  });
});

describe('packed annotations', () => {
  const pen = (over: Partial<Annotation>): Annotation => ({
    id: 'a1', kind: 'pen', versionId: 'v-1', frame: 3, frameEnd: 7, packedPoints: packPoints([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]),
    color: '#ff4d4d', size: 0.004, author: { id: 'm-1', name: 'Zoë 監督' }, createdAt: '2026-12-06T10:00:00.000Z', ...over,
  });

  it('round-trips every field exactly, text and extra fields included, and packs legacy points on the way in', () => {
    for (const a of [pen({}), pen({ kind: 'text', text: 'Fix the matte ✂', frame: 0, frameEnd: 0 }), pen({ kind: 'rect', size: 1 / 3, layer: 'comp', meta: { take: 4, tags: ['a'] } } as Partial<Annotation>)]) {
      expect(decodeAnnotation(encodeAnnotation(a))).toEqual(a);
    }
    const legacy = pen({ packedPoints: undefined, points: [[0.25, 0.5, 0.5]] });
    const back = decodeAnnotation(encodeAnnotation(legacy));
    expect(back.points).toBeUndefined();
    expect(annotationPoints(back)[0][0]).toBeCloseTo(0.25, 4);
    // Smaller than the plain object as Yjs stores it: no field names.
    const doc = new Y.Doc();
    annotationsMap(doc).raw.set('plain', pen({}));
    const plainBytes = Y.encodeStateAsUpdate(doc).byteLength;
    const doc2 = new Y.Doc();
    annotationsMap(doc2).set('a1', pen({}));
    expect(Y.encodeStateAsUpdate(doc2).byteLength).toBeLessThan(plainBytes * 0.7);
  });

  it('refuses bytes that are not a packed annotation, and readers skip them', () => {
    const good = encodeAnnotation(pen({}));
    const bad = [new Uint8Array(0), new Uint8Array([1, 2, 3]), Uint8Array.from([9, ...good.subarray(1)]), Uint8Array.from([...good, 0]), good.subarray(0, good.length - 3)];
    for (const b of bad) {
      expect(() => decodeAnnotation(b)).toThrow();
      expect(readAnnotation(b)).toBeUndefined();
    }
    const doc = new Y.Doc();
    annotationsMap(doc).set('a1', pen({}));
    annotationsMap(doc).raw.set('junk', bad[1]);
    expect([...annotationsMap(doc).values()].map((a) => a.id)).toEqual(['a1']);
    expect(annotationsOn(doc, 'v-1', 3).map((a) => a.id)).toEqual(['a1']);
    expect(AnnotationSchema.safeParse(decodeAnnotation(good)).success).toBe(true);
  });

  it('decodes a value once: reading it again gives the same object', () => {
    const doc = new Y.Doc();
    annotationsMap(doc).set('a1', pen({}));
    expect(annotationsMap(doc).get('a1')).toBe(annotationsMap(doc).get('a1'));
  });
});

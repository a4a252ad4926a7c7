import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { annotationsMap, type Annotation } from './annotations.js';
import { DrawingHistory } from './drawing-history.js';

/** Two members whose documents exchange every update, as through the server. */
function pair() {
  const a = new Y.Doc();
  const b = new Y.Doc();
  a.on('update', (u: Uint8Array, origin: unknown) => origin !== 'remote' && Y.applyUpdate(b, u, 'remote'));
  b.on('update', (u: Uint8Array, origin: unknown) => origin !== 'remote' && Y.applyUpdate(a, u, 'remote'));
  return { a, b, ha: new DrawingHistory(a), hb: new DrawingHistory(b) };
}

const stroke = (id: string, author: string): Annotation => ({
  id, kind: 'pen', versionId: 'v', frame: 1, frameEnd: 1, points: [[0.1, 0.1, 0.5]], color: '#f00', size: 0.01,
  author: { id: author, name: author }, createdAt: new Date().toISOString(),
});

describe('per-member undo', () => {
  it('undoes only my own drawings, one gesture at a time, and redoes them', () => {
    const { a, b, ha, hb } = pair();
    ha.edit(() => annotationsMap(a).set('a1', stroke('a1', 'alice')));
    hb.edit(() => annotationsMap(b).set('b1', stroke('b1', 'bob')));
    ha.edit(() => annotationsMap(a).set('a2', stroke('a2', 'alice')));
    expect([...annotationsMap(b).keys()].sort()).toEqual(['a1', 'a2', 'b1']);

    expect(ha.undo()).toBe(true);
    expect([...annotationsMap(b).keys()].sort()).toEqual(['a1', 'b1']);
    expect(ha.undo()).toBe(true);
    expect(ha.undo()).toBe(false); // nothing of Alice's left; Bob's stroke is not hers to undo
    expect([...annotationsMap(a).keys()]).toEqual(['b1']);
    expect(hb.undoDepth).toBe(1);

    expect(ha.redo()).toBe(true);
    expect([...annotationsMap(b).keys()].sort()).toEqual(['a1', 'b1']);
  });

  it('makes erasing my drawing undoable, and a director erasing someone else\'s a separate step undo does not touch', () => {
    const { a, b, ha, hb } = pair();
    hb.edit(() => annotationsMap(b).set('b1', stroke('b1', 'bob')));
    ha.edit(() => annotationsMap(a).set('a1', stroke('a1', 'alice')));
    // Not a director: only her own goes (the server would refuse Bob's).
    expect(ha.remove(['b1'], { id: 'alice', role: 'artist' })).toBe(0);
    expect(ha.remove(['a1', 'b1', 'missing'], { id: 'alice', role: 'director' })).toBe(2);
    expect(annotationsMap(b).size).toBe(0);
    expect(ha.undo()).toBe(true); // brings back Alice's own stroke only
    expect([...annotationsMap(b).keys()]).toEqual(['a1']);
    expect(hb.undoDepth).toBe(1);
  });
});

import { describe, expect, it } from 'vitest';
import type { DecisionRecord, Version } from '@loupe/shared';
import { decisionNews, newVersionNews } from './room-events';

const sam = { id: 'sam', name: 'Sam' };
const dana = { id: 'dana', name: 'Dana', role: 'director' as const };

function aiVersion(decisions: DecisionRecord[] = []): Version {
  return {
    id: 'v5',
    shotId: 's',
    number: 5,
    label: 'Upscale',
    kind: 'ai',
    status: decisions.at(-1)?.decision ?? 'pending',
    parentVersionId: 'v4',
    media: { type: 'still', blob: 'b', width: 10, height: 10, frame: 3, region: { x: 0, y: 0, width: 0.1, height: 0.1 } },
    createdBy: sam,
    createdAt: '2026-01-01T00:00:00Z',
    provenance: { fix: 'upscale-x2', requestedBy: { ...sam, role: 'artist' } } as Version['provenance'],
    decisions,
  };
}
const decided = (decision: DecisionRecord['decision'], note = ''): DecisionRecord => ({ decision, note, by: dana, at: '2026-01-01T00:01:00Z' });

describe('what members hear about versions', () => {
  it('tells the artist who asked that the fix was sent back, with the note, and everyone else the decision', () => {
    const before = aiVersion();
    const after = aiVersion([decided('changes-requested', 'Edges are soft on the left')]);
    expect(decisionNews(before, after, sam)).toEqual({ mine: true, message: 'Your fix request v005 was sent back by Dana: “Edges are soft on the left”' });
    expect(decisionNews(before, after, { id: 'eve' })?.message).toBe('Dana requested changes on v005: “Edges are soft on the left”');
    const approved = aiVersion([decided('approved')]);
    expect(decisionNews(before, approved, { id: 'eve' })?.message).toBe('v005 approved by Dana');
    expect(decisionNews(before, approved, sam)?.message).toBe('Your fix v005 was approved by Dana');
  });

  it('says nothing to the decider, nor when no decision was added', () => {
    const after = aiVersion([decided('approved')]);
    expect(decisionNews(aiVersion(), after, dana)).toBeNull();
    expect(decisionNews(after, after, sam)).toBeNull();
  });

  it('announces new versions to the others, and a finished fix to its requester', () => {
    expect(newVersionNews(aiVersion(), { id: 'eve' })?.message).toBe('New version v005 from Sam · AI Upscale ×2');
    expect(newVersionNews(aiVersion(), sam)?.message).toBe('Your fix is ready: v005 (Upscale ×2)');
    // A version an algorithm made (remove object's clean plate) is not called AI.
    const removed = { ...aiVersion(), provenance: { fix: 'remove-object', aiMade: false, requestedBy: { ...sam, role: 'artist' } } as Version['provenance'] };
    expect(newVersionNews(removed, { id: 'eve' })?.message).toBe('New version v005 from Sam · Algorithm Remove object');
  });
});

import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { drainedOrClosed } from './streams.js';

describe('drainedOrClosed', () => {
  it('waits through many pauses of a slow stream without leaving listeners behind', async () => {
    const got: Buffer[] = [];
    const slow = new Writable({ highWaterMark: 4, write: (chunk: Buffer, _e, cb) => void setTimeout(() => (got.push(chunk), cb()), 1) });
    let pauses = 0;
    for (let i = 0; i < 50; i++) {
      if (!slow.write(Buffer.alloc(8, i))) {
        pauses++;
        await drainedOrClosed(slow);
      }
    }
    expect(pauses).toBe(50);
    expect(slow.listenerCount('close')).toBeLessThanOrEqual(1);
    expect(slow.listenerCount('drain')).toBe(0);
    await new Promise((r) => slow.end(r));
    expect(got).toHaveLength(50);
  });

  it('returns when the stream goes away instead of draining', async () => {
    const stuck = new Writable({ highWaterMark: 1, write: () => {} }); // never calls back
    expect(stuck.write(Buffer.alloc(4))).toBe(false);
    const waiting = drainedOrClosed(stuck);
    stuck.destroy();
    await waiting;
    expect(stuck.destroyed).toBe(true);
    await drainedOrClosed(stuck); // already gone: at once
  });
});

import type { Writable } from 'node:stream';

/**
 * Waits, after a write was refused, until the stream takes more ('drain') or is gone ('close'),
 * removing both listeners either way. (A Promise.race of two events.once left the loser's listeners
 * on the stream at every pause: a long transcode piled them up by the thousand.)
 */
export function drainedOrClosed(stream: Writable): Promise<void> {
  if (stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

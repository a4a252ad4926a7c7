/**
 * realtime/coalesce-writes.ts leans on engine.io internals: these tests fail if an upgrade of
 * socket.io / engine.io / ws changes them, instead of the fan-out silently getting slower again.
 */
import { describe, expect, it } from 'vitest';
import { annotationsMap } from '@loupe/shared';
import { autoCleanup, draw, roomWith, stroke, until } from './helpers.js';

const cleanup = autoCleanup();

type Conn = { writeBuffer: unknown[]; transport: { writable: boolean; socket?: { _socket?: { writev?: unknown; _writev?: unknown } } } };

describe('writes to a member', () => {
  it('hands both packets of a binary event to the WebSocket in one flush, in one write', async () => {
    const { server, members: [a] } = await roomWith(cleanup, 'artist');
    const sock = [...server.io.sockets.sockets.values()][0];
    const conn = sock.conn as unknown as Conn;
    await until(() => conn.transport.writable, 'transport idle');
    // Count the TCP writes the event makes: one writev (or write) with both frames.
    const tcp = conn.transport.socket!._socket as unknown as { _writev: (...a: unknown[]) => void; _write: (...a: unknown[]) => void };
    let writes = 0;
    const writev = tcp._writev.bind(tcp);
    const write = tcp._write.bind(tcp);
    tcp._writev = (...args) => (writes++, writev(...args));
    tcp._write = (...args) => (writes++, write(...args));
    const got = new Promise<Uint8Array>((r) => a.socket.once('y:sync', (p: { data: Uint8Array }) => r(new Uint8Array(p.data))));
    sock.emit('y:sync', { room: 'r', data: new Uint8Array([0, 1, 2, 3]) });
    // Head and bytes left together: nothing waits in engine.io's buffer for the next turn.
    expect(conn.writeBuffer).toHaveLength(0);
    expect(Array.from(await got)).toEqual([0, 1, 2, 3]);
    expect(writes).toBe(1);
  });

  it('still delivers every stroke to every member when many are sent at once', async () => {
    const { members: [a, b, c] } = await roomWith(cleanup, 'artist', 'editor', 'director');
    const strokes = Array.from({ length: 200 }, (_, i) => stroke(a.state.versions[0].id, i % 24));
    for (const s of strokes) draw(a, s);
    await a.provider.whenAcked();
    for (const m of [b, c]) await until(() => strokes.every((s) => annotationsMap(m.doc).has(s.id)), 'every stroke on every member');
  });
});

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as Y from 'yjs';
import WebSocket from 'ws';
import { autoCleanup, demoRoom, emitAck, joinRoom, testServer, roomWith } from './helpers.js';

const cleanup = autoCleanup();
const EVENTS = ['room:join', 'y:sync', 'fix:request', 'version:decide', 'playback:set', 'presenter:set'];

async function fuzzRoom() {
  const { server, room, token, members: [artist] } = await roomWith(cleanup, 'artist');
  const snapshot = async () => ({
    doc: Buffer.from(Y.encodeStateAsUpdate(server.docs.get(room.id)!.doc)).toString('base64'),
    versions: (await server.services.versions.listForRoom(room.id)).length,
    jobs: (await server.fixes.jobsForRoom(room.id)).length,
  });
  return { server, room, token, artist, snapshot };
}

/** Payloads shaped like the real ones, with any field replaced by anything. */
const payload = (roomId: string) =>
  fc.oneof(
    fc.anything(),
    fc.record({ room: fc.oneof(fc.constant(roomId), fc.string()), data: fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.anything()) }),
    fc.record({
      room: fc.constant(roomId),
      versionId: fc.string({ maxLength: 20 }),
      frame: fc.oneof(fc.integer(), fc.double()),
      region: fc.record({ x: fc.double(), y: fc.double(), width: fc.double(), height: fc.double() }),
      fix: fc.oneof(fc.constant('upscale-x2'), fc.string()),
      params: fc.anything(),
      idempotencyKey: fc.string(),
      decision: fc.string(),
      state: fc.anything(),
      presenterId: fc.oneof(fc.string(), fc.constant(null)),
    }),
  );

describe('fuzzing the room', () => {
  it('refuses random and malformed payloads on every event with a code, and the room stays as it was', async () => {
    const { room, artist, snapshot, server } = await fuzzRoom();
    const before = await snapshot();
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...EVENTS), payload(room.id), async (event, p) => {
        const ack = await emitAck(artist.socket, event, p);
        if (!ack.ok) {
          refused++;
          expect(typeof ack.code).toBe('string');
          expect(typeof ack.message).toBe('string');
        }
      }),
      { numRuns: 400 },
    );
    expect(refused).toBeGreaterThan(300);
    expect(await snapshot()).toEqual(before);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('survives random y-protocols frames over Socket.IO and y-websocket without changing the document', async () => {
    const { room, token, artist, snapshot, server } = await fuzzRoom();
    const before = await snapshot();
    const frame = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      // Valid message types with garbage bodies: sync step 1, step 2, update.
      fc.tuple(fc.constantFrom(0, 1, 2), fc.uint8Array({ maxLength: 200 })).map(([t, b]) => Uint8Array.from([t, ...b])),
    );
    await fc.assert(
      fc.asyncProperty(frame, async (data) => {
        const ack = await emitAck(artist.socket, 'y:sync', { room: room.id, data });
        if (!ack.ok) expect(['BAD_YJS_MESSAGE', 'BAD_ANNOTATION', 'RATE_LIMITED']).toContain(ack.code);
        artist.socket.emit('y:awareness', { room: room.id, data });
      }),
      { numRuns: 300 },
    );
    // The same through the stock y-websocket endpoint: a bad frame closes that connection only.
    const url = server.url.replace('http', 'ws') + `/yjs/${room.id}?token=${token('artist')}`;
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 5 }), async (frames) => {
        const ws = new WebSocket(url);
        await new Promise<void>((r, j) => (ws.once('open', () => r()), ws.once('error', j)));
        for (const f of frames) ws.send(Uint8Array.from([0, ...f]));
        await new Promise((r) => setTimeout(r, 5));
        ws.terminate();
      }),
      { numRuns: 40 },
    );
    expect(await snapshot()).toEqual(before);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const again = await joinRoom(server.url, room.id, token('viewer'));
    cleanup.push(() => again.close());
  });
});

import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { annotationsMap } from '@loupe/shared';
import { autoCleanup, connect, demoRoom, draw, emitAck, joinRoom, stroke, testServer, roomWith } from './helpers.js';

const cleanup = autoCleanup();

describe('bad input', () => {
  it('answers every malformed, oversized, unknown or forbidden message with a code, and changes nothing', async () => {
    const { server, room, token, members: [artist, viewer] } = await roomWith(cleanup, 'artist', 'viewer');
    const kept = stroke(artist.state.versions[0].id, 5);
    draw(artist, kept);
    await artist.provider.whenAcked();
    const before = Y.encodeStateAsUpdate(server.docs.get(room.id)!.doc);
    const versionsBefore = (await server.services.versions.listForRoom(room.id)).length;
    const versionId = artist.state.versions[0].id;
    const fix = (over: object) => ({ room: room.id, versionId, frame: 3, region: { x: 0.1, y: 0.1, width: 0.1, height: 0.1 }, fix: 'upscale-x2', params: {}, idempotencyKey: crypto.randomUUID(), ...over });

    const cases: [string, unknown, string][] = [
      ['room:join', 'not an object', 'BAD_REQUEST'],
      ['room:join', { room: 'no-such-room' }, 'WRONG_ROOM'],
      ['y:sync', { room: room.id, data: 'text, not bytes' }, 'BAD_REQUEST'],
      ['y:sync', { room: room.id, data: new Uint8Array([9, 9, 9]) }, 'BAD_YJS_MESSAGE'],
      ['y:sync', { room: room.id, data: new Uint8Array([2, 5, 1, 2, 3]) }, 'BAD_YJS_MESSAGE'],
      ['y:sync', { room: room.id, data: new Uint8Array(600_000) }, 'MESSAGE_TOO_LARGE'],
      ['y:sync', { room: 'another-room', data: new Uint8Array([0, 0]) }, 'NOT_JOINED'],
      ['fix:request', fix({ region: { x: 0.95, y: 0.1, width: 0.2, height: 0.1 } }), 'REGION_OUT_OF_FRAME'],
      ['fix:request', fix({ region: { x: -0.1, y: 0.1, width: 0.2, height: 0.1 } }), 'REGION_OUT_OF_FRAME'],
      ['fix:request', fix({ region: { x: 0.1, y: 0.1, width: 0.001, height: 0.001 } }), 'REGION_TOO_SMALL'],
      ['fix:request', fix({ frame: 10_000 }), 'FRAME_OUT_OF_RANGE'],
      ['fix:request', fix({ versionId: 'nope' }), 'VERSION_NOT_FOUND'],
      ['fix:request', fix({ fix: 'make-it-pop' }), 'BAD_REQUEST'],
      ['fix:request', fix({ params: { strength: 11 } }), 'BAD_REQUEST'],
      ['version:decide', { room: room.id, versionId, decision: 'approved' }, 'FORBIDDEN_ROLE'],
      ['version:decide', { room: room.id, versionId, decision: 'maybe' }, 'BAD_REQUEST'],
      ['room:destroy', { room: room.id }, 'UNKNOWN_EVENT'],
    ];
    for (const [event, payload, code] of cases) {
      const ack = await emitAck(artist.socket, event, payload);
      expect({ event, payload: JSON.stringify(payload)?.slice(0, 80), ack: ack.ok ? 'ok' : ack.code }).toEqual({ event, payload: JSON.stringify(payload)?.slice(0, 80), ack: code });
      if (!ack.ok) expect(ack.message.length).toBeGreaterThan(5);
    }
    const viewerFix = await emitAck(viewer.socket, 'fix:request', fix({}));
    expect(viewerFix).toMatchObject({ ok: false, code: 'FORBIDDEN_ROLE' });

    // A message over Socket.IO's 1 MB limit closes only that socket; the server and the room carry on.
    const big = connect(server.url, token('artist'));
    cleanup.push(() => big.close());
    await new Promise<void>((r) => big.once('connect', () => r()));
    const closed = new Promise((r) => big.once('disconnect', r));
    big.emit('y:sync', { room: room.id, data: new Uint8Array(2_000_000) });
    await closed;

    // Nothing changed, and the room still works.
    expect(Y.encodeStateAsUpdate(server.docs.get(room.id)!.doc)).toEqual(before);
    expect((await server.services.versions.listForRoom(room.id))).toHaveLength(versionsBefore);
    expect(await server.fixes.jobsForRoom(room.id)).toHaveLength(0);
    const next = stroke(versionId, 6);
    draw(artist, next);
    await artist.provider.whenAcked();
    expect(annotationsMap(server.docs.get(room.id)!.doc).has(next.id)).toBe(true);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});

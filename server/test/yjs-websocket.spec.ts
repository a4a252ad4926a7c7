import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import WebSocket from 'ws';
import { annotationsMap } from '@loupe/shared';
import { autoCleanup, demoRoom, draw, joinRoom, memberIdOf, sleep, stroke, testServer, until, roomWith } from './helpers.js';

const cleanup = autoCleanup();

function stockClient(url: string, roomId: string, token: string) {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(url.replace('http', 'ws') + '/yjs', roomId, doc, {
    params: { token },
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
  });
  cleanup.push(() => provider.destroy());
  return { doc, provider };
}

describe('the standard y-websocket endpoint', () => {
  it('lets a stock Yjs client read and draw the room\'s annotations with the same role rules', async () => {
    const { server, room, token, members: [member] } = await roomWith(cleanup, 'artist');
    const versionId = member.state.versions[0].id;
    const fromRoom = stroke(versionId, 1);
    draw(member, fromRoom);
    await member.provider.whenAcked();

    const plugin = stockClient(server.url, room.id, token('editor'));
    await until(() => annotationsMap(plugin.doc).get(fromRoom.id), 'room stroke in the stock client');
    const fromPlugin = stroke(versionId, 2, memberIdOf(token('editor')));
    plugin.doc.transact(() => annotationsMap(plugin.doc).set(fromPlugin.id, fromPlugin));
    await until(() => annotationsMap(member.doc).get(fromPlugin.id), 'plugin stroke in the room');

    const reader = stockClient(server.url, room.id, token('viewer'));
    await until(() => annotationsMap(reader.doc).get(fromPlugin.id), 'viewer reads');
    const forbidden = stroke(versionId, 3, memberIdOf(token('viewer')));
    reader.doc.transact(() => annotationsMap(reader.doc).set(forbidden.id, forbidden));
    await sleep(500);
    expect(annotationsMap(member.doc).has(forbidden.id)).toBe(false);
    expect(annotationsMap(server.docs.get(room.id)!.doc).has(forbidden.id)).toBe(false);
  });

  it('refuses a connection without a valid token for the room', async () => {
    const server = await testServer();
    cleanup.push(() => server.close());
    const { room } = await demoRoom(server);
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(server.url.replace('http', 'ws') + `/yjs/${room.id}?token=bogus`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => {});
    });
    expect(status).toBe(401);
  });
});

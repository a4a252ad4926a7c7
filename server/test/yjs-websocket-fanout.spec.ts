import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import WebSocket from 'ws';
import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';
import * as syncProtocol from 'y-protocols/sync';
import { annotationsMap } from '@loupe/shared';
import { autoCleanup, demoRoom, freePort, memberIdOf, sleep, spawnServer, storedRoom, stroke, testServer, until } from './helpers.js';
import { openServices } from '../src/main.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';

const cleanup = autoCleanup();

/**
 * A raw y-websocket peer: sends stroke updates as y-protocols frames and records, per message it
 * receives, the annotation keys that message's update adds (so that one message is one entry).
 */
async function rawPeer(url: string, roomId: string, token: string) {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/yjs/${roomId}?token=${token}`);
  ws.binaryType = 'arraybuffer';
  ws.on('error', () => {}); // the server killed under it is the point of one test
  const messages: string[][] = [];
  const listeners: ((keys: string[]) => void)[] = [];
  // What the peer received, kept whole (an update builds on the same tool's earlier ones).
  const received = new Y.Doc();
  let changed: string[] = [];
  annotationsMap(received).observe((e) => changed.push(...e.keysChanged));
  ws.on('message', (raw: ArrayBuffer) => {
    const decoder = decoding.createDecoder(new Uint8Array(raw));
    if (decoding.readVarUint(decoder) !== 0 || decoding.readVarUint(decoder) !== syncProtocol.messageYjsUpdate) return;
    changed = [];
    Y.applyUpdate(received, decoding.readVarUint8Array(decoder));
    const keys = changed;
    messages.push(keys);
    for (const fn of listeners) fn(keys);
  });
  await new Promise<void>((resolve, reject) => (ws.once('open', () => resolve()), ws.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)))));
  cleanup.push(() => ws.terminate());
  const doc = new Y.Doc();
  const memberId = memberIdOf(token);
  return {
    ws,
    messages,
    onKeys: (fn: (keys: string[]) => void) => listeners.push(fn),
    /** The frame of one new stroke by this peer (not sent yet), and its key. */
    strokeFrame(frame: number): { id: string; bytes: Uint8Array } {
      const s = stroke('v1', frame, memberId);
      let update!: Uint8Array;
      doc.once('update', (u: Uint8Array) => (update = u));
      annotationsMap(doc).set(s.id, s);
      const enc = encoding.createEncoder();
      encoding.writeVarUint(enc, 0); // sync
      syncProtocol.writeUpdate(enc, update);
      return { id: s.id, bytes: encoding.toUint8Array(enc) };
    },
  };
}

describe('the y-websocket fan-out', () => {
  it('stores the updates of one tick from two tools together and sends them to a third as one message, none back to its sender', async () => {
    const server = await testServer();
    cleanup.push(() => server.close());
    const { room, token } = await demoRoom(server);
    const nuke = await rawPeer(server.url, room.id, token('artist'));
    const blender = await rawPeer(server.url, room.id, token('editor'));
    const watcher = await rawPeer(server.url, room.id, token('viewer'));
    // The room's stored rows (one per update; a batch's rows are written by one INSERT).
    const stored = () => server.services.db.selectFrom('doc_updates').select(['id']).where('room_id', '=', room.id).execute();
    const rowsBefore = (await stored()).length;

    // Written in the same tick of this process: the server (in this process) reads both in one turn.
    const a = nuke.strokeFrame(1);
    const b = blender.strokeFrame(2);
    nuke.ws.send(a.bytes);
    blender.ws.send(b.bytes);
    await until(() => watcher.messages.flat().includes(b.id) && watcher.messages.flat().includes(a.id), 'both strokes at the watcher');
    await sleep(200); // anything more the server would send

    // One message with both: they were stored in one batch and applied in one turn (the registry
    // applies a batch only once its single write is done), merged and framed once for the watcher.
    expect(watcher.messages).toEqual([expect.arrayContaining([a.id, b.id])]);
    expect(watcher.messages[0]).toHaveLength(2);
    // Each writer gets the other's stroke, not its own back.
    expect(nuke.messages).toEqual([[b.id]]);
    expect(blender.messages).toEqual([[a.id]]);
    expect((await stored()).length).toBe(rowsBefore + 2);
    expect([...annotationsMap(server.docs.get(room.id)!.doc).keys()]).toEqual(expect.arrayContaining([a.id, b.id]));
  });

  it('has stored every stroke a tool saw when the server is killed with SIGKILL right after it saw it', async () => {
    const { data, room, token } = await storedRoom('DCC crash');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const seen = new Set<string>();

    // Rounds: two tools stream strokes (in the same ticks, not waiting for anything) and a third is
    // killed off the moment it has seen a given number of them: the server goes in the same turn.
    for (let round = 0; round < 3; round++) {
      const child = await spawnServer(data, port);
      cleanup.push(() => child.kill('SIGKILL'));
      const writers = [await rawPeer(url, room.id, token('artist')), await rawPeer(url, room.id, token('editor'))];
      const watcher = await rawPeer(url, room.id, token('viewer'));
      const killAt = seen.size + 20 + round * 13;
      watcher.onKeys((keys) => {
        if (child.killed) return; // what arrives after the kill was sent before it: not needed
        for (const k of keys) seen.add(k);
        if (seen.size >= killAt) child.kill('SIGKILL');
      });
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      for (let i = 0; !child.killed && i < 2000; i++) {
        for (const w of writers) if (w.ws.readyState === WebSocket.OPEN) w.ws.send(w.strokeFrame(i % 96).bytes);
        await sleep(3);
      }
      await exited;
      expect(seen.size).toBeGreaterThanOrEqual(killAt);
    }

    const after = await openServices(loadConfig({ DATA_DIR: data }), createLogger('silent'), () => {});
    cleanup.push(() => after.db.destroy());
    const rows = await after.db.selectFrom('doc_updates').select(['data']).where('room_id', '=', room.id).execute();
    const doc = new Y.Doc();
    for (const r of rows) Y.applyUpdate(doc, r.data);
    const map = annotationsMap(doc);
    const missing = [...seen].filter((id) => !map.has(id));
    expect({ seen: seen.size, missing }).toEqual({ seen: seen.size, missing: [] });
  }, 240_000);
});

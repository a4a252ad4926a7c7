import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as Y from 'yjs';
import WebSocket from 'ws';
import { annotationsMap, isReadableValue, notesMap, readAnnotation, type Annotation, type Note } from '@loupe/shared';
import {
  autoCleanup, changeOf, draw, emitAck, joinRoom, memberIdOf, nested, rejoin, roomSnapshot, roomWith, sendUpdate, stockClient,
  stroke, until, type Member,
} from './helpers.js';

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

/** What a fuzzing step does: a member's raw change (any value, any key, deletes, another's client id), a raw frame, or an honest edit or a network blip. */
type Step =
  | { kind: 'set'; role: number; map: 'annotations' | 'notes'; existing: boolean; pick: number; author: 'self' | 'other'; mutation: Mutation; squat: boolean }
  | { kind: 'delete'; role: number; pick: number; all: boolean }
  | { kind: 'frame'; role: number; data: Uint8Array; via: 'socket' | 'ws' | 'awareness' }
  | { kind: 'honest'; who: number; action: 'stroke' | 'note' | 'erase' }
  | { kind: 'blip'; who: number };
type Mutation =
  | { what: 'none' | 'resolve' | 'reopen' | 'text' }
  | { what: 'extra'; value: unknown }
  | { what: 'field'; field: string; value: unknown };

const ROLES = ['director', 'artist', 'editor', 'viewer'] as const;
const huge = fc.oneof(
  fc.integer({ min: 1, max: 40 }).map(nested), // deep
  fc.integer({ min: 1_000, max: 30_000 }).map((n) => new Array(n).fill(0)), // wide
  fc.integer({ min: 10_000, max: 200_000 }).map((n) => 'x'.repeat(n)), // huge
  fc.anything({ maxDepth: 3 }),
);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ what: fc.constantFrom('none' as const, 'resolve' as const, 'reopen' as const, 'text' as const) }),
  fc.record({ what: fc.constant('extra' as const), value: huge }),
  fc.record({ what: fc.constant('field' as const), field: fc.constantFrom('id', 'kind', 'frame', 'frameEnd', 'points', 'color', 'size', 'text', 'author', 'status', 'resolvedBy', 'annotationIds', 'parentId'), value: fc.oneof(fc.anything({ maxDepth: 2 }), huge) }),
);
const role = fc.integer({ min: 0, max: ROLES.length - 1 });
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('set' as const), role, map: fc.constantFrom('annotations' as const, 'notes' as const), existing: fc.boolean(), pick: fc.nat(), author: fc.constantFrom('self' as const, 'other' as const), mutation, squat: fc.integer({ min: 0, max: 4 }).map((n) => n === 0) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), role, pick: fc.nat(), all: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('frame' as const), role, data: fc.oneof(fc.uint8Array({ maxLength: 120 }), fc.tuple(fc.constantFrom(0, 1, 2), fc.uint8Array({ maxLength: 120 })).map(([t, b]) => Uint8Array.from([t, ...b]))), via: fc.constantFrom('socket' as const, 'ws' as const, 'awareness' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('honest' as const), who: fc.integer({ min: 0, max: 2 }), action: fc.constantFrom('stroke' as const, 'note' as const, 'erase' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('blip' as const), who: fc.integer({ min: 0, max: 2 }) }) },
);

describe('fuzzing the room document from every role', () => {
  it('refuses what breaks the rules with the state byte-identical; the server stays up and every client converges', async () => {
    const { server, room, token, members } = await roomWith(cleanup, 'director', 'artist', 'editor', 'viewer');
    const roomId = room.id;
    const versionId = members[0].state.versions[0].id;
    const ids = ROLES.map((r) => memberIdOf(token(r)));
    // Honest members (director, artist, editor) draw and write their own; each role also has a raw socket that sends anything.
    let honest: Member[] = members.slice(0, 3);
    const raw = await Promise.all(ROLES.map(async (r) => {
      const m = await joinRoom(server.url, roomId, token(r));
      cleanup.push(() => m.close());
      m.provider.destroy(); // raw: what it sends is built by hand, its own copy is not used
      return m;
    }));
    const plugin = stockClient(server.url, roomId, token('editor'), cleanup);
    const wsUrl = (r: number) => `${server.url.replace('http', 'ws')}/yjs/${roomId}?token=${token(ROLES[r])}`;
    const sockets = new Map<number, WebSocket>();
    const serverDoc = () => server.docs.get(roomId)!.doc;
    const tally = { refused: 0, accepted: 0, frames: 0, honest: 0, blips: 0 };

    const valueFor = (s: Extract<Step, { kind: 'set' }>): { key: string; value: Record<string, unknown> } => {
      const map = s.map === 'annotations' ? annotationsMap(serverDoc()) : notesMap(serverDoc());
      const keys = [...map.keys()];
      const me = { id: ids[s.role], name: ROLES[s.role] };
      const other = { id: ids[(s.role + 1 + (s.pick % 3)) % 4], name: 'Someone' };
      const author = s.author === 'self' ? me : other;
      const key = s.existing && keys.length ? keys[s.pick % keys.length] : crypto.randomUUID();
      const base: Record<string, unknown> = s.existing && keys.length
        ? { ...(map.get(key) as object) }
        : s.map === 'annotations'
          ? { ...stroke(versionId, s.pick % 90), id: key, author }
          : { id: key, parentId: null, versionId, frame: 1, frameEnd: 2, text: 'Fuzz', author, createdAt: new Date().toISOString(), status: 'open', resolvedBy: null, annotationIds: [] } satisfies Note;
      if (!s.existing) base.author = author;
      const m = s.mutation;
      if (m.what === 'resolve') Object.assign(base, { status: 'resolved', resolvedBy: { id: s.pick % 2 ? me.id : other.id, name: 'R', at: new Date().toISOString() } });
      else if (m.what === 'reopen') Object.assign(base, { status: 'open', resolvedBy: null });
      else if (m.what === 'text') base.text = `changed ${s.pick}`;
      else if (m.what === 'extra') base.extra = m.value;
      else if (m.what === 'field') base[m.field] = m.value;
      return { key, value: base };
    };

    const run = async (s: Step) => {
      if (s.kind === 'set' || s.kind === 'delete') {
        const m = raw[s.role];
        const before = (await roomSnapshot(server, roomId));
        let update: Uint8Array;
        try {
          if (s.kind === 'set') {
            const { key, value } = valueFor(s);
            const squatId = s.squat ? honest[s.role % 3].doc.clientID : undefined;
            // Drawings go both ways: packed (as Loupe writes; a value that cannot be packed is not sent) and plain (as a plugin writes).
            const packed = s.map === 'annotations' && s.pick % 2 === 1;
            update = changeOf(server, roomId, (d) => (packed ? annotationsMap(d).set(key, value as unknown as Annotation) : d.getMap(s.map).set(key, value)), squatId);
          } else {
            update = changeOf(server, roomId, (d) => {
              for (const map of [annotationsMap(d), notesMap(d)]) {
                const keys = [...map.keys()];
                if (s.all) keys.forEach((k) => map.delete(k));
                else if (keys.length) map.delete(keys[s.pick % keys.length]);
              }
            });
          }
        } catch {
          return; // a value Yjs itself cannot encode never leaves the client
        }
        type Authored = { author?: { id?: string }; resolvedBy?: { id?: string } | null };
        // Packed drawings decoded (once per value: the same object each time it is read).
        const values = () => new Map(['annotations', 'notes'].flatMap((name) => [...serverDoc().getMap<Authored>(name)].map(([k, v]) => [`${name}/${k}`, (readAnnotation(v) ?? v) as Authored] as const)));
        const was = values();
        const ack = await sendUpdate(m, update);
        if (ack.ok) {
          tally.accepted++;
          // What was accepted is what the rules allow (docs/security.md), checked here from the outside.
          const writer = ids[s.role];
          const director = ROLES[s.role] === 'director';
          const now = values();
          for (const [k, v] of now) {
            const before = was.get(k);
            if (before === v) continue;
            const note = k.startsWith('notes/');
            expect({ k, author: v.author?.id }).toEqual({ k, author: director && note && before ? before.author?.id : writer });
            if (v.resolvedBy && v.resolvedBy.id !== before?.resolvedBy?.id) expect(v.resolvedBy.id).toBe(writer);
          }
          for (const [k, v] of was) if (!now.has(k) && !director) expect({ k, deletedAuthor: v.author?.id }).toEqual({ k, deletedAuthor: writer });
          if (s.kind === 'set' && s.squat) expect(ROLES[s.role % 3]).toBe(ROLES[s.role]); // only one's own client id
        } else {
          tally.refused++;
          expect(['BAD_ANNOTATION', 'FORBIDDEN_ROLE', 'BAD_YJS_MESSAGE', 'MESSAGE_TOO_LARGE', 'RATE_LIMITED']).toContain(ack.code);
          expect((await roomSnapshot(server, roomId))).toEqual(before);
        }
      } else if (s.kind === 'frame') {
        tally.frames++;
        const m = raw[s.role];
        if (s.via === 'awareness') m.socket.emit('y:awareness', { room: roomId, data: new Uint8Array(s.data) });
        else if (s.via === 'socket') {
          const before = (await roomSnapshot(server, roomId));
          const ack = await emitAck(m.socket, 'y:sync', { room: roomId, data: s.data });
          if (!ack.ok) expect((await roomSnapshot(server, roomId))).toEqual(before);
        } else {
          let ws = sockets.get(s.role);
          if (!ws || ws.readyState !== WebSocket.OPEN) {
            ws = new WebSocket(wsUrl(s.role));
            ws.on('error', () => {});
            await new Promise((r) => (ws!.once('open', r), ws!.once('close', r)));
            sockets.set(s.role, ws);
            cleanup.push(() => ws!.terminate());
          }
          if (ws.readyState !== WebSocket.OPEN) return;
          // The frame, then a sync step 1: its answer comes once the frame was handled (messages are taken in order).
          const socket = ws;
          const handled = new Promise<void>((resolve) => {
            const done = () => (socket.off('message', onMessage), socket.off('close', done), clearTimeout(timer), resolve());
            const onMessage = (d: Buffer) => d[0] === 0 && d[1] === 1 && done();
            const timer = setTimeout(done, 5_000);
            socket.on('message', onMessage);
            socket.once('close', done);
          });
          socket.send(Uint8Array.from([0, ...s.data]));
          socket.send(Uint8Array.from([0, 0, 1, 0]));
          await handled;
        }
      } else if (s.kind === 'honest') {
        tally.honest++;
        const m = honest[s.who];
        const me = m.state.member;
        if (s.action === 'stroke') draw(m, stroke(versionId, tally.honest % 90));
        else if (s.action === 'note') {
          const n: Note = { id: crypto.randomUUID(), parentId: null, versionId, frame: 5, frameEnd: 5, text: `note ${tally.honest}`, author: { id: me.id, name: me.name }, createdAt: new Date().toISOString(), status: 'open', resolvedBy: null, annotationIds: [] };
          m.doc.transact(() => notesMap(m.doc).set(n.id, n));
        } else {
          const own = [...annotationsMap(m.doc).values()].find((a) => a.author.id === me.id);
          if (own) m.doc.transact(() => annotationsMap(m.doc).delete(own.id));
        }
        await m.provider.whenAcked();
      } else {
        tally.blips++;
        // Offline for a moment: a stroke drawn meanwhile lands on reconnect.
        const m = honest[s.who];
        m.provider.destroy();
        m.socket.disconnect();
        draw(m, stroke(versionId, 7));
        const back = await rejoin(m, server.url, roomId, token(ROLES[s.who]));
        cleanup.push(() => back.close());
        honest = honest.map((h) => (h === m ? back : h));
        await back.provider.whenAcked();
      }
    };

    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), async (steps) => {
        for (const s of steps) await run(s);
        // After each run: the server is up, holds only values a reader can use, and everyone converges on it.
        expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
        for (const name of ['annotations', 'notes'] as const) {
          for (const v of serverDoc().getMap(name).values()) expect(isReadableValue(name, v)).toBe(true);
        }
        await Promise.all(honest.map((m) => m.provider.whenAcked()));
        // Entries in key order: a Y.Map's own order is the order this copy integrated them, which differs between copies.
        const sorted = <T,>(m: Y.Map<T>) => Object.entries(m.toJSON()).sort(([a], [b]) => (a < b ? -1 : 1));
        const has = (d: Y.Doc) => JSON.stringify([sorted(annotationsMap(d).raw), sorted(notesMap(d))]);
        const want = () => has(serverDoc());
        await until(() => [...honest.map((m) => m.doc), plugin.doc].every((d) => has(d) === want()), 'every client on the server\'s document', 15_000);
        for (const m of honest) expect(m.refusals).toEqual([]);
      }),
      {
        numRuns: 50,
        // Counterexamples hold strings of 200,000 characters: report a readable head of them.
        reporter: (out) => {
          if (out.failed) throw new Error(`${fc.defaultReportMessage(out)?.slice(0, 4000)}\nGot: ${String((out.errorInstance as Error | undefined)?.stack ?? out.errorInstance).slice(0, 3000)}`);
        },
      },
    );
    // The fuzz did try both sides of the rules.
    expect(tally.refused).toBeGreaterThan(20);
    expect(tally.accepted).toBeGreaterThan(5);
    console.log('room-document fuzz:', tally);
  });
});

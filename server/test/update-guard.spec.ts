import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import * as syncProtocol from 'y-protocols/sync';
import { Awareness, encodeAwarenessUpdate } from 'y-protocols/awareness';
import { annotationsMap, encodeAnnotation, notesMap, type Annotation, type Note, type Refusal } from '@loupe/shared';
import { autoCleanup, changeOf, draw, emitAck, joinRoom, nested, roomSnapshot, sendUpdate, stockClient, stroke, testServer, until, type Member, roomWith } from './helpers.js';
import type { RunningServer } from '../src/main.js';

const cleanup = autoCleanup();

/** Makes a change on a scratch copy of the member's doc and sends exactly that update. */
async function send(m: Member, change: (doc: Y.Doc) => void) {
  const scratch = new Y.Doc();
  Y.applyUpdate(scratch, Y.encodeStateAsUpdate(m.doc));
  const before = Y.encodeStateVector(scratch);
  change(scratch);
  const update = Y.encodeStateAsUpdate(scratch, before);
  const refusalsBefore = m.refusals.length;
  Y.applyUpdate(m.doc, update); // goes to the server through the provider
  await m.provider.whenAcked();
  return m.refusals.slice(refusalsBefore);
}

describe('the server authorises every document change before applying it', () => {
  it('refuses what is not a valid annotation or note of the member, and keeps the room as it was', async () => {
    const { server, room, token, members: [artist, director] } = await roomWith(cleanup, 'artist', 'director');
    const v = artist.state.versions[0].id;
    const me = artist.state.member;
    const ok = { ...stroke(v, 1), author: { id: me.id, name: me.name } };
    const serverDoc = () => server.docs.get(room.id)!.doc;

    const bad: [string, (d: Y.Doc) => void][] = [
      ['a text root', (d) => d.getText('evil').insert(0, 'x')],
      ['an array root', (d) => d.getArray('annotations2').push([1])],
      ['a nested map', (d) => annotationsMap(d).raw.set('nested', new Y.Map() as never)],
      ['a spoofed author', (d) => annotationsMap(d).raw.set('s1', { ...ok, id: 's1', author: { id: 'someone-else', name: 'X' } })],
      ['a wrong kind', (d) => annotationsMap(d).raw.set('s2', { ...ok, id: 's2', kind: 'virus' as never })],
      ['too many points', (d) => annotationsMap(d).raw.set('s3', { ...ok, id: 's3', points: Array.from({ length: 5000 }, () => [0.5, 0.5, 0.5] as [number, number, number]) })],
      ['an id that is not its key', (d) => annotationsMap(d).raw.set('s4', { ...ok, id: 'other' })],
      ['a range that ends before it starts', (d) => annotationsMap(d).raw.set('s5', { ...ok, id: 's5', frame: 9, frameEnd: 3 })],
      // Packed values (what Loupe writes): checked exactly as plain ones, after decoding.
      ['a packed spoofed author', (d) => annotationsMap(d).set('p1', { ...ok, id: 'p1', author: { id: 'someone-else', name: 'X' } })],
      ['a packed range that ends before it starts', (d) => annotationsMap(d).set('p2', { ...ok, id: 'p2', frame: 9, frameEnd: 3 })],
      ['packed bytes that are not an annotation', (d) => annotationsMap(d).raw.set('p3', new Uint8Array([1, 2, 3]))],
      ['a packed annotation with bytes left over', (d) => annotationsMap(d).raw.set('p4', Uint8Array.from([...encodeAnnotation({ ...ok, id: 'p4' }), 0]))],
      ['a packed annotation of an unknown format', (d) => annotationsMap(d).raw.set('p5', Uint8Array.from([9, ...encodeAnnotation({ ...ok, id: 'p5' }).subarray(1)]))],
      ['packed points that are not points', (d) => annotationsMap(d).set('p6', { ...ok, id: 'p6', packedPoints: new Uint8Array([7, 7, 7]) })],
      ['an over-long note', (d) => notesMap(d).set('n1', { id: 'n1', parentId: null, versionId: v, frame: 1, frameEnd: 1, text: 'x'.repeat(3000), author: { id: me.id, name: me.name }, createdAt: '', status: 'open', annotationIds: [] })],
    ];
    const before = Y.encodeStateAsUpdate(serverDoc());
    for (const [what, change] of bad) {
      const refusals = await send(artist, change);
      expect({ what, codes: refusals.map((r) => r.code) }).toEqual({ what, codes: ['BAD_ANNOTATION'] });
    }
    expect(Y.encodeStateAsUpdate(serverDoc())).toEqual(before);
    expect(annotationsMap(director.doc).size).toBe(0);

    // Valid changes still go through: a stroke, a note, another member resolving it, an erase.
    expect(await send(artist, (d) => annotationsMap(d).set(ok.id, ok))).toEqual([]);
    const note: Note = { id: 'n2', parentId: null, versionId: v, frame: 1, frameEnd: 4, text: 'Roto edge chatters', author: { id: me.id, name: me.name }, createdAt: new Date().toISOString(), status: 'open', annotationIds: [ok.id] };
    expect(await send(artist, (d) => notesMap(d).set(note.id, note))).toEqual([]);
    await until(() => notesMap(director.doc).get('n2'), 'note on the director');
    expect(await send(director, (d) => notesMap(d).set('n2', { ...note, status: 'resolved', resolvedBy: { id: director.state.member.id, name: 'Director', at: new Date().toISOString() } }))).toEqual([]);
    expect(await send(director, (d) => annotationsMap(d).delete(ok.id))).toEqual([]);
    await until(() => notesMap(serverDoc()).get('n2')?.status === 'resolved' && !annotationsMap(serverDoc()).has(ok.id), 'valid changes applied');
    draw(artist, stroke(v, 2));
    await artist.provider.whenAcked();
    expect(artist.refusals).toHaveLength(bad.length);
  });
});

describe('changesDoc: what an update would change', () => {
  it('finds new items and new deletions, and nothing in a repeat, without reading the whole room', async () => {
    const { changesDoc } = await import('../src/collab/room-doc.registry.js');
    const server = new Y.Doc();
    const client = new Y.Doc();
    const updates: Uint8Array[] = [];
    client.on('update', (u: Uint8Array) => updates.push(u));
    const map = annotationsMap(client);
    for (let i = 0; i < 50; i++) map.set(`a${i}`, stroke('v', i) as never);
    const [first, ...rest] = updates;
    expect(changesDoc(server, first)?.structs.length).toBe(1); // a new stroke
    rest.forEach((u) => Y.applyUpdate(server, u));
    expect(changesDoc(server, first)?.structs.length).toBe(1); // still new: the server never applied it
    Y.applyUpdate(server, first);
    expect(changesDoc(server, first)).toBeNull(); // a repeat changes nothing
    updates.length = 0;
    map.delete('a7'); // the eraser
    const erase = updates[0];
    expect(changesDoc(server, erase)).not.toBeNull();
    Y.applyUpdate(server, erase);
    expect(changesDoc(server, erase)).toBeNull();
    // A sync step 2 of the whole client: its delete set only, all known: no change.
    expect(changesDoc(server, Y.encodeStateAsUpdate(client, Y.encodeStateVector(server)))).toBeNull();
    // Deleting what the server has not got yet is a change (it will apply once the item arrives).
    const ahead = new Y.Doc();
    Y.applyUpdate(ahead, Y.encodeStateAsUpdate(client));
    const aheadUpdates: Uint8Array[] = [];
    ahead.on('update', (u: Uint8Array) => aheadUpdates.push(u));
    annotationsMap(ahead).set('late', stroke('v', 1) as never);
    annotationsMap(ahead).delete('late');
    expect(changesDoc(server, aheadUpdates[1])).not.toBeNull();
  });
});

/** Sends each change and checks it is refused with one of `codes` and leaves the room byte-identical, in memory and stored. */
async function expectRefused(server: RunningServer, m: Member, cases: [string, Uint8Array][], codes = ['BAD_ANNOTATION']) {
  const roomId = m.state.room.id;
  for (const [what, update] of cases) {
    const before = (await roomSnapshot(server, roomId));
    const ack = await sendUpdate(m, update);
    expect({ what, code: ack.ok ? 'accepted' : codes.includes(ack.code) ? 'refused' : ack.code }).toEqual({ what, code: 'refused' });
    expect({ what, after: (await roomSnapshot(server, roomId)) }).toEqual({ what, after: before });
  }
}

/** A Yjs update (v1) that only deletes: [client, clock, length] ranges. */
function deletesOnly(ranges: [number, number, number][]): Uint8Array {
  const enc = encoding.createEncoder();
  encoding.writeVarUint(enc, 0); // no structs
  encoding.writeVarUint(enc, ranges.length);
  for (const [client, clock, len] of ranges) {
    encoding.writeVarUint(enc, client);
    encoding.writeVarUint(enc, 1);
    encoding.writeVarUint(enc, clock);
    encoding.writeVarUint(enc, len);
  }
  return encoding.toUint8Array(enc);
}

/**
 * An update setting `value` with its `deep` field replaced by an object nested `depth` levels deep,
 * spliced into the encoded bytes: deeper than a Yjs client could encode itself (its writer recurses).
 */
function deepUpdate(server: RunningServer, roomId: string, key: string, value: object, depth: number): Uint8Array {
  const marker = 'DEEP-VALUE-MARKER';
  const base = changeOf(server, roomId, (d) => annotationsMap(d).raw.set(key, { ...value, deep: marker } as never));
  const needle = Buffer.concat([Buffer.from([119, marker.length]), Buffer.from(marker)]); // writeAny: string
  const at = Buffer.from(base).indexOf(needle);
  const level = Buffer.from([118, 1, 1, 0x78]); // writeAny: object of one key "x"
  const deep = Buffer.concat([Buffer.alloc(level.length * depth, level), Buffer.from([118, 0])]);
  return Uint8Array.from(Buffer.concat([base.subarray(0, at), deep, base.subarray(at + needle.length)]));
}


const mine = (m: Member, a: Annotation): Annotation => ({ ...a, author: { id: m.state.member.id, name: m.state.member.name } });
const noteBy = (m: Member, versionId: string, text: string): Note => ({
  id: crypto.randomUUID(), parentId: null, versionId, frame: 3, frameEnd: 3, text,
  author: { id: m.state.member.id, name: m.state.member.name }, createdAt: new Date().toISOString(), status: 'open', resolvedBy: null, annotationIds: [],
});

describe('values that would break readers', () => {
  it('refuses values nested too deep or too large, extra fields included, and the room stays readable', async () => {
    const { server, room, token, members: [artist] } = await roomWith(cleanup, 'artist');
    const v = artist.state.versions[0].id;
    const good = mine(artist, stroke(v, 1));
    draw(artist, good);
    await artist.provider.whenAcked();
    // Both forms: packed (as Loupe writes: the extra fields ride inside the binary) and a plain object (a plugin).
    const set = (extra: Record<string, unknown>, packed = true) => {
      const a = { ...mine(artist, stroke(v, 2)), ...extra };
      return changeOf(server, room.id, (d) => (packed ? annotationsMap(d).set(a.id, a) : annotationsMap(d).raw.set(a.id, a)));
    };
    const id = () => crypto.randomUUID();
    for (const packed of [true, false]) {
      const form = packed ? 'packed' : 'plain';
      await expectRefused(server, artist, [
        [`${form}: an extra field nested 17 levels`, set({ extra: nested(17) }, packed)],
        [`${form}: an extra field nested 4,000 levels (16 KB)`, set({ extra: nested(4000) }, packed)],
        [`${form}: an array nested 100 levels`, set({ extra: JSON.parse('['.repeat(100) + ']'.repeat(100)) }, packed)],
        [`${form}: a 200 KB string`, set({ extra: 'x'.repeat(200_000) }, packed)],
        [`${form}: 150,000 numbers`, set({ extra: new Array(150_000).fill(0) }, packed)],
      ]);
    }
    await expectRefused(server, artist, [['plain: an author with a nested extra field', set({ author: { id: artist.state.member.id, name: 'A', more: nested(30) } }, false)]]);
    // Deeper than a client can encode: spliced bytes. Refused as malformed or as too deep, never applied.
    const deep = (depth: number) => { const k = id(); return deepUpdate(server, room.id, k, mine(artist, { ...stroke(v, 3), id: k }), depth); };
    await expectRefused(server, artist, [5_000, 6_000, 20_000, 100_000].map((n) => [`spliced, ${n} levels`, deep(n)]), ['BAD_ANNOTATION', 'BAD_YJS_MESSAGE']);

    // Newcomers still read the room: a stock y-websocket client, a fresh Socket.IO member; and after a restart.
    const plugin = stockClient(server.url, room.id, token('viewer'), cleanup);
    await until(() => annotationsMap(plugin.doc).get(good.id), 'the room in a stock client');
    const late = await joinRoom(server.url, room.id, token('editor'));
    cleanup.push(() => late.close());
    expect([...annotationsMap(late.doc).keys()]).toEqual([good.id]);
    const dataDir = server.dataDir;
    await server.close();
    const again = await testServer(dataDir);
    cleanup.push(() => again.close());
    const after = await joinRoom(again.url, room.id, token('director'));
    cleanup.push(() => after.close());
    expect([...annotationsMap(after.doc).keys()]).toEqual([good.id]);
  });
});

describe('authorship', () => {
  it("lets only the author change a value's content; a director only resolves and reopens; resolvedBy is the writer", async () => {
    const { server, room, members: [director, artist] } = await roomWith(cleanup, 'director', 'artist');
    const v = director.state.versions[0].id;
    const dNote = noteBy(director, v, 'Push the grade warmer');
    const dStroke = mine(director, stroke(v, 1));
    const aNote = noteBy(artist, v, 'Roto edge chatters');
    director.doc.transact(() => (notesMap(director.doc).set(dNote.id, dNote), annotationsMap(director.doc).set(dStroke.id, dStroke)));
    artist.doc.transact(() => notesMap(artist.doc).set(aNote.id, aNote));
    await Promise.all([director.provider.whenAcked(), artist.provider.whenAcked()]);
    await until(() => notesMap(server.docs.get(room.id)!.doc).size === 2, 'both notes stored');
    const at = new Date().toISOString();
    const as = (m: Member) => ({ id: m.state.member.id, name: m.state.member.name, at });
    const note = (n: Note) => (change: Partial<Note>) => changeOf(server, room.id, (d) => notesMap(d).set(n.id, { ...n, ...change }));

    await expectRefused(server, artist, [
      ["the director's note rewritten, author kept, resolved, resolvedBy forged", note(dNote)({ text: 'Looks fine, ship it', status: 'resolved', resolvedBy: as(director) })],
      ["the director's note resolved by an artist", note(dNote)({ status: 'resolved', resolvedBy: as(artist) })],
      ["the director's note taken over", note(dNote)({ author: { id: artist.state.member.id, name: 'Artist' }, text: 'mine now' })],
      ["the director's stroke recoloured", changeOf(server, room.id, (d) => annotationsMap(d).set(dStroke.id, { ...dStroke, color: '#00ff00' }))],
      ['own note resolved in the name of the director', note(aNote)({ status: 'resolved', resolvedBy: as(director) })],
    ]);
    await expectRefused(server, director, [
      ["the artist's note resolved with a forged resolvedBy", note(aNote)({ status: 'resolved', resolvedBy: as(artist) })],
      ["the artist's note resolved and its text changed", note(aNote)({ status: 'resolved', resolvedBy: as(director), text: 'Roto is fine' })],
      ["the artist's note resolved with a field added", changeOf(server, room.id, (d) => notesMap(d).set(aNote.id, { ...aNote, status: 'resolved', resolvedBy: as(director), priority: 'low' } as Note))],
    ]);
    // What each may do goes through: the author edits, the director resolves and reopens.
    expect(await sendUpdate(artist, note(aNote)({ text: 'Roto edge chatters on the left' }))).toEqual({ ok: true });
    const edited = { ...aNote, text: 'Roto edge chatters on the left' };
    expect(await sendUpdate(director, note(edited)({ status: 'resolved', resolvedBy: as(director) }))).toEqual({ ok: true });
    expect(notesMap(server.docs.get(room.id)!.doc).get(aNote.id)).toMatchObject({ text: edited.text, status: 'resolved', resolvedBy: { id: director.state.member.id } });
    expect(await sendUpdate(director, note(edited)({ status: 'open', resolvedBy: null }))).toEqual({ ok: true });
    expect(await sendUpdate(artist, note(edited)({ status: 'resolved', resolvedBy: as(artist) }))).toEqual({ ok: true });
    expect(notesMap(server.docs.get(room.id)!.doc).get(dNote.id)).toEqual(dNote);
    expect(annotationsMap(server.docs.get(room.id)!.doc).get(dStroke.id)).toEqual(dStroke);
  });
});

describe('deletes', () => {
  it("refuses deleting someone else's value (a director moderates), with nothing applied", async () => {
    const { server, room, members: [director, editor, artist] } = await roomWith(cleanup, 'director', 'editor', 'artist');
    const v = director.state.versions[0].id;
    const dStroke = mine(director, stroke(v, 1));
    draw(director, dStroke);
    const dNote = noteBy(director, v, 'Too dark');
    director.doc.transact(() => notesMap(director.doc).set(dNote.id, dNote));
    const eStrokes = [1, 2, 3].map((f) => mine(editor, stroke(v, f)));
    for (const s of eStrokes) draw(editor, s);
    const aStrokes = [4, 5].map((f) => mine(artist, stroke(v, f)));
    for (const s of aStrokes) draw(artist, s);
    await Promise.all([director, editor, artist].map((m) => m.provider.whenAcked()));
    const serverDoc = () => server.docs.get(room.id)!.doc;
    await until(() => annotationsMap(serverDoc()).size + notesMap(serverDoc()).size === 7, 'seven items');

    const everything = changeOf(server, room.id, (d) => {
      for (const k of [...annotationsMap(d).keys()]) annotationsMap(d).delete(k);
      for (const k of [...notesMap(d).keys()]) notesMap(d).delete(k);
    });
    // A delete set made by hand: every clock of every client the server knows, from its state vector.
    const sv = Y.decodeStateVector(Y.encodeStateVector(serverDoc()));
    await expectRefused(server, editor, [
      ["the director's stroke", changeOf(server, room.id, (d) => annotationsMap(d).delete(dStroke.id))],
      ["the director's note", changeOf(server, room.id, (d) => notesMap(d).delete(dNote.id))],
      ["an artist's stroke, with one of the editor's own", changeOf(server, room.id, (d) => (annotationsMap(d).delete(aStrokes[0].id), annotationsMap(d).delete(eStrokes[0].id)))],
      ['every item of the room', everything],
      ["every clock of the room's state vector", deletesOnly([...sv].map(([client, clock]) => [client, 0, clock]))],
      ["the director's changes not made yet", deletesOnly([[director.doc.clientID, Y.getState(serverDoc().store, director.doc.clientID), 100]])],
    ]);
    expect(annotationsMap(serverDoc()).size + notesMap(serverDoc()).size).toBe(7);
    // One's own, and anyone's for the director.
    expect(await sendUpdate(editor, changeOf(server, room.id, (d) => annotationsMap(d).delete(eStrokes[0].id)))).toEqual({ ok: true });
    expect(await sendUpdate(director, changeOf(server, room.id, (d) => annotationsMap(d).delete(aStrokes[0].id)))).toEqual({ ok: true });
    await until(() => annotationsMap(artist.doc).size === 4, 'the deletes reach the artist');
    expect([...annotationsMap(artist.doc).keys()].sort()).toEqual([dStroke.id, eStrokes[1].id, eStrokes[2].id, aStrokes[1].id].sort());
  });
});

describe('Yjs client ids', () => {
  it("refuses writing under another member's client id, so an offline director's work lands on reconnect", async () => {
    const { server, room, token, members: [director, artist] } = await roomWith(cleanup, 'director', 'artist');
    const v = director.state.versions[0].id;
    draw(director, stroke(v, 1));
    await director.provider.whenAcked();
    // The director goes offline and draws; meanwhile the artist writes at the director's next clock.
    director.provider.destroy();
    director.socket.disconnect();
    const offline = mine(director, stroke(v, 2));
    annotationsMap(director.doc).set(offline.id, offline);
    const squat = mine(artist, stroke(v, 3));
    await expectRefused(server, artist, [
      ["the director's next clock", changeOf(server, room.id, (d) => annotationsMap(d).set(squat.id, squat), director.doc.clientID)],
    ]);
    // Presence under the director's client id is refused too, now that it is bound to him.
    const errors: Refusal[] = [];
    artist.socket.on('room:error', (r) => errors.push(r));
    const forgedDoc = new Y.Doc();
    forgedDoc.clientID = director.doc.clientID;
    const forged = new Awareness(forgedDoc);
    forged.setLocalState({ user: { id: artist.state.member.id, name: 'Artist' } });
    artist.socket.emit('y:awareness', { room: room.id, data: new Uint8Array(encodeAwarenessUpdate(forged, [director.doc.clientID])) });
    await until(() => errors.length > 0, 'a refusal of the forged presence');
    expect(errors.map((e) => e.code)).toEqual(['FORBIDDEN_ROLE']);

    // The director comes back with his document: his offline stroke lands, and everyone agrees.
    const back = await joinRoom(server.url, room.id, token('director'), undefined, false);
    cleanup.push(() => back.close());
    back.provider.destroy();
    const provider = new (await import('@loupe/shared')).RoomDocProvider(back.socket, room.id, director.doc, new Awareness(director.doc));
    const rejoin = await emitAck<{ sync: Uint8Array }>(back.socket, 'room:join', { room: room.id });
    if (!rejoin.ok) throw new Error(rejoin.message);
    provider.start(new Uint8Array(rejoin.sync));
    await provider.whenSynced();
    await provider.whenAcked();
    await until(() => annotationsMap(artist.doc).get(offline.id), "the director's offline stroke on the artist's screen");
    const serverDoc = server.docs.get(room.id)!.doc;
    for (const d of [director.doc, artist.doc]) expect(Y.encodeStateVector(d)).toEqual(Y.encodeStateVector(serverDoc));
    expect(annotationsMap(serverDoc).has(squat.id)).toBe(false);
    provider.destroy();
  });
});

import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { annotationsMap, notesMap, type Note } from '@loupe/shared';
import { autoCleanup, demoRoom, draw, joinRoom, stroke, testServer, until, type Member, roomWith } from './helpers.js';

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
      ['a nested map', (d) => annotationsMap(d).set('nested', new Y.Map() as never)],
      ['a spoofed author', (d) => annotationsMap(d).set('s1', { ...ok, id: 's1', author: { id: 'someone-else', name: 'X' } })],
      ['a wrong kind', (d) => annotationsMap(d).set('s2', { ...ok, id: 's2', kind: 'virus' as never })],
      ['too many points', (d) => annotationsMap(d).set('s3', { ...ok, id: 's3', points: Array.from({ length: 5000 }, () => [0.5, 0.5, 0.5] as [number, number, number]) })],
      ['an id that is not its key', (d) => annotationsMap(d).set('s4', { ...ok, id: 'other' })],
      ['a range that ends before it starts', (d) => annotationsMap(d).set('s5', { ...ok, id: 's5', frame: 9, frameEnd: 3 })],
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

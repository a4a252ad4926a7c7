import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { annotationsMap, notesMap, type Note } from '@loupe/shared';
import { startServer } from '../src/main.js';
import { openDatabase } from '../src/store/database.js';
import { DocRepository } from '../src/store/doc.repository.js';
import { ClientIdRepository } from '../src/store/client-id.repository.js';
import { WRITE_RULES_VERSION } from '../src/collab/doc-repair.js';
import { autoCleanup, demoRoom, joinRoom, memberIdOf, nested, stockClient, stroke, testServer, until, capturingLogger } from './helpers.js';

/**
 * Rooms poisoned before the write guard (issue 15): values nested too deep, too large, or written
 * under another member's name, stored by an older Loupe. At load the server removes them in one
 * stored update of its own; members sync the good values only, and a restart keeps the room clean.
 */
const cleanup = autoCleanup();


/** Writes under one Yjs client id, as an old server stored them (no guard): each call gives its update. */
function writerAs(clientID: number): (change: (d: Y.Doc) => void) => Uint8Array {
  const d = new Y.Doc();
  d.clientID = clientID;
  return (change) => {
    const updates: Uint8Array[] = [];
    const on = (u: Uint8Array) => updates.push(u);
    d.on('update', on);
    change(d);
    d.off('update', on);
    return Y.mergeUpdates(updates);
  };
}

function note(id: string, versionId: string, author: { id: string; name: string }, extra: Partial<Note> = {}): Note {
  return { id, parentId: null, versionId, frame: 2, frameEnd: 2, text: 'Soften the edge', author, createdAt: new Date().toISOString(), status: 'open', annotationIds: [], ...extra };
}

const keysOf = (d: Y.Doc) => ({ annotations: [...annotationsMap(d).keys()].sort(), notes: [...notesMap(d).keys()].sort() });

describe('a room document poisoned before the write guard', () => {
  it('is cleaned at load in one stored server update: members sync the good values only, and a restart keeps it clean', async () => {
    const first = await testServer();
    const { room, token } = await demoRoom(first);
    const dataDir = first.dataDir;
    const versionId = (await first.services.versions.listForRoom(room.id))[0].id;
    await first.close();

    const artist = { id: memberIdOf(token('artist')), name: 'Artist' };
    const director = { id: memberIdOf(token('director')), name: 'Director' };
    const good = { ...stroke(versionId, 1, artist.id), id: 'a-good' };
    const deep = { ...stroke(versionId, 1, artist.id), id: 'a-deep', extra: nested(40) };
    const large = { ...stroke(versionId, 1, artist.id), id: 'a-large', pad: 'x'.repeat(200_000) };
    const forged = { ...stroke(versionId, 1, director.id), id: 'a-forged', author: director };
    const goodNote = note('n-good', versionId, artist);
    // A director resolving the artist's note writes it under the artist's name: allowed, kept.
    const resolved = note('n-resolved', versionId, artist, { status: 'resolved', resolvedBy: { id: director.id, name: 'Director', at: new Date().toISOString() } });
    const forgedNote = note('n-forged', versionId, director);

    // Stored directly, bypassing the guard, with the client ids bound as an older server bound them.
    const db = await openDatabase(dataDir);
    const bindings = new ClientIdRepository(db);
    await bindings.bind(room.id, 1001, artist.id);
    await bindings.bind(room.id, 1002, director.id);
    const asArtist = writerAs(1001);
    const asDirector = writerAs(1002);
    await new DocRepository(db).appendMany(
      [
        asArtist((d) => annotationsMap(d).raw.set(good.id, good)),
        asArtist((d) => annotationsMap(d).raw.set(deep.id, deep as never)),
        asArtist((d) => annotationsMap(d).raw.set(large.id, large as never)),
        asArtist((d) => annotationsMap(d).raw.set(forged.id, forged)),
        asArtist((d) => annotationsMap(d).raw.set('a-torn', new Uint8Array([1, 9, 9]))), // not a packed annotation
        asArtist((d) => annotationsMap(d).set('a-packed-forged', { ...forged, id: 'a-packed-forged' })),
        asArtist((d) => notesMap(d).set(goodNote.id, goodNote)),
        asArtist((d) => notesMap(d).set(forgedNote.id, forgedNote)),
        asDirector((d) => notesMap(d).set(resolved.id, resolved)),
      ].map((update) => ({ roomId: room.id, update })),
    );
    const rowsBefore = (await new DocRepository(db).rows(room.id)).length;
    await db.destroy();

    const start = async (log = capturingLogger()) => {
      const s = await startServer({ port: 0, host: '127.0.0.1', dataDir, roomIdleUnloadMs: 50 }, { log: log.log });
      cleanup.push(() => s.close());
      return Object.assign(s, { lines: log.lines });
    };
    const clean = { annotations: ['a-good'], notes: ['n-good', 'n-resolved'] };

    const second = await start();
    // A Socket.IO member (the director, fresh: given the stored rows, then the server's removal) and a
    // stock y-websocket client.
    const dir = await joinRoom(second.url, room.id, token('director'));
    cleanup.push(() => dir.close());
    const stock = stockClient(second.url, room.id, token('artist'), cleanup);
    await until(() => JSON.stringify(keysOf(dir.doc)) === JSON.stringify(clean), 'the director\'s copy clean', 15_000);
    await until(() => JSON.stringify(keysOf(stock.doc)) === JSON.stringify(clean), 'the stock client\'s copy clean', 15_000);
    expect(annotationsMap(stock.doc).get('a-good')).toEqual(good);
    expect(notesMap(dir.doc).get('n-resolved')).toEqual(resolved);
    expect(dir.refusals).toEqual([]);
    // The director still works in the room: a note of their own goes through.
    const mine = note('n-director', versionId, director);
    dir.doc.transact(() => notesMap(dir.doc).set(mine.id, mine));
    await until(() => notesMap(stock.doc).get('n-director'), 'the director\'s new note on the stock client');
    expect(dir.refusals).toEqual([]);

    const removed = second.lines.filter((l) => l.msg === 'stored value removed from the room document: the write guard refuses it');
    expect(removed.map((l) => `${l.room}/${l.map}/${l.key}`).sort()).toEqual([`${room.id}/annotations/a-deep`, `${room.id}/annotations/a-forged`, `${room.id}/annotations/a-large`, `${room.id}/annotations/a-packed-forged`, `${room.id}/annotations/a-torn`, `${room.id}/notes/n-forged`]);
    expect(String(removed.find((l) => l.key === 'a-forged')!.why)).toMatch(/written by member .* under the author/);
    // Stored now, once the room is compacted (a second after it is ready: its rows were not checked, and
    // its drawings were plain objects, packed first): one snapshot of the cleaned document in place of
    // the rows read, the removal and the packing, and maybe the director's note after it; every row
    // marked checked under today's write rules, so the next load does not check the room again.
    expect(rowsBefore).toBeGreaterThan(2);
    await until(async () => {
      const r = await second.services.db.selectFrom('doc_updates').select(['id', 'checked']).where('room_id', '=', room.id).execute();
      return r.length <= 2 && r.every((x) => x.checked === WRITE_RULES_VERSION);
    }, 'the room compacted, its rows checked');
    expect(annotationsMap(second.docs.get(room.id)!.doc).raw.get('a-good')).toBeInstanceOf(Uint8Array);
    dir.close();
    stock.provider.destroy();
    await until(() => !second.docs.get(room.id), 'room unloaded');
    await second.close();

    // After a restart: nothing to remove, the stored document is clean.
    const third = await start();
    const again = stockClient(third.url, room.id, token('viewer'), cleanup);
    const after = { ...clean, notes: [...clean.notes, 'n-director'].sort() };
    await until(() => JSON.stringify(keysOf(again.doc)) === JSON.stringify(after), 'the stock client synced after the restart', 15_000);
    expect(third.lines.some((l) => l.msg === 'stored value removed from the room document: the write guard refuses it')).toBe(false);
    const stored = new Y.Doc();
    for (const r of await third.services.db.selectFrom('doc_updates').select('data').where('room_id', '=', room.id).execute()) Y.applyUpdate(stored, r.data);
    expect(keysOf(stored)).toEqual(after);
  });
});

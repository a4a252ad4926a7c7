import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import * as Y from 'yjs';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { annotationsMap, type Job } from '@loupe/shared';
import { autoCleanup, demoRoom, draw, emitAck, joinRoom, sleep, stroke, testServer, until, roomWith } from './helpers.js';
import { patch, settled } from './media-helpers.js';
import { isStorageFull, type Db } from '../src/store/database.js';

const cleanup = autoCleanup();

describe('a full disk during a fix', () => {
  it('fails the job with a clear error, makes no version, and the next fix works once space is back', async () => {
    const { server, room, token, members: [artist] } = await roomWith(cleanup, 'artist');
    const jobs: Job[] = [];
    artist.socket.on('fix:job', (j) => jobs.push(j));
    const blobs = server.services.blobs;
    const put = blobs.put.bind(blobs);
    let full = true;
    // The result is written through the blob store; make it fail like a full disk does.
    blobs.put = async (bytes: Uint8Array) => {
      if (full && bytes.byteLength > 10_000) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      return put(bytes);
    };
    const ask = (key: string) =>
      emitAck<{ job: Job }>(artist.socket, 'fix:request', {
        room: room.id, versionId: artist.state.versions[0].id, frame: 5,
        region: { x: 0.25, y: 0.25, width: 0.1, height: 0.1 }, fix: 'upscale-x2', params: {}, idempotencyKey: key,
      });
    const first = await ask('disk-full-0001');
    if (!first.ok) throw new Error(first.message);
    const failed = await until(() => jobs.find((j) => j.id === first.job.id && j.state === 'failed'), 'the job to fail', 60_000);
    expect(failed.error).toMatchObject({ code: 'FIX_FAILED', message: expect.stringMatching(/ENOSPC|space/) });
    expect((await server.services.versions.listForRoom(room.id)).filter((v) => v.kind === 'ai')).toHaveLength(0);

    full = false;
    const second = await ask('disk-full-0002');
    if (!second.ok) throw new Error(second.message);
    await until(() => jobs.find((j) => j.id === second.job.id && j.state === 'done'), 'the next job to finish', 60_000);
    expect((await server.services.versions.listForRoom(room.id)).filter((v) => v.kind === 'ai')).toHaveLength(1);
  });
});

/**
 * Stops the database file from growing, as a full disk does (SQLite's own SQLITE_FULL), and fills
 * the room left in its pages: the room's document rows (with empty Yjs updates, which change
 * nothing) and the ingests table. Returns a function that gives the space back.
 */
async function fillDatabase(db: Db, roomId: string): Promise<() => Promise<void>> {
  const { rows } = await sql<{ page_count: number }>`PRAGMA page_count`.execute(db);
  await sql.raw(`PRAGMA max_page_count = ${rows[0].page_count}`).execute(db);
  const untilFull = async (write: () => Promise<unknown>) => {
    for (;;) {
      try {
        await write();
      } catch (e) {
        if (isStorageFull(e)) return;
        throw e;
      }
    }
  };
  const nothing = Buffer.from(Y.encodeStateAsUpdate(new Y.Doc()));
  await untilFull(() => db.insertInto('doc_updates').values({ room_id: roomId, data: nothing }).execute());
  for (const size of [2000, 200, 20, 0]) {
    const at = new Date(0).toISOString();
    await untilFull(() => db.insertInto('ingests').values({ id: crypto.randomUUID(), room_id: 'filler', state: 'cancelled', data: 'x'.repeat(size), created_at: at, updated_at: at }).execute());
  }
  return async () => void (await sql`PRAGMA max_page_count = 1073741823`.execute(db));
}

describe('a full disk while members draw', () => {
  it('refuses the stroke to its sender with STORAGE_FULL, shows it to nobody, and it lands once space is back', async () => {
    const server = await testServer();
    let live = server;
    cleanup.push(() => live.close());
    const { room, token } = await demoRoom(server);
    const artist = await joinRoom(server.url, room.id, token('artist'));
    const director = await joinRoom(server.url, room.id, token('director'));
    cleanup.push(() => artist.close(), () => director.close());
    const versionId = artist.state.versions[0].id;
    const first = stroke(versionId, 1);
    draw(artist, first);
    await until(() => annotationsMap(director.doc).has(first.id), 'a first stroke on the director');

    const spaceBack = await fillDatabase(server.services.db, room.id);
    const lost = stroke(versionId, 2);
    draw(artist, lost);
    await until(() => artist.refusals.find((r) => r.code === 'STORAGE_FULL'), 'STORAGE_FULL for the artist');
    expect(artist.refusals.find((r) => r.code === 'STORAGE_FULL')!.message).toMatch(/disk is full/);
    // Shown to nobody: not to the other member, not to someone joining now, not in the server's document.
    const late = await joinRoom(server.url, room.id, token('editor'));
    cleanup.push(() => late.close());
    await sleep(300);
    for (const doc of [director.doc, late.doc, server.docs.get(room.id)!.doc]) expect(annotationsMap(doc).has(lost.id)).toBe(false);
    expect(annotationsMap(director.doc).has(first.id)).toBe(true);
    // The artist keeps it, unacknowledged, and sends it again by itself.
    expect(annotationsMap(artist.doc).has(lost.id)).toBe(true);
    expect(artist.provider.unacknowledged).toBeGreaterThan(0);

    await spaceBack();
    await until(() => annotationsMap(director.doc).has(lost.id) && annotationsMap(late.doc).has(lost.id), 'the stroke once space is back', 15_000);
    await artist.provider.whenAcked();

    // Stored: after a restart it is there.
    const dataDir = server.dataDir;
    await server.close();
    const again = (live = await testServer(dataDir));
    const reader = await joinRoom(again.url, room.id, token('viewer'));
    cleanup.push(() => reader.close());
    expect([first.id, lost.id].map((id) => annotationsMap(reader.doc).has(id))).toEqual([true, true]);
  });
});

describe('a full disk during an upload', () => {
  it('answers STORAGE_FULL (507), not a bare 500, and the upload resumes and lands once space is back', async () => {
    const server = await testServer();
    cleanup.push(() => server.close());
    const { room, token } = await demoRoom(server);
    const png = await sharp(Buffer.from(Array.from({ length: 320 * 180 * 3 }, (_, i) => (i * 7919) % 251)), { raw: { width: 320, height: 180, channels: 3 } }).png().toBuffer();
    const versionsBefore = (await server.services.versions.listForRoom(room.id)).length;
    const auth = { authorization: `Bearer ${token('artist')}`, 'content-type': 'application/json' };
    const create = () => fetch(`${server.url}/api/ingests`, { method: 'POST', headers: auth, body: JSON.stringify({ files: [{ name: 'grain.0001.png', size: png.length }] }) });

    // The database cannot grow: the upload cannot even be recorded.
    const spaceBack = await fillDatabase(server.services.db, room.id);
    const refused = await create();
    expect(refused.status).toBe(507);
    expect(await refused.json()).toMatchObject({ ok: false, code: 'STORAGE_FULL' });
    await spaceBack();

    // The upload folder's disk is full: its bytes cannot be written (/dev/full answers ENOSPC).
    const created = await create();
    expect(created.status).toBe(201);
    const { ingest } = (await created.json()) as { ingest: { id: string; files: { uploadUrl: string }[] } };
    const part = path.join(server.dataDir, 'uploads', ingest.id, '0.part');
    fs.rmSync(part);
    fs.symlinkSync('/dev/full', part);
    const full = await patch(server.url, token('artist'), ingest.files[0].uploadUrl, 0, png);
    expect(full.status).toBe(507);
    expect(await full.json()).toMatchObject({ ok: false, code: 'STORAGE_FULL', message: expect.stringMatching(/disk is full/) });

    // Space is back: the client asks where to resume and sends the rest.
    fs.rmSync(part);
    fs.writeFileSync(part, '');
    const head = await fetch(`${server.url}${ingest.files[0].uploadUrl}`, { method: 'HEAD', headers: { authorization: `Bearer ${token('artist')}`, 'tus-resumable': '1.0.0' } });
    const offset = Number(head.headers.get('upload-offset'));
    expect((await patch(server.url, token('artist'), ingest.files[0].uploadUrl, offset, png.subarray(offset))).status).toBe(204);
    expect(await settled(server.url, token('artist'), ingest.id)).toMatchObject({ state: 'done', error: null });
    expect(await server.services.versions.listForRoom(room.id)).toHaveLength(versionsBefore + 1);
  });
});

import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { annotationsMap, notesMap, type Version } from '@loupe/shared';
import { openDatabase } from '../src/store/database.js';
import { migrationNames } from '../src/store/migrations/index.js';
import { RoomRepository } from '../src/store/room.repository.js';
import { VersionRepository } from '../src/store/version.repository.js';
import { JobRepository } from '../src/store/job.repository.js';
import { DocRepository } from '../src/store/doc.repository.js';
import { InviteRepository } from '../src/store/invite.repository.js';
import { EventRepository } from '../src/store/event.repository.js';
import { WebhookRepository } from '../src/store/webhook.repository.js';
import { FrameRepository } from '../src/store/frame.repository.js';
import { IngestRepository } from '../src/store/ingest.repository.js';
import { InviteService } from '../src/auth/invite.service.js';
import { startServer } from '../src/main.js';
import { createLogger } from '../src/log.js';
import { autoCleanup, draw, joinRoom, stroke, tmpDataDir } from './helpers.js';
import { freshPgDatabase } from './pg.js';
import { oldPostgresDatabase, oldSqliteDatabase, type OldSession } from './fixtures/pre-migration.js';

const cleanup = autoCleanup();
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const d of drops) await d();
});

/** A database made by the code before migrations, on either engine: its data folder and URL. */
async function oldDatabase(engine: 'sqlite' | 'postgres'): Promise<{ dataDir: string; url?: string; session: OldSession }> {
  const dataDir = tmpDataDir();
  if (engine === 'sqlite') return { dataDir, session: oldSqliteDatabase(dataDir) };
  const pg = await freshPgDatabase();
  drops.push(pg.drop);
  return { dataDir, url: pg.url, session: await oldPostgresDatabase(pg.url) };
}

describe.each(['sqlite', 'postgres'] as const)('a database made before migrations, on %s', (engine) => {
  it('is migrated at start and loses nothing: the repositories read every row, and a real server serves the room', async () => {
    const { dataDir, url, session } = await oldDatabase(engine);
    const { roomId } = session;

    const db = await openDatabase(dataDir, url);
    try {
      const { rows: applied } = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(db);
      expect(applied.map((r) => r.name)).toEqual(migrationNames);
      const rooms = new RoomRepository(db);
      const versions = new VersionRepository(db);
      expect(await rooms.get(roomId)).toEqual({ id: roomId, name: 'Grade review (before migrations)', createdAt: '2025-01-02T10:00:00.000Z' });
      expect(await rooms.shots(roomId)).toEqual([{ id: 'shot0001', name: 'sh010', fps: 24000 / 1001, dropFrame: true, width: 1920, height: 1080, frameCount: 96, startTimecode: '01:00:00;00' }]);
      const list = await versions.listForRoom(roomId);
      expect(list.map((v) => [v.id, v.number, v.status, v.kind])).toEqual([['ver0001', 1, 'approved', 'source'], ['ver0002', 2, 'pending', 'ai']]);
      expect(list[0].decisions.map((d) => [d.decision, d.note])).toEqual([['changes-requested', 'warmer'], ['approved', 'good']]);
      expect((await versions.byJob(session.jobId))?.id).toBe('ver0002');
      expect((await new JobRepository(db).listForRoom(roomId)).map((r) => [r.job.id, r.job.state])).toEqual([['job0001', 'done']]);
      expect((await new JobRepository(db).byIdempotencyKey(roomId, 'key-0001'))?.job.id).toBe('job0001');
      expect((await new InviteRepository(db).listForRoom(roomId)).map((i) => i.id).sort()).toEqual(Object.values(session.inviteIds).sort());
      expect(await rooms.setting('invite_secret')).toBe(session.secret);
      expect(await new WebhookRepository(db).secret()).toBe('old-webhook-secret');
      expect(await rooms.mayReadBlob(roomId, 'a'.repeat(64))).toBe(true);
      expect(await new FrameRepository(db).get('ver0001', 5)).toBe('c'.repeat(64));
      expect((await new WebhookRepository(db).list(roomId)).map((h) => h.url)).toEqual(['https://example.test/hook']);
      const events = await new EventRepository(db).list(roomId);
      expect(events.map((e) => e.type)).toEqual(['version.decided']);
      expect(await new IngestRepository(db).get('ing0001')).toMatchObject({ state: 'done', files: [{ name: 'a.mov' }] });

      // The room document: every stroke and note, and the stored deletion.
      const doc = new Y.Doc();
      for (const u of await new DocRepository(db).load(roomId)) Y.applyUpdate(doc, u);
      expect([...annotationsMap(doc).keys()].sort()).toEqual([...session.strokeIds].sort());
      expect([...notesMap(doc).keys()].sort()).toEqual([...session.noteIds].sort());

      // New rows go on from the old ones: ids and numbers keep increasing.
      const next = await versions.insert(roomId, { ...(list[0] as Omit<Version, 'number' | 'decisions'>), id: 'ver0003', createdAt: new Date().toISOString() }, null);
      expect(next.number).toBe(3);
      const e = await new EventRepository(db).append({ roomId, at: 'now', type: 'member.joined', actor: null, data: {} });
      expect(e.id).toBeGreaterThan(events[0].id);
    } finally {
      await db.destroy();
    }

    // A real server on it: members sign in with the old invites, see the room as it was, and draw on.
    const start = () => startServer({ port: 0, host: '127.0.0.1', dataDir, databaseUrl: url, roomIdleUnloadMs: 50 }, { log: createLogger('silent') });
    let server = await start();
    let live = server;
    cleanup.push(() => live.close());
    const invites = new InviteService(session.secret);
    const token = (role: 'director' | 'artist' | 'viewer') => invites.sign({ room: roomId, role, name: role, sub: session.inviteIds[role] }, 3600);
    const artist = await joinRoom(server.url, roomId, await token('artist'));
    expect(artist.state.versions.map((v) => v.id)).toEqual(['ver0001', 'ver0002', 'ver0003']);
    expect(artist.state.jobs.map((j) => j.id)).toEqual(['job0001']);
    expect([...annotationsMap(artist.doc).keys()].sort()).toEqual([...session.strokeIds].sort());
    expect([...notesMap(artist.doc).keys()].sort()).toEqual([...session.noteIds].sort());
    const added = stroke('ver0001', 7);
    draw(artist, added);
    await artist.provider.whenAcked();
    artist.close();
    await server.close();

    server = live = await start(); // a second start: nothing to migrate, nothing lost
    const viewer = await joinRoom(server.url, roomId, await token('viewer'));
    cleanup.push(() => viewer.close());
    expect([...annotationsMap(viewer.doc).keys()].sort()).toEqual([...session.strokeIds, added.id].sort());
    expect(notesMap(viewer.doc).size).toBe(session.noteIds.length);
  });
});

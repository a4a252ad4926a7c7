import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { sql, type KyselyPlugin } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DecisionRecord, Job, Shot, Version } from '@loupe/shared';
import { isUniqueViolation, openDatabase, transaction, type Db } from '../src/store/database.js';
import { migrationNames } from '../src/store/migrations/index.js';
import { RoomRepository } from '../src/store/room.repository.js';
import { VersionRepository } from '../src/store/version.repository.js';
import { JobRepository } from '../src/store/job.repository.js';
import { DocRepository } from '../src/store/doc.repository.js';
import { InviteRepository } from '../src/store/invite.repository.js';
import { EventRepository } from '../src/store/event.repository.js';
import { WebhookRepository } from '../src/store/webhook.repository.js';
import { FrameRepository } from '../src/store/frame.repository.js';
import { IngestRepository, type IngestRecord } from '../src/store/ingest.repository.js';
import { freshPgDatabase } from './pg.js';

// The same repository-level assertions on both engines of the query layer.

let pgDb: Awaited<ReturnType<typeof freshPgDatabase>>;
beforeAll(async () => {
  pgDb = await freshPgDatabase();
});
afterAll(() => pgDb?.drop());

const TABLES = 'settings, rooms, shots, versions, decisions, jobs, doc_updates, room_blobs, invites, frames, ingests, room_events, webhooks';

async function open(engine: 'sqlite' | 'postgres'): Promise<Db> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-store-'));
  if (engine === 'sqlite') return openDatabase(dir);
  const db = await openDatabase(dir, pgDb.url);
  await sql.raw(`TRUNCATE ${TABLES} RESTART IDENTITY`).execute(db); // one database per file: each test starts empty
  return db;
}

const shot = (id: string, fps = 24000 / 1001): Shot => ({ id, name: `Shot ${id}`, fps, dropFrame: true, width: 4096, height: 2160, frameCount: 2_000_000, startTimecode: '01:00:00;00' });

function version(id: string, shotId: string, createdAt = new Date().toISOString()): Omit<Version, 'number' | 'decisions'> {
  return {
    id,
    shotId,
    label: `label ${id}`,
    kind: 'source',
    status: 'pending',
    parentVersionId: null,
    media: { type: 'video', blob: 'a'.repeat(64), width: 4096, height: 2160, fps: 24, frameCount: 10 },
    createdBy: { id: 'u1', name: 'Ann' },
    createdAt,
    provenance: null,
  };
}

function job(id: string, createdAt: string, state: Job['state'] = 'queued'): Job {
  return { id, fix: 'inpaint', versionId: 'v1', frame: 3, region: { x: 0, y: 0, w: 1, h: 1 }, state, position: 1, progress: 0, tilesDone: 0, tilesTotal: 4, output: null, requestedBy: { id: 'u', name: 'U', role: 'director' }, createdAt, resultVersionId: null, error: null } as unknown as Job;
}

async function thrown(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe.each(['sqlite', 'postgres'] as const)('the store on %s', (engine) => {
  let db: Db;
  let rooms: RoomRepository;
  let versions: VersionRepository;
  beforeEach(async () => {
    db = await open(engine);
    rooms = new RoomRepository(db);
    versions = new VersionRepository(db);
    await rooms.create({ id: 'r1', name: "Dailies 'A'", createdAt: '2025-01-01T00:00:00.000Z' });
    await rooms.addShot('r1', shot('s1'), '2025-01-01T00:00:01.000Z');
  });
  afterEach(() => db.destroy());

  it('keeps rooms, shots and settings, with camelCase aliases and exact numbers', async () => {
    await rooms.create({ id: 'r0', name: 'Earlier', createdAt: '2024-12-31T00:00:00.000Z' });
    expect(await rooms.get('r1')).toEqual({ id: 'r1', name: "Dailies 'A'", createdAt: '2025-01-01T00:00:00.000Z' });
    expect(await rooms.get('nope')).toBeUndefined();
    expect((await rooms.list()).map((r) => r.id)).toEqual(['r0', 'r1']);
    const [s] = await rooms.shots('r1');
    expect(s).toEqual(shot('s1')); // fps a double, frameCount a number, dropFrame a boolean
    expect(typeof s.frameCount).toBe('number');

    expect(await rooms.setting('k')).toBeUndefined();
    await rooms.setSetting('k', 'one');
    await rooms.setSetting('k', 'two');
    expect(await rooms.setting('k')).toBe('two');
    expect(await rooms.settingOrInit('k', 'three')).toBe('two');
    expect(await rooms.settingOrInit('k2', 'first')).toBe('first');
  });

  it('numbers versions per shot, makes one version per job even when inserted twice, and records decisions', async () => {
    await rooms.addShot('r1', shot('s2'), '2025-01-01T00:00:02.000Z');
    const v1 = await versions.insert('r1', version('v1', 's1', '2025-01-02T00:00:00.000Z'), null);
    const v2 = await versions.insert('r1', version('v2', 's1', '2025-01-02T00:00:01.000Z'), 'job-a');
    const again = await versions.insert('r1', version('v2-again', 's1'), 'job-a');
    const other = await versions.insert('r1', version('v3', 's2', '2025-01-02T00:00:02.000Z'), 'job-b');
    expect([v1.number, v2.number, other.number]).toEqual([1, 2, 1]);
    expect(again).toEqual(v2);
    expect(await versions.get('v2-again')).toBeUndefined();
    expect((await versions.byJob('job-a'))?.id).toBe('v2');
    expect(await versions.byJob('job-z')).toBeUndefined();
    expect(await versions.roomOf('v3')).toBe('r1');
    expect((await versions.listForRoom('r1')).map((v) => v.id)).toEqual(['v1', 'v2', 'v3']);
    expect(v1).toMatchObject({ shotId: 's1', media: { type: 'video', width: 4096 }, createdBy: { name: 'Ann' }, provenance: null, decisions: [] });

    const d = (decision: DecisionRecord['decision'], at: string): DecisionRecord => ({ decision, note: `why ${decision}`, by: { id: 'd', name: 'Dee' }, at }) as DecisionRecord;
    await versions.decide('v1', 'r1', d('changes-requested', '2025-01-03T00:00:00.000Z'));
    const decided = await versions.decide('v1', 'r1', d('approved', '2025-01-03T00:00:01.000Z'));
    expect(decided.status).toBe('approved');
    expect(decided.decisions.map((x) => x.decision)).toEqual(['changes-requested', 'approved']);
    expect(decided.decisions[1]).toEqual(d('approved', '2025-01-03T00:00:01.000Z'));
    // The room's list reads the same decisions (in one query for all its versions).
    expect((await versions.listForRoom('r1')).find((v) => v.id === 'v1')).toEqual(decided);
  });

  it('makes one version per job when the same job is finished twice at once', async () => {
    const made = await Promise.all([1, 2, 3].map((i) => versions.insert('r1', version(`vj${i}`, 's1'), 'job-same')));
    expect(new Set(made.map((v) => v.id)).size).toBe(1);
    expect(await versions.listForRoom('r1')).toHaveLength(1);
  });

  it('keeps a job per idempotency key', async () => {
    const jobs = new JobRepository(db);
    await jobs.insert({ job: job('j1', '2025-01-01T00:00:01.000Z'), roomId: 'r1', params: { strength: 0.5 } }, 'key-1');
    await jobs.insert({ job: job('j2', '2025-01-01T00:00:02.000Z'), roomId: 'r1', params: {} }, 'key-2');
    const err = await thrown(jobs.insert({ job: job('j3', '2025-01-01T00:00:03.000Z'), roomId: 'r1', params: {} }, 'key-1'));
    expect(isUniqueViolation(err)).toBe(true);
    expect(await jobs.byIdempotencyKey('r1', 'key-1')).toMatchObject({ job: { id: 'j1' }, params: { strength: 0.5 } });
    expect(await jobs.byIdempotencyKey('r2', 'key-1')).toBeUndefined();
    await jobs.update({ job: job('j1', '2025-01-01T00:00:01.000Z', 'done'), roomId: 'r1', params: {} });
    expect((await jobs.listForRoom('r1')).map((r) => [r.job.id, r.job.state])).toEqual([['j1', 'done'], ['j2', 'queued']]);
    expect((await jobs.unfinished()).map((r) => r.job.id)).toEqual(['j2']);
  });

  it('round-trips binary doc updates in order, and replaces them in one transaction', async () => {
    const docs = new DocRepository(db);
    const updates = [new Uint8Array([0, 1, 2, 0]), new Uint8Array(Array.from({ length: 256 }, (_, i) => i)), new Uint8Array(70_000).fill(0xff), new Uint8Array([])];
    for (const u of updates) await docs.append('r1', u);
    await docs.append('r2', new Uint8Array([9]));
    const loaded = await docs.load('r1');
    expect(loaded.every((u) => u instanceof Uint8Array)).toBe(true);
    expect(loaded.map((u) => [...u])).toEqual(updates.map((u) => [...u]));
    expect(await docs.count('r1')).toBe(4);
    const rows = await docs.rows('r1');
    expect(rows.every((r) => typeof r.id === 'number')).toBe(true);
    expect((await docs.rows('r1', rows[1].id)).map((r) => r.data.length)).toEqual([70_000, 0]);
    await docs.replaceUpTo('r1', rows[1].id, new Uint8Array([5]));
    expect((await docs.load('r1')).map((u) => u.length)).toEqual([70_000, 0, 1]);
    await docs.replaceUpTo('r1', (await docs.rows('r1')).at(-1)!.id, new Uint8Array([7, 7]));
    expect((await docs.load('r1')).map((u) => [...u])).toEqual([[7, 7]]);
    expect(await docs.count('r2')).toBe(1);
  });

  it('appends a batch of updates of several rooms in order, all or none', async () => {
    const docs = new DocRepository(db);
    // Over one INSERT's worth (500 rows): written in several, in one transaction.
    const batch = Array.from({ length: 1203 }, (_, i) => ({ roomId: i % 3 ? 'ra' : 'rb', update: new Uint8Array([i & 0xff, i >> 8]) }));
    await docs.appendMany(batch);
    const back = (await docs.load('ra')).map((u) => u[0] + (u[1] << 8));
    expect(back).toEqual(batch.map((_, i) => i).filter((i) => i % 3));
    expect(await docs.count('rb')).toBe(401);
    // A batch whose last row the database refuses (no room: NOT NULL) stores none of its rows.
    const bad = [...batch.slice(0, 600), { roomId: null as unknown as string, update: new Uint8Array([1]) }];
    expect(await thrown(docs.appendMany(bad))).toBeTruthy();
    expect(await docs.count('ra')).toBe(802);
  });

  it('lists and revokes invites', async () => {
    const invites = new InviteRepository(db);
    await invites.insert({ id: 'i2', roomId: 'r1', role: 'artist', name: 'B', createdAt: '2025-01-02T00:00:00.000Z', expiresAt: '2025-02-01T00:00:00.000Z' });
    await invites.insert({ id: 'i1', roomId: 'r1', role: 'director', name: 'A', createdAt: '2025-01-01T00:00:00.000Z', expiresAt: '2025-02-01T00:00:00.000Z' });
    expect((await invites.listForRoom('r1'))[0]).toEqual({ id: 'i1', roomId: 'r1', role: 'director', name: 'A', createdAt: '2025-01-01T00:00:00.000Z', expiresAt: '2025-02-01T00:00:00.000Z', revokedAt: null });
    expect(await invites.isRevoked('i1')).toBe(false);
    expect(await invites.revoke('i1', 'first')).toBe(true);
    expect(await invites.revoke('i1', 'second')).toBe(true);
    expect(await invites.revoke('missing', 'x')).toBe(false);
    expect(await invites.isRevoked('i1')).toBe(true);
    expect((await invites.listForRoom('r1')).map((i) => [i.id, i.revokedAt])).toEqual([['i1', 'first'], ['i2', null]]);
  });

  it('appends events with increasing numeric ids and reads them back a page at a time', async () => {
    const events = new EventRepository(db);
    const appended = [];
    for (let i = 0; i < 5; i++) {
      appended.push(await events.append({ roomId: 'r1', at: `t${i}`, type: 'note.added', actor: i % 2 ? { id: 'a', name: 'A' } : null, data: { i } }, i === 2 ? 'job-1' : null));
    }
    expect(appended.every((e) => typeof e.id === 'number')).toBe(true);
    expect(appended.map((e) => e.id)).toEqual([...appended.map((e) => e.id)].sort((a, b) => a - b));
    expect(new Set(appended.map((e) => e.id)).size).toBe(5);
    const paged = [];
    for await (const e of events.iterate('r1', 2)) paged.push(e);
    expect(paged).toEqual(appended);
    expect(await events.list('r2')).toEqual([]);
    expect(await events.has('r1', 'note.added', 'job-1')).toBe(true);
    expect(await events.has('r1', 'note.added', 'job-2')).toBe(false);
  });

  it('keeps webhooks and one signing secret', async () => {
    const hooks = new WebhookRepository(db);
    const a = await hooks.add('r1', 'https://a.example/hook');
    await hooks.add('r2', 'https://b.example/hook');
    expect(await hooks.list('r1')).toEqual([a]);
    expect(await hooks.list()).toHaveLength(2);
    expect(await hooks.remove(a.id)).toBe(true);
    expect(await hooks.remove(a.id)).toBe(false);
    const secret = await hooks.secret();
    expect(secret).toMatch(/^[\w-]{43}$/);
    expect(await hooks.secret()).toBe(secret);
  });

  it('grants blobs once, caches frames and keeps ingests', async () => {
    const sha = 'b'.repeat(64);
    await rooms.grantBlob('r1', sha);
    await rooms.grantBlob('r1', sha); // ON CONFLICT DO NOTHING
    expect(await rooms.mayReadBlob('r1', sha)).toBe(true);
    expect(await rooms.mayReadBlob('r2', sha)).toBe(false);

    const frames = new FrameRepository(db);
    await frames.put('v1', 12, 'c'.repeat(64));
    await frames.put('v1', 12, 'd'.repeat(64)); // replaces
    expect(await frames.get('v1', 12)).toBe('d'.repeat(64));
    expect(await frames.get('v1', 13)).toBeUndefined();

    const ingests = new IngestRepository(db);
    const rec = (id: string, state: IngestRecord['state'], createdAt: string) => ({ id, roomId: 'r1', state, createdAt, updatedAt: createdAt, files: [{ name: 'a.mov', size: 3 }] }) as IngestRecord;
    await ingests.insert(rec('g1', 'uploading', '2025-01-01T00:00:00.000Z'));
    await ingests.insert(rec('g2', 'queued', '2025-01-01T00:00:01.000Z'));
    await ingests.update({ ...rec('g1', 'processing', '2025-01-01T00:00:00.000Z'), updatedAt: 'later' });
    expect(await ingests.get('g1')).toMatchObject({ state: 'processing', updatedAt: 'later', files: [{ size: 3 }] });
    expect((await ingests.listForRoom('r1')).map((r) => r.id)).toEqual(['g2', 'g1']);
    expect((await ingests.inStates(['queued', 'processing'])).map((r) => r.id)).toEqual(['g1', 'g2']);
    expect(await ingests.inStates([])).toEqual([]);
  });

  it('rolls a transaction back on throw, a nested one to its savepoint', async () => {
    const count = async () => (await rooms.list()).length;
    expect(
      await thrown(
        versions.transaction(async (trx) => {
          await rooms.in(trx).create({ id: 'x1', name: 'x', createdAt: 'z' });
          throw new Error('boom');
        }),
      ),
    ).toMatchObject({ message: 'boom' });
    expect(await count()).toBe(1);

    const result = await versions.transaction(async (trx) => {
      const r = rooms.in(trx);
      await r.create({ id: 'x2', name: 'kept', createdAt: 'z' });
      try {
        await transaction(trx, async (inner) => {
          await rooms.in(inner).create({ id: 'x3', name: 'undone', createdAt: 'z' });
          throw new Error('inner');
        });
      } catch {
        // the outer transaction goes on
      }
      await transaction(trx, (inner) => rooms.in(inner).create({ id: 'x4', name: 'kept too', createdAt: 'z' }));
      return 'done';
    });
    expect(result).toBe('done');
    expect((await rooms.list()).map((r) => r.id)).toEqual(['r1', 'x2', 'x4']);

    // A committed savepoint is still undone when its outer transaction throws.
    expect(
      await thrown(
        versions.transaction(async (trx) => {
          await transaction(trx, (inner) => rooms.in(inner).create({ id: 'x5', name: 'x', createdAt: 'z' }));
          throw new Error('outer');
        }),
      ),
    ).toMatchObject({ message: 'outer' });
    expect(await rooms.get('x5')).toBeUndefined();
    // A unique violation inside a savepoint (PostgreSQL aborts the transaction there) lets the outer one go on.
    await versions.transaction(async (trx) => {
      expect(isUniqueViolation(await thrown(transaction(trx, (inner) => rooms.in(inner).create({ id: 'x2', name: 'dup', createdAt: 'z' }))))).toBe(true);
      await rooms.in(trx).create({ id: 'x6', name: 'after', createdAt: 'z' });
    });
    expect(await count()).toBe(4); // and is usable afterwards
  });

  it('returns numbers for counts and aggregates, and counts of changed rows', async () => {
    await versions.insert('r1', version('v1', 's1'), null);
    const { rows } = await sql<Record<string, unknown>>`SELECT COUNT(*) AS n, COALESCE(MAX(number), 0) + 1 AS next, SUM(frame_count) AS frames FROM shots LEFT JOIN versions ON versions.shot_id = shots.id`.execute(db);
    expect(rows[0]).toEqual({ n: 1, next: 2, frames: 2_000_000 });
    const r = await db.updateTable('rooms').set({ name: 'renamed' }).where('id', '=', 'r1').executeTakeFirst();
    expect(Number(r.numUpdatedRows)).toBe(1);
    expect(Number((await db.updateTable('rooms').set({ name: 'x' }).where('id', '=', 'none').executeTakeFirst()).numUpdatedRows)).toBe(0);
    const ids = await db.insertInto('doc_updates').values([{ room_id: 'r1', data: Buffer.from('a') }, { room_id: 'r1', data: Buffer.from('b') }]).returning('id').execute();
    expect(typeof ids[0].id).toBe('number');
    expect(ids[1].id).toBe(ids[0].id + 1);
  });
});

describe('the store on postgres only', () => {
  it('makes one version per job and distinct numbers when two nodes insert at once', async () => {
    const a = await open('postgres');
    const b = await open('postgres');
    try {
      await new RoomRepository(a).create({ id: 'r1', name: 'r', createdAt: 'z' });
      await new RoomRepository(a).addShot('r1', shot('s1'), 'z');
      const onB = new VersionRepository(b);
      // A reads the next number, then B (another node) commits its own insert before A writes.
      const racingA = (race: () => Promise<unknown>): Db => {
        let raced = false;
        const nextNumber = new WeakSet<object>();
        const plugin: KyselyPlugin = {
          transformQuery(args) {
            const node = args.node as { kind: string; from?: { froms: { table?: { identifier?: { name?: string } } }[] } };
            if (node.kind === 'SelectQueryNode' && node.from?.froms[0]?.table?.identifier?.name === 'versions' && JSON.stringify(node).includes('"max"')) nextNumber.add(args.queryId);
            return args.node;
          },
          async transformResult(args) {
            if (!raced && nextNumber.has(args.queryId)) {
              raced = true;
              await race();
            }
            return args.result;
          },
        };
        return a.withPlugin(plugin);
      };
      const sameJob = await new VersionRepository(racingA(() => onB.insert('r1', version('vb', 's1'), 'job-1'))).insert('r1', version('va', 's1'), 'job-1');
      expect(sameJob.id).toBe('vb');
      const otherJob = await new VersionRepository(racingA(() => onB.insert('r1', version('vc', 's1'), 'job-2'))).insert('r1', version('vd', 's1'), 'job-3');
      expect(otherJob.number).toBe(3);
      const all = (await new VersionRepository(a).listForRoom('r1')).map((v) => [v.id, v.number]);
      expect(all.sort((x, y) => Number(x[1]) - Number(y[1]))).toEqual([['vb', 1], ['vc', 2], ['vd', 3]]);
    } finally {
      await a.destroy();
      await b.destroy();
    }
  });

  it('opens a lost connection again between transactions, never inside one', async () => {
    const db = await open('postgres');
    const admin = new pg.Client({ connectionString: pgDb.url });
    await admin.connect();
    // Ends every connection of the pool (application_name 'loupe'), as a server restart would.
    const kill = () => admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'loupe'");
    try {
      expect((await sql<{ one: number }>`SELECT 1 AS one`.execute(db)).rows).toEqual([{ one: 1 }]);
      await kill();
      await new Promise((r) => setTimeout(r, 200));
      expect((await sql<{ two: number }>`SELECT 2 AS two`.execute(db)).rows).toEqual([{ two: 2 }]);

      const err = await thrown(
        db.transaction().execute(async (trx) => {
          await trx.insertInto('rooms').values({ id: 'lost', name: 'x', created_at: 'y' }).execute();
          await kill();
          await sql`SELECT pg_sleep(0.2)`.execute(trx); // fails: the transaction is gone with its connection
        }),
      );
      expect(err).toBeInstanceOf(Error);
      expect(await new RoomRepository(db).get('lost')).toBeUndefined();
    } finally {
      await admin.end();
      await db.destroy();
    }
  });

  it('reports errors of PostgreSQL with their code, and an unreachable server clearly', async () => {
    const db = await open('postgres');
    try {
      expect(await thrown(sql`SELECT nope FROM rooms`.execute(db))).toMatchObject({ message: expect.stringMatching(/column "nope" does not exist/) });
      const err = await thrown(db.insertInto('rooms').values({ id: null as unknown as string, name: 'x', created_at: 'y' }).execute());
      expect((err as { code?: string }).code).toBe('23502');
      expect((await sql<{ one: number }>`SELECT 1 AS one`.execute(db)).rows).toEqual([{ one: 1 }]); // the pool survives
    } finally {
      await db.destroy();
    }
    expect(await thrown(openDatabase(os.tmpdir(), 'postgres://postgres@127.0.0.1:1/none'))).toMatchObject({ message: expect.stringMatching(/cannot connect to PostgreSQL/) });
  });

  it('migrates a new database once when several nodes start on it at once', async () => {
    const fresh = await freshPgDatabase();
    try {
      const dbs = await Promise.all([1, 2, 3].map(() => openDatabase(os.tmpdir(), fresh.url)));
      const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(dbs[0]);
      expect(rows.map((r) => r.name)).toEqual(migrationNames);
      await new RoomRepository(dbs[1]).create({ id: 'r', name: 'n', createdAt: 'z' });
      expect(await new RoomRepository(dbs[2]).get('r')).toMatchObject({ name: 'n' });
      await Promise.all(dbs.map((d) => d.destroy()));
    } finally {
      await fresh.drop();
    }
  });
});

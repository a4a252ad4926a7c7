import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DecisionRecord, Job, Shot, Version } from '@loupe/shared';
import { isUniqueViolation, openDatabase, type Db } from '../src/store/database.js';
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

function open(engine: 'sqlite' | 'postgres'): Db {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-store-'));
  if (engine === 'sqlite') return openDatabase(dir);
  const db = openDatabase(dir, pgDb.url);
  db.exec(`TRUNCATE ${TABLES} RESTART IDENTITY`); // one database per file: each test starts empty
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

describe.each(['sqlite', 'postgres'] as const)('the store on %s', (engine) => {
  let db: Db;
  let rooms: RoomRepository;
  let versions: VersionRepository;
  beforeEach(() => {
    db = open(engine);
    rooms = new RoomRepository(db);
    versions = new VersionRepository(db);
    rooms.create({ id: 'r1', name: "Dailies 'A'", createdAt: '2025-01-01T00:00:00.000Z' });
    rooms.addShot('r1', shot('s1'), '2025-01-01T00:00:01.000Z');
  });
  afterEach(() => db.close());

  it('keeps rooms, shots and settings, with camelCase aliases and exact numbers', () => {
    rooms.create({ id: 'r0', name: 'Earlier', createdAt: '2024-12-31T00:00:00.000Z' });
    expect(rooms.get('r1')).toEqual({ id: 'r1', name: "Dailies 'A'", createdAt: '2025-01-01T00:00:00.000Z' });
    expect(rooms.get('nope')).toBeUndefined();
    expect(rooms.list().map((r) => r.id)).toEqual(['r0', 'r1']);
    const [s] = rooms.shots('r1');
    expect(s).toEqual(shot('s1')); // fps a double, frameCount a number, dropFrame a boolean
    expect(typeof s.frameCount).toBe('number');

    expect(rooms.setting('k')).toBeUndefined();
    rooms.setSetting('k', 'one');
    rooms.setSetting('k', 'two');
    expect(rooms.setting('k')).toBe('two');
    expect(rooms.settingOrInit('k', 'three')).toBe('two');
    expect(rooms.settingOrInit('k2', 'first')).toBe('first');
  });

  it('numbers versions per shot, makes one version per job even when inserted twice, and records decisions', () => {
    rooms.addShot('r1', shot('s2'), '2025-01-01T00:00:02.000Z');
    const v1 = versions.insert('r1', version('v1', 's1', '2025-01-02T00:00:00.000Z'), null);
    const v2 = versions.insert('r1', version('v2', 's1', '2025-01-02T00:00:01.000Z'), 'job-a');
    const again = versions.insert('r1', version('v2-again', 's1'), 'job-a');
    const other = versions.insert('r1', version('v3', 's2', '2025-01-02T00:00:02.000Z'), 'job-b');
    expect([v1.number, v2.number, other.number]).toEqual([1, 2, 1]);
    expect(again).toEqual(v2);
    expect(versions.get('v2-again')).toBeUndefined();
    expect(versions.byJob('job-a')?.id).toBe('v2');
    expect(versions.byJob('job-z')).toBeUndefined();
    expect(versions.roomOf('v3')).toBe('r1');
    expect(versions.listForRoom('r1').map((v) => v.id)).toEqual(['v1', 'v2', 'v3']);
    expect(v1).toMatchObject({ shotId: 's1', media: { type: 'video', width: 4096 }, createdBy: { name: 'Ann' }, provenance: null, decisions: [] });

    const d = (decision: DecisionRecord['decision'], at: string): DecisionRecord => ({ decision, note: `why ${decision}`, by: { id: 'd', name: 'Dee' }, at }) as DecisionRecord;
    versions.decide('v1', 'r1', d('changes-requested', '2025-01-03T00:00:00.000Z'));
    const decided = versions.decide('v1', 'r1', d('approved', '2025-01-03T00:00:01.000Z'));
    expect(decided.status).toBe('approved');
    expect(decided.decisions.map((x) => x.decision)).toEqual(['changes-requested', 'approved']);
    expect(decided.decisions[1]).toEqual(d('approved', '2025-01-03T00:00:01.000Z'));
  });

  it('keeps a job per idempotency key', () => {
    const jobs = new JobRepository(db);
    jobs.insert({ job: job('j1', '2025-01-01T00:00:01.000Z'), roomId: 'r1', params: { strength: 0.5 } }, 'key-1');
    jobs.insert({ job: job('j2', '2025-01-01T00:00:02.000Z'), roomId: 'r1', params: {} }, 'key-2');
    let err: unknown;
    try {
      jobs.insert({ job: job('j3', '2025-01-01T00:00:03.000Z'), roomId: 'r1', params: {} }, 'key-1');
    } catch (e) {
      err = e;
    }
    expect(isUniqueViolation(err)).toBe(true);
    expect(jobs.byIdempotencyKey('r1', 'key-1')).toMatchObject({ job: { id: 'j1' }, params: { strength: 0.5 } });
    expect(jobs.byIdempotencyKey('r2', 'key-1')).toBeUndefined();
    jobs.update({ job: job('j1', '2025-01-01T00:00:01.000Z', 'done'), roomId: 'r1', params: {} });
    expect(jobs.listForRoom('r1').map((r) => [r.job.id, r.job.state])).toEqual([['j1', 'done'], ['j2', 'queued']]);
    expect(jobs.unfinished().map((r) => r.job.id)).toEqual(['j2']);
  });

  it('round-trips binary doc updates in order, and replaces them in one transaction', () => {
    const docs = new DocRepository(db);
    const updates = [new Uint8Array([0, 1, 2, 0]), new Uint8Array(Array.from({ length: 256 }, (_, i) => i)), new Uint8Array(70_000).fill(0xff), new Uint8Array([])];
    for (const u of updates) docs.append('r1', u);
    docs.append('r2', new Uint8Array([9]));
    const loaded = docs.load('r1');
    expect(loaded.every((u) => u instanceof Uint8Array)).toBe(true);
    expect(loaded.map((u) => [...u])).toEqual(updates.map((u) => [...u]));
    expect(docs.count('r1')).toBe(4);
    const rows = docs.rows('r1');
    expect(rows.every((r) => typeof r.id === 'number')).toBe(true);
    expect(docs.rows('r1', rows[1].id).map((r) => r.data.length)).toEqual([70_000, 0]);
    docs.replaceUpTo('r1', rows[1].id, new Uint8Array([5]));
    expect(docs.load('r1').map((u) => u.length)).toEqual([70_000, 0, 1]);
    docs.replaceUpTo('r1', docs.rows('r1').at(-1)!.id, new Uint8Array([7, 7]));
    expect(docs.load('r1').map((u) => [...u])).toEqual([[7, 7]]);
    expect(docs.count('r2')).toBe(1);
  });

  it('lists and revokes invites', () => {
    const invites = new InviteRepository(db);
    invites.insert({ id: 'i2', roomId: 'r1', role: 'artist', name: 'B', createdAt: '2025-01-02T00:00:00.000Z', expiresAt: '2025-02-01T00:00:00.000Z' });
    invites.insert({ id: 'i1', roomId: 'r1', role: 'director', name: 'A', createdAt: '2025-01-01T00:00:00.000Z', expiresAt: '2025-02-01T00:00:00.000Z' });
    expect(invites.listForRoom('r1')[0]).toEqual({ id: 'i1', roomId: 'r1', role: 'director', name: 'A', createdAt: '2025-01-01T00:00:00.000Z', expiresAt: '2025-02-01T00:00:00.000Z', revokedAt: null });
    expect(invites.isRevoked('i1')).toBe(false);
    expect(invites.revoke('i1', 'first')).toBe(true);
    expect(invites.revoke('i1', 'second')).toBe(true);
    expect(invites.revoke('missing', 'x')).toBe(false);
    expect(invites.isRevoked('i1')).toBe(true);
    expect(invites.listForRoom('r1').map((i) => [i.id, i.revokedAt])).toEqual([['i1', 'first'], ['i2', null]]);
  });

  it('appends events with increasing numeric ids and reads them back a page at a time', () => {
    const events = new EventRepository(db);
    const appended = Array.from({ length: 5 }, (_, i) =>
      events.append({ roomId: 'r1', at: `t${i}`, type: 'note.added', actor: i % 2 ? { id: 'a', name: 'A' } : null, data: { i } }, i === 2 ? 'job-1' : null),
    );
    expect(appended.every((e) => typeof e.id === 'number')).toBe(true);
    expect(appended.map((e) => e.id)).toEqual([...appended.map((e) => e.id)].sort((a, b) => a - b));
    expect(new Set(appended.map((e) => e.id)).size).toBe(5);
    expect([...events.iterate('r1', 2)]).toEqual(appended);
    expect(events.list('r2')).toEqual([]);
    expect(events.has('r1', 'note.added', 'job-1')).toBe(true);
    expect(events.has('r1', 'note.added', 'job-2')).toBe(false);
  });

  it('keeps webhooks and one signing secret', () => {
    const hooks = new WebhookRepository(db);
    const a = hooks.add('r1', 'https://a.example/hook');
    hooks.add('r2', 'https://b.example/hook');
    expect(hooks.list('r1')).toEqual([a]);
    expect(hooks.list()).toHaveLength(2);
    expect(hooks.remove(a.id)).toBe(true);
    expect(hooks.remove(a.id)).toBe(false);
    const secret = hooks.secret();
    expect(secret).toMatch(/^[\w-]{43}$/);
    expect(hooks.secret()).toBe(secret);
  });

  it('grants blobs once, caches frames and keeps ingests', () => {
    const sha = 'b'.repeat(64);
    rooms.grantBlob('r1', sha);
    rooms.grantBlob('r1', sha); // INSERT OR IGNORE
    expect(rooms.mayReadBlob('r1', sha)).toBe(true);
    expect(rooms.mayReadBlob('r2', sha)).toBe(false);

    const frames = new FrameRepository(db);
    frames.put('v1', 12, 'c'.repeat(64));
    frames.put('v1', 12, 'd'.repeat(64)); // replaces
    expect(frames.get('v1', 12)).toBe('d'.repeat(64));
    expect(frames.get('v1', 13)).toBeUndefined();

    const ingests = new IngestRepository(db);
    const rec = (id: string, state: IngestRecord['state'], createdAt: string) => ({ id, roomId: 'r1', state, createdAt, updatedAt: createdAt, files: [{ name: 'a.mov', size: 3 }] }) as IngestRecord;
    ingests.insert(rec('g1', 'uploading', '2025-01-01T00:00:00.000Z'));
    ingests.insert(rec('g2', 'queued', '2025-01-01T00:00:01.000Z'));
    ingests.update({ ...rec('g1', 'processing', '2025-01-01T00:00:00.000Z'), updatedAt: 'later' });
    expect(ingests.get('g1')).toMatchObject({ state: 'processing', updatedAt: 'later', files: [{ size: 3 }] });
    expect(ingests.listForRoom('r1').map((r) => r.id)).toEqual(['g2', 'g1']);
    expect(ingests.inStates(['queued', 'processing']).map((r) => r.id)).toEqual(['g1', 'g2']);
    expect(ingests.inStates([])).toEqual([]);
  });

  it('rolls a transaction back on throw, a nested one to its savepoint', () => {
    const count = () => rooms.list().length;
    expect(() =>
      versions.transaction(() => {
        rooms.create({ id: 'x1', name: 'x', createdAt: 'z' });
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(count()).toBe(1);

    const result = versions.transaction(() => {
      rooms.create({ id: 'x2', name: 'kept', createdAt: 'z' });
      try {
        versions.transaction(() => {
          rooms.create({ id: 'x3', name: 'undone', createdAt: 'z' });
          throw new Error('inner');
        });
      } catch {
        // the outer transaction goes on
      }
      versions.transaction(() => rooms.create({ id: 'x4', name: 'kept too', createdAt: 'z' }));
      return 'done';
    });
    expect(result).toBe('done');
    expect(rooms.list().map((r) => r.id)).toEqual(['r1', 'x2', 'x4']);

    // A committed savepoint is still undone when its outer transaction throws.
    expect(() =>
      versions.transaction(() => {
        versions.transaction(() => rooms.create({ id: 'x5', name: 'x', createdAt: 'z' }));
        throw new Error('outer');
      }),
    ).toThrow('outer');
    expect(rooms.get('x5')).toBeUndefined();

    // Passes arguments through, refuses async functions (their statements would escape the transaction).
    expect(db.transaction((a: number, b: number) => a + b)(2, 3)).toBe(5);
    expect(() => db.transaction(async () => 1)()).toThrow(TypeError);
    expect(count()).toBe(3); // and is usable afterwards
  });

  it('returns numbers for counts and aggregates, and run() results like better-sqlite3', () => {
    const n = db.prepare('SELECT COUNT(*) AS n, COALESCE(MAX(number), 0) + 1 AS next, SUM(frame_count) AS frames FROM shots LEFT JOIN versions ON versions.shot_id = shots.id').get() as Record<string, unknown>;
    expect(n).toEqual({ n: 1, next: 1, frames: 2_000_000 });
    const r = db.prepare('UPDATE rooms SET name = ? WHERE id = ?').run('renamed', 'r1');
    expect(r.changes).toBe(1);
    expect(db.prepare('UPDATE rooms SET name = ? WHERE id = ?').run('x', 'none').changes).toBe(0);
    const ins = db.prepare('INSERT INTO doc_updates (room_id, data) VALUES (?, ?)');
    const a = Number(ins.run('r1', Buffer.from('a')).lastInsertRowid);
    expect(Number(ins.run('r1', Buffer.from('b')).lastInsertRowid)).toBe(a + 1);
    // A '?' inside a string literal is not a parameter.
    expect(db.prepare("SELECT name || '?' AS q FROM rooms WHERE id = ?").get('r1')).toEqual({ q: 'renamed?' });
  });
});

describe('the store on postgres only', () => {
  it('makes one version per job and distinct numbers when two nodes insert at once', () => {
    const a = open('postgres');
    const b = open('postgres');
    try {
      new RoomRepository(a).create({ id: 'r1', name: 'r', createdAt: 'z' });
      new RoomRepository(a).addShot('r1', shot('s1'), 'z');
      const onB = new VersionRepository(b);
      // A reads the next number, then B (another node) commits its own insert before A writes.
      const racingA = (race: () => void): Db => {
        let raced = false;
        return {
          ...a,
          transaction: a.transaction.bind(a),
          exec: a.exec.bind(a),
          close: a.close.bind(a),
          prepare: (sql: string) => {
            if (!raced && sql.includes('INSERT INTO versions')) {
              raced = true;
              race();
            }
            return a.prepare(sql);
          },
        };
      };
      const sameJob = new VersionRepository(racingA(() => onB.insert('r1', version('vb', 's1'), 'job-1'))).insert('r1', version('va', 's1'), 'job-1');
      expect(sameJob.id).toBe('vb');
      const otherJob = new VersionRepository(racingA(() => onB.insert('r1', version('vc', 's1'), 'job-2'))).insert('r1', version('vd', 's1'), 'job-3');
      expect(otherJob.number).toBe(3);
      const all = new VersionRepository(a).listForRoom('r1').map((v) => [v.id, v.number]);
      expect(all.sort((x, y) => Number(x[1]) - Number(y[1]))).toEqual([['vb', 1], ['vc', 2], ['vd', 3]]);
    } finally {
      a.close();
      b.close();
    }
  });

  it('opens a lost connection again between transactions, never inside one', async () => {
    const db = open('postgres');
    const admin = open('postgres');
    const kill = () => admin.prepare('SELECT pg_terminate_backend(?)').get((db.prepare('SELECT pg_backend_pid() AS pid').get() as { pid: number }).pid);
    try {
      kill();
      await new Promise((r) => setTimeout(r, 200));
      expect(db.prepare('SELECT 2 AS two').get()).toEqual({ two: 2 });

      expect(() =>
        db.transaction(() => {
          db.prepare("INSERT INTO rooms (id, name, created_at) VALUES ('lost', 'x', 'y')").run();
          kill();
          db.prepare('SELECT pg_sleep(0.2)').get(); // fails: the transaction is gone with its connection
        })(),
      ).toThrow();
      expect(new RoomRepository(db).get('lost')).toBeUndefined();
    } finally {
      db.close();
      admin.close();
    }
  });

  it('reports errors of PostgreSQL with their code, and an unreachable server clearly', () => {
    const db = open('postgres');
    try {
      expect(() => db.prepare('SELECT nope FROM rooms').all()).toThrow(/column "nope" does not exist/);
      let err: { code?: string } | undefined;
      try {
        db.prepare('INSERT INTO rooms (id, name, created_at) VALUES (?, ?, ?)').run(null, 'x', 'y');
      } catch (e) {
        err = e as { code?: string };
      }
      expect(err?.code).toBe('23502');
      expect(db.prepare('SELECT 1 AS one').get()).toEqual({ one: 1 }); // the connection survives
    } finally {
      db.close();
    }
    expect(() => openDatabase(os.tmpdir(), 'postgres://postgres@127.0.0.1:1/none')).toThrow(/cannot connect to PostgreSQL/);
  });
});

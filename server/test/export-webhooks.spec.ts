import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notesMap, type Job, type Note, type Version } from '@loupe/shared';
import { checkWebhookUrl } from '../src/review/webhook.service.js';
import { autoCleanup, demoRoom, emitAck, joinRoom, testServer, until, type Member } from './helpers.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const cleanup = autoCleanup();

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  status: number;
}

/** A webhook receiver on loopback; `answer` picks each request's status (and may delay it). */
async function receiver(answer: (body: Record<string, unknown>, n: number) => Promise<number> | number = () => 200) {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString();
      const status = await answer(JSON.parse(body), got.length);
      got.push({ headers: req.headers, body, status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got, close: () => new Promise((r) => server.close(r)) };
}

const verify = (secret: string, r: Received) =>
  r.headers['x-loupe-signature'] === `sha256=${crypto.createHmac('sha256', secret).update(r.body).digest('hex')}`;

function writeNote(m: Member, p: Pick<Note, 'versionId' | 'frame' | 'text'> & Partial<Note>): Note {
  const n: Note = {
    id: crypto.randomUUID(), parentId: null, frameEnd: p.frame, author: { id: m.state.member.id, name: m.state.member.name },
    createdAt: new Date().toISOString(), status: 'open', resolvedBy: null, annotationIds: [], ...p,
  };
  m.doc.transact(() => notesMap(m.doc).set(n.id, n));
  return n;
}

describe('webhooks', () => {
  const saved = { ...process.env };
  let global: Awaited<ReturnType<typeof receiver>>;
  let failedOnce = false;
  beforeAll(async () => {
    // The server-wide receiver refuses the first note it gets once, to see the retry.
    global = await receiver((body) => (body.event === 'note.added' && !failedOnce ? ((failedOnce = true), 503) : 200));
    process.env.LOUPE_WEBHOOKS = `${global.url}, not a url`;
    process.env.LOUPE_WEBHOOK_RETRY_MS = '50';
    delete process.env.LOUPE_WEBHOOK_SECRET;
  });
  afterAll(async () => {
    process.env = saved;
    await global.close();
  });

  it('posts signed events for notes, finished fixes and decisions, retries failures, and never holds up the room', async () => {
    const server = await testServer();
    cleanup.push(() => server.close());
    const { room, token } = await demoRoom(server, 'Hooks');
    // A slow per-room receiver, registered from the command line.
    const slow = await receiver(() => new Promise((r) => setTimeout(() => r(200), 3000)));
    cleanup.push(() => slow.close());
    const cli = (...args: string[]) => run('node', ['server/bin/loupe.mjs', '--data', server.dataDir, 'webhook', ...args], { cwd: ROOT });
    // Each CLI run starts the TypeScript sources afresh (seconds on two cores): run them side by side.
    // `--` ends the options: a room id may start with '-'.
    const [added, printed] = await Promise.all([cli('add', '--', room.id, slow.url), cli('secret')]);
    const hookId = added.stdout.trim();
    expect(() => checkWebhookUrl('ftp://example.com/x')).toThrow(expect.objectContaining({ code: 'WEBHOOK_URL_INVALID' }));
    const secret = printed.stdout.trim();
    expect((await server.services.rooms.setting('webhook_secret'))).toBe(secret);

    const artist = await joinRoom(server.url, room.id, token('artist'));
    const director = await joinRoom(server.url, room.id, token('director'));
    cleanup.push(() => artist.close(), () => director.close());
    const source = artist.state.versions[0];

    const n1 = writeNote(artist, { versionId: source.id, frame: 12, text: 'Edge chatter' });
    await until(() => notesMap(director.doc).has(n1.id), 'the note on the director');
    writeNote(director, { versionId: source.id, frame: 12, text: 'Agreed', parentId: n1.id });

    const created = new Promise<Version>((r) => director.socket.once('version:created', r));
    const ack = await emitAck<{ job: Job }>(artist.socket, 'fix:request', {
      room: room.id, versionId: source.id, frame: 5, region: { x: 0.1, y: 0.1, width: 128 / 1920, height: 128 / 1080 },
      fix: 'upscale-x2', params: {}, idempotencyKey: 'hook-fix-00001',
    });
    if (!ack.ok) throw new Error(ack.message);
    const ai = await created;
    for (const decision of ['approved', 'changes-requested'] as const) {
      const t0 = Date.now();
      const r = await emitAck(director.socket, 'version:decide', { room: room.id, versionId: ai.id, decision, note: `${decision}!` });
      expect(r.ok).toBe(true);
      expect(Date.now() - t0).toBeLessThan(2000); // the slow receiver (3 s an answer) does not hold the decision up
    }

    // A DCC tool (the example plug-in) draws an arrow and writes a note over y-websocket.
    const nuke = await server.services.roomService.invite(room.id, 'artist', 'Nuke');
    const [plugin, list] = await Promise.all([
      run('node', ['examples/yjs-plugin.mjs', '--server', server.url, '--room', room.id, '--token', nuke.token, '--version', source.id, '--frame', '40', '--note', 'From Nuke', '--json'], { cwd: ROOT }),
      cli('list', '--json', '--', room.id),
    ]);
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({ id: 'env', url: global.url }),
      expect.objectContaining({ id: hookId, roomId: room.id, url: slow.url }),
    ]);
    const out = JSON.parse(plugin.stdout);
    expect(out.kept).toBe(true);
    expect(out.notes.map((t: { note: Note; replies: Note[] }) => [t.note.text, t.replies.map((r) => r.text)])).toEqual([['Edge chatter', ['Agreed']]]);
    const arrow = server.docs.get(room.id)!.doc.getMap('annotations').get(out.arrow.id) as { kind: string; author: { name: string } };
    expect(arrow).toMatchObject({ kind: 'arrow', author: { name: 'Nuke' } });

    const kinds = ['note.added', 'note.added', 'fix.finished', 'version.decided', 'version.decided', 'note.added'];
    await until(() => global.got.filter((r) => r.status === 200).length === kinds.length && slow.got.length === kinds.length, 'every event on both receivers', 20_000);

    for (const recv of [global, slow]) {
      const ok = recv.got.filter((r) => r.status === 200);
      for (const r of recv.got) {
        expect(verify(secret, r), r.body).toBe(true);
        expect(r.headers['content-type']).toBe('application/json');
        expect(JSON.parse(r.body).event).toBe(r.headers['x-loupe-event']);
      }
      // Deliveries run side by side and may arrive out of order: `seq` orders them.
      const bodies = ok.map((r) => JSON.parse(r.body)).sort((a, b) => a.seq - b.seq);
      expect(bodies.map((b) => b.event).sort()).toEqual([...kinds].sort());
      for (const b of bodies) expect(b.room).toEqual({ id: room.id, name: 'Hooks' });
      const notes = bodies.filter((b) => b.event === 'note.added');
      expect(notes.map((b) => [b.data.note.text, b.data.note.reply, b.actor.name, b.data.timecode, b.data.version.label])).toEqual(
        expect.arrayContaining([
          ['Edge chatter', false, 'Artist', '00:00:00:12', 'v001'],
          ['Agreed', true, 'Director', '00:00:00:12', 'v001'],
          ['From Nuke', false, 'Nuke', '00:00:01:16', 'v001'],
        ]),
      );
      expect(bodies.find((b) => b.event === 'fix.finished')).toMatchObject({
        actor: { name: 'Artist', role: 'artist' },
        data: { jobId: ack.job.id, version: { id: ai.id, aiMade: true, fix: 'upscale-x2', model: { id: 'esrgan-slim-x2' }, label: 'v002' } },
      });
      expect(bodies.filter((b) => b.event === 'version.decided').map((b) => [b.data.decision, b.data.previous, b.data.note, b.actor.role])).toEqual([
        ['approved', 'pending', 'approved!', 'director'],
        ['changes-requested', 'approved', 'changes-requested!', 'director'],
      ]);
    }
    // The refused delivery was tried again: same delivery id and body, next attempt.
    const [refused] = global.got.filter((r) => r.status === 503);
    const retried = global.got.find((r) => r.status === 200 && r.headers['x-loupe-delivery'] === refused.headers['x-loupe-delivery'])!;
    expect(retried.body).toBe(refused.body);
    expect([refused.headers['x-loupe-attempt'], retried.headers['x-loupe-attempt']]).toEqual(['1', '2']);

    // The DCC tool's visit is in the session log.
    const log = await (await fetch(`${server.url}/export/${room.id}/events.jsonl?token=${token('director')}`)).text();
    const joined = log.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.type === 'member.joined');
    expect(joined).toContainEqual(expect.objectContaining({ actor: expect.objectContaining({ name: 'Nuke', role: 'artist' }), data: { via: 'yjs' } }));
  });
});

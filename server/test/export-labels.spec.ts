/**
 * Honest labels, end to end: a version computed by a learned model (ESRGAN) and one computed by an
 * algorithm (the colour graph) are told apart in the fix catalogue, in their provenance, and in every
 * export an editor takes away (CSV, EDL, OTIO, PDF, the approved bundle) and the event log.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseCsv } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { notesMap, type AvailableFix, type Job, type Note, type Version } from '@loupe/shared';
import { autoCleanup, demoRoom, emitAck, joinRoom, testServer, until, type Member } from './helpers.js';
import { parseEdl, parseOtio, readZip } from './export-readers.js';

const run = promisify(execFile);
const cleanup = autoCleanup();

function note(member: Member, versionId: string, frame: number, text: string): Note {
  const n: Note = {
    id: crypto.randomUUID(), parentId: null, versionId, frame, frameEnd: frame, text,
    author: { id: member.state.member.id, name: member.state.member.name },
    createdAt: new Date().toISOString(), status: 'open', resolvedBy: null, annotationIds: [],
  };
  member.doc.transact(() => notesMap(member.doc).set(n.id, n));
  return n;
}

describe('labels: learned model or algorithm', () => {
  it('the catalogue, the provenance, CSV, EDL, OTIO, PDF, the bundle and the event log say what computed each version', async () => {
    const server = await testServer();
    cleanup.push(() => server.close());
    const { room, token } = await demoRoom(server, 'Labels');
    const director = await joinRoom(server.url, room.id, token('director'));
    const artist = await joinRoom(server.url, room.id, token('artist'));
    cleanup.push(() => director.close(), () => artist.close());
    const source = director.state.versions[0];

    // The catalogue: every model says its kind and technique.
    const catalogue = await emitAck<{ fixes: AvailableFix[] }>(artist.socket, 'fix:catalogue', { room: room.id });
    if (!catalogue.ok) throw new Error(catalogue.message);
    const modelOf = (fix: string) => catalogue.fixes.find((f) => f.id === fix)!.models.find((m) => m.id === catalogue.fixes.find((f) => f.id === fix)!.model)!;
    expect(modelOf('upscale-x2')).toMatchObject({ kind: 'learned', technique: 'ESRGAN (RDN) network' });
    expect(modelOf('exposure')).toMatchObject({ kind: 'algorithm', technique: 'colour matrix and curves' });
    expect(modelOf('denoise')).toMatchObject({ kind: 'algorithm', technique: 'guided filter' });
    for (const f of catalogue.fixes) for (const m of f.models) expect(['learned', 'algorithm']).toContain(m.kind);

    // A still (the learned upscale) and a shot render (exposure on a few frames): the cut holds shot
    // versions only, the notes exports both.
    const fix = async (fixId: string, params: Record<string, unknown>, key: string, shot = false) => {
      const created = new Promise<Version>((r) => director.socket.once('version:created', r));
      const ack = await emitAck<{ job: Job }>(artist.socket, 'fix:request', {
        room: room.id, versionId: source.id, frame: 30, fix: fixId, params, idempotencyKey: key,
        ...(shot ? { scope: 'shot', range: { in: 30, out: 32 } } : { region: { x: 0.25, y: 0.25, width: 128 / 1920, height: 96 / 1080 } }),
      });
      if (!ack.ok) throw new Error(ack.message);
      return created;
    };
    const learned = await fix('upscale-x2', {}, 'labels-learned-01');
    const algorithm = await fix('exposure', { exposure: 0.5 }, 'labels-algorithm-01', true);
    expect(learned.provenance).toMatchObject({ aiMade: true, model: { kind: 'learned', technique: 'ESRGAN (RDN) network' } });
    expect(algorithm.provenance).toMatchObject({ aiMade: false, model: { id: 'loupe-colour', kind: 'algorithm', technique: 'colour matrix and curves' } });

    const nl = note(director, learned.id, 30, 'learned one');
    const na = note(director, algorithm.id, 30, 'algorithm one');
    for (const v of [learned, algorithm]) expect((await emitAck(director.socket, 'version:decide', { room: room.id, versionId: v.id, decision: 'approved', note: 'ok' })).ok).toBe(true);
    await until(() => notesMap(server.docs.get(room.id)!.doc).has(na.id) && notesMap(server.docs.get(room.id)!.doc).has(nl.id), 'notes on the server');
    const get = (file: string) => fetch(`${server.url}/export/${room.id}/${file}?token=${token('editor')}`);

    // CSV: ai_made only for the learned model; made_by for both.
    const rows = parseCsv(await (await get('notes.csv')).text(), { columns: true }) as Record<string, string>[];
    const row = (n: Note) => rows.find((r) => r.note_id === n.id)!;
    expect(row(nl)).toMatchObject({ ai_made: 'yes', made_by: expect.stringMatching(/^AI · learned model \(ESRGAN \(RDN\) network, sha256 [0-9a-f]{12}…\)$/) });
    expect(row(na)).toMatchObject({ ai_made: 'no', made_by: 'Algorithm (colour matrix and curves)' });

    // EDL: the clip names and a MADE BY comment per fix-made clip.
    const edl = parseEdl(await (await get('markers.edl')).text());
    const comments = edl.events.flatMap((e) => e.comments);
    expect(comments).toContain('MADE BY: Algorithm (colour matrix and curves)');
    expect(comments.some((c) => /^FROM CLIP NAME: .* v003 ALGORITHM$/.test(c))).toBe(true);

    // OTIO: the clip's metadata carries the kind.
    const otio = parseOtio(await (await get('markers.otio')).text());
    const metas = otio.tracks.flatMap((t) => t.clips.map((c) => (c.metadata as { loupe: Record<string, unknown> }).loupe));
    expect(metas.find((m) => m.versionId === algorithm.id)).toMatchObject({ aiMade: false, madeBy: 'Algorithm (colour matrix and curves)', model: { kind: 'algorithm' } });

    // PDF: the line under a fix-made version says which.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-labels-'));
    fs.writeFileSync(path.join(dir, 'r.pdf'), Buffer.from(await (await get('notes.pdf')).arrayBuffer()));
    await run('pdftotext', ['-layout', path.join(dir, 'r.pdf'), path.join(dir, 'r.txt')]);
    const text = fs.readFileSync(path.join(dir, 'r.txt'), 'utf8');
    expect(text).toMatch(/Algorithm \(colour matrix and curves\): Exposure & white balance/);
    expect(text).toMatch(/AI · learned model \(ESRGAN \(RDN\) network/);

    // The approved bundle's sidecars.
    const zip = await readZip(Buffer.from(await (await get('approved.zip')).arrayBuffer()));
    const sidecars = [...zip.entries()].filter(([k]) => k.endsWith('.provenance.json')).map(([, e]) => JSON.parse(e.data.toString()));
    expect(sidecars.find((s) => s.version.id === algorithm.id)).toMatchObject({ aiMade: false, madeBy: 'Algorithm (colour matrix and curves)' });
    expect(sidecars.find((s) => s.version.id === learned.id)).toMatchObject({ aiMade: true, madeBy: expect.stringMatching(/^AI · learned model/) });

    // The event log.
    const events = (await (await get('events.jsonl')).text()).trim().split('\n').map((l) => JSON.parse(l));
    const finished = events.filter((e) => e.type === 'fix.finished').map((e) => e.data.version);
    expect(finished).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: learned.id, aiMade: true, model: expect.objectContaining({ kind: 'learned' }) }),
        expect.objectContaining({ id: algorithm.id, aiMade: false, madeBy: 'Algorithm (colour matrix and curves)', model: expect.objectContaining({ kind: 'algorithm', technique: 'colour matrix and curves' }) }),
      ]),
    );
  });
});

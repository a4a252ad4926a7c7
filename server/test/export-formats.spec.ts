import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { parse as parseCsv } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { annotationsMap, notesMap, type Annotation, type Job, type Note, type Version } from '@loupe/shared';
import { autoCleanup, demoRoom, draw, emitAck, joinRoom, testServer, until, type Member } from './helpers.js';
import { parseEdl, parseOtio, readZip, tcFrames } from './export-readers.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const cleanup = autoCleanup();

const PINK: [number, number, number] = [0xff, 0x4d, 0x4d]; // absent from testsrc2: only the pen stroke has it

function note(member: Member, p: Partial<Note> & Pick<Note, 'versionId' | 'frame' | 'text'>): Note {
  const n: Note = {
    id: crypto.randomUUID(),
    parentId: null,
    frameEnd: p.frame,
    author: { id: member.state.member.id, name: member.state.member.name },
    createdAt: new Date().toISOString(),
    status: 'open',
    resolvedBy: null,
    annotationIds: [],
    ...p,
  };
  member.doc.transact(() => notesMap(member.doc).set(n.id, n));
  return n;
}

function shape(versionId: string, frame: number, kind: Annotation['kind'], points: [number, number][], color: string, extra: Partial<Annotation> = {}): Annotation {
  return {
    id: crypto.randomUUID(), kind, versionId, frame, frameEnd: frame, points: points.map(([x, y]) => [x, y, 0.5]), color, size: 0.01,
    author: { id: 'x', name: 'x' }, createdAt: new Date().toISOString(), ...extra,
  };
}

/** Runs a poppler tool (pdftoppm, pdftotext), saying how to get it when it is missing. */
function poppler(tool: string, args: string[]) {
  return run(tool, args).catch((e: NodeJS.ErrnoException) => {
    throw e.code === 'ENOENT' ? new Error(`${tool} is missing: install poppler-utils (apt-get install poppler-utils)`) : e;
  });
}

async function renderPdfPages(pdf: Buffer): Promise<Buffer[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-pdf-'));
  fs.writeFileSync(path.join(dir, 'r.pdf'), pdf);
  await poppler('pdftoppm', ['-r', '72', '-png', path.join(dir, 'r.pdf'), path.join(dir, 'page')]);
  const pages = fs.readdirSync(dir).filter((f) => f.startsWith('page')).sort();
  return pages.map((f) => fs.readFileSync(path.join(dir, f)));
}

async function countColour(png: Buffer, [r, g, b]: [number, number, number], tol = 45): Promise<number> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let n = 0;
  for (let i = 0; i < data.length; i += info.channels) {
    if (Math.abs(data[i] - r) <= tol && Math.abs(data[i + 1] - g) <= tol && Math.abs(data[i + 2] - b) <= tol) n++;
  }
  return n;
}

describe('exports of a review session', () => {
  it('hands notes, markers, the report, approved media and the event log to editors, parsed back by independent readers', async () => {
    const server = await testServer();
    cleanup.push(() => server.close());
    const { room, token } = await demoRoom(server, 'Grade review, "final"');
    const other = await demoRoom(server, 'Other room');
    const director = await joinRoom(server.url, room.id, token('director'));
    const artist = await joinRoom(server.url, room.id, token('artist'));
    const editor = await joinRoom(server.url, room.id, token('editor'));
    cleanup.push(() => director.close(), () => artist.close(), () => editor.close());
    const source = director.state.versions[0];
    const shot = director.state.shots[0];

    // An AI fix: v002, a still of a region of frame 30.
    const created = new Promise<Version>((r) => director.socket.once('version:created', r));
    const ack = await emitAck<{ job: Job }>(artist.socket, 'fix:request', {
      room: room.id, versionId: source.id, frame: 30, region: { x: 0.25, y: 0.25, width: 256 / 1920, height: 128 / 1080 },
      fix: 'upscale-x2', params: {}, idempotencyKey: 'export-fix-0001',
    });
    if (!ack.ok) throw new Error(ack.message);
    const ai = await created;

    // Drawings on frame 10 of v001: a thick pink pen stroke and one of each other kind.
    const pen = shape(source.id, 10, 'pen', [[0.1, 0.5], [0.2, 0.55], [0.3, 0.5], [0.4, 0.6], [0.5, 0.55]], '#ff4d4d', { size: 0.02 });
    draw(artist, pen);
    draw(artist, shape(source.id, 10, 'arrow', [[0.6, 0.2], [0.8, 0.4]], '#4dd2ff'));
    draw(artist, shape(source.id, 10, 'rect', [[0.6, 0.6], [0.9, 0.9]], '#ffd166'));
    draw(artist, shape(source.id, 10, 'ellipse', [[0.05, 0.05], [0.2, 0.2]], '#b197fc'));
    draw(artist, shape(source.id, 10, 'line', [[0.3, 0.1], [0.5, 0.1]], '#63e6be'));
    draw(artist, shape(source.id, 10, 'text', [[0.55, 0.05]], '#ffffff', { text: 'too hot\nhere' }));
    const n1 = note(artist, { versionId: source.id, frame: 10, text: 'Roto edge "chatters", here', annotationIds: [pen.id] });
    await until(() => annotationsMap(director.doc).size === 6 && notesMap(director.doc).has(n1.id), 'drawings and the note on the director');
    const reply = note(director, { versionId: source.id, frame: 10, text: 'Agreed, fix it', parentId: n1.id });
    const n2 = note(editor, { versionId: source.id, frame: 60, frameEnd: 64, text: '=HYPERLINK("http://x") trims here' });
    await until(() => notesMap(director.doc).has(n2.id), 'the range note on the director');
    director.doc.transact(() =>
      notesMap(director.doc).set(n2.id, { ...n2, status: 'resolved', resolvedBy: { id: director.state.member.id, name: director.state.member.name, at: new Date().toISOString() } }),
    );
    const n3 = note(director, { versionId: ai.id, frame: 30, text: 'AI upscale reads clean' });
    for (const [v, d] of [[ai, 'approved'], [source, 'approved']] as const) {
      const r = await emitAck(director.socket, 'version:decide', { room: room.id, versionId: v.id, decision: d, note: `ok ${v.number}` });
      expect(r.ok).toBe(true);
    }
    await until(() => server.docs.get(room.id) && notesMap(server.docs.get(room.id)!.doc).get(n2.id)?.status === 'resolved' && notesMap(server.docs.get(room.id)!.doc).has(n3.id), 'notes on the server');

    const get = (file: string, t: string | null = token('editor')) => fetch(`${server.url}/export/${room.id}/${file}${t ? `?token=${t}` : ''}`);

    // Who may export: editors and directors; viewers and artists are refused with a code.
    for (const [t, status, code] of [
      [token('viewer'), 403, 'FORBIDDEN_ROLE'],
      [token('artist'), 403, 'FORBIDDEN_ROLE'],
      [null, 401, 'TOKEN_MISSING'],
      [other.token('editor'), 403, 'WRONG_ROOM'],
    ] as const) {
      const res = await get('notes.csv', t);
      expect(res.status).toBe(status);
      expect(await res.json()).toMatchObject({ ok: false, code });
    }
    expect(await (await get('notes.docx')).json()).toMatchObject({ code: 'UNKNOWN_EXPORT' });
    expect((await get('notes.csv', token('director'))).status).toBe(200);

    // CSV, read by csv-parse.
    const csvRes = await get('notes.csv');
    expect(csvRes.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(csvRes.headers.get('content-disposition')).toMatch(/attachment; filename="Grade_review_final-notes\.csv"/);
    const csvText = await csvRes.text();
    const rows = parseCsv(csvText, { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(3);
    const [r1, r2, r3] = [n1, n2, n3].map((n) => rows.find((r) => r.note_id === n.id)!);
    expect(r1).toMatchObject({
      shot: shot.name, version: 'v001', frame: '10', timecode: '00:00:00:10', author: 'Artist', text: 'Roto edge "chatters", here',
      status: 'open', replies: 'Director: Agreed, fix it', ai_made: 'no',
    });
    expect(r1.created).toBe(n1.createdAt);
    // A cell a spreadsheet would run as a formula is written as text.
    expect(r2).toMatchObject({ frame: '60', frame_end: '64', timecode: '00:00:02:12', timecode_end: '00:00:02:16', status: 'resolved', resolved_by: 'Director', text: `'${n2.text}` });
    expect(r3).toMatchObject({ version: 'v002', frame: '30', timecode: '00:00:01:06', ai_made: 'yes' });
    expect(rows.map((r) => r.note_id)).toEqual([n1.id, n3.id, n2.id]); // by frame

    // EDL, read by a strict CMX 3600 parser.
    const edl = parseEdl(await (await get('markers.edl')).text());
    expect(edl.title).toBe('Grade review, "final"');
    expect(edl.dropFrame).toBe(false);
    // One event per shot: its latest approved movie (the approved AI still is one fixed frame, not a shot).
    expect(edl.events.map((e) => e.comments.find((c) => c.startsWith('FROM CLIP NAME:')))).toEqual([`FROM CLIP NAME: ${shot.name} v001`]);
    const [e1] = edl.events;
    expect([e1.srcIn, e1.srcOut, e1.recIn, e1.recOut]).toEqual(['00:00:00:00', '00:00:04:00', '01:00:00:00', '01:00:04:00']);
    const locs = edl.events.flatMap((e) => e.locators.map((l) => ({ ...l, event: e })));
    expect(locs).toHaveLength(3);
    for (const [n, color] of [[n1, 'RED'], [n2, 'GREEN'], [n3, 'RED']] as const) {
      const loc = locs.find((l) => l.text.includes(n.text.slice(1, 12)))!;
      expect(loc, n.text).toBeTruthy();
      expect(tcFrames(loc.tc, 24, false)).toBe(n.frame);
      expect(loc.color).toBe(color);
      // The locator sits inside its event's source range.
      expect(tcFrames(loc.tc, 24, false)).toBeGreaterThanOrEqual(tcFrames(loc.event.srcIn, 24, false));
      expect(tcFrames(loc.tc, 24, false)).toBeLessThan(tcFrames(loc.event.srcOut, 24, false));
    }
    // Each locator names the version its note was written on.
    expect(locs.find((l) => l.text.includes('Roto'))!.text).toBe('[v001] Artist: Roto edge "chatters", here (1 reply)');
    expect(locs.find((l) => l.text.includes('reads clean'))!.text).toBe('[v002] Director: AI upscale reads clean');

    // OTIO, walked by a schema-checking reader.
    const otio = parseOtio(await (await get('markers.otio')).text());
    expect(otio.globalStart).toEqual({ value: 86400, rate: 24 });
    expect(otio.tracks).toHaveLength(1);
    const clips = otio.tracks[0].clips;
    expect(clips.map((c) => [c.start, c.duration, c.rate, c.targetUrl])).toEqual([
      [0, 96, 24, expect.stringMatching(/^Demo_shot_testsrc2\/Demo_shot_testsrc2_v001\.mp4$/)],
    ]);
    expect(clips[0].metadata.loupe).toMatchObject({ version: 'v001', approved: true });
    const markers = clips.flatMap((c) => c.markers.map((m) => ({ ...m, clip: c })));
    for (const n of [n1, n2, n3]) {
      const m = markers.find((x) => x.metadata.loupe && (x.metadata.loupe as { noteId: string }).noteId === n.id)!;
      expect([m.start, m.duration, m.rate]).toEqual([n.frame, n.frameEnd - n.frame + 1, 24]);
      expect(m.start).toBeGreaterThanOrEqual(m.clip.start);
      expect(m.start + m.duration).toBeLessThanOrEqual(m.clip.start + m.clip.duration);
    }
    expect(markers.find((m) => m.name.includes('reads clean'))!.metadata.loupe).toMatchObject({ version: 'v002', versionId: ai.id, timecode: '00:00:01:06' });

    // PDF: pages rendered by pdftoppm; the pen stroke's colour shows on its note's page only.
    const pdf = Buffer.from(await (await get('notes.pdf')).arrayBuffer());
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    const pages = await renderPdfPages(pdf);
    expect(pages).toHaveLength(4); // cover + one page per note
    const pdfText = await pdfToText(pdf);
    expect(pdfText[0]).toContain('Approvals');
    expect(pdfText[0]).toMatch(/v002[\s\S]*AI · learned model \(ESRGAN \(RDN\) network,[\s\S]*Upscale ×2 · model esrgan-slim-x2/);
    expect(pdfText[0]).toContain('ok 2');
    const pageOf = (needle: string) => pdfText.findIndex((t) => t.includes(needle));
    const strokePage = pageOf('Roto edge');
    const plainPage = pageOf('trims here');
    const aiPage = pageOf('reads clean');
    expect(pdfText[aiPage]).toContain('AI · learned model');
    expect(pdfText[strokePage]).toContain('Agreed, fix it');
    expect(pdfText[plainPage]).toContain('RESOLVED by Director');
    const inked = await countColour(pages[strokePage], PINK);
    const plain = await countColour(pages[plainPage], PINK);
    // A 0.02-high stroke over half the picture: well over 500 pixels at 72 dpi; the other page has
    // only the few pinkish pixels where testsrc2's rainbow line turns from red to magenta.
    expect(inked).toBeGreaterThan(500);
    expect(plain).toBeLessThan(inked / 10);

    // The approved bundle: every file checked against the manifest's sha256.
    const zipRes = await get('approved.zip');
    expect(zipRes.headers.get('content-type')).toBe('application/zip');
    const zip = await readZip(Buffer.from(await zipRes.arrayBuffer()));
    const manifest = JSON.parse(zip.get('manifest.json')!.data.toString());
    expect([...zip.keys()].sort()).toEqual([...manifest.files.map((f: { path: string }) => f.path), 'manifest.json'].sort());
    for (const f of manifest.files) expect({ path: f.path, sha256: zip.get(f.path)!.sha256, bytes: zip.get(f.path)!.bytes }).toEqual({ path: f.path, sha256: f.sha256, bytes: f.bytes });
    // The demo movie has no upload behind it: its H.264 proxy is the best there is. The approved still rides along.
    const media = manifest.files.filter((f: { kind: string }) => f.kind === 'media');
    expect(media.map((f: { sha256: string }) => f.sha256)).toEqual([source.media.blob]);
    const [still] = manifest.files.filter((f: { kind: string }) => f.kind === 'still');
    expect(still).toMatchObject({ sha256: ai.media.blob, versionId: ai.id });
    const aiSidecar = JSON.parse(zip.get(still.path.replace('.png', '.provenance.json'))!.data.toString());
    expect(aiSidecar).toMatchObject({ aiMade: true, provenance: { jobId: ack.job.id, model: { id: 'esrgan-slim-x2' } }, approvedBy: { decision: 'approved', by: { role: 'director' } } });
    expect(await sharp(zip.get(still.path)!.data).metadata()).toMatchObject({ width: 512, height: 256 });
    // The cut inside the bundle, as OTIO and EDL, points at the bundle's own files.
    const inner = parseOtio(zip.get('timeline.otio')!.data.toString());
    for (const c of inner.tracks[0].clips) expect(zip.has(c.targetUrl!)).toBe(true);
    const innerEdl = parseEdl(zip.get('timeline.edl')!.data.toString());
    expect(innerEdl.events.map((e) => zip.has(e.comments.find((c) => c.startsWith('SOURCE FILE: '))!.slice(13)))).toEqual([true]);

    // The event log: who joined, drew, noted, asked for which fix, decided what.
    // The drawing tally is written when the artist pauses (3 s) or leaves: everyone leaves.
    for (const m of [director, artist, editor]) m.close();
    let log = '';
    for (let i = 0; i < 100 && !log.includes('annotations.drawn'); i++) {
      await new Promise((r) => setTimeout(r, 50));
      log = await (await get('events.jsonl')).text();
    }
    const events = log.trim().split('\n').map((l) => JSON.parse(l));
    expect(events.map((e) => e.id)).toEqual([...events.map((e) => e.id)].sort((a, b) => a - b));
    const of = (type: string) => events.filter((e) => e.type === type);
    expect(of('member.joined').map((e) => e.actor.role).sort()).toEqual(['artist', 'director', 'editor']);
    expect(of('fix.requested')).toEqual([expect.objectContaining({ actor: expect.objectContaining({ role: 'artist' }), data: expect.objectContaining({ jobId: ack.job.id, fix: 'upscale-x2', frame: 30 }) })]);
    expect(of('fix.finished')).toEqual([expect.objectContaining({ data: expect.objectContaining({ jobId: ack.job.id, version: expect.objectContaining({ id: ai.id, aiMade: true }) }) })]);
    expect(of('annotations.drawn')).toEqual([expect.objectContaining({ actor: expect.objectContaining({ name: 'Artist' }), data: expect.objectContaining({ added: 6, frames: [10] }) })]);
    expect(of('note.added').map((e) => e.data.note.id).sort()).toEqual([n1.id, reply.id, n2.id, n3.id].sort());
    expect(of('note.resolved')).toEqual([expect.objectContaining({ actor: expect.objectContaining({ name: 'Director' }), data: expect.objectContaining({ noteId: n2.id }) })]);
    expect(of('version.decided').map((e) => [e.data.version.id, e.data.decision, e.actor.role])).toEqual([
      [ai.id, 'approved', 'director'],
      [source.id, 'approved', 'director'],
    ]);

    // The CLI makes the same files from the data folder, with progress on stderr.
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-cli-')), 'bundle.zip');
    // `--` ends the options: a room id may start with '-'.
    const loupe = (...args: string[]) => run('node', ['server/bin/loupe.mjs', '--data', server.dataDir, 'export', ...args, '--', room.id], { cwd: ROOT });
    const [cli, cliCsv] = await Promise.all([loupe('--format', 'zip', '--out', out), loupe('--format', 'csv', '--out', '-')]);
    expect(cli.stdout.trim()).toBe(out);
    expect(cli.stderr).toMatch(/zip: 1 approved shot \(1 file of media\), 1 approved AI still/);
    const cliZip = await readZip(fs.readFileSync(out));
    const cliManifest = JSON.parse(cliZip.get('manifest.json')!.data.toString());
    expect(cliManifest.files.filter((f: { kind: string }) => f.kind === 'media')).toEqual(media);
    expect(cliCsv.stdout).toBe(csvText);
  });
});

/** The text of each page, by pdftotext (poppler). */
async function pdfToText(pdf: Buffer): Promise<string[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-pdftext-'));
  fs.writeFileSync(path.join(dir, 'r.pdf'), pdf);
  await poppler('pdftotext', [path.join(dir, 'r.pdf'), path.join(dir, 'r.txt')]);
  return fs.readFileSync(path.join(dir, 'r.txt'), 'utf8').split('\f').slice(0, -1);
}

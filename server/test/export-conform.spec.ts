import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { parse as parseCsv } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notesMap, type Note, type Version } from '@loupe/shared';
import { autoCleanup, emitAck, joinRoom, tmpDataDir, until, type Member } from './helpers.js';
import { parseEdl, parseOtio, readZip, tcFrames } from './export-readers.js';
import { dpxWithTimecode, ffmpeg, fileOf, makeSequence, mediaServer, uploadAndWait } from './media-helpers.js';

/*
 * The editor's side of an approval, as a new user meets it: uploads with their own timecode and
 * reel, notes on several versions in several scripts, the director's approvals, and what the EDL,
 * OTIO, CSV, PDF and approved.zip then hold, each read back by an independent reader.
 */

const run = promisify(execFile);
const cleanup = autoCleanup();
const dir = tmpDataDir();
let server: Awaited<ReturnType<typeof mediaServer>>;
let director: Member;
let editor: Member;
beforeAll(async () => {
  server = await mediaServer();
  director = await joinRoom(server.url, server.room.id, server.token('director'));
  editor = await joinRoom(server.url, server.room.id, server.token('editor'));
});
afterAll(async () => {
  director?.close();
  editor?.close();
  await server?.close();
});

/** A textured, grainy, moving picture (testsrc2 under temporal noise): not flat colour a codec could cheat on. */
const footage = (frames: number, rate = 24) => ['-f', 'lavfi', '-i', `testsrc2=s=320x180:r=${rate},noise=alls=24:allf=t+u,trim=end_frame=${frames}`];
const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const version = async (id: string) => (await server.services.versions.get(id))!;

async function uploaded(files: { name: string; data: Buffer }[], shotId?: string): Promise<Version> {
  const done = await uploadAndWait(server.url, server.token('artist'), files, shotId ? { shotId } : {});
  if (done.error) throw new Error(`${done.error.code}: ${done.error.message}`);
  return version(done.result!.versionId);
}

function note(m: Member, versionId: string, frame: number, text: string): Note {
  const n: Note = {
    id: crypto.randomUUID(), parentId: null, versionId, frame, frameEnd: frame, text,
    author: { id: m.state.member.id, name: m.state.member.name }, createdAt: new Date().toISOString(), status: 'open', resolvedBy: null, annotationIds: [],
  };
  m.doc.transact(() => notesMap(m.doc).set(n.id, n));
  return n;
}

async function decide(v: Version, decision: 'approved' | 'changes-requested') {
  const r = await emitAck(director.socket, 'version:decide', { room: server.room.id, versionId: v.id, decision, note: '' });
  if (!r.ok) throw new Error(r.message);
}

const get = async (file: string, q = '') => {
  const res = await fetch(`${server.url}/export/${server.room.id}/${file}?token=${server.token('editor')}${q}`);
  if (res.status !== 200) throw new Error(`${file}: ${res.status} ${await res.text()}`);
  return Buffer.from(await res.arrayBuffer());
};

async function probe(data: Buffer, ext: string): Promise<{ streams: Record<string, any>[] }> {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-probe-')), `m.${ext}`);
  fs.writeFileSync(f, data);
  return JSON.parse((await run('ffprobe', ['-v', 'error', '-show_streams', '-of', 'json', f])).stdout);
}

describe('hand-over exports an editor can conform with', () => {
  it('one event per shot from its latest approved version, the original ProRes in the zip, on the source\'s own timecode and reel', async () => {
    // v001: an H.264 movie without timecode makes the shot (its timecode 00:00:00:00).
    const h264 = path.join(dir, 'sh010_v001.mp4');
    await ffmpeg([...footage(24), '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-y', h264]);
    const v1 = await uploaded([fileOf(h264)]);
    // v002: ProRes 4444, 10-bit, timecode 01:00:10:00 on reel A001C003, into the same shot.
    const prores = path.join(dir, 'sh010_v002.mov');
    await ffmpeg([...footage(24), '-c:v', 'prores_ks', '-profile:v', '4', '-pix_fmt', 'yuva444p10le', '-timecode', '01:00:10:00', '-metadata:s:v:0', 'reel_name=A001C003', '-y', prores]);
    const v2 = await uploaded([fileOf(prores)], v1.shotId);
    // v003: a later upload the director sends back.
    const v3 = await uploaded([fileOf(h264, 'sh010_v003.mp4')], v1.shotId);
    expect(v2.media.type === 'video' && v2.media.source).toMatchObject({ startTimecode: '01:00:10:00', reel: 'A001C003', codec: 'prores' });

    const early = note(editor, v1.id, 5, 'Roto edge chatters — 日本 café');
    const onV2 = note(director, v2.id, 10, 'Grain é matches');
    await until(() => notesMap(server.docs.get(server.room.id)!.doc).size === 2, 'notes on the server');
    await decide(v1, 'approved');
    await decide(v2, 'approved');
    await decide(v3, 'changes-requested');

    // EDL: one event, v002, its own timecode and reel, pointing at the original in the zip.
    const edlText = (await get('markers.edl')).toString();
    const edl = parseEdl(edlText);
    expect(edl.events).toHaveLength(1);
    const [e] = edl.events;
    expect([e.reel, e.srcIn, e.srcOut, e.recIn, e.recOut]).toEqual(['A001C003', '01:00:10:00', '01:00:11:00', '01:00:00:00', '01:00:01:00']);
    expect(e.comments).toContain('FROM CLIP NAME: sh010_v001 v002');
    expect(e.comments).toContain('SOURCE FILE: sh010_v001/sh010_v001_v002.mov');
    // Notes stay on the version they were written on, named; the EDL's ASCII is transliterated.
    expect(e.locators.map((l) => [l.tc, l.text])).toEqual([
      ['01:00:10:05', '[v001] Editor: Roto edge chatters -- Ri Ben cafe'],
      ['01:00:10:10', '[v002] Director: Grain e matches'],
    ]);

    // OTIO: the same clip at 86640 (01:00:10:00 at 24), reel where the cmx_3600 adapter reads it, full text kept.
    const otio = parseOtio((await get('markers.otio')).toString());
    const [clip] = otio.tracks[0].clips;
    expect(otio.tracks[0].clips).toHaveLength(1);
    expect([clip.start, clip.duration, clip.rate, clip.targetUrl]).toEqual([tcFrames('01:00:10:00', 24, false), 24, 24, 'sh010_v001/sh010_v001_v002.mov']);
    expect(clip.metadata).toMatchObject({ cmx_3600: { reel: 'A001C003' }, loupe: { version: 'v002', startTimecode: '01:00:10:00', reel: 'A001C003' } });
    const m1 = clip.markers.find((m) => (m.metadata.loupe as { noteId: string }).noteId === early.id)!;
    expect(m1.name).toBe('[v001] Editor: Roto edge chatters — 日本 café');
    expect(m1.start - clip.start).toBe(5);
    expect(m1.metadata.loupe).toMatchObject({ version: 'v001', versionId: v1.id, timecode: '00:00:00:05', text: early.text });

    // CSV: full text, each note's timecode on its own version's clock.
    const rows = parseCsv((await get('notes.csv')).toString(), { columns: true }) as Record<string, string>[];
    expect(rows.map((r) => [r.version, r.timecode, r.text])).toEqual([
      ['v001', '00:00:00:05', early.text],
      ['v002', '01:00:10:10', onV2.text],
    ]);

    // Webhooks and the event log give a note's timecode on its own version too.
    const events = (await get('events.jsonl')).toString().trim().split('\n').map((l) => JSON.parse(l));
    expect(events.filter((x) => x.type === 'note.added').map((x) => [x.data.version.label, x.data.timecode])).toEqual([['v001', '00:00:00:05'], ['v002', '01:00:10:10']]);

    // The zip: the original upload, byte for byte (ProRes 4444, its timecode and reel inside), no proxy.
    const zip = await readZip(await get('approved.zip'));
    const manifest = JSON.parse(zip.get('manifest.json')!.data.toString());
    const media = manifest.files.filter((f: { kind: string }) => f.kind === 'media');
    expect(media.map((f: { path: string; sha256: string }) => [f.path, f.sha256])).toEqual([['sh010_v001/sh010_v001_v002.mov', sha(fs.readFileSync(prores))]]);
    expect(zip.get('sh010_v001/sh010_v001_v002.mov')!.sha256).toBe(sha(fs.readFileSync(prores)));
    const streams = (await probe(zip.get('sh010_v001/sh010_v001_v002.mov')!.data, 'mov')).streams;
    expect(streams[0]).toMatchObject({ codec_name: 'prores', profile: '4444' });
    expect(streams.find((s) => s.codec_type === 'data')?.tags).toMatchObject({ timecode: '01:00:10:00', reel_name: 'A001C003' });
    expect(manifest.cut).toEqual([expect.objectContaining({ version: 'v002', media: 'sh010_v001/sh010_v001_v002.mov', from: 'original', startTimecode: '01:00:10:00', reel: 'A001C003' })]);
    expect([...zip.keys()].filter((k) => k.endsWith('.mp4'))).toEqual([]);
    const inner = parseEdl(zip.get('timeline.edl')!.data.toString());
    expect(inner.events.map((x) => [x.srcIn, x.comments.find((c) => c.startsWith('SOURCE FILE:'))])).toEqual([['01:00:10:00', 'SOURCE FILE: sh010_v001/sh010_v001_v002.mov']]);
  });

  it('a DPX sequence ships its original frames, a render its frames as 16-bit PNG numbered by timecode, both pointed at by EDL and OTIO', async () => {
    // 12 frames of 10-bit DPX numbered from 86400, the first with a 25 fps, 01:00:00:00 header.
    const files = await makeSequence(path.join(dir, 'dpx'), 'plate.', 'dpx', 86400, 12, ['-pix_fmt', 'gbrp10le'], 7);
    fs.writeFileSync(files[0], dpxWithTimecode(fs.readFileSync(files[0]), 25, 0x01000000));
    const plate = await uploaded(files.map((f) => fileOf(f)));
    await decide(plate, 'approved');

    let zip = await readZip(await get('approved.zip'));
    // Named for the bundle, with the sequence's own frame numbers (padded to at least 4 digits).
    const names = files.map((_, i) => `plate/plate_v001/plate_v001.${86400 + i}.dpx`);
    for (const [i, f] of files.entries()) expect(zip.get(names[i])?.sha256, names[i]).toBe(sha(fs.readFileSync(f)));
    let otio = parseOtio((await get('markers.otio')).toString());
    let clip = otio.tracks[0].clips.find((c) => c.name.startsWith('plate '))!;
    expect([clip.start, clip.duration, clip.rate]).toEqual([90000, 12, 25]);
    expect(clip.sequence).toEqual({ base: 'plate/plate_v001/', prefix: 'plate_v001.', suffix: '.dpx', startFrame: 86400, padding: 5, rate: 25 });
    // Every frame of the source range is a file of the zip.
    for (let t = clip.start; t < clip.start + clip.duration; t++) expect(zip.has(clip.fileAt!(t)), `frame at ${t}`).toBe(true);
    let event = parseEdl((await get('markers.edl')).toString()).events.find((x) => x.comments.includes('FROM CLIP NAME: plate v001'))!;
    expect([event.srcIn, event.srcOut]).toEqual(['01:00:00:00', '01:00:00:12']);
    expect(event.comments).toContain('SOURCE FILE: plate/plate_v001/plate_v001.[86400-86411].dpx');

    // A render of the plate (as the shot renders make them): its frames are 16-bit PNGs read through FrameService.
    const pngs = await Promise.all(
      Array.from({ length: 12 }, () => sharp(new Uint16Array(crypto.randomBytes(64 * 36 * 6).buffer), { raw: { width: 64, height: 36, channels: 3 } }).toColourspace('rgb16').png().toBuffer()),
    );
    const shas = await Promise.all(pngs.map((b) => server.services.blobs.put(b)));
    const manifestSha = await server.services.blobs.put(Buffer.from(JSON.stringify({ format: 'png', firstFrame: 0, lastFrame: 11, bitDepth: 16, frames: shas.map((s, frame) => ({ frame, sha256: s })) })));
    const src = plate.media.type === 'video' ? plate.media.source! : null;
    const render = await server.services.versions.insert(server.room.id, {
      id: crypto.randomUUID(), shotId: plate.shotId, label: 'Denoise (shot)', kind: 'ai', status: 'pending', parentVersionId: plate.id,
      media: {
        ...(plate.media as Extract<Version['media'], { type: 'video' }>),
        width: 64, height: 36,
        source: { ...src!, kind: 'render' as never, name: 'render', manifest: manifestSha, parentVersionId: plate.id, range: { in: 0, out: 11 }, bitDepth: 16, codec: 'png', pixFmt: 'rgb48be' } as never,
      },
      createdBy: { id: 'x', name: 'Artist' }, createdAt: new Date().toISOString(), provenance: null,
    }, null);
    await decide(render, 'approved');

    zip = await readZip(await get('approved.zip'));
    otio = parseOtio((await get('markers.otio')).toString());
    clip = otio.tracks[0].clips.find((c) => c.name.startsWith('plate '))!;
    expect(clip.name).toBe('plate v002 AI');
    expect(clip.sequence).toEqual({ base: 'plate/plate_v002/', prefix: 'plate_v002.', suffix: '.png', startFrame: 90000, padding: 5, rate: 25 });
    for (let i = 0; i < 12; i++) {
      const f = zip.get(clip.fileAt!(clip.start + i))!;
      expect(f?.sha256, `render frame ${i}`).toBe(shas[i]);
      if (i === 0) expect(await sharp(f.data).metadata()).toMatchObject({ depth: 'ushort', width: 64, height: 36 });
    }
    // The plate is no longer the cut's: its frames leave the zip.
    expect([...zip.keys()].some((k) => k.endsWith('.dpx'))).toBe(false);
    event = parseEdl((await get('markers.edl')).toString()).events.find((x) => x.comments.includes('FROM CLIP NAME: plate v002 AI'))!;
    expect(event.comments).toContain('SOURCE FILE: plate/plate_v002/plate_v002.[90000-90011].png');
    expect(event.srcIn).toBe('01:00:00:00');
  });

  it('the PDF draws 日本 and é with an embedded Noto / DejaVu font, and pdftotext reads them back', async () => {
    const v = (await server.services.versions.listForRoom(server.room.id)).find((x) => x.media.type === 'video')!;
    note(editor, v.id, 2, 'Ciel trop chaud à gauche — 日本語のメモ');
    await until(() => [...notesMap(server.docs.get(server.room.id)!.doc).values()].some((n) => n.text.includes('日本語')), 'the note on the server');
    const dirPdf = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-pdf-'));
    fs.writeFileSync(path.join(dirPdf, 'r.pdf'), await get('notes.pdf'));
    await run('pdftotext', [path.join(dirPdf, 'r.pdf'), path.join(dirPdf, 'r.txt')]);
    const text = fs.readFileSync(path.join(dirPdf, 'r.txt'), 'utf8');
    expect(text).toContain('日本語のメモ');
    expect(text).toContain('Ciel trop chaud à gauche');
    expect(text).toContain('Roto edge chatters — 日本 café');
    expect(text).toContain('v002 starts at 01:00:10:00 on reel A001C003');
    const fonts = (await run('pdffonts', [path.join(dirPdf, 'r.pdf')])).stdout;
    // Every font is embedded (subset); the Japanese is drawn with Noto Sans CJK.
    const rows = fonts.trim().split('\n').slice(2);
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) expect(r, r).toMatch(/\b(CID Type 0C|CID TrueType|TrueType|Type 1C)\b.*\byes\s+yes\s+yes\b/);
    expect(fonts).toMatch(/NotoSansCJK/);
  });
});

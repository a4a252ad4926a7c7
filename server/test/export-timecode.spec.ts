import { parse as parseCsv } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { notesMap, type Note, type Shot } from '@loupe/shared';
import { autoCleanup, joinRoom, testServer, until, type Member } from './helpers.js';
import { parseEdl, parseOtio, tcFrames } from './export-readers.js';
import type { RunningServer } from '../src/main.js';

const cleanup = autoCleanup();

/** A shot at any rate over the demo movie (exports read only its numbers, never its pixels). */
async function addShot(server: RunningServer, roomId: string, shot: Omit<Shot, 'id' | 'width' | 'height'>): Promise<string> {
  const { rooms, versions } = server.services;
  const blob = (await rooms.setting('demo_media_sha256'))!;
  const id = crypto.randomUUID();
  const at = new Date().toISOString();
  await rooms.addShot(roomId, { ...shot, id, width: 1920, height: 1080 }, at);
  await rooms.grantBlob(roomId, blob);
  const v = (await versions.insert(roomId, {
    id: crypto.randomUUID(), shotId: id, label: 'Source', kind: 'source', status: 'pending', parentVersionId: null,
    media: { type: 'video', blob, width: 1920, height: 1080, fps: shot.fps, frameCount: shot.frameCount },
    createdBy: { id: 'system', name: 'Loupe' }, createdAt: at, provenance: null,
  }, null));
  return v.id;
}

function writeNote(m: Member, versionId: string, frame: number): Note {
  const n: Note = {
    id: crypto.randomUUID(), parentId: null, versionId, frame, frameEnd: frame, text: `note at ${frame}`,
    author: { id: m.state.member.id, name: m.state.member.name }, createdAt: new Date().toISOString(), status: 'open', resolvedBy: null, annotationIds: [],
  };
  m.doc.transact(() => notesMap(m.doc).set(n.id, n));
  return n;
}

describe('timecodes in the exports', () => {
  it('writes 29.97 drop-frame timecodes that CSV, EDL and OTIO readers turn back into the notes\' frames', async () => {
    const server = await testServer();
    cleanup.push(() => server.close());
    const { room, invites } = await server.services.roomService.create('NTSC', { demo: false });
    const versionId = await addShot(server, room.id, { name: 'ntsc_010', fps: 29.97, dropFrame: true, frameCount: 20_000, startTimecode: '01:00:00;00' });
    const editor = await joinRoom(server.url, room.id, invites.find((i) => i.role === 'editor')!.token);
    cleanup.push(() => editor.close());
    // Known drop-frame timecodes: minute 1 starts at ;02, minute 10 keeps ;00.
    const expected: [number, string][] = [
      [0, '01:00:00;00'],
      [1799, '01:00:59;29'],
      [1800, '01:01:00;02'],
      [3597, '01:01:59;29'],
      [3598, '01:02:00;02'],
      [17982, '01:10:00;00'],
      [17999, '01:10:00;17'],
    ];
    const notes = expected.map(([f]) => writeNote(editor, versionId, f));
    await until(() => notesMap(server.docs.get(room.id)!.doc).size === notes.length, 'notes on the server');
    const token = invites.find((i) => i.role === 'editor')!.token;
    const get = async (file: string, q = '') => (await fetch(`${server.url}/export/${room.id}/${file}?token=${token}${q}`)).text();

    const rows = parseCsv(await get('notes.csv'), { columns: true }) as Record<string, string>[];
    expect(rows.map((r) => [Number(r.frame), r.timecode])).toEqual(expected);

    const edl = parseEdl(await get('markers.edl'));
    expect(edl.dropFrame).toBe(true);
    const [event] = edl.events;
    expect(event.srcIn).toBe('01:00:00;00');
    expect(tcFrames(event.srcOut, 29.97, true) - tcFrames(event.srcIn, 29.97, true)).toBe(20_000);
    expect(tcFrames(event.recOut, 29.97, true) - tcFrames(event.recIn, 29.97, true)).toBe(20_000);
    const start = tcFrames('01:00:00;00', 29.97, true);
    expect(start).toBe(107_892);
    expect(event.locators.map((l) => l.tc)).toEqual(expected.map(([, tc]) => tc));
    expect(event.locators.map((l) => tcFrames(l.tc, 29.97, true) - start)).toEqual(expected.map(([f]) => f));

    const otio = parseOtio(await get('markers.otio'));
    expect(otio.globalStart.value).toBe(107_892);
    const [clip] = otio.tracks[0].clips;
    expect(clip.rate).toBeCloseTo(30000 / 1001, 9);
    expect([clip.start, clip.duration]).toEqual([107_892, 20_000]);
    expect(clip.markers.map((m) => m.start - clip.start)).toEqual(expected.map(([f]) => f));
    expect(clip.markers.map((m) => (m.metadata.loupe as { timecode: string }).timecode)).toEqual(expected.map(([, tc]) => tc));
  });

  it('keeps each shot\'s own rate in OTIO, converts record time in the EDL, and can leave unapproved shots out', async () => {
    const server = await testServer();
    cleanup.push(() => server.close());
    const { room, invites } = await server.services.roomService.create('Mixed', { demo: false });
    const a = await addShot(server, room.id, { name: 'film_010', fps: 23.976, dropFrame: false, frameCount: 48, startTimecode: '00:59:59:00' });
    const b = await addShot(server, room.id, { name: 'pal_020', fps: 25, dropFrame: false, frameCount: 50, startTimecode: '10:00:00:00' });
    const editor = await joinRoom(server.url, room.id, invites.find((i) => i.role === 'editor')!.token);
    cleanup.push(() => editor.close());
    writeNote(editor, a, 24);
    writeNote(editor, b, 25);
    await until(() => notesMap(server.docs.get(room.id)!.doc).size === 2, 'notes on the server');
    const token = invites.find((i) => i.role === 'editor')!.token;
    const get = async (file: string, q = '') => (await fetch(`${server.url}/export/${room.id}/${file}?token=${token}${q}`)).text();

    const edl = parseEdl(await get('markers.edl'));
    expect(edl.dropFrame).toBe(false);
    expect(edl.events.map((e) => [e.srcIn, e.srcOut, e.recIn, e.recOut])).toEqual([
      ['00:59:59:00', '01:00:01:00', '01:00:00:00', '01:00:02:00'],
      // 50 frames at 25 fps take 48 frames of the 23.976 timeline.
      ['10:00:00:00', '10:00:02:00', '01:00:02:00', '01:00:04:00'],
    ]);
    expect(edl.events[1].comments).toContain('SOURCE RATE: 25');
    expect(edl.events.map((e) => e.locators[0].tc)).toEqual(['01:00:00:00', '10:00:01:00']);
    expect(edl.events[0].comments).toContain('FROM CLIP NAME: film_010 v001 NOT APPROVED');

    const otio = parseOtio(await get('markers.otio'));
    const clips = otio.tracks[0].clips;
    expect(clips.map((c) => c.rate)).toEqual([24000 / 1001, 25]);
    expect(clips.map((c) => c.markers[0].start)).toEqual([tcFrames('00:59:59:00', 24, false) + 24, tcFrames('10:00:00:00', 25, false) + 25]);
    expect(clips.map((c) => c.targetUrl)).toEqual([null, null]); // nothing approved: nothing in the bundle

    expect(parseOtio(await get('markers.otio', '&approved=only')).tracks[0].clips).toEqual([]);
    await server.services.versions.decide(b, room.id, { decision: 'approved', note: '', by: { id: 'd', name: 'D', role: 'director' }, at: new Date().toISOString() });
    const only = parseOtio(await get('markers.otio', '&approved=only')).tracks[0].clips;
    expect(only.map((c) => [c.name, c.targetUrl, c.markers.length])).toEqual([['pal_020 v001', 'pal_020/pal_020_v001.mp4', 1]]);
  });
});

import sharp from 'sharp';
import * as Y from 'yjs';
import { describe, expect, it } from 'vitest';
import { annotationPoints, annotationsMap, packPoints, type Annotation, type Point } from '@loupe/shared';
import { annotationsSvg } from '../src/review/export/overlay.js';
import { DocRepository } from '../src/store/doc.repository.js';
import { WRITE_RULES_VERSION } from '../src/collab/doc-repair.js';
import { autoCleanup, demoRoom, draw, joinRoom, testServer, until } from './helpers.js';

const cleanup = autoCleanup();

const PINK: [number, number, number] = [0xff, 0x4d, 0x4d];
const CYAN: [number, number, number] = [0x4d, 0xd2, 0xff];
const zigzag = (y: number): Point[] => Array.from({ length: 30 }, (_, i) => [0.1 + i * 0.025, y + (i % 2) * 0.05, 0.5 + (i % 5) / 10]);

function pen(id: string, versionId: string, author: { id: string; name: string }, color: string, points: Partial<Annotation>): Annotation {
  return { id, kind: 'pen', versionId, frame: 5, frameEnd: 5, color, size: 0.02, author, createdAt: new Date().toISOString(), ...points };
}

/** Pixels of a colour in the drawings layer an export composites over the frame. */
async function inked(list: Annotation[], rgb: [number, number, number]): Promise<number> {
  const { data, info } = await sharp(Buffer.from(annotationsSvg(list, 640, 360))).raw().toBuffer({ resolveWithObject: true });
  let n = 0;
  for (let i = 0; i < data.length; i += info.channels) {
    if (data[i + 3] > 200 && Math.abs(data[i] - rgb[0]) < 8 && Math.abs(data[i + 1] - rgb[1]) < 8 && Math.abs(data[i + 2] - rgb[2]) < 8) n++;
  }
  return n;
}

describe('stroke formats', () => {
  it('loads a room drawn before packing: members see its strokes where they were drawn, exports draw them, new strokes are packed', async () => {
    const server = await testServer();
    cleanup.push(() => server.close());
    const { room, token } = await demoRoom(server);
    const versionId = (await server.services.versions.listForRoom(room.id))[0].id;

    // A stroke as a session before packing stored it (arrays of float64), straight into SQLite.
    const old = pen(crypto.randomUUID(), versionId, { id: 'someone-before', name: 'Before' }, '#ff4d4d', { points: zigzag(0.3) });
    const before = new Y.Doc();
    const stored: Promise<void>[] = [];
    before.on('update', (u: Uint8Array) => stored.push(new DocRepository(server.services.db).append(room.id, u)));
    annotationsMap(before).raw.set(old.id, old);
    await Promise.all(stored);

    const artist = await joinRoom(server.url, room.id, token('artist'));
    const director = await joinRoom(server.url, room.id, token('director'));
    cleanup.push(() => artist.close(), () => director.close());
    const near = (a: Annotation | undefined, want: Point[]) => {
      const pts = annotationPoints(a!);
      expect(pts).toHaveLength(want.length);
      pts.forEach((p, i) => p.forEach((v, k) => expect(v).toBeCloseTo(want[i][k], 4)));
    };
    near(annotationsMap(director.doc).get(old.id), old.points!);

    // The artist draws now: the stroke travels packed, the director reads the same points.
    const now = pen(crypto.randomUUID(), versionId, { id: artist.state.member.id, name: 'Artist' }, '#4dd2ff', { packedPoints: packPoints(zigzag(0.6)) });
    draw(artist, now);
    await artist.provider.whenAcked();
    expect(artist.refusals).toEqual([]);
    const got = await until(() => annotationsMap(director.doc).get(now.id), 'the packed stroke on the director');
    expect(got.points).toBeUndefined();
    // Stored as one packed annotation (a binary value); the stroke drawn before packing is packed by the
    // server a moment after the room loads (one stored update, sent to the members), its points within 0.09 px at 4K.
    const serverMap = annotationsMap(server.docs.get(room.id)!.doc);
    expect(serverMap.raw.get(now.id)).toBeInstanceOf(Uint8Array);
    expect(got).toEqual({ ...now, author: { id: artist.state.member.id, name: artist.state.member.name } });
    await until(() => serverMap.raw.get(old.id) instanceof Uint8Array, 'the stroke drawn before packing, packed by the server');
    await until(() => annotationsMap(director.doc).raw.get(old.id) instanceof Uint8Array, 'the packed stroke on the director');
    const packedOld = annotationsMap(director.doc).get(old.id)!;
    expect({ ...packedOld, packedPoints: undefined }).toEqual({ ...old, points: undefined, packedPoints: undefined });
    near(packedOld, old.points!);
    annotationPoints(got).forEach((p, i) => p.forEach((v, k) => expect(v).toBeCloseTo(zigzag(0.6)[i][k], 4)));

    // An export of the frame draws both strokes, from the server's document.
    const onServer = [...annotationsMap(server.docs.get(room.id)!.doc).values()];
    expect(await inked(onServer.filter((a) => a.id === old.id), PINK)).toBeGreaterThan(300);
    expect(await inked(onServer.filter((a) => a.id === now.id), CYAN)).toBeGreaterThan(300);

    // After a restart (the room compacted into one snapshot on unload or load), both are still there.
    artist.close();
    director.close();
    await server.close();
    cleanup.length = 0;
    const again = await testServer(server.dataDir);
    cleanup.push(() => again.close());
    const viewer = await joinRoom(again.url, room.id, token('viewer'));
    cleanup.push(() => viewer.close());
    const map = annotationsMap(viewer.doc);
    near(map.get(old.id), old.points!);
    expect(annotationPoints(map.get(now.id)!)).toHaveLength(30);
    // Stored since as packed drawings only, in rows the write guard checked: the room is not checked again at load.
    const rows = await again.services.db.selectFrom('doc_updates').select(['data', 'checked']).where('room_id', '=', room.id).execute();
    expect(rows.every((r) => r.checked === WRITE_RULES_VERSION)).toBe(true);
    const storedDoc = new Y.Doc();
    rows.forEach((r) => Y.applyUpdate(storedDoc, r.data));
    expect([...annotationsMap(storedDoc).raw.values()].every((v) => v instanceof Uint8Array)).toBe(true);
  });

  it('refuses a stroke that carries neither format, both, or broken packed bytes', async () => {
    const server = await testServer();
    cleanup.push(() => server.close());
    const { room, token } = await demoRoom(server);
    const artist = await joinRoom(server.url, room.id, token('artist'));
    const director = await joinRoom(server.url, room.id, token('director'));
    cleanup.push(() => artist.close(), () => director.close());
    const me = { id: artist.state.member.id, name: 'Artist' };
    const v = artist.state.versions[0].id;
    const bad = [
      pen('none', v, me, '#fff', {}),
      pen('both', v, me, '#fff', { points: zigzag(0.2), packedPoints: packPoints(zigzag(0.2)) }),
      pen('torn', v, me, '#fff', { packedPoints: new Uint8Array([1, 0, 10, 20, 30]) }),
    ];
    for (const a of bad) {
      // As a plugin writes (a plain object): Loupe's own packed form always carries packed points.
      artist.doc.transact(() => annotationsMap(artist.doc).raw.set(a.id, a));
      await artist.provider.whenAcked();
    }
    expect(artist.refusals.map((r) => r.code)).toEqual(['BAD_ANNOTATION', 'BAD_ANNOTATION', 'BAD_ANNOTATION']);
    await new Promise((r) => setTimeout(r, 200));
    expect(bad.some((a) => annotationsMap(director.doc).has(a.id))).toBe(false);
  });
});

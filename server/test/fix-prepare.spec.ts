/**
 * fix:prepare: the fix panel sends the choice it shows (frame, region, fix, parameters) while the
 * artist makes it; the server reads and plans that frame ahead, so the fix, once asked, starts from
 * its first tile. What the artist gets must not change: the prepared fix equals the same fix asked
 * cold on another server. A fix asked while a frame is being prepared runs (it waits, it is not
 * refused as "busy"). Bad input is refused with a code and leaves the room as it was.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { Job, Version } from '@loupe/shared';
import { autoCleanup, demoRoom, emitAck, joinRoom, testServer, type Member } from './helpers.js';
import type { RunningServer } from '../src/main.js';
import { InferenceService } from '../src/inference/inference.service.js';
import { createLogger } from '../src/log.js';

const cleanup = autoCleanup();

async function artistIn(name: string) {
  const server = await testServer();
  cleanup.push(() => server.close());
  const { room, token } = await demoRoom(server, name);
  const artist = await joinRoom(server.url, room.id, token('artist'));
  cleanup.push(() => artist.close());
  return { server, room, token, artist, source: artist.state.versions[0] };
}

let keys = 0;
/** Asks for a fix and waits for its version; `prepare` first sends the panel's fix:prepare without waiting for its answer. */
async function fixed(m: Member, roomId: string, req: Record<string, unknown>, prepare = false): Promise<{ version: Version; prepared: Promise<unknown> | null }> {
  const created = new Promise<Version>((r) => m.socket.once('version:created', r));
  const prepared = prepare ? emitAck(m.socket, 'fix:prepare', { room: roomId, ...req }) : null;
  const ack = await emitAck<{ job: Job }>(m.socket, 'fix:request', { room: roomId, ...req, idempotencyKey: `prepare-test-${++keys}` });
  if (!ack.ok) throw new Error(`${ack.code}: ${ack.message}`);
  return { version: await created, prepared };
}

async function pixels(server: RunningServer, v: Version): Promise<Buffer> {
  return sharp(await server.services.blobs.localPath((v.media as { blob: string }).blob)).raw().toBuffer();
}

describe('a frame prepared by the fix panel', () => {
  it('is answered ready; the fix asked next equals the same fix asked cold (match grade: same alignment, coefficients and pixels)', async () => {
    const a = await artistIn('Prepared');
    const b = await artistIn('Cold');
    const grade = (source: Version) => ({ versionId: source.id, frame: 20, region: { x: 0, y: 0, width: 1, height: 1 }, fix: 'match-grade', params: { referenceVersionId: source.id, referenceFrame: 24 } });

    const ready = await emitAck<{ ready: boolean }>(a.artist.socket, 'fix:prepare', { room: a.room.id, ...grade(a.source) });
    expect(ready).toEqual({ ok: true, ready: true });
    const prepared = (await fixed(a.artist, a.room.id, grade(a.source))).version;
    const cold = (await fixed(b.artist, b.room.id, grade(b.source))).version;
    const pc = prepared.provenance!.computed as Record<string, unknown>;
    const cc = cold.provenance!.computed as Record<string, unknown>;
    expect(pc.alignment).toEqual(cc.alignment);
    expect(pc.matrix).toEqual(cc.matrix);
    expect(pc.method).toBe(cc.method);
    expect((await pixels(a.server, prepared)).equals(await pixels(b.server, cold))).toBe(true);

    // Exposure on a region, its panel's message sent just before Apply: the job waits for the
    // preparation in flight instead of failing, and the result equals the cold one.
    const exposure = (source: Version) => ({ versionId: source.id, frame: 33, region: { x: 0.25, y: 0.2, width: 0.5, height: 0.5 }, fix: 'exposure', params: { exposure: 0.7 } });
    const racing = await fixed(a.artist, a.room.id, exposure(a.source), true);
    expect(await racing.prepared).toMatchObject({ ok: true });
    const coldExposure = (await fixed(b.artist, b.room.id, exposure(b.source))).version;
    expect(racing.version.provenance!.computed).toEqual(coldExposure.provenance!.computed);
    expect((await pixels(a.server, racing.version)).equals(await pixels(b.server, coldExposure))).toBe(true);
  }, 120_000);

  it('bad input is refused with a code and makes no job; remove object is not read ahead; a flood is rate limited', async () => {
    const { server, room, token, artist, source } = await artistIn('Prepare refusals');
    const whole = { versionId: source.id, frame: 5, fix: 'exposure', params: {} };
    const editor = await joinRoom(server.url, room.id, token('editor'));
    cleanup.push(() => editor.close());
    expect(await emitAck(editor.socket, 'fix:prepare', { room: room.id, ...whole })).toMatchObject({ ok: false, code: 'FORBIDDEN_ROLE' });
    expect(await emitAck(artist.socket, 'fix:prepare', { room: room.id, ...whole, versionId: 'nope-nope' })).toMatchObject({ ok: false, code: 'VERSION_NOT_FOUND' });
    expect(await emitAck(artist.socket, 'fix:prepare', { room: room.id, ...whole, frame: 1_000_000 })).toMatchObject({ ok: false, code: 'FRAME_OUT_OF_RANGE' });
    expect(await emitAck(artist.socket, 'fix:prepare', { room: room.id, ...whole, params: { exposure: 'bright' } })).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
    expect(await emitAck(artist.socket, 'fix:prepare', { room: room.id, ...whole, fix: 'match-grade', params: { referenceVersionId: 'nope-nope' } })).toMatchObject({ ok: false });
    const mask: [number, number][] = [[0.4, 0.4], [0.6, 0.4], [0.6, 0.6], [0.4, 0.6]];
    expect(await emitAck(artist.socket, 'fix:prepare', { room: room.id, ...whole, fix: 'remove-object', region: { x: 0.3, y: 0.3, width: 0.4, height: 0.4, mask } })).toEqual({ ok: true, ready: false });

    // More than the limit in a second: the rest are refused, none of them queues anything.
    await new Promise((r) => setTimeout(r, 1100));
    const flood = await Promise.all(Array.from({ length: 12 }, (_, i) => emitAck(artist.socket, 'fix:prepare', { room: room.id, ...whole, frame: i })));
    expect(flood.filter((r) => !r.ok).map((r) => (r as { code: string }).code)).toContain('RATE_LIMITED');
    expect(flood.filter((r) => r.ok).length).toBeLessThanOrEqual(6);
    const later = await joinRoom(server.url, room.id, token('director'));
    cleanup.push(() => later.close());
    expect(later.state.jobs).toEqual([]);
  }, 120_000);

  it("a job's read of the worker sent while a read ahead is in flight waits for it and succeeds; a second read ahead is declined", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-prepare-'));
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'frame.png');
    const W = 1920, H = 1080;
    const px = Buffer.alloc(W * H * 3);
    for (let i = 0; i < px.length; i++) px[i] = (i * 2654435761) >>> 24;
    await sharp(px, { raw: { width: W, height: H, channels: 3 } }).png({ compressionLevel: 1 }).toFile(file);
    const inference = new InferenceService(['cpu'], createLogger('silent'));
    cleanup.push(() => inference.close());
    const source = { path: file, rect: { x: 0, y: 0, width: W, height: H }, depth: 8 as const };
    const view = { kind: 'resize' as const, width: 64, height: 64, fit: 'inside' as const };
    const ahead = inference.ahead(() => inference.read('prepare-1', source, [view], true));
    expect(ahead).not.toBeNull();
    expect(inference.ahead(() => inference.read('prepare-2', source, [view], true))).toBeNull();
    const [job, early] = await Promise.all([inference.read('job-1', source, [view]), ahead!]);
    expect(Buffer.from(job[0].rgb).equals(Buffer.from(early[0].rgb))).toBe(true);
    // Free again: another read ahead is taken.
    const again = inference.ahead(() => inference.read('prepare-3', source, [view], true));
    expect(again).not.toBeNull();
    await again;
  }, 60_000);
});

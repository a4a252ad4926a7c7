/**
 * Match grade through a real server: the planner reads both whole frames, aligns them, records what
 * it did (method, alignment, the candidates' errors, any fall-back) in the version's provenance, and
 * the exposure fix records why auto white balance acted or not.
 */
import { describe, expect, it } from 'vitest';
import type { Job, Version } from '@loupe/shared';
import { autoCleanup, demoRoom, emitAck, joinRoom, testServer } from './helpers.js';

const cleanup = autoCleanup();

describe('colour fixes in a room', () => {
  it('match grade against another frame of the shot: aligned, fitted, recorded; auto white balance says why it left the frame alone', async () => {
    const server = await testServer();
    cleanup.push(() => server.close());
    const { room, token } = await demoRoom(server, 'Grade');
    const artist = await joinRoom(server.url, room.id, token('artist'));
    cleanup.push(() => artist.close());
    const source = artist.state.versions[0];
    const fix = async (fixId: string, params: Record<string, unknown>, key: string) => {
      const created = new Promise<Version>((r) => artist.socket.once('version:created', r));
      const ack = await emitAck<{ job: Job }>(artist.socket, 'fix:request', {
        room: room.id, versionId: source.id, frame: 10, region: { x: 0.1, y: 0.1, width: 0.2, height: 0.2 }, fix: fixId, params, idempotencyKey: key,
      });
      if (!ack.ok) throw new Error(ack.message);
      return created;
    };
    // The demo shot (ffmpeg's testsrc2) moves little between frames 10 and 12: the same scene.
    const graded = await fix('match-grade', { referenceVersionId: source.id, referenceFrame: 12 }, 'grade-0001');
    const p = graded.provenance!;
    expect(p.reference).toMatchObject({ versionId: source.id, frame: 12 });
    expect(p.computed).toMatchObject({ relation: 'same scene', strength: 1 });
    expect(p.computed!.alignment).toMatchObject({ scale: expect.closeTo(1, 1) });
    const errors = p.computed!.pairError as Record<string, number>;
    // Whatever it used is the best candidate on the paired pixels, and it says so when it is not the fit.
    expect(errors[p.computed!.method as string]).toBe(Math.min(...Object.values(errors)));
    if (p.computed!.method !== 'fit') expect(p.computed!.fellBack).toMatch(/instead of fit/);
    expect(p.model).toMatchObject({ id: 'loupe-colour', kind: 'algorithm' });

    const balanced = await fix('exposure', { whiteBalance: 'auto' }, 'grade-0002');
    expect(balanced.provenance!.computed).toMatchObject({ whiteBalance: 'auto', balance: { applied: expect.any(Boolean), reason: expect.any(String) } });

    // Bad input: a neutral pick without its point is refused with a code.
    const bad = await emitAck(artist.socket, 'fix:request', {
      room: room.id, versionId: source.id, frame: 10, region: { x: 0.1, y: 0.1, width: 0.2, height: 0.2 }, fix: 'exposure', params: { whiteBalance: 'neutral' }, idempotencyKey: 'grade-0003',
    });
    expect(bad).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
    expect((bad as { message: string }).message).toMatch(/neutral point/);
  });

  it('a whole frame matched again at another strength reuses the fit of that pair of frames: the same alignment, the coefficients scaled towards the identity; another reference frame is fitted anew', async () => {
    const server = await testServer();
    cleanup.push(() => server.close());
    const { room, token } = await demoRoom(server, 'Grade strength');
    const artist = await joinRoom(server.url, room.id, token('artist'));
    cleanup.push(() => artist.close());
    const source = artist.state.versions[0];
    let n = 0;
    const grade = async (params: Record<string, unknown>) => {
      const created = new Promise<Version>((r) => artist.socket.once('version:created', r));
      const ack = await emitAck<{ job: Job }>(artist.socket, 'fix:request', {
        room: room.id, versionId: source.id, frame: 10, region: { x: 0, y: 0, width: 1, height: 1 }, fix: 'match-grade', params: { referenceVersionId: source.id, ...params }, idempotencyKey: `strength-${++n}`,
      });
      if (!ack.ok) throw new Error(ack.message);
      return (await created).provenance!.computed as { alignment: unknown; matrix: number[]; offset: number[]; method: string; strength: number };
    };
    const full = await grade({ referenceFrame: 12 });
    const half = await grade({ referenceFrame: 12, strength: 0.5 });
    expect(half.strength).toBe(0.5);
    expect(half.method).toBe(full.method);
    expect(half.alignment).toEqual(full.alignment);
    const identity = [1, 0, 0, 0, 1, 0, 0, 0, 1];
    half.matrix.forEach((v, i) => expect(v).toBeCloseTo(0.5 * full.matrix[i] + 0.5 * identity[i], 4));
    half.offset.forEach((v, i) => expect(v).toBeCloseTo(0.5 * full.offset[i], 4));
    // Another reference frame is another pair: fitted from its own pixels, not the kept fit.
    const other = await grade({ referenceFrame: 60 });
    expect(other.alignment).not.toEqual(full.alignment);
  });
});

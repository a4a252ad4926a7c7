import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatCube, lutFrom, type PlaybackInput, type PlaybackState } from '@loupe/shared';
import { autoCleanup, emitAck, joinRoom, roomWith } from './helpers.js';

const cleanup = autoCleanup();

const warm = formatCube({ ...lutFrom(9, (r, g, b) => [Math.min(1, r * 1.1), g, b * 0.9]), title: 'Warm' });

async function presenting() {
  const { server, room, token, members: [director, artist] } = await roomWith(cleanup, 'director', 'artist');
  await emitAck(director.socket, 'presenter:set', { room: room.id, presenterId: director.state.member.id });
  const input = (over: Partial<PlaybackInput> = {}): PlaybackInput => ({
    versionId: director.state.versions[0].id,
    frame: 4,
    playing: false,
    rate: 1,
    loop: null,
    compare: { mode: 'off', versionB: null, wipe: 0.5, showing: 'A' },
    ...over,
  });
  const postLut = (text: string, tok = token('director'), name = 'warm.cube') =>
    fetch(`${server.url}/api/luts?name=${encodeURIComponent(name)}`, { method: 'POST', headers: { authorization: `Bearer ${tok}` }, body: text });
  return { server, room, token, director, artist, input, postLut };
}

describe("the presenter's view and image controls", () => {
  it('travels to followers and late joiners, and a client that does not send them keeps the room\'s', async () => {
    const { server, room, token, director, artist, input } = await presenting();
    const view = { scale: 2, x: 0.25, y: 0.75 };
    const look = { channel: 'luma' as const, exposure: 1.5, gamma: 1.2, diffGain: 8, lut: null };
    const seen = new Promise<{ state: PlaybackState }>((r) => artist.socket.once('playback:state', r));
    expect(await emitAck(director.socket, 'playback:set', { room: room.id, state: input({ view, look }) })).toMatchObject({ ok: true, state: { view, look } });
    expect((await seen).state).toMatchObject({ view, look });
    // A plain script that knows nothing of the view moves the frame; the room keeps its zoom and look.
    const next = await emitAck<{ state: PlaybackState }>(director.socket, 'playback:set', { room: room.id, state: input({ frame: 9 }) });
    expect(next).toMatchObject({ ok: true, state: { frame: 9, view, look } });
    const late = await joinRoom(server.url, room.id, token('editor'));
    cleanup.push(() => late.close());
    expect(late.state.playback).toMatchObject({ frame: 9, view, look });
  });

  it('refuses views and looks out of range with BAD_REQUEST', async () => {
    const { room, director, input } = await presenting();
    const bad: Partial<PlaybackInput>[] = [
      { view: { scale: 1000, x: 0.5, y: 0.5 } },
      { view: { scale: 1, x: 3, y: 0.5 } },
      { look: { channel: 'rgb', exposure: 40, gamma: 1, diffGain: 1, lut: null } },
      { look: { channel: 'hsv' as never, exposure: 0, gamma: 1, diffGain: 1, lut: null } },
      { look: { channel: 'rgb', exposure: 0, gamma: 0, diffGain: 1, lut: null } },
      { look: { channel: 'rgb', exposure: 0, gamma: 1, diffGain: 1, lut: { sha256: 'not-a-hash', name: 'x' } } },
    ];
    for (const over of bad) expect(await emitAck(director.socket, 'playback:set', { room: room.id, state: input(over) })).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
  });

  it('keeps a room LUT that followers fetch by sha256, and refuses bad files and LUTs of other rooms', async () => {
    const { server, room, token, director, artist, input, postLut } = await presenting();
    const r = await postLut(warm);
    expect(r.status).toBe(201);
    const { lut } = (await r.json()) as { lut: { sha256: string; name: string; size: number } };
    expect(lut).toMatchObject({ name: 'warm.cube', size: 9 });
    // Any member of the room reads it back, byte for byte.
    const back = await fetch(`${server.url}/api/luts/${lut.sha256}?token=${token('viewer')}`);
    expect(back.status).toBe(200);
    expect(await back.text()).toBe(warm);
    // The presenter names it in the look; followers get the name and hash, not the data.
    const seen = new Promise<{ state: PlaybackState }>((res) => artist.socket.once('playback:state', res));
    const look = { channel: 'rgb' as const, exposure: 0, gamma: 1, diffGain: 1, lut: { sha256: lut.sha256, name: lut.name } };
    expect(await emitAck(director.socket, 'playback:set', { room: room.id, state: input({ look }) })).toMatchObject({ ok: true });
    expect((await seen).state.look).toEqual(look);

    // A hash the room does not have is refused: followers could not fetch it.
    const unknown = { ...look, lut: { sha256: 'a'.repeat(64), name: 'ghost.cube' } };
    expect(await emitAck(director.socket, 'playback:set', { room: room.id, state: input({ look: unknown }) })).toMatchObject({ ok: false, code: 'LUT_NOT_FOUND' });

    // Bad files: the code, and the line at fault.
    const broken = await postLut('LUT_3D_SIZE 2\n0 0 0\n1 0 zz\n');
    expect(broken.status).toBe(422);
    expect(await broken.json()).toMatchObject({ ok: false, code: 'BAD_LUT', message: expect.stringContaining('Line 3') });
    const huge = await postLut('#'.repeat(11 * 1024 * 1024));
    expect(huge.status).toBe(422);
    expect(await huge.json()).toMatchObject({ code: 'BAD_LUT' });
    expect((await postLut(warm, 'not-a-token')).status).toBe(401);

    // Another room cannot read this room's LUT.
    const other = await roomWith(cleanup, 'director');
    const { token: otherToken } = other;
    const stranger = await fetch(`${other.server.url}/api/luts/${lut.sha256}?token=${otherToken('director')}`);
    expect(stranger.status).toBe(404);
    expect(await stranger.json()).toMatchObject({ code: 'LUT_NOT_FOUND' });
    // Nor can another room of the same server, where the LUT is a blob granted to this room only.
    const neighbour = await server.services.roomService.create('Neighbours', { demo: false });
    const neighbourToken = neighbour.invites.find((i) => i.role === 'director')!.token;
    expect((await fetch(`${server.url}/api/luts/${lut.sha256}?token=${neighbourToken}`)).status).toBe(404);

    // A LUT an older Loupe kept in the data folder (luts/<room>/<sha256>.cube) is still read and accepted.
    const old = formatCube({ ...lutFrom(9, (r, g, b) => [b, g, r]), title: 'Old look' });
    const oldSha = crypto.createHash('sha256').update(old).digest('hex');
    fs.mkdirSync(path.join(server.dataDir, 'luts', room.id), { recursive: true });
    fs.writeFileSync(path.join(server.dataDir, 'luts', room.id, `${oldSha}.cube`), old);
    const oldBack = await fetch(`${server.url}/api/luts/${oldSha}?token=${token('viewer')}`);
    expect(oldBack.status).toBe(200);
    expect(await oldBack.text()).toBe(old);
    expect(await emitAck(director.socket, 'playback:set', { room: room.id, state: input({ look: { ...look, lut: { sha256: oldSha, name: 'old.cube' } } }) })).toMatchObject({ ok: true });
  });
});

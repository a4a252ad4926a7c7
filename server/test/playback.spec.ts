import { describe, expect, it } from 'vitest';
import type { PlaybackInput, PlaybackState, PresentationState } from '@loupe/shared';
import { autoCleanup, demoRoom, emitAck, joinRoom, testServer, until, roomWith } from './helpers.js';

const cleanup = autoCleanup();

async function room3() {
  const { server, room, token, members: [director, artist, viewer] } = await roomWith(cleanup, 'director', 'artist', 'viewer');
  const versionId = director.state.versions[0].id;
  const input = (frame: number, over: Partial<PlaybackInput> = {}): PlaybackInput => ({
    versionId, frame, playing: false, rate: 1, loop: null, compare: { mode: 'off', versionB: null, wipe: 0.5, showing: 'A' }, ...over,
  });
  return { server, room, token, director, artist, viewer, input };
}

describe('synced playback', () => {
  it('treats a person with two tabs as one presenter: the second tab follows and cannot reset the room', async () => {
    const { server, room, token, artist, input } = await room3();
    const tab1 = await joinRoom(server.url, room.id, token('director'), undefined, true, 'tab-one');
    cleanup.push(() => tab1.close());
    const took = await emitAck<{ presentation: PresentationState }>(tab1.socket, 'presenter:set', { room: room.id, presenterId: tab1.state.member.id });
    expect(took).toMatchObject({ ok: true, presentation: { presenterId: tab1.state.member.id } });
    const set = await emitAck<{ state: PlaybackState }>(tab1.socket, 'playback:set', { room: room.id, state: input(42, { playing: false }) });
    if (!set.ok) throw new Error(set.message);
    const heard: PlaybackState[] = [];
    artist.socket.on('playback:state', ({ state }) => heard.push(state));

    // The same invite in a second tab joins at the room's state and does not drive it.
    const tab2 = await joinRoom(server.url, room.id, token('director'), undefined, true, 'tab-two');
    cleanup.push(() => tab2.close());
    expect(tab2.state.playback).toMatchObject({ frame: 42, seq: set.state.seq });
    expect(await emitAck(tab2.socket, 'playback:set', { room: room.id, state: input(0) })).toMatchObject({ ok: false, code: 'NOT_PRESENTER' });
    await new Promise((r) => setTimeout(r, 200));
    expect(heard).toEqual([]);
    expect(tab2.state.presentation).toMatchObject({ presenterId: tab2.state.member.id, presenterTab: 'tab-one' });

    // The second tab closing leaves the presentation with the first.
    tab2.close();
    await new Promise((r) => setTimeout(r, 300));
    expect((await emitAck<{ state: PlaybackState }>(tab1.socket, 'playback:set', { room: room.id, state: input(43) })).ok).toBe(true);
    const tab3 = await joinRoom(server.url, room.id, token('director'), undefined, true, 'tab-three');
    cleanup.push(() => tab3.close());
    // Taking the presentation from a tab moves it there.
    expect(await emitAck(tab3.socket, 'presenter:set', { room: room.id, presenterId: tab3.state.member.id })).toMatchObject({ ok: true, presentation: { presenterTab: 'tab-three' } });
    expect(await emitAck(tab1.socket, 'playback:set', { room: room.id, state: input(1) })).toMatchObject({ ok: false, code: 'NOT_PRESENTER' });
  });

  it('lets only the presenter drive, and every follower rests on the presenter\'s last frame after a burst of 200 seeks', async () => {
    const { server, room, token, director, artist, viewer, input } = await room3();
    expect(director.state.presentation).toEqual({ presenterId: null, presenterName: null, presenterTab: null, control: 'presenter' });
    expect(await emitAck(director.socket, 'playback:set', { room: room.id, state: input(3) })).toMatchObject({ ok: false, code: 'NOT_PRESENTER' });

    const onArtist = new Promise<PresentationState>((r) => artist.socket.once('presenter:state', r));
    const took = await emitAck(director.socket, 'presenter:set', { room: room.id, presenterId: director.state.member.id });
    expect(took).toMatchObject({ ok: true, presentation: { presenterId: director.state.member.id, presenterName: 'Director' } });
    expect((await onArtist).presenterId).toBe(director.state.member.id);

    const last: Record<string, PlaybackState | null> = { artist: null, viewer: null };
    for (const [name, m] of [['artist', artist], ['viewer', viewer]] as const) {
      m.socket.on('playback:state', ({ state }) => {
        // Followers keep the newest state; anything older is ignored.
        if (!last[name] || state.seq > last[name]!.seq) last[name] = state;
      });
    }
    const frames = Array.from({ length: 200 }, (_, i) => (i % 2 ? (i * 7) % 96 : Math.min(95, i % 96 + 1)));
    const acks = frames.map((f) => emitAck<{ state: PlaybackState }>(director.socket, 'playback:set', { room: room.id, state: input(f) }));
    const results = await Promise.all(acks);
    expect(results.every((r) => r.ok)).toBe(true);
    const final = frames[frames.length - 1];
    const started = Date.now();
    await until(() => last.artist?.frame === final && last.viewer?.frame === final && last.artist.seq === last.viewer.seq, 'followers on the last frame', 2000);
    expect(Date.now() - started).toBeLessThan(500);
    expect(last.artist!.by).toBe(director.state.member.id);

    // A follower may not drive while control is presenter-only.
    expect(await emitAck(artist.socket, 'playback:set', { room: room.id, state: input(1) })).toMatchObject({ ok: false, code: 'NOT_PRESENTER' });
    // A late joiner lands on the presenter's frame.
    const late = await joinRoom(server.url, room.id, token('editor'));
    cleanup.push(() => late.close());
    expect(late.state.playback).toMatchObject({ frame: final, seq: last.artist!.seq });
  });

  it('hands over the presentation, opens control to everyone, and refuses bad changes with codes', async () => {
    const { server, room, token, director, artist, viewer, input } = await room3();
    expect(await emitAck(artist.socket, 'presenter:set', { room: room.id, presenterId: artist.state.member.id })).toMatchObject({ ok: false, code: 'FORBIDDEN_ROLE' });
    expect(await emitAck(director.socket, 'presenter:set', { room: room.id, presenterId: 'nobody-here' })).toMatchObject({ ok: false, code: 'MEMBER_NOT_HERE' });
    await emitAck(director.socket, 'presenter:set', { room: room.id, presenterId: artist.state.member.id });
    // The artist now presents, and may hand it on or open control to everyone.
    const opened = await emitAck<{ presentation: PresentationState }>(artist.socket, 'presenter:set', { room: room.id, presenterId: artist.state.member.id, control: 'everyone' });
    expect(opened).toMatchObject({ ok: true, presentation: { presenterId: artist.state.member.id, control: 'everyone' } });
    const seen = new Promise<{ state: PlaybackState }>((r) => director.socket.once('playback:state', r));
    const byViewer = await emitAck<{ state: PlaybackState }>(viewer.socket, 'playback:set', {
      room: room.id, state: input(40, { playing: true, rate: 0.5, loop: { in: 30, out: 50 }, compare: { mode: 'wipe', versionB: director.state.versions[0].id, wipe: 0.3, showing: 'A' } }),
    });
    expect(byViewer.ok).toBe(true);
    expect((await seen).state).toMatchObject({ frame: 40, playing: true, rate: 0.5, loop: { in: 30, out: 50 }, compare: { mode: 'wipe', wipe: 0.3 } });

    for (const [state, code] of [
      [input(1, { versionId: 'not-a-version' }), 'VERSION_NOT_FOUND'],
      [input(1, { rate: 8 }), 'BAD_REQUEST'],
      [input(1, { loop: { in: 20, out: 10 } }), 'BAD_REQUEST'],
      [input(-1), 'BAD_REQUEST'],
    ] as const) {
      expect(await emitAck(director.socket, 'playback:set', { room: room.id, state })).toMatchObject({ ok: false, code });
    }
    const late = await joinRoom(server.url, room.id, token('editor'));
    cleanup.push(() => late.close());
    expect(late.state.playback).toMatchObject({ frame: 40, playing: true, rate: 0.5 });
    expect(late.state.serverNow).toBeGreaterThanOrEqual(late.state.playback!.at);
  });

  it('ends the presentation when the presenter leaves and does not come back', async () => {
    const { room, director, artist } = await room3();
    await emitAck(director.socket, 'presenter:set', { room: room.id, presenterId: director.state.member.id });
    const ended = new Promise<PresentationState>((r) => artist.socket.on('presenter:state', (p) => p.presenterId === null && r(p)));
    director.close();
    expect((await ended).presenterId).toBeNull();
  });
});

import { describe, expect, it } from 'vitest';
import { io as ioClient } from 'socket.io-client';
import { ErrorCode, PROTOCOL_VERSION, type Job } from '@loupe/shared';
import { autoCleanup, connectError, emitAck, joinRoom, roomWith, type ClientSocket } from './helpers.js';

/**
 * The handshake's protocol version: a page of another version is refused with PROTOCOL_MISMATCH
 * and told to reload; a client that sends none (socket.io-client scripts, outside checks) is taken
 * as current. And one rule (shared canCancel) for who may cancel a fix.
 */
const cleanup = autoCleanup();

function connectWith(url: string, auth: Record<string, unknown>): ClientSocket {
  const s: ClientSocket = ioClient(url, { auth, transports: ['websocket'], reconnection: false, forceNew: true });
  cleanup.push(() => s.disconnect());
  return s;
}

const connected = (s: ClientSocket) =>
  new Promise<void>((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('connect_error', reject);
  });

describe('protocol version', () => {
  it('refuses a page of an older version with PROTOCOL_MISMATCH and a reload message; accepts the current one and none', async () => {
    const { server, room, token } = await roomWith(cleanup);
    const old = connectWith(server.url, { token: token('artist'), protocol: PROTOCOL_VERSION - 1 });
    const refused = await connectError(old);
    expect(refused.code).toBe(ErrorCode.PROTOCOL_MISMATCH);
    expect(refused.message).toMatch(/another version of Loupe .*Reload the page/);
    // Refused before the token is even read: a bad token with an old page still says reload.
    expect((await connectError(connectWith(server.url, { token: 'nonsense', protocol: 0 }))).code).toBe(ErrorCode.PROTOCOL_MISMATCH);
    expect((await connectError(connectWith(server.url, { token: token('artist'), protocol: 'one' }))).code).toBe(ErrorCode.PROTOCOL_MISMATCH);

    const current = connectWith(server.url, { token: token('artist'), protocol: PROTOCOL_VERSION });
    await connected(current);
    const joined = await emitAck<{ protocol: number }>(current, 'room:join', { room: room.id });
    expect(joined).toMatchObject({ ok: true, protocol: PROTOCOL_VERSION });
    // A stock client with no version: in.
    const stock = await joinRoom(server.url, room.id, token('viewer'));
    cleanup.push(() => stock.close());
    expect(stock.state.protocol).toBe(PROTOCOL_VERSION);
  });
});

describe('who may cancel a fix', () => {
  it('refuses another artist and a viewer (FORBIDDEN_ROLE); the requester cancels', async () => {
    const { server, room, members: [artist, viewer] } = await roomWith(cleanup, 'artist', 'viewer');
    const other = await server.services.roomService.invite(room.id, 'artist', 'Other artist');
    const second = await joinRoom(server.url, room.id, other.token);
    cleanup.push(() => second.close());
    expect(second.state.member.id).not.toBe(artist.state.member.id);
    const big = { x: 0, y: 0, width: 512 / 1920, height: 512 / 1080 };
    const a = await emitAck<{ job: Job }>(artist.socket, 'fix:request', {
      room: room.id, versionId: artist.state.versions[0].id, frame: 3, region: big, fix: 'upscale-x4', params: {}, idempotencyKey: `protocol-cancel-${process.pid}`,
    });
    if (!a.ok) throw new Error(a.message);
    for (const who of [second, viewer]) {
      expect(await emitAck(who.socket, 'fix:cancel', { room: room.id, jobId: a.job.id })).toMatchObject({ ok: false, code: ErrorCode.FORBIDDEN_ROLE });
    }
    expect(await emitAck(artist.socket, 'fix:cancel', { room: room.id, jobId: a.job.id })).toMatchObject({ ok: true, job: { state: 'cancelled' } });
  });
});

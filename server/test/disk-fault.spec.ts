import { describe, expect, it } from 'vitest';
import type { Job } from '@loupe/shared';
import { autoCleanup, demoRoom, emitAck, joinRoom, testServer, until, roomWith } from './helpers.js';

const cleanup = autoCleanup();

describe('a full disk during a fix', () => {
  it('fails the job with a clear error, makes no version, and the next fix works once space is back', async () => {
    const { server, room, token, members: [artist] } = await roomWith(cleanup, 'artist');
    const jobs: Job[] = [];
    artist.socket.on('fix:job', (j) => jobs.push(j));
    const blobs = server.services.blobs;
    const put = blobs.put.bind(blobs);
    let full = true;
    // The result is written through the blob store; make it fail like a full disk does.
    blobs.put = async (bytes: Uint8Array) => {
      if (full && bytes.byteLength > 10_000) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      return put(bytes);
    };
    const ask = (key: string) =>
      emitAck<{ job: Job }>(artist.socket, 'fix:request', {
        room: room.id, versionId: artist.state.versions[0].id, frame: 5,
        region: { x: 0.25, y: 0.25, width: 0.1, height: 0.1 }, fix: 'upscale-x2', params: {}, idempotencyKey: key,
      });
    const first = await ask('disk-full-0001');
    if (!first.ok) throw new Error(first.message);
    const failed = await until(() => jobs.find((j) => j.id === first.job.id && j.state === 'failed'), 'the job to fail', 60_000);
    expect(failed.error).toMatchObject({ code: 'FIX_FAILED', message: expect.stringMatching(/ENOSPC|space/) });
    expect((await server.services.versions.listForRoom(room.id)).filter((v) => v.kind === 'ai')).toHaveLength(0);

    full = false;
    const second = await ask('disk-full-0002');
    if (!second.ok) throw new Error(second.message);
    await until(() => jobs.find((j) => j.id === second.job.id && j.state === 'done'), 'the next job to finish', 60_000);
    expect((await server.services.versions.listForRoom(room.id)).filter((v) => v.kind === 'ai')).toHaveLength(1);
  });
});

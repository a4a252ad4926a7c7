import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { Job, Tile, Version } from '@loupe/shared';
import { autoCleanup, demoRoom, emitAck, joinRoom, testServer, until, roomWith } from './helpers.js';

const cleanup = autoCleanup();

describe('an AI fix in the room', () => {
  it('streams tiles to everyone, ends in one AI version with provenance, and only the director decides', async () => {
    const { server, room, token, members: [artist, director] } = await roomWith(cleanup, 'artist', 'director');

    const seen = { artist: { tiles: [] as Tile[], jobs: [] as Job[], versions: [] as Version[] }, director: { tiles: [] as Tile[], jobs: [] as Job[], versions: [] as Version[] } };
    for (const [name, m] of [['artist', artist], ['director', director]] as const) {
      m.socket.on('fix:tile', (t) => seen[name].tiles.push(t));
      m.socket.on('fix:job', (j) => seen[name].jobs.push(j));
      m.socket.on('version:created', (v) => seen[name].versions.push(v));
    }

    const source = artist.state.versions[0];
    // 300x200 source pixels at (480, 270): 3x2 tiles of 128.
    const region = { x: 480 / 1920, y: 270 / 1080, width: 300 / 1920, height: 200 / 1080 };
    const request = { room: room.id, versionId: source.id, frame: 30, region, fix: 'upscale-x2', params: {}, idempotencyKey: 'key-0000000001' };
    const ack = await emitAck<{ job: Job }>(artist.socket, 'fix:request', request);
    if (!ack.ok) throw new Error(ack.message);
    expect(ack.job.state).toBe('queued');
    const again = await emitAck<{ job: Job }>(artist.socket, 'fix:request', request);
    expect(again.ok && again.job.id).toBe(ack.job.id);

    const done = await until(() => seen.director.jobs.find((j) => j.id === ack.job.id && j.state === 'done'), 'job done', 60_000);
    const states = seen.director.jobs.filter((j) => j.id === ack.job.id).map((j) => j.state);
    expect(states).toContain('running');
    expect(done.tilesTotal).toBe(6);
    expect(done.output).toEqual({ width: 600, height: 400 });
    for (const name of ['artist', 'director'] as const) {
      const tiles = seen[name].tiles.filter((t) => t.jobId === ack.job.id);
      expect(tiles).toHaveLength(6);
      const area = tiles.reduce((s, t) => s + t.width * t.height, 0);
      expect(area).toBe(600 * 400);
      // Opaque tiles are previews sent as JPEG (the version keeps the lossless PNG), and look like the result.
      const meta = await sharp(Buffer.from(tiles[0].data)).metadata();
      expect([tiles[0].mime, meta.format]).toEqual(['image/jpeg', 'jpeg']);
      expect([meta.width, meta.height]).toEqual([tiles[0].width, tiles[0].height]);
      await until(() => seen[name].versions.length === 1, 'version on ' + name);
    }
    // Progress rose monotonically to 1.
    const progress = seen.artist.jobs.filter((j) => j.id === ack.job.id && j.state === 'running').map((j) => j.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));

    const v = seen.director.versions[0];
    expect(v).toMatchObject({ kind: 'ai', number: 2, status: 'pending', parentVersionId: source.id });
    expect(v.media).toMatchObject({ type: 'still', width: 600, height: 400, frame: 30 });
    expect(v.provenance).toMatchObject({
      aiMade: true,
      jobId: ack.job.id,
      fix: 'upscale-x2',
      provider: 'cpu',
      sourceVersionId: source.id,
      frame: 30,
      sourceRect: { x: 480, y: 270, width: 300, height: 200 },
      requestedBy: { role: 'artist' },
      model: { id: 'esrgan-slim-x2', licence: 'MIT', kind: 'learned', technique: 'ESRGAN (RDN) network' },
    });
    expect(v.provenance!.model.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(done.resultVersionId).toBe(v.id);

    // The stored result is the 2x picture, served to members with their token.
    const res = await fetch(`${server.url}/blobs/${v.media.blob}?token=${token('viewer')}`);
    expect(res.status).toBe(200);
    const png = Buffer.from(await res.arrayBuffer());
    expect(await sharp(png).metadata()).toMatchObject({ width: 600, height: 400 });
    expect((await fetch(`${server.url}/blobs/${v.media.blob}`)).status).toBe(401);

    // Exactly one version per job, even when asked again with the same key.
    expect((await server.services.versions.listForRoom(room.id)).filter((x) => x.kind === 'ai')).toHaveLength(1);

    // Decisions: the artist may not; the director may, and everyone sees it.
    const refused = await emitAck(artist.socket, 'version:decide', { room: room.id, versionId: v.id, decision: 'approved' });
    expect(refused).toMatchObject({ ok: false, code: 'FORBIDDEN_ROLE' });
    const updated = new Promise<Version>((r) => artist.socket.once('version:updated', r));
    const decided = await emitAck<{ version: Version }>(director.socket, 'version:decide', { room: room.id, versionId: v.id, decision: 'approved', note: 'Lovely' });
    expect(decided.ok).toBe(true);
    const onArtist = await updated;
    expect(onArtist.status).toBe('approved');
    expect(onArtist.decisions).toEqual([expect.objectContaining({ decision: 'approved', note: 'Lovely', by: expect.objectContaining({ role: 'director' }) })]);
  });

  it('shows a member who joins mid-job the tiles done so far', async () => {
    const { server, room, token, members: [artist] } = await roomWith(cleanup, 'artist');
    let firstTile!: () => void;
    const gotFirst = new Promise<void>((r) => (firstTile = r));
    let artistTiles = 0;
    artist.socket.on('fix:tile', () => (artistTiles++, firstTile()));
    // 1024x512 source pixels: 8x4 = 32 tiles, several seconds on two cores.
    const ack = await emitAck<{ job: Job }>(artist.socket, 'fix:request', {
      room: room.id, versionId: artist.state.versions[0].id, frame: 0,
      region: { x: 0, y: 0, width: 1024 / 1920, height: 512 / 1080 }, fix: 'upscale-x2', params: {}, idempotencyKey: 'late-join-0001',
    });
    if (!ack.ok) throw new Error(ack.message);
    await gotFirst;
    const lateTiles = new Set<number>();
    const late = await joinRoom(server.url, room.id, token('viewer'), (s) => s.on('fix:tile', (t) => t.jobId === ack.job.id && lateTiles.add(t.index)));
    cleanup.push(() => late.close());
    const running = late.state.jobs.find((j) => j.id === ack.job.id)!;
    expect(running.state).toBe('running');
    await until(() => late.state && lateTiles.size === 32, 'all 32 tiles on the late member', 60_000);
    expect(artistTiles).toBe(32);
  });
});

describe('a fix on a drawn mask', () => {
  it('changes only the pixels inside the mask: outside it the result is transparent', async () => {
    const { server, room, token, members: [director] } = await roomWith(cleanup, 'director');
    const created = new Promise<Version>((r) => director.socket.once('version:created', r));
    const tiles: Tile[] = [];
    director.socket.on('fix:tile', (t) => tiles.push(t));
    // A triangle inside a 192x108 region at the top-left of the picture.
    const region = { x: 0, y: 0, width: 0.1, height: 0.1, mask: [[0, 0], [0.1, 0], [0, 0.1]] as [number, number][] };
    const ack = await emitAck<{ job: Job }>(director.socket, 'fix:request', {
      room: room.id, versionId: director.state.versions[0].id, frame: 10, region, fix: 'upscale-x2', params: {}, idempotencyKey: 'mask-key-0001',
    });
    expect(ack.ok).toBe(true);
    const v = await created;
    expect(v.provenance!.region.mask).toEqual(region.mask);
    // Tiles of a masked fix keep the mask's alpha: PNG, transparent outside the mask.
    expect(tiles.length).toBeGreaterThan(0);
    expect(tiles.every((t) => t.mime === 'image/png')).toBe(true);
    const first = await sharp(Buffer.from(tiles[0].data)).metadata();
    expect([first.format, first.channels]).toEqual(['png', 4]);
    const file = await server.services.blobs.localPath(v.media.blob);
    const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    expect(info).toMatchObject({ width: 384, height: 216, channels: 4 });
    const alpha = (x: number, y: number) => data[(y * info.width + x) * 4 + 3];
    expect(alpha(20, 20)).toBe(255); // inside, near the right angle
    expect(alpha(370, 200)).toBe(0); // outside, far corner
  });
});

describe('a restart during a fix', () => {
  it('runs the job again after the restart and still makes exactly one version', async () => {
    const server = await testServer();
    const { room, token } = await demoRoom(server);
    const artist = await joinRoom(server.url, room.id, token('artist'));
    let firstTile!: () => void;
    const gotFirst = new Promise<void>((r) => (firstTile = r));
    artist.socket.on('fix:tile', () => firstTile());
    const ack = await emitAck<{ job: Job }>(artist.socket, 'fix:request', {
      room: room.id, versionId: artist.state.versions[0].id, frame: 2,
      region: { x: 0, y: 0, width: 768 / 1920, height: 384 / 1080 }, fix: 'upscale-x2', params: {}, idempotencyKey: 'restart-key-01',
    });
    if (!ack.ok) throw new Error(ack.message);
    await gotFirst;
    artist.close();
    await server.close();

    const again = await testServer(server.dataDir);
    cleanup.push(() => again.close());
    const watcher = await joinRoom(again.url, room.id, token('viewer'));
    cleanup.push(() => watcher.close());
    await until(async () => (await again.fixes.idle()) && (await again.services.versions.listForRoom(room.id)).some((v) => v.kind === 'ai'), 'the resumed job to finish', 60_000);
    const ai = (await again.services.versions.listForRoom(room.id)).filter((v) => v.kind === 'ai');
    expect(ai).toHaveLength(1);
    expect(ai[0].provenance!.jobId).toBe(ack.job.id);
    expect(await again.fixes.jobsForRoom(room.id)).toEqual([expect.objectContaining({ id: ack.job.id, state: 'done', resultVersionId: ai[0].id })]);
  });
});

import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Role, Version } from '@loupe/shared';
import { loadConfig, type Config, type ConfigOverrides } from './config.js';
import { createLogger, type Logger } from './log.js';
import { openDatabase } from './store/database.js';
import { openBlobStore } from './store/blob-stores.js';
import { RoomRepository } from './store/room.repository.js';
import { VersionRepository } from './store/version.repository.js';
import { JobRepository } from './store/job.repository.js';
import { DocRepository } from './store/doc.repository.js';
import { FrameRepository } from './store/frame.repository.js';
import { InviteRepository } from './store/invite.repository.js';
import { InviteService } from './auth/invite.service.js';
import { InviteWatch } from './auth/invite.watch.js';
import { ClientIdRepository } from './store/client-id.repository.js';
import { ClientIdBindings } from './collab/client-ids.js';
import { RoomService } from './rooms/room.service.js';
import { createDemoRoom, demoWanted } from './rooms/demo-room.js';
import { RoomDocRegistry } from './collab/room-doc.registry.js';
import { attachYjsWebsocket } from './collab/yjs-websocket.js';
import { FrameService } from './media/frame.service.js';
import { IngestService } from './media/ingest.service.js';
import { describeTools, mediaTools } from './media/ffmpeg.js';
import { IngestRepository } from './store/ingest.repository.js';
import { mediaApi } from './http/uploads.js';
import { InferenceService } from './inference/inference.service.js';
import { ModelRegistry } from './inference/model.registry.js';
import { FixService } from './fixes/fix.service.js';
import { FixRelay } from './fixes/fix.relay.js';
import { FixRunner } from './fixes/fix.runner.js';
import { publishingSink, relayFixEvents } from './fixes/fix.relay.js';
import { removeOrphanCheckpoints } from './fixes/fix.checkpoint.js';
import { SystemFixQueue } from './fixes/system.queue.js';
import { LocalJobSystem } from './jobs/local.job-system.js';
import { BullJobSystem } from './jobs/bullmq.job-system.js';
import type { JobSystem } from './jobs/job-system.js';
import { ShotRenderService } from './shots/shot-render.service.js';
import { RenderRepository } from './store/render.repository.js';
import type { FixQueue } from './fixes/fix.queue.js';
import { storingSink } from './fixes/job.events.js';
import { RedisLink } from './cluster/redis.js';
import { RedisDocBus } from './cluster/doc-bus.js';
import { redisPresentationShare } from './cluster/presentation.share.js';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { ReviewService } from './review/review.service.js';
import { openHandOver, type HandOver } from './review/hand-over.js';
import { exportApi } from './review/export/export.http.js';
import { PresentationService } from './playback/presentation.service.js';
import { LutService } from './playback/lut.service.js';
import { lutApi } from './http/luts.js';
import { createGateway, roomChannel, type LoupeServer } from './realtime/gateway.js';
import { httpRoutes, loadWebApp } from './http/routes.js';
import { removeServerFile, writeServerFile } from './server-file.js';

/** The services one data folder holds, without any network side. Used by the server and the CLI. */
export async function openServices(config: Config, log: Logger, progress: (line: string) => void = (m) => log.info(m)) {
  // The blob store first: an object store that does not answer stops the start before anything opens.
  const blobs = await openBlobStore(config.dataDir, config.blobs);
  const db = await openDatabase(config.dataDir, config.databaseUrl);
  const rooms = new RoomRepository(db);
  const versions = new VersionRepository(db);
  // Made once and kept in the database; with several nodes starting at once, the first one's wins.
  const secret = config.secret ?? await rooms.settingOrInit('invite_secret', crypto.randomBytes(32).toString('base64url'));
  const inviteRows = new InviteRepository(db);
  const invites = new InviteService(secret, (sub) => inviteRows.isRevoked(sub));
  const publicUrl = config.publicUrl ?? `http://localhost:${config.port}`;
  const roomService = new RoomService(rooms, versions, blobs, invites, inviteRows, {
    dataDir: config.dataDir,
    publicUrl,
    inviteTtlHours: config.inviteTtlHours,
    log: progress,
  });
  return { db, rooms, versions, blobs, invites, inviteRows, roomService, publicUrl };
}

export type Services = Awaited<ReturnType<typeof openServices>>;

export interface RunningServer {
  url: string;
  port: number;
  io: LoupeServer;
  services: Services;
  fixes: FixService;
  models: ModelRegistry;
  ingests: IngestService;
  docs: RoomDocRegistry;
  /** Session event log, webhooks and exports (docs/exports.md). */
  handOver: HandOver;
  close(): Promise<void>;
}

/**
 * Starts Loupe in one process: the web app, Socket.IO, the y-websocket endpoint and the fix worker
 * on one port, with SQLite and the blob folder under the data folder.
 */
export async function startServer(overrides: ConfigOverrides = {}, opts: { log?: Logger; demoRoom?: boolean } = {}): Promise<RunningServer> {
  const config = loadConfig(process.env, overrides);
  const log = opts.log ?? createLogger(config.logLevel);
  const services = await openServices(config, log);
  const { db, rooms, versions, blobs, invites } = services;
  // Scale-out: rooms, playback and fixes are shared with the other nodes through Redis.
  const redis = config.redis ? await RedisLink.connect(config.redis.url, config.redis.prefix, log) : null;
  const docBus = redis ? new RedisDocBus(redis, log) : undefined;
  const clientIdRows = new ClientIdRepository(db);
  // At load, a room's stored values are checked as the write guard would (authorship: the member
  // each Yjs client id is bound to, and their role from the room's invites).
  const writersOf = async (roomId: string) => {
    const [bound, invites] = await Promise.all([clientIdRows.ofRoom(roomId), services.inviteRows.listForRoom(roomId)]);
    const roles = new Map(invites.map((i) => [i.id, i.role as Role]));
    return new Map([...bound].map(([client, member]) => [client, { member, role: roles.get(member) }]));
  };
  const docs = new RoomDocRegistry(new DocRepository(db), log, config.roomIdleUnloadMs, docBus, writersOf, config.roomCompact);
  const clientIds = new ClientIdBindings(clientIdRows);
  const watch = new InviteWatch((ids) => services.inviteRows.revokedAmong(ids), config.inviteCheckMs, log);
  const frames = new FrameService(blobs, new FrameRepository(db), 2, (id) => versions.get(id));
  // ROLE=api: fixes run on the workers; this node reads the model catalogue and opens no model.
  const runsFixes = config.role === 'all';
  const inference = new InferenceService(config.providers, log, runsFixes);
  const models = new ModelRegistry({ inference, extraDirs: config.modelsDirs, offerAll: config.offerAllFixes, log, opens: runsFixes });
  // One job system for the background work: fixes, shot-render chunks, media ingest, webhooks (docs/deploy.md).
  const system: JobSystem = redis ? new BullJobSystem(redis, log, config.fixLockMs) : new LocalJobSystem(log);
  const handOver = await openHandOver({ db, rooms, versions, blobs, frames, log, env: process.env, jobs: system, liveDoc: (id) => {
    const room = docs.get(id);
    return room?.built ? room.doc : undefined;
  } });
  docs.onLoad((room) => {
    handOver.events.watch(room);
    // Presence is checked against what this node knows of the room's client ids: read them now.
    clientIds.preload(room).catch((err: Error) => log.warn({ room: room.id, err: err.message }, 'could not read the room\'s client ids'));
  });

  let io!: LoupeServer;
  const toRoom = (roomId: string) => io.to(roomChannel(roomId));
  // Fix news reaches this node's members only: with several nodes, each relays what it hears.
  const toLocalRoom = (roomId: string) => io.local.to(roomChannel(roomId));
  const relay = new FixRelay({
    job: (roomId, job) => toLocalRoom(roomId).emit('fix:job', job),
    tile: (roomId, tile) => toLocalRoom(roomId).emit('fix:tile', tile),
    frame: (roomId, f) => toLocalRoom(roomId).emit('fix:frame', f),
    versionCreated: (roomId, v) => toLocalRoom(roomId).emit('version:created', v),
  });
  if (redis) await relayFixEvents(redis, relay);
  const fixWork = openFixWork({ config, log, redis, system, db, rooms, versions, blobs, frames, inference, models, handOver, relay, runsFixes, quiet: () => docs.quietFor(300) && !inference.busy });
  const fixes = new FixService({
    jobs: fixWork.jobs,
    versions,
    models,
    queue: fixWork.queue,
    relay,
    renders: fixWork.renders,
    log,
    // A frame prepared here helps a job run here: only where this process computes fixes.
    prepare: runsFixes ? (p) => fixWork.runner.prepare(p) : null,
  });
  const review = new ReviewService(versions, (roomId, v: Version) => (toRoom(roomId).emit('version:updated', v), handOver.events.decided(roomId, v)));

  const luts = new LutService(blobs, rooms, config.dataDir);
  const presentation = new PresentationService(
    versions,
    {
      playback: (roomId, state, exceptSocket) => toRoom(roomId).except(exceptSocket).emit('playback:state', { state, serverNow: Date.now() }),
      presentation: (roomId, p) => toRoom(roomId).emit('presenter:state', p),
    },
    undefined,
    redis ? redisPresentationShare(redis, log) : undefined,
    luts,
  );

  const ingests = new IngestService({
    config: config.media,
    dataDir: config.dataDir,
    ingests: new IngestRepository(db),
    rooms,
    versions,
    blobs,
    log,
    jobs: system,
    events: {
      progress: (roomId, p) => toRoom(roomId).emit('media:progress', p),
      shotCreated: (roomId, shot) => toRoom(roomId).emit('shot:created', shot),
      versionCreated: (roomId, v) => (toRoom(roomId).emit('version:created', v), handOver.events.versionCreated(roomId, v)),
    },
  });
  const tools = mediaTools();
  log[tools.origin === 'missing' ? 'warn' : 'info']({ ffmpeg: tools.ffmpeg, ffprobe: tools.ffprobe, origin: tools.origin, version: tools.version }, `media: ${describeTools(tools)}`);

  let ready = false;
  const web = await loadWebApp();
  if (!web) log.warn('web app not built (apps/web/build missing): serving the API only');
  const httpServer = http.createServer(
    httpRoutes({
      invites,
      blobs,
      rooms,
      web,
      ready: () => ready,
      api: [
        mediaApi({ invites, ingests, frames, versions, rooms, blobs, config: config.media, log }),
        lutApi({ invites, rooms, luts, log }),
      ],
      exports: exportApi({ invites, rooms, exports: handOver.exports, log }),
    }),
  );
  let adapterClients: ReturnType<typeof createClient>[] = [];
  if (redis) {
    adapterClients = [createClient({ url: redis.url }), createClient({ url: redis.url })];
    for (const c of adapterClients) c.on('error', () => {}); // RedisLink reports outages
    await Promise.all(adapterClients.map((c) => c.connect()));
    // The adapter publishes without awaiting: a publish that fails (a client closed at shutdown)
    // must not become an unhandled rejection.
    const pub = adapterClients[0] as unknown as { publish: (...args: unknown[]) => Promise<unknown> };
    const publish = pub.publish.bind(pub);
    pub.publish = (...args) => publish(...args).catch((err: Error) => (log.debug({ err: err.message }, 'socket.io adapter publish failed'), 0));
  }
  const adapter = redis ? createAdapter(adapterClients[0], adapterClients[1], { key: redis.key('socket.io') }) : undefined;
  io = createGateway(httpServer, { log, invites, docs, rooms, versions, fixes, review, presentation, clientIds, watch, adapter });
  // Who joins and leaves a room: a socket enters the room's channel once its join is accepted.
  const presence = (channel: string, sid: string) => {
    const member = io.of('/').sockets.get(sid)?.data.member;
    return member && channel.startsWith(roomChannel('')) ? { roomId: channel.slice(roomChannel('').length), member } : null;
  };
  io.of('/').adapter.on('join-room', (channel: string, sid: string) => {
    const p = presence(channel, sid);
    if (p) handOver.events.memberJoined(p.roomId, p.member, 'room');
  });
  io.of('/').adapter.on('leave-room', (channel: string, sid: string) => {
    const p = presence(channel, sid);
    if (p) handOver.events.memberLeft(p.roomId, p.member, 'room');
  });
  const yws = attachYjsWebsocket(httpServer, {
    log,
    invites,
    docs,
    rooms,
    clientIds,
    watch,
    presence: {
      joined: (roomId, c) => handOver.events.memberJoined(roomId, { id: c.sub, name: c.name, role: c.role }, 'yjs'),
      left: (roomId, c) => handOver.events.memberLeft(roomId, { id: c.sub, name: c.name, role: c.role }, 'yjs'),
    },
  });

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => resolve());
  });
  // Once listening, an error of the server (say, out of file descriptors) is logged, not fatal.
  httpServer.on('error', (err) => log.error({ err: err.message }, 'HTTP server error'));
  const port = (httpServer.address() as AddressInfo).port;
  // Every model is built if missing and checked against its manifest before the first job runs.
  await models.load();
  await fixes.resumeUnfinished();
  await fixWork.system.start();
  // Redis came back (perhaps empty): catch up on the rooms, and queue again the fixes it lost.
  redis?.onReconnect(() => {
    docs.resync().catch((err: Error) => log.error({ err: err.message }, 'could not catch up on the rooms after Redis came back'));
    fixes.resumeUnfinished().catch((err: Error) => log.error({ err: err.message }, 'could not queue fixes again after Redis came back'));
  });
  await ingests.resumeUnfinished();
  // The demo's movies are ingested as uploads are, by jobs: after the job system has started.
  const demo = opts.demoRoom && demoWanted(config) ? await createDemoRoom({ roomService: services.roomService, rooms, ingests, dataDir: config.dataDir, log: (m) => log.info(m) }) : null;
  if (demo) {
    const { room, invites: links } = demo;
    log.info({ room: room.id }, 'created the demo room');
    printInvites(room.name, links.map((l) => ({ ...l, url: l.url.replace(`:${config.port}/`, `:${port}/`) })));
  }
  ready = true;
  const url = `http://127.0.0.1:${port}`;
  // The CLI on the same data folder finds this server (its links and uploads go here).
  const serverFile = { url: config.publicUrl ?? `http://localhost:${port}`, port, pid: process.pid, startedAt: new Date().toISOString() };
  try {
    writeServerFile(config.dataDir, serverFile);
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'could not write server.json in the data folder; the CLI will not find this server by itself');
  }
  log.info({ url, dataDir: config.dataDir }, 'Loupe is ready');

  return {
    url,
    port,
    io,
    services,
    fixes,
    models,
    ingests,
    docs,
    handOver,
    async close() {
      ready = false;
      removeServerFile(config.dataDir, serverFile);
      watch.close();
      await ingests.shutdown();
      await fixWork.system.stop();
      await fixes.shutdown();
      presentation.close();
      yws.close();
      await new Promise<void>((r) => io.close(() => r()));
      await docs.closeAll();
      await docBus?.close();
      await Promise.all(adapterClients.map((c) => c.close().catch(() => {})));
      await redis?.close();
      await inference.close();
      await handOver.close();
      await db.destroy();
      await blobs.close();
    },
  };
}

/**
 * A fix worker (ROLE=worker, `npm run worker`): no web, no rooms; takes fix jobs from Redis and runs
 * them on this machine's GPU (or CPU). Needs the same database and blob folder as the API nodes.
 */
export async function startWorker(overrides: ConfigOverrides = {}, opts: { log?: Logger } = {}): Promise<{ close(): Promise<void> }> {
  const config = loadConfig(process.env, { ...overrides, role: 'worker' });
  const log = opts.log ?? createLogger(config.logLevel);
  if (!config.redis) throw new Error('A worker needs REDIS_URL: it takes its jobs from the API nodes through Redis.');
  const { db, rooms, versions, blobs } = await openServices(config, log);
  const redis = await RedisLink.connect(config.redis.url, config.redis.prefix, log);
  const frames = new FrameService(blobs, new FrameRepository(db), 2, (id) => versions.get(id));
  const inference = new InferenceService(config.providers, log);
  const models = new ModelRegistry({ inference, extraDirs: config.modelsDirs, offerAll: config.offerAllFixes, log });
  const system = new BullJobSystem(redis, log, config.fixLockMs);
  const handOver = await openHandOver({ db, rooms, versions, blobs, frames, log, env: process.env, jobs: system, liveDoc: () => undefined });
  await models.load();
  openFixWork({ config, log, redis, system, db, rooms, versions, blobs, frames, inference, models, handOver, relay: null, runsFixes: true });
  await system.start();
  return {
    async close() {
      await system.stop();
      await redis.close();
      await inference.close();
      await handOver.close();
      await db.destroy();
      await blobs.close();
    },
  };
}

/**
 * Fixes and shot renders on the job system: in this process, or on BullMQ with Redis. Where fixes run
 * (ROLE all or worker), their handlers are registered: frame fixes, and a render's plan, chunks and finalize.
 */
function openFixWork(d: {
  config: ReturnType<typeof loadConfig>;
  log: Logger;
  redis: RedisLink | null;
  system: JobSystem;
  db: Services['db'];
  rooms: Services['rooms'];
  versions: Services['versions'];
  blobs: Services['blobs'];
  frames: FrameService;
  inference: InferenceService;
  models: ModelRegistry;
  handOver: HandOver;
  relay: FixRelay | null;
  runsFixes: boolean;
  /** Whether the process has nothing pressing (no room loading just now, no fix running): the warm-up waits for it. */
  quiet?: () => boolean;
}) {
  const { config, log, redis, system, db, rooms, versions, blobs, frames, inference, models, handOver } = d;
  const jobs = new JobRepository(db);
  const sink = redis ? publishingSink(redis, jobs, handOver.events) : storingSink(jobs, handOver.events, d.relay!);
  const runner = new FixRunner({ versions, rooms, blobs, frames, inference, models, log, dataDir: config.dataDir });
  const queue: FixQueue = new SystemFixQueue({ system, jobs, sink, log, ...(d.runsFixes ? { execution: { runner, inference, log, timeoutMs: config.fixTimeoutMs } } : {}) });
  const renders = new ShotRenderService({
    jobs,
    renders: new RenderRepository(db),
    versions,
    rooms,
    blobs,
    frames,
    inference,
    models,
    system,
    events: sink,
    log,
    dataDir: config.dataDir,
    chunkTimeoutMs: config.fixTimeoutMs,
  });
  if (d.runsFixes) {
    renders.registerHandlers();
    // Checkpoints of fixes that ended where this folder was not seen, or as their process died.
    void removeOrphanCheckpoints(config.dataDir, jobs).then(
      (n) => n && log.info({ removed: n }, 'removed the checkpoints of fixes that are over'),
      (err: Error) => log.warn({ err: err.message }, 'could not look for leftover fix checkpoints'),
    );
    if (config.warmUp) runner.warmUp(undefined, d.quiet);
  }
  return { jobs, system, runner, queue, renders };
}

export function printInvites(roomName: string, invites: { role: string; url: string }[]) {
  const lines = [``, `  Room "${roomName}" - open one link per person:`, ...invites.map((i) => `    ${i.role.padEnd(9)} ${i.url}`), ``];
  process.stdout.write(lines.join('\n') + '\n');
}

import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Version } from '@loupe/shared';
import { loadConfig, type Config, type ConfigOverrides } from './config.js';
import { createLogger, type Logger } from './log.js';
import { openDatabase } from './store/database.js';
import { BlobRepository } from './store/blob.repository.js';
import { RoomRepository } from './store/room.repository.js';
import { VersionRepository } from './store/version.repository.js';
import { JobRepository } from './store/job.repository.js';
import { DocRepository } from './store/doc.repository.js';
import { FrameRepository } from './store/frame.repository.js';
import { InviteRepository } from './store/invite.repository.js';
import { InviteService } from './auth/invite.service.js';
import { RoomService } from './rooms/room.service.js';
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
import { LocalFixQueue } from './fixes/local.queue.js';
import { ReviewService } from './review/review.service.js';
import { openHandOver, type HandOver } from './review/hand-over.js';
import { exportApi } from './review/export/export.http.js';
import { PresentationService } from './playback/presentation.service.js';
import { createGateway, roomChannel, type LoupeServer } from './realtime/gateway.js';
import { httpRoutes, loadWebApp } from './http/routes.js';

/** The services one data folder holds, without any network side. Used by the server and the CLI. */
export function openServices(config: Config, log: Logger, progress: (line: string) => void = (m) => log.info(m)) {
  const db = openDatabase(config.dataDir);
  const rooms = new RoomRepository(db);
  const versions = new VersionRepository(db);
  const blobs = new BlobRepository(config.dataDir);
  let secret = config.secret ?? rooms.setting('invite_secret');
  if (!secret) rooms.setSetting('invite_secret', (secret = crypto.randomBytes(32).toString('base64url')));
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

export interface RunningServer {
  url: string;
  port: number;
  io: LoupeServer;
  services: ReturnType<typeof openServices>;
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
  const services = openServices(config, log);
  const { db, rooms, versions, blobs, invites } = services;
  const docs = new RoomDocRegistry(new DocRepository(db), log, config.roomIdleUnloadMs);
  const frames = new FrameService(blobs, new FrameRepository(db));
  const inference = new InferenceService(config.providers, log);
  const models = new ModelRegistry({ inference, extraDirs: config.modelsDirs, log });
  const handOver = openHandOver({ db, rooms, versions, blobs, frames, log, env: process.env, liveDoc: (id) => docs.get(id)?.doc });
  docs.onLoad((room) => handOver.events.watch(room));

  let io!: LoupeServer;
  const toRoom = (roomId: string) => io.to(roomChannel(roomId));
  const relay = new FixRelay({
    job: (roomId, job) => (toRoom(roomId).emit('fix:job', job), handOver.events.fixJob(roomId, job)),
    tile: (roomId, tile) => toRoom(roomId).emit('fix:tile', tile),
    versionCreated: (roomId, v) => (toRoom(roomId).emit('version:created', v), handOver.events.versionCreated(roomId, v)),
  });
  const jobs = new JobRepository(db);
  const runner = new FixRunner({ versions, rooms, blobs, frames, inference, models, log });
  const queue = new LocalFixQueue({
    jobs,
    runner,
    inference,
    log,
    timeoutMs: config.fixTimeoutMs,
    sink: { save: (rec) => (jobs.update(rec), relay.job(rec.roomId, { ...rec.job })), tile: (r, t) => relay.tile(r, t), versionCreated: (r, v) => relay.versionCreated(r, v) },
  });
  const fixes = new FixService({ jobs, versions, models, runner, queue, relay, log });
  const review = new ReviewService(versions, (roomId, v: Version) => (toRoom(roomId).emit('version:updated', v), handOver.events.decided(roomId, v)));

  const presentation = new PresentationService(versions, {
    playback: (roomId, state, exceptSocket) => toRoom(roomId).except(exceptSocket).emit('playback:state', { state, serverNow: Date.now() }),
    presentation: (roomId, p) => toRoom(roomId).emit('presenter:state', p),
  });

  const ingests = new IngestService({
    config: config.media,
    dataDir: config.dataDir,
    ingests: new IngestRepository(db),
    rooms,
    versions,
    blobs,
    log,
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
      api: [mediaApi({ invites, ingests, frames, versions, rooms, blobs, config: config.media, log })],
      exports: exportApi({ invites, rooms, exports: handOver.exports, log }),
    }),
  );
  io = createGateway(httpServer, { log, invites, docs, rooms, versions, fixes, review, presentation });
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
    presence: {
      joined: (roomId, c) => handOver.events.memberJoined(roomId, { id: c.sub, name: c.name, role: c.role }, 'yjs'),
      left: (roomId, c) => handOver.events.memberLeft(roomId, { id: c.sub, name: c.name, role: c.role }, 'yjs'),
    },
  });

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => resolve());
  });
  const port = (httpServer.address() as AddressInfo).port;
  if (opts.demoRoom && rooms.list().length === 0) {
    const { room, invites: links } = await services.roomService.create('Demo room');
    log.info({ room: room.id }, 'created the demo room');
    printInvites(room.name, links.map((l) => ({ ...l, url: l.url.replace(`:${config.port}/`, `:${port}/`) })));
  }
  // Every model is built if missing and checked against its manifest before the first job runs.
  await models.load();
  await fixes.resumeUnfinished();
  ingests.resumeUnfinished();
  ready = true;
  const url = `http://127.0.0.1:${port}`;
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
      await ingests.shutdown();
      await fixes.shutdown();
      presentation.close();
      yws.close();
      await new Promise<void>((r) => io.close(() => r()));
      docs.closeAll();
      await inference.close();
      handOver.close();
      db.close();
    },
  };
}

export function printInvites(roomName: string, invites: { role: string; url: string }[]) {
  const lines = [``, `  Room "${roomName}" - open one link per person:`, ...invites.map((i) => `    ${i.role.padEnd(9)} ${i.url}`), ``];
  process.stdout.write(lines.join('\n') + '\n');
}

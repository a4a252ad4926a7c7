import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ensureModel } from '@loupe/models';
import type { Version } from '@loupe/shared';
import { loadConfig, type Config } from './config.js';
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
import { InferenceService } from './inference/inference.service.js';
import { FixService } from './fixes/fix.service.js';
import { ReviewService } from './review/review.service.js';
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
  docs: RoomDocRegistry;
  close(): Promise<void>;
}

/**
 * Starts Loupe in one process: the web app, Socket.IO, the y-websocket endpoint and the fix worker
 * on one port, with SQLite and the blob folder under the data folder.
 */
export async function startServer(overrides: Partial<Config> = {}, opts: { log?: Logger; demoRoom?: boolean } = {}): Promise<RunningServer> {
  const config = loadConfig(process.env, overrides);
  const log = opts.log ?? createLogger(config.logLevel);
  const services = openServices(config, log);
  const { db, rooms, versions, blobs, invites } = services;
  const docs = new RoomDocRegistry(new DocRepository(db), log, config.roomIdleUnloadMs);
  const frames = new FrameService(blobs, new FrameRepository(db));
  const inference = new InferenceService(config.providers, log);

  let io!: LoupeServer;
  const toRoom = (roomId: string) => io.to(roomChannel(roomId));
  const fixes = new FixService({
    jobs: new JobRepository(db),
    versions,
    rooms,
    blobs,
    frames,
    inference,
    model: (id) => ensureModel(id, { log: (l) => log.info(l) }),
    events: {
      job: (roomId, job) => toRoom(roomId).emit('fix:job', job),
      tile: (roomId, tile) => toRoom(roomId).emit('fix:tile', tile),
      versionCreated: (roomId, v) => toRoom(roomId).emit('version:created', v),
    },
    log,
  });
  const review = new ReviewService(versions, (roomId, v: Version) => toRoom(roomId).emit('version:updated', v));

  const presentation = new PresentationService(versions, {
    playback: (roomId, state, exceptSocket) => toRoom(roomId).except(exceptSocket).emit('playback:state', { state, serverNow: Date.now() }),
    presentation: (roomId, p) => toRoom(roomId).emit('presenter:state', p),
  });

  let ready = false;
  const web = await loadWebApp();
  if (!web) log.warn('web app not built (apps/web/build missing): serving the API only');
  const httpServer = http.createServer(httpRoutes({ invites, blobs, rooms, web, ready: () => ready }));
  io = createGateway(httpServer, { log, invites, docs, rooms, versions, fixes, review, presentation });
  const yws = attachYjsWebsocket(httpServer, { log, invites, docs, rooms });

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
  fixes.resumeUnfinished();
  ready = true;
  const url = `http://127.0.0.1:${port}`;
  log.info({ url, dataDir: config.dataDir }, 'Loupe is ready');

  return {
    url,
    port,
    io,
    services,
    fixes,
    docs,
    async close() {
      ready = false;
      fixes.shutdown();
      presentation.close();
      yws.close();
      await new Promise<void>((r) => io.close(() => r()));
      docs.closeAll();
      await inference.close();
      db.close();
    },
  };
}

export function printInvites(roomName: string, invites: { role: string; url: string }[]) {
  const lines = [``, `  Room "${roomName}" - open one link per person:`, ...invites.map((i) => `    ${i.role.padEnd(9)} ${i.url}`), ``];
  process.stdout.write(lines.join('\n') + '\n');
}

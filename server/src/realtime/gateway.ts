import type { Server as HttpServer } from 'node:http';
import { Server, type ServerOptions, type Socket } from 'socket.io';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import * as syncProtocol from 'y-protocols/sync';
import * as awarenessProtocol from 'y-protocols/awareness';
import {
  DecideSchema,
  ErrorCode,
  FixPrepareSchema,
  FixRequestSchema,
  TrackRequestSchema,
  FixCancelSchema,
  FixCatalogueSchema,
  JoinSchema,
  Limits,
  PlaybackSetSchema,
  PresenterSetSchema,
  LoupeError,
  PROTOCOL_VERSION,
  protocolMismatchMessage,
  type HandshakeAuth,
  YMessageSchema,
  packUpdates,
  refusal,
  type ClientToServerEvents,
  type Member,
  type RoomState,
  type ServerToClientEvents,
} from '@loupe/shared';
import type { Logger } from '../log.js';
import type { InviteService, VerifiedInvite } from '../auth/invite.service.js';
import { memberColor } from '../auth/invite.service.js';
import type { InviteWatch } from '../auth/invite.watch.js';
import type { ClientIdBindings } from '../collab/client-ids.js';
import type { RoomDocRegistry, LoadedRoom, Origin } from '../collab/room-doc.registry.js';
import { applySyncMessage } from '../collab/sync-message.js';
import type { RoomRepository } from '../store/room.repository.js';
import type { VersionRepository } from '../store/version.repository.js';
import type { FixService } from '../fixes/fix.service.js';
import type { ReviewService } from '../review/review.service.js';
import type { PresentationService } from '../playback/presentation.service.js';
import { handler, toRefusal } from './handler.js';
import { RateLimiter } from './rate-limit.js';
import { coalesceWrites } from './coalesce-writes.js';

interface SocketData {
  claims: VerifiedInvite;
  member: Member;
  joined: Set<string>;
  /** The page's tab id from room:join (null if its client sends none) and when it joined. */
  tab: string | null;
  joinedAt: number;
}
export type LoupeServer = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
type LoupeSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;

const KNOWN_EVENTS = new Set(['room:join', 'y:sync', 'y:awareness', 'fix:request', 'fix:prepare', 'fix:track', 'fix:cancel', 'fix:catalogue', 'version:decide', 'playback:set', 'presenter:set']);
/** What a member with an empty document is asked for: nothing. */
const EMPTY_DOC = new Y.Doc();
export const roomChannel = (roomId: string) => `room:${roomId}`;

export interface GatewayDeps {
  log: Logger;
  invites: InviteService;
  docs: RoomDocRegistry;
  rooms: RoomRepository;
  versions: VersionRepository;
  fixes: FixService;
  review: ReviewService;
  presentation: PresentationService;
  clientIds: ClientIdBindings;
  /** Closes the connections of revoked and expired invites. */
  watch: InviteWatch;
  /** Scale-out: the Socket.IO Redis adapter, so that room events reach members on every node. */
  adapter?: ServerOptions['adapter'];
}

/** The Socket.IO side of a room: auth, join, Yjs sync and awareness, fix requests, decisions. */
export function createGateway(http: HttpServer, deps: GatewayDeps): LoupeServer {
  const { log, invites, docs } = deps;
  const io: LoupeServer = new Server(http, {
    maxHttpBufferSize: Limits.maxMessageBytes,
    // The y-websocket endpoint shares the HTTP server; leave its upgrades alone.
    destroyUpgrade: false,
    serveClient: false,
    ...(deps.adapter ? { adapter: deps.adapter } : {}),
  });

  io.use(async (socket, next) => {
    try {
      // A page of another protocol version is refused (it would misread events): the user reloads.
      // A client that sends no version (a script on socket.io-client, an outside check) is taken as
      // current: refusing it would break tools that never knew of the field, and they get clear
      // BAD_REQUEST refusals on any payload they get wrong anyway.
      const protocol = (socket.handshake.auth as Partial<HandshakeAuth> | undefined)?.protocol;
      if (protocol !== undefined && protocol !== PROTOCOL_VERSION) {
        log.info({ sent: protocol, protocol: PROTOCOL_VERSION }, 'client of another protocol version refused');
        throw new LoupeError(ErrorCode.PROTOCOL_MISMATCH, protocolMismatchMessage(protocol));
      }
      const claims = await invites.verify(socket.handshake.auth?.token);
      socket.data.claims = claims;
      socket.data.member = { id: claims.sub, name: claims.name, role: claims.role, color: memberColor(claims.sub) };
      socket.data.joined = new Set();
      socket.data.tab = null;
      socket.data.joinedAt = 0;
      next();
    } catch (e) {
      const r = e instanceof LoupeError ? e.toAck() : refusal(ErrorCode.TOKEN_INVALID, 'invalid token');
      next(Object.assign(new Error(r.message), { data: { code: r.code } }));
    }
  });

  // Fan out document changes to every other member of the room, never back to the sender. Each node
  // tells its own members (io.local): other nodes hear the change on the room's bus and tell theirs.
  docs.onUpdate((room, update, origin) => {
    const encoder = encoding.createEncoder();
    syncProtocol.writeUpdate(encoder, update);
    const data = encoding.toUint8Array(encoder);
    const target = origin.kind === 'socket' ? io.local.to(roomChannel(room.id)).except(origin.id) : io.local.to(roomChannel(room.id));
    target.emit('y:sync', { room: room.id, data });
  });
  docs.onAwareness((room, changed, origin) => {
    const data = awarenessProtocol.encodeAwarenessUpdate(room.awareness, changed);
    const o = origin as Origin | null;
    const target = o && o.kind === 'socket' ? io.local.to(roomChannel(room.id)).except(o.id) : io.local.to(roomChannel(room.id));
    target.volatile.emit('y:awareness', { room: room.id, data });
  });

  const yjsRate = new RateLimiter(Limits.maxYjsMessagesPerSecond);
  const awarenessRate = new RateLimiter(Limits.maxAwarenessPerSecond);
  const prepareRate = new RateLimiter(Limits.maxFixPreparesPerSecond);

  io.on('connection', (socket: LoupeSocket) => {
    coalesceWrites(socket);
    const member = socket.data.member;
    const writer = { id: member.id, role: member.role };
    // Revoked or expired while connected: the page is told why, then the socket is closed.
    const untrack = deps.watch.track(socket.data.claims, (e) => {
      socket.emit('room:error', e.toAck());
      socket.disconnect(true);
    });
    const slog = log.child({ socket: socket.id, user: member.id, role: member.role });
    const origin = { kind: 'socket', id: socket.id, memberId: member.id } as const satisfies Origin;

    const joinedRoom = (roomId: string): LoadedRoom => {
      const room = socket.data.joined.has(roomId) ? docs.get(roomId) : undefined;
      if (!room) throw new LoupeError(ErrorCode.NOT_JOINED, `Join room ${roomId} before sending to it.`);
      return room;
    };

    socket.on(
      'room:join',
      handler(slog, 'room:join', JoinSchema, async ({ room: roomId, fresh, tab }): Promise<Omit<RoomState, never>> => {
        // The token is checked again on every join: it may have expired since the connection opened.
        const claims = await invites.verify(socket.handshake.auth?.token);
        if (claims.room !== roomId) throw new LoupeError(ErrorCode.WRONG_ROOM, 'This invite is for another room.');
        const row = await deps.rooms.get(roomId);
        if (!row) throw new LoupeError(ErrorCode.ROOM_NOT_FOUND, `Room ${roomId} does not exist.`);
        let room: LoadedRoom;
        let state: Uint8Array[] | undefined;
        let afterAck: (() => void) | undefined;
        const encoder = encoding.createEncoder();
        let sent!: () => void;
        const cold = fresh ? docs.holdCold(roomId, socket.id, new Promise<void>((r) => (sent = r))) : null;
        if (cold) {
          // Cold room, empty client: the stored rows go out with the ack and the server builds its
          // copy while the member decodes theirs (bench: coldload). The member has nothing to send
          // back, so the step 1 here is the empty document's. Nothing is applied to the room before
          // it is built, after the ack: the member, in the room's channel by then, misses nothing.
          room = cold.room;
          afterAck = () => void whenWritten(socket).then(sent);
          state = await cold.rows;
          syncProtocol.writeSyncStep1(encoder, EMPTY_DOC);
        } else {
          room = docs.hold(roomId, socket.id);
          try {
            await room.ready;
            await docs.catchUp(room);
          } catch (e) {
            docs.release(roomId, socket.id);
            throw e;
          }
        }
        try {
          socket.data.tab = tab ?? null;
          socket.data.joinedAt = Date.now();
          socket.data.joined.add(roomId);
          await socket.join(roomChannel(roomId));
          if (!cold) {
            // Read once the member is in the channel: whatever is applied from now on reaches them too.
            if (fresh) state = [Y.encodeStateAsUpdate(room.doc)];
            syncProtocol.writeSyncStep1(encoder, room.doc);
          }
          // After the ack: who is here, and the tiles of fixes still running.
          setImmediate(() => {
            const ids = [...room.awareness.getStates().keys()];
            if (ids.length) socket.emit('y:awareness', { room: roomId, data: awarenessProtocol.encodeAwarenessUpdate(room.awareness, ids) });
            deps.fixes.replayTiles(roomId, (tile) => socket.emit('fix:tile', tile));
            void deps.fixes.replayFrames(roomId, (f) => socket.emit('fix:frame', f)).catch((err: Error) => slog.warn({ err: err.message }, 'could not replay render frames'));
          });
          slog.info({ room: roomId }, 'joined');
          await deps.presentation.ensure(roomId);
          deps.presentation.memberJoined(roomId, member.id, socket.data.tab);
          const pb = deps.presentation.get(roomId);
          const [shots, versions, jobs] = await Promise.all([deps.rooms.shots(roomId), deps.versions.listForRoom(roomId), deps.fixes.jobsForRoom(roomId)]);
          return {
            room: { id: row.id, name: row.name },
            member,
            shots,
            versions,
            jobs,
            sync: encoding.toUint8Array(encoder),
            ...(state ? { state: packUpdates(state) } : {}),
            protocol: PROTOCOL_VERSION,
            playback: pb.playback,
            presentation: pb.presentation,
            serverNow: Date.now(),
          };
        } finally {
          // Once the ack (or the refusal) is written, the room's copy is built: never left waiting.
          if (afterAck) setImmediate(afterAck);
        }
      }),
    );

    socket.on(
      'y:sync',
      handler(slog, 'y:sync', YMessageSchema, async ({ room: roomId, data }) => {
        const room = joinedRoom(roomId);
        await room.ready; // a room loading for a fresh member: see room:join
        if (!yjsRate.allow(socket.id)) {
          throw new LoupeError(ErrorCode.RATE_LIMITED, `More than ${Limits.maxYjsMessagesPerSecond} document changes a second; slow down.`);
        }
        if (data.byteLength > Limits.maxYjsMessageBytes) {
          throw new LoupeError(ErrorCode.MESSAGE_TOO_LARGE, `Yjs message of ${data.byteLength} bytes is over the ${Limits.maxYjsMessageBytes}-byte limit.`);
        }
        const { reply, stored } = applySyncMessage(room, data, origin, writer, { docs, clientIds: deps.clientIds });
       if (reply) socket.emit('y:sync', { room: roomId, data: reply });
        // Stored, then shown to the others, then acknowledged; a refusal (or a failed write) reaches the sender only.
        await stored;
        return {};
      }),
    );

    socket.on('y:awareness', (payload: unknown) => {
      const parsed = YMessageSchema.safeParse(payload);
      try {
        if (!parsed.success) throw new LoupeError(ErrorCode.BAD_REQUEST, 'y:awareness: expected { room, data: bytes }');
        const room = joinedRoom(parsed.data.room);
        if (!awarenessRate.allow(socket.id)) return; // presence is volatile: drop the excess quietly
        docs.applyAwareness(room, parsed.data.data, origin, (ids) => deps.clientIds.claim(room, ids, member.id, (e) => slog.warn({ err: e.message }, 'presence client id not stored')));
      } catch (e) {
        socket.emit('room:error', e instanceof LoupeError ? e.toAck() : refusal(ErrorCode.BAD_YJS_MESSAGE, 'y:awareness: malformed awareness update'));
      }
    });

    socket.on(
      'fix:request',
      handler(slog, 'fix:request', FixRequestSchema, async (req) => {
        joinedRoom(req.room);
        return { job: await deps.fixes.request(member, req) };
      }),
    );

    socket.on(
      'fix:track',
      handler(slog, 'fix:track', TrackRequestSchema, async (req) => {
        joinedRoom(req.room);
        const track = await deps.fixes.track(member, req);
        // The rest of the room sees the track too (the sender has it in the ack).
        socket.to(roomChannel(req.room)).emit('fix:tracked', track);
        return { track };
      }),
    );

    socket.on(
      'fix:prepare',
      handler(slog, 'fix:prepare', FixPrepareSchema, async (req) => {
        joinedRoom(req.room);
        if (!prepareRate.allow(socket.id)) {
          throw new LoupeError(ErrorCode.RATE_LIMITED, `More than ${Limits.maxFixPreparesPerSecond} fix:prepare a second; send one when the choice settles.`);
        }
        return deps.fixes.prepare(member, req);
      }),
    );

    socket.on(
      'fix:cancel',
      handler(slog, 'fix:cancel', FixCancelSchema, async ({ room, jobId }) => {
        joinedRoom(room);
        return { job: await deps.fixes.cancel(member, room, jobId) };
      }),
    );

    socket.on(
      'fix:catalogue',
      handler(slog, 'fix:catalogue', FixCatalogueSchema, async ({ room }) => {
        joinedRoom(room);
        return { fixes: await deps.fixes.available() };
      }),
    );

    socket.on(
      'version:decide',
      handler(slog, 'version:decide', DecideSchema, async (req) => {
        joinedRoom(req.room);
        return { version: await deps.review.decide(member, req) };
      }),
    );

    socket.on(
      'playback:set',
      handler(slog, 'playback:set', PlaybackSetSchema, async ({ room, state }) => {
        joinedRoom(room);
        return { state: await deps.presentation.set(member, socket.id, socket.data.tab, room, state), serverNow: Date.now() };
      }),
    );

    socket.on(
      'presenter:set',
      handler(slog, 'presenter:set', PresenterSetSchema, async ({ room, presenterId, control }) => {
        joinedRoom(room);
        // Each member once, with their newest tab (a person with several tabs is one member).
        const sockets = (await io.in(roomChannel(room)).fetchSockets()).sort((a, b) => a.data.joinedAt - b.data.joinedAt);
        const here = new Map(sockets.map((s) => [s.data.member.id, { name: s.data.member.name, tab: s.data.tab }]));
        return { presentation: deps.presentation.setPresenter(member, socket.data.tab, room, presenterId, control, here) };
      }),
    );

    socket.onAny((event: string, ...args: unknown[]) => {
      if (KNOWN_EVENTS.has(event)) return;
      const r = refusal(ErrorCode.UNKNOWN_EVENT, `Unknown event "${String(event).slice(0, 64)}".`);
      const ack = args[args.length - 1];
      if (typeof ack === 'function') ack(r);
      else socket.emit('room:error', r);
    });

    socket.on('disconnect', (reason) => {
      untrack();
      deps.presentation.socketGone(socket.id);
      yjsRate.forget(socket.id);
      prepareRate.forget(socket.id);
      awarenessRate.forget(socket.id);
      for (const roomId of socket.data.joined) {
        // Released at once, whatever happens to the check below (the room must unload when idle).
        const room = docs.get(roomId);
        if (room) docs.releaseAwareness(room, socket.id);
        docs.release(roomId, socket.id);
        if (reason === 'server shutting down') continue; // nobody is left to tell
        // Still here from another tab or node? Asked across nodes; with Redis unreachable, this node's
        // own view answers.
        const gone = (sockets: { data: SocketData }[]) =>
          deps.presentation.memberLeft(roomId, member.id, sockets.filter((s) => s.data.member.id === member.id).map((s) => s.data.tab));
        io.in(roomChannel(roomId))
          .fetchSockets()
          .catch(() => io.local.in(roomChannel(roomId)).fetchSockets())
          .then(gone)
          .catch((err: Error) => slog.warn({ room: roomId, err: err.message }, 'could not tell whether the member left the room'));
      }
    });
  });

  return io;
}

/**
 * Resolves once what was emitted to the socket so far has been handed to the network: at once when
 * nothing waits to be written, else at the transport's next 'drain' (WebSocket: the write of the
 * batch holding the ack completed; polling: the response carrying it was sent), or after a second.
 */
function whenWritten(socket: LoupeSocket): Promise<void> {
  return new Promise((resolve) => {
    const conn = socket.conn;
    const transport = conn.transport;
    const queued = (conn as unknown as { writeBuffer: unknown[] }).writeBuffer.length; // engine.io keeps it private
    if (conn.readyState !== 'open' || (transport.writable && queued === 0)) return resolve();
    const done = () => (clearTimeout(timer), transport.off('drain', done), resolve());
    const timer = setTimeout(done, 1000);
    transport.once('drain', done);
  });
}

import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import crypto from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';
import * as syncProtocol from 'y-protocols/sync';
import * as awarenessProtocol from 'y-protocols/awareness';
import * as authProtocol from 'y-protocols/auth';
import { CloseCode, ErrorCode, Limits, LoupeError, type InviteClaims } from '@loupe/shared';
import type { InviteService, VerifiedInvite } from '../auth/invite.service.js';
import type { InviteWatch } from '../auth/invite.watch.js';
import { RateLimiter } from '../realtime/rate-limit.js';
import type { RoomRepository } from '../store/room.repository.js';
import type { Logger } from '../log.js';
import type { LoadedRoom, Origin, RoomDocRegistry } from './room-doc.registry.js';
import { applySyncMessage } from './sync-message.js';
import type { ClientIdBindings } from './client-ids.js';

/** y-websocket's message framing. */
const messageSync = 0;
const messageAwareness = 1;
const messageAuth = 2;
const messageQueryAwareness = 3;

export const YJS_PATH = '/yjs';
/** Messages of one peer waiting their turn past which its socket is no longer read until half are done. */
const PAUSE_AT = 2 * Limits.maxYjsMessagesPerSecond;
/** Socket.IO's engine answers its own upgrades. */
const SOCKET_IO_PATH = '/socket.io/';

interface Peer {
  ws: WebSocket;
  origin: Origin & { kind: 'ws' };
  room: LoadedRoom;
}

/**
 * The standard y-websocket endpoint, `ws://HOST:PORT/yjs/<roomId>?token=...`, over the same room
 * documents and with the same role rules and limits as the Socket.IO gateway, so any stock Yjs client
 * (`new WebsocketProvider(url + '/yjs', roomId, doc, { params: { token } })`) can read and draw.
 * A peer that breaks a rule is closed alone, with a CloseCode; refused changes are answered with a
 * y-protocols permission-denied message and change nothing.
 */
export function attachYjsWebsocket(
  http: HttpServer,
  deps: {
    log: Logger;
    invites: InviteService;
    docs: RoomDocRegistry;
    rooms: RoomRepository;
    clientIds: ClientIdBindings;
    /** Closes the connections of revoked and expired invites. */
    watch: InviteWatch;
    /** Told when an outside tool connects to a room and when it goes (the session event log). */
    presence?: { joined(roomId: string, member: InviteClaims): void; left(roomId: string, member: InviteClaims): void };
  },
): { close(): void } {
  const { log, docs } = deps;
  const wss = new WebSocketServer({ noServer: true, maxPayload: Limits.maxMessageBytes });
  // With noServer there is no listening socket of its own; any error is one connection's: log it.
  wss.on('error', (err) => log.warn({ err: err.message }, 'y-websocket server error'));
  const peers = new Map<string, Set<Peer>>();
  const syncRate = new RateLimiter(Limits.maxYjsMessagesPerSecond);
  const awarenessRate = new RateLimiter(Limits.maxAwarenessPerSecond);

  // What the room's document and presence changes owe the peers, sent once per tick (see Outbox).
  const outbox = new Outbox(peers, log);
  docs.onUpdate((room, update, origin) => outbox.update(room.id, update, origin));
  docs.onAwareness((room, changed, origin) => outbox.awareness(room, changed, origin as Origin | null));

  const onUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node hands an upgraded socket over without its error listener: a reset would kill the process.
    socket.on('error', (err) => log.debug({ err: err.message }, 'upgrade socket error'));
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.startsWith(SOCKET_IO_PATH)) return; // Socket.IO's
    if (!url.pathname.startsWith(YJS_PATH + '/')) {
      // Nobody's: answered and closed, not left open.
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nNo WebSocket endpoint here.\n');
      return;
    }
    const roomId = decodeURIComponent(url.pathname.slice(YJS_PATH.length + 1));
    try {
      const claims = await deps.invites.verify(url.searchParams.get('token'));
      if (claims.room !== roomId) throw new LoupeError('WRONG_ROOM', 'This invite is for another room.');
      if (!(await deps.rooms.get(roomId))) throw new LoupeError('ROOM_NOT_FOUND', `Room ${roomId} does not exist.`);
      if (socket.destroyed) return; // gone while its token was checked
      wss.handleUpgrade(req, socket, head, (ws) => {
        connect(ws, roomId, claims);
        deps.presence?.joined(roomId, claims);
        ws.once('close', () => deps.presence?.left(roomId, claims));
      });
    } catch (e) {
      const code = e instanceof LoupeError ? e.code : 'TOKEN_INVALID';
      const status = code === 'ROOM_NOT_FOUND' ? '404 Not Found' : code === 'WRONG_ROOM' ? '403 Forbidden' : '401 Unauthorized';
      socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${code}: ${(e as Error).message}\n`);
    }
  };
  http.on('upgrade', onUpgrade);

  function connect(ws: WebSocket, roomId: string, claims: VerifiedInvite) {
    const id = `ws:${crypto.randomUUID()}`;
    const writer = { id: claims.sub, role: claims.role };
    const room = docs.hold(roomId, id);
    const peer: Peer = { ws, origin: { kind: 'ws', id, memberId: claims.sub }, room };
    let set = peers.get(roomId);
    if (!set) peers.set(roomId, (set = new Set()));
    set.add(peer);
    ws.binaryType = 'arraybuffer';
    // A frame over maxPayload or a text frame that is not UTF-8: `ws` closes with 1009 / 1007 and
    // emits 'error' here (with no listener the process would die).
    ws.on('error', (err: Error & { code?: string }) => log.info({ room: roomId, peer: id, code: err.code, err: err.message }, 'y-websocket peer error; closed'));
    const closeWith = (code: number, reason: string) => {
      log.info({ room: roomId, peer: id, code, reason }, 'closing a y-websocket peer');
      ws.close(code, reason.slice(0, 120)); // a close reason is at most 123 bytes
    };
    const untrack = deps.watch.track(claims, (e) => closeWith(CloseCode.INVITE_ENDED, `${e.code}: ${e.message}`));

    // A room still loading (for a fresh Socket.IO member) is read only once ready: messages wait, in
    // order. Document messages are taken at most Limits.maxYjsMessagesPerSecond a second (a burst
    // waits its turn, nothing is dropped); while many wait, the socket is not read (TCP pushes back).
    let inOrder = room.ready;
    let waiting = 0;
    ws.on('message', (raw: ArrayBuffer) => {
      if (++waiting > PAUSE_AT && !ws.isPaused) ws.pause();
      inOrder = inOrder
        .then(() => onMessage(raw))
        .finally(() => {
          if (--waiting < PAUSE_AT / 2 && ws.isPaused) ws.resume();
        });
    });
    const onMessage = async (raw: ArrayBuffer) => {
      if (ws.readyState !== ws.OPEN) return; // closed while this waited its turn
      try {
        const decoder = decoding.createDecoder(new Uint8Array(raw));
        const type = decoding.readVarUint(decoder);
        if (type === messageSync) {
          const body = decoding.readTailAsUint8Array(decoder);
          if (body.byteLength > Limits.maxYjsMessageBytes) return closeWith(CloseCode.TOO_LARGE, `${ErrorCode.MESSAGE_TOO_LARGE}: over ${Limits.maxYjsMessageBytes} bytes`);
          await syncRate.take(id);
          if (ws.readyState !== ws.OPEN) return;
          const { reply, stored } = applySyncMessage(room, body, peer.origin, writer, { docs, clientIds: deps.clientIds });
          if (reply) send(ws, frame(messageSync, reply));
          // Not awaited: the peer's next messages go on while this one is stored (in order, see submit).
          stored.catch((e: unknown) => refused(e));
        } else if (type === messageAwareness) {
          if (!awarenessRate.allow(id)) return; // presence is volatile: the excess is dropped, as on Socket.IO
          docs.applyAwareness(room, decoding.readVarUint8Array(decoder), peer.origin, (ids) => deps.clientIds.claim(room, ids, claims.sub, (e) => log.warn({ room: roomId, err: e.message }, 'presence client id not stored')));
        } else if (type === messageQueryAwareness) {
          sendAwareness(peer, [...room.awareness.getStates().keys()]);
        }
      } catch (e) {
        if (e instanceof LoupeError && e.code === ErrorCode.FORBIDDEN_ROLE) return; // someone else's presence: ignored
        log.warn({ room: roomId, peer: id, err: (e as Error).message }, 'bad y-websocket message; closing');
        ws.close(CloseCode.UNREADABLE, 'bad message');
      }
    };
    /** The peer's update was refused or not stored (y-websocket has no acks). */
    const refused = (e: unknown) => {
      if (e instanceof LoupeError && (e.code === ErrorCode.STORAGE_FULL || e.code === ErrorCode.STORAGE_FAILED)) {
        // Shown to nobody: closed so that the provider reconnects and sends what the server lacks again.
        log.warn({ room: roomId, peer: id, code: e.code }, 'y-websocket update not stored; closing so the peer resends it');
        ws.close(1011, e.code);
      } else if (e instanceof LoupeError && e.code !== ErrorCode.BAD_YJS_MESSAGE) {
        // A refused change (role, authorship, schema): nothing applied; the peer is told and stays.
        const enc = encoding.createEncoder();
        encoding.writeVarUint(enc, messageAuth);
        authProtocol.writePermissionDenied(enc, `${e.code}: ${e.message}`);
        send(ws, encoding.toUint8Array(enc));
      } else {
        log.warn({ room: roomId, peer: id, err: (e as Error).message }, 'bad y-websocket message; closing');
        ws.close(CloseCode.UNREADABLE, 'bad message');
      }
    };
    ws.on('close', () => {
      untrack();
      syncRate.forget(id);
      awarenessRate.forget(id);
      set!.delete(peer);
      docs.releaseAwareness(room, id);
      docs.release(roomId, id);
    });

    // Start: our sync step 1, and who is here.
    inOrder = inOrder.then(() => {
      const enc = encoding.createEncoder();
      syncProtocol.writeSyncStep1(enc, room.doc);
      send(ws, frame(messageSync, encoding.toUint8Array(enc)));
      const ids = [...room.awareness.getStates().keys()];
      if (ids.length) sendAwareness(peer, ids);
    });
  }

  function sendAwareness(peer: Peer, ids: number[]) {
    const enc = encoding.createEncoder();
    encoding.writeVarUint(enc, messageAwareness);
    encoding.writeVarUint8Array(enc, awarenessProtocol.encodeAwarenessUpdate(peer.room.awareness, ids));
    send(peer.ws, encoding.toUint8Array(enc));
  }

  return {
    close() {
      http.off('upgrade', onUpgrade);
      for (const set of peers.values()) for (const p of set) p.ws.terminate();
      wss.close();
    },
  };
}

/** Who a change came from, when it is a y-websocket peer of this node (never sent its own change back). */
const peerIdOf = (origin: Origin | null): string | null => (origin?.kind === 'ws' ? origin.id : null);

/**
 * The fan-out to the y-websocket peers, as the Socket.IO room path does it: one encode for all
 * receivers, one write per receiver. The registry stores the updates of one tick together (group
 * commit, one INSERT) and only then applies them, one after the other in the same turn; here they are
 * gathered per room while that happens and sent once it is done (a microtask later: no added wait),
 * merged into one update, framed once, and written as one prebuilt Buffer to every peer that sent
 * none of them. A peer that sent some of them gets the others' merged (built once per such peer,
 * only when there are others): nothing is echoed. So a peer never sees an update before it is
 * stored (seen means stored), and a tick where ten tools draw costs one message per receiver, not ten.
 * Presence changes are gathered per room and per sender until the end of the event-loop turn
 * (setImmediate) and encoded once per sender for all receivers.
 */
class Outbox {
  private updates = new Map<string, { update: Uint8Array; from: string | null }[]>();
  private presence = new Map<string, { room: LoadedRoom; from: Map<string | null, Set<number>> }>();
  private updatesDue = false;
  private presenceDue = false;

  constructor(
    private readonly peers: Map<string, Set<Peer>>,
    private readonly log: Logger,
  ) {}

  update(roomId: string, update: Uint8Array, origin: Origin): void {
    if (!this.peers.get(roomId)?.size) return;
    let list = this.updates.get(roomId);
    if (!list) this.updates.set(roomId, (list = []));
    list.push({ update, from: peerIdOf(origin) });
    if (this.updatesDue) return;
    this.updatesDue = true;
    queueMicrotask(() => this.sendUpdates());
  }

  awareness(room: LoadedRoom, changed: number[], origin: Origin | null): void {
    if (!this.peers.get(room.id)?.size || changed.length === 0) return;
    let entry = this.presence.get(room.id);
    if (!entry) this.presence.set(room.id, (entry = { room, from: new Map() }));
    const from = peerIdOf(origin);
    let ids = entry.from.get(from);
    if (!ids) entry.from.set(from, (ids = new Set()));
    for (const c of changed) ids.add(c);
    if (this.presenceDue) return;
    this.presenceDue = true;
    setImmediate(() => this.sendPresence());
  }

  private sendUpdates(): void {
    this.updatesDue = false;
    const due = this.updates;
    this.updates = new Map();
    for (const [roomId, list] of due) {
      const set = this.peers.get(roomId);
      if (!set?.size) continue;
      try {
        this.sendRoomUpdates(set, list);
      } catch (err) {
        // Not expected (each was applied already): sent one by one, as they were applied.
        this.log.warn({ room: roomId, updates: list.length, err: (err as Error).message }, 'y-websocket updates not merged; sent one by one');
        for (const x of list) for (const p of set) if (p.origin.id !== x.from) send(p.ws, updateMessage([x.update]));
      }
    }
  }

  private sendRoomUpdates(set: Set<Peer>, list: { update: Uint8Array; from: string | null }[]): void {
    const msg = updateMessage(list.map((x) => x.update));
    const senders = new Set(list.map((x) => x.from).filter((x): x is string => x !== null));
    for (const p of set) {
      if (!senders.has(p.origin.id)) send(p.ws, msg);
      else {
        const others = list.filter((x) => x.from !== p.origin.id).map((x) => x.update);
        if (others.length) send(p.ws, updateMessage(others));
      }
    }
  }

  private sendPresence(): void {
    this.presenceDue = false;
    const due = this.presence;
    this.presence = new Map();
    for (const [roomId, { room, from }] of due) {
      const set = this.peers.get(roomId);
      if (!set?.size) continue;
      for (const [sender, ids] of from) {
        let msg: Buffer;
        try {
          const enc = encoding.createEncoder();
          encoding.writeVarUint(enc, messageAwareness);
          encoding.writeVarUint8Array(enc, awarenessProtocol.encodeAwarenessUpdate(room.awareness, [...ids]));
          msg = toBuffer(encoding.toUint8Array(enc));
        } catch (err) {
          // The room was unloaded meanwhile: presence is volatile, nothing to tell.
          this.log.debug({ room: roomId, err: (err as Error).message }, 'presence change not sent');
          continue;
        }
        for (const p of set) if (p.origin.id !== sender) send(p.ws, msg);
      }
    }
  }
}

/** One y-websocket sync message carrying `updates` merged into one (framed once, sent to many). */
function updateMessage(updates: Uint8Array[]): Buffer {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, messageSync);
  syncProtocol.writeUpdate(encoder, updates.length === 1 ? updates[0] : Y.mergeUpdates(updates));
  return toBuffer(encoding.toUint8Array(encoder));
}

const toBuffer = (a: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function frame(type: number, body: Uint8Array): Uint8Array {
  const enc = encoding.createEncoder();
  encoding.writeVarUint(enc, type);
  encoding.writeUint8Array(enc, body);
  return encoding.toUint8Array(enc);
}

function send(ws: WebSocket, data: Uint8Array) {
  if (ws.readyState === ws.OPEN) ws.send(data);
}

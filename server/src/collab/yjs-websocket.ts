import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import crypto from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';
import * as syncProtocol from 'y-protocols/sync';
import * as awarenessProtocol from 'y-protocols/awareness';
import * as authProtocol from 'y-protocols/auth';
import { can, Limits, LoupeError, type InviteClaims } from '@loupe/shared';
import type { InviteService } from '../auth/invite.service.js';
import type { RoomRepository } from '../store/room.repository.js';
import type { Logger } from '../log.js';
import type { LoadedRoom, Origin, RoomDocRegistry } from './room-doc.registry.js';
import { applySyncMessage } from './sync-message.js';

/** y-websocket's message framing. */
const messageSync = 0;
const messageAwareness = 1;
const messageAuth = 2;
const messageQueryAwareness = 3;

export const YJS_PATH = '/yjs';

interface Peer {
  ws: WebSocket;
  origin: Origin & { kind: 'ws' };
  room: LoadedRoom;
}

/**
 * The standard y-websocket endpoint, `ws://HOST:PORT/yjs/<roomId>?token=...`, over the same room
 * documents and with the same role rules as the Socket.IO gateway, so any stock Yjs client
 * (`new WebsocketProvider(url + '/yjs', roomId, doc, { params: { token } })`) can read and draw.
 */
export function attachYjsWebsocket(
  http: HttpServer,
  deps: {
    log: Logger;
    invites: InviteService;
    docs: RoomDocRegistry;
    rooms: RoomRepository;
    /** Told when an outside tool connects to a room and when it goes (the session event log). */
    presence?: { joined(roomId: string, member: InviteClaims): void; left(roomId: string, member: InviteClaims): void };
  },
): { close(): void } {
  const { log, docs } = deps;
  const wss = new WebSocketServer({ noServer: true, maxPayload: Limits.maxMessageBytes });
  const peers = new Map<string, Set<Peer>>();

  docs.onUpdate((room, update, origin) => {
    const set = peers.get(room.id);
    if (!set?.size) return;
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, messageSync);
    syncProtocol.writeUpdate(encoder, update);
    const msg = encoding.toUint8Array(encoder);
    for (const p of set) if (!(origin.kind === 'ws' && origin.id === p.origin.id)) send(p.ws, msg);
  });
  docs.onAwareness((room, changed, origin) => {
    const set = peers.get(room.id);
    if (!set?.size) return;
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, messageAwareness);
    encoding.writeVarUint8Array(encoder, awarenessProtocol.encodeAwarenessUpdate(room.awareness, changed));
    const msg = encoding.toUint8Array(encoder);
    const o = origin as Origin | null;
    for (const p of set) if (!(o?.kind === 'ws' && o.id === p.origin.id)) send(p.ws, msg);
  });

  const onUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (!url.pathname.startsWith(YJS_PATH + '/')) return; // Socket.IO's or nobody's
    const roomId = decodeURIComponent(url.pathname.slice(YJS_PATH.length + 1));
    try {
      const claims = await deps.invites.verify(url.searchParams.get('token'));
      if (claims.room !== roomId) throw new LoupeError('WRONG_ROOM', 'This invite is for another room.');
      if (!(await deps.rooms.get(roomId))) throw new LoupeError('ROOM_NOT_FOUND', `Room ${roomId} does not exist.`);
      wss.handleUpgrade(req, socket, head, (ws) => {
        connect(ws, roomId, claims.sub, can(claims.role, 'annotate'));
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

  function connect(ws: WebSocket, roomId: string, memberId: string, mayWrite: boolean) {
    const id = `ws:${crypto.randomUUID()}`;
    const room = docs.hold(roomId, id);
    const peer: Peer = { ws, origin: { kind: 'ws', id, memberId }, room };
    let set = peers.get(roomId);
    if (!set) peers.set(roomId, (set = new Set()));
    set.add(peer);
    ws.binaryType = 'arraybuffer';

    // A room still loading (for a fresh Socket.IO member) is read only once ready: messages wait, in order.
    let inOrder = room.ready;
    ws.on('message', (raw: ArrayBuffer) => {
      inOrder = inOrder.then(() => onMessage(raw));
    });
    const onMessage = (raw: ArrayBuffer) => {
      try {
        const decoder = decoding.createDecoder(new Uint8Array(raw));
        const type = decoding.readVarUint(decoder);
        if (type === messageSync) {
          const body = decoding.readTailAsUint8Array(decoder);
          const { reply, stored } = applySyncMessage(room, body, peer.origin, mayWrite, docs);
          if (reply) send(ws, frame(messageSync, reply));
          // Not awaited: the peer's next messages go on while this one is stored (in order, see submit).
          stored.catch((e: unknown) => refused(e));
        } else if (type === messageAwareness) {
          docs.applyAwareness(room, decoding.readVarUint8Array(decoder), peer.origin);
        } else if (type === messageQueryAwareness) {
          sendAwareness(peer, [...room.awareness.getStates().keys()]);
        }
      } catch (e) {
        log.warn({ room: roomId, peer: id, err: (e as Error).message }, 'bad y-websocket message; closing');
        ws.close(1003, 'bad message');
      }
    };
    /** The peer's update was refused or not stored (y-websocket has no acks). */
    const refused = (e: unknown) => {
      if (e instanceof LoupeError && e.code === 'FORBIDDEN_ROLE') {
        const enc = encoding.createEncoder();
        encoding.writeVarUint(enc, messageAuth);
        authProtocol.writePermissionDenied(enc, e.message);
        send(ws, encoding.toUint8Array(enc));
      } else if (e instanceof LoupeError && (e.code === 'STORAGE_FULL' || e.code === 'STORAGE_FAILED')) {
        // Shown to nobody: closed so that the provider reconnects and sends what the server lacks again.
        log.warn({ room: roomId, peer: id, code: e.code }, 'y-websocket update not stored; closing so the peer resends it');
        ws.close(1011, e.code);
      } else {
        log.warn({ room: roomId, peer: id, err: (e as Error).message }, 'bad y-websocket message; closing');
        ws.close(1003, 'bad message');
      }
    };
    ws.on('close', () => {
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

function frame(type: number, body: Uint8Array): Uint8Array {
  const enc = encoding.createEncoder();
  encoding.writeVarUint(enc, type);
  encoding.writeUint8Array(enc, body);
  return encoding.toUint8Array(enc);
}

function send(ws: WebSocket, data: Uint8Array) {
  if (ws.readyState === ws.OPEN) ws.send(data);
}

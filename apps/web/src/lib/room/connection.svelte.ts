/** The Socket.IO link to the room: connect with the invite token, join on every (re)connect. */
import { io, type Socket } from 'socket.io-client';
import { ErrorCode, PROTOCOL_VERSION, protocolMismatchMessage, type ClientToServerEvents, type HandshakeAuth, type RoomState, type ServerToClientEvents } from '@loupe/shared';

export type LoupeSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
/** The socket with an ack timeout: `emitWithAck` rejects when no answer comes in time. */
export type TimedSocket = ReturnType<LoupeSocket['timeout']>;
export type LinkState = 'connecting' | 'connected' | 'disconnected';

/** Refusals no retry can fix: the page shows them instead of the room. */
const FATAL_CODES = new Set<string>([
  ErrorCode.TOKEN_MISSING,
  ErrorCode.TOKEN_INVALID,
  ErrorCode.TOKEN_EXPIRED,
  ErrorCode.TOKEN_REVOKED,
  ErrorCode.WRONG_ROOM,
  ErrorCode.ROOM_NOT_FOUND,
  ErrorCode.FORBIDDEN_ROLE,
  // The page is older (or newer) than the server: only a reload helps.
  ErrorCode.PROTOCOL_MISMATCH,
]);
/** Sent (room:error) just before the server closes a live connection whose invite ended. */
const ENDED_CODES = new Set(['TOKEN_EXPIRED', 'TOKEN_REVOKED']);
const JOIN_TIMEOUT_MS = 10_000;
const RETRY_MS = 2_000;

/** This page's id for the server, kept across reconnects (getRandomValues works outside secure contexts too). */
function newTabId(): string {
  return [...crypto.getRandomValues(new Uint8Array(12))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export class Connection {
  state = $state<LinkState>('connecting');
  /**
   * Sent with every join: the same person in several tabs is one member, and only the tab that took
   * the presentation drives it (PresentationState.presenterTab).
   */
  readonly tab = newTabId();
  /** Set once the room cannot be entered with this link. */
  fatal = $state<{ code: string; message: string } | null>(null);
  readonly socket: LoupeSocket;
  private retry: ReturnType<typeof setTimeout> | null = null;

  constructor(
    readonly roomId: string,
    token: string,
    private readonly onJoined: (state: RoomState) => void,
    /** Whether our copy of the room document is empty (the first join): the ack then brings it whole. */
    private readonly fresh: () => boolean = () => false,
  ) {
    const auth: HandshakeAuth = { token, protocol: PROTOCOL_VERSION };
    this.socket = io({ auth, transports: ['websocket'], autoConnect: false });
    this.socket.on('connect', this.join);
    this.socket.on('room:error', (r) => {
      if (ENDED_CODES.has(r.code)) this.fail(r);
    });
    this.socket.on('disconnect', (reason) => {
      if (this.fatal) return;
      this.state = 'disconnected';
      // The server hung up on us (e.g. a restart): Socket.IO does not retry that by itself.
      if (reason === 'io server disconnect') this.later(() => this.socket.connect());
    });
    this.socket.on('connect_error', (err: Error & { data?: { code?: string } }) => {
      const code = err.data?.code;
      if (code && FATAL_CODES.has(code)) return this.fail({ code, message: err.message });
      this.state = 'disconnected';
      // A middleware refusal stops the manager's own retries; transport errors do not.
      if (!this.socket.active) this.later(() => this.socket.connect());
    });
  }

  start(): void {
    this.socket.connect();
  }

  stop(): void {
    if (this.retry) clearTimeout(this.retry);
    this.socket.disconnect();
  }

  private later(fn: () => void): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = setTimeout(() => {
      this.retry = null;
      if (!this.fatal) fn();
    }, RETRY_MS);
  }

  private fail(r: { code: string; message: string }): void {
    this.fatal = { code: r.code, message: r.message };
    this.state = 'disconnected';
    this.stop();
  }

  private join = (): void => {
    this.state = 'connecting';
    this.socket.timeout(JOIN_TIMEOUT_MS).emit('room:join', { room: this.roomId, fresh: this.fresh(), tab: this.tab }, (err, r) => {
      if (err) {
        // No answer in time: drop the socket and let the reconnect join again.
        this.state = 'disconnected';
        this.socket.disconnect();
        this.later(() => this.socket.connect());
        return;
      }
      if (!r.ok) {
        if (FATAL_CODES.has(r.code)) return this.fail(r);
        this.state = 'disconnected';
        this.socket.disconnect();
        this.later(() => this.socket.connect());
        return;
      }
      const { ok: _ok, ...state } = r;
      // A server of another version that does not check ours (an older one): the same advice.
      if (state.protocol !== PROTOCOL_VERSION) return this.fail({ code: ErrorCode.PROTOCOL_MISMATCH, message: protocolMismatchMessage(PROTOCOL_VERSION, state.protocol) });
      this.onJoined(state satisfies RoomState);
      this.state = 'connected';
    });
  };
}

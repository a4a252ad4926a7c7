/**
 * One write per message. Socket.IO sends an event that carries bytes (every Yjs update) as two
 * engine.io packets: its JSON head, then the bytes. Engine.io hands the head to the WebSocket at once
 * and, the transport being busy until that write completes, the bytes one event-loop turn later: two
 * syscalls and a turn of delay for every update to every member. In the 100-rooms fan-out (3,000
 * updates/s to 1,000 sockets) writev was 37% of the server's CPU, and a third of it came from those
 * second flushes (`npm run bench -- fanout --scenario rooms`).
 *
 * Here the packets of one message are queued together and flushed once, and the TCP socket is corked
 * while the transport writes a batch of frames, so they leave in one writev. Engine.io exposes no
 * hook for this: it relies on `Client.writeToEngine`, `Socket.flush`, `transport.writable` and the
 * `ws` socket under the transport (engine.io 6.6); test/realtime-writes.spec.ts fails if they change.
 */
import type { Socket } from 'socket.io';

interface Transport {
  writable: boolean;
  send(packets: unknown[]): void;
  /** The `ws` WebSocket of a websocket transport; its `_socket` is the net.Socket. */
  socket?: { _socket?: { cork(): void; uncork(): void } };
  __corked?: true;
}
interface EngineSocket {
  transport: Transport;
  flush(): void;
  on(event: 'upgrade', fn: (t: Transport) => void): void;
}
interface EngineClient {
  conn: EngineSocket;
  writeToEngine(packets: unknown, opts?: { volatile?: boolean }): void;
}

export function coalesceWrites(socket: Socket): void {
  const client = socket.client as unknown as EngineClient;
  const conn = client.conn;
  const write = client.writeToEngine.bind(client);
  client.writeToEngine = (packets, opts) => {
    const transport = conn.transport;
    if (!Array.isArray(packets) || packets.length < 2 || opts?.volatile || !transport.writable) return write(packets, opts);
    // Not writable while queuing: engine.io keeps the packets in its buffer; then one flush sends them all.
    transport.writable = false;
    try {
      write(packets, opts);
    } finally {
      transport.writable = true;
    }
    conn.flush();
  };
  cork(conn.transport);
  conn.on('upgrade', cork);
}

/** Corks the TCP socket while the transport writes a batch: its frames leave in one writev. */
function cork(transport: Transport): void {
  const tcp = transport.socket?._socket;
  if (!tcp || transport.__corked) return;
  transport.__corked = true;
  const send = transport.send.bind(transport);
  transport.send = (packets) => {
    if (packets.length < 2) return send(packets);
    tcp.cork();
    try {
      send(packets);
    } finally {
      tcp.uncork();
    }
  };
}

/**
 * The member of the cold-load benchmark, in its own process as a browser would be: connects, joins
 * the room as the web client does (`fresh`: the ack brings the stored document), applies it, and
 * finishes the sync exchange. Sends its timings to the parent over IPC.
 *
 *   fork('coldload-client.ts', [url, roomId, token])
 */
import { io as ioClient } from 'socket.io-client';
import * as Y from 'yjs';
import { Awareness } from 'y-protocols/awareness';
import { RoomDocProvider, annotationsMap, type Ack, type RoomState } from '@loupe/shared';

export interface ColdClientResult {
  connectMs: number;
  /** room:join sent -> its ack received (the stored document inside it). */
  joinAckMs: number;
  /** The ack's document applied (this process's Yjs decode, its code not yet optimised: a first load). */
  applyMs: number;
  /** room:join sent -> the ack's document applied: the member holds the whole stored document. */
  heldMs: number;
  /** room:join sent -> the whole document applied and the sync exchange done. */
  syncedMs: number;
  strokes: number;
}

const [url, roomId, token] = process.argv.slice(2);
const t0 = performance.now();
const socket = ioClient(url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
await new Promise<void>((resolve, reject) => (socket.once('connect', () => resolve()), socket.once('connect_error', reject)));
const t1 = performance.now();
const doc = new Y.Doc();
const provider = new RoomDocProvider(socket, roomId, doc, new Awareness(doc));
const ack = (await socket.timeout(60_000).emitWithAck('room:join', { room: roomId, fresh: provider.fresh })) as Ack<RoomState>;
const t2 = performance.now();
if (!ack.ok) throw new Error(`join refused: ${ack.code} ${ack.message}`);
provider.start(ack.sync, ack.state);
const tApplied = performance.now();
await provider.whenSynced();
const t3 = performance.now();
const result: ColdClientResult = { connectMs: t1 - t0, joinAckMs: t2 - t1, applyMs: tApplied - t2, heldMs: tApplied - t1, syncedMs: t3 - t1, strokes: annotationsMap(doc).size };
process.send!(result, () => {
  socket.disconnect();
  process.exit(0);
});

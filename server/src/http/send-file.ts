import { pipeline } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BlobSource } from '../store/blob.repository.js';

/**
 * Streams a blob (or a byte range of it) into a response whose head is written. Through pipeline,
 * not pipe: a read error (a blob gone, a disk fault, the object store failing) or a client that
 * hangs up ends that response only; with pipe, an 'error' on the source has no listener and takes
 * the process down.
 */
export function sendFile(src: BlobSource, res: ServerResponse, range?: { start: number; end: number }): void {
  src.read(range).then(
    (stream) => pipeline(stream, res, () => {}),
    () => res.destroy(),
  );
}

/**
 * Answers a GET or HEAD for a whole blob, honouring a single `Range: bytes=a-b` (206, or 416 outside
 * it), as video elements ask. `headers` go on every answer (type, caching). A blob in the object
 * store and not on this node is read a range at a time from the store, never downloaded whole.
 */
export async function sendRanged(req: IncomingMessage, res: ServerResponse, src: BlobSource, headers: Record<string, string>): Promise<void> {
  const size = src.size;
  const all = { ...headers, 'accept-ranges': 'bytes' };
  const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
  if (range && (range[1] || range[2])) {
    const start = Math.max(0, range[1] ? Number(range[1]) : size - Number(range[2]));
    const end = Math.min(size - 1, range[1] && range[2] ? Number(range[2]) : size - 1);
    if (start > end) {
      res.writeHead(416, { 'content-range': `bytes */${size}` });
      res.end();
      return;
    }
    res.writeHead(206, { ...all, 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': end - start + 1 });
    if (req.method === 'HEAD') res.end();
    else sendFile(src, res, { start, end });
    return;
  }
  res.writeHead(200, { ...all, 'content-length': size });
  if (req.method === 'HEAD') res.end();
  else sendFile(src, res);
}

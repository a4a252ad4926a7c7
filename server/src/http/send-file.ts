import fs from 'node:fs';
import { pipeline } from 'node:stream';
import type { ServerResponse } from 'node:http';

/**
 * Streams a file (or a byte range of it) into a response whose head is written. Through pipeline,
 * not pipe: a read error (a blob gone, a disk fault) or a client that hangs up ends that response
 * only; with pipe, an 'error' on the file stream has no listener and takes the process down.
 */
export function sendFile(file: string, res: ServerResponse, range?: { start: number; end: number }): void {
  pipeline(fs.createReadStream(file, range), res, () => {});
}

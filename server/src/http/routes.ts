import fs from 'node:fs';
import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ErrorCode, LoupeError } from '@loupe/shared';
import type { InviteService } from '../auth/invite.service.js';
import type { BlobSource, BlobStore } from '../store/blob.repository.js';
import type { RoomRepository } from '../store/room.repository.js';
import type { ApiHandler } from './uploads.js';
import { sendRanged } from './send-file.js';

type Handler = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

export const WEB_BUILD = path.resolve(fileURLToPath(new URL('../../../apps/web/build', import.meta.url)));

/** The SvelteKit app (adapter-node), or a page saying how to build it. */
export async function loadWebApp(): Promise<Handler | null> {
  const file = path.join(WEB_BUILD, 'handler.js');
  if (!fs.existsSync(file)) return null;
  return (await import(pathToFileURL(file).href)).handler as Handler;
}

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

const TYPES: Record<string, string> = { mp4: 'video/mp4', png: 'image/png', jpeg: 'image/jpeg' };

/** HTTP routes: health, blobs (token-checked, with Range for video), then the web app. */
export function httpRoutes(deps: {
  invites: InviteService;
  blobs: BlobStore;
  rooms: RoomRepository;
  web: Handler | null;
  ready: () => boolean;
  /** JSON APIs under /api/ (media uploads: see docs/media.md), tried in order. */
  api?: ApiHandler[];
  /** Room exports under /export/<roomId>/<file> (see docs/exports.md). */
  exports?: ApiHandler;
}) {
  return async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/healthz') {
      return deps.ready() ? json(res, 200, { ok: true }) : json(res, 503, { ok: false, code: 'STARTING' });
    }
    if (url.pathname.startsWith('/api/') && deps.api) {
      for (const api of deps.api) if (await api(req, res, url)) return;
    }
    if (url.pathname.startsWith('/export/') && deps.exports && (await deps.exports(req, res, url))) return;
    const blob = /^\/blobs\/([0-9a-f]{64})$/.exec(url.pathname);
    if (blob) return serveBlob(req, res, blob[1], url.searchParams.get('token'), deps).catch((e) => blobFailed(res, e));
    if (deps.web) return deps.web(req, res, () => json(res, 404, { ok: false, code: 'NOT_FOUND', message: 'No such page.' }));
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end('The Loupe web app is not built: run `npm run build` (or `npm start`, which builds it).\n');
  };
}

async function serveBlob(
  req: IncomingMessage,
  res: ServerResponse,
  sha: string,
  token: string | null,
  deps: { invites: InviteService; blobs: BlobStore; rooms: RoomRepository },
) {
  let room: string;
  try {
    room = (await deps.invites.verify(token)).room;
  } catch (e) {
    const err = e as LoupeError;
    return json(res, 401, { ok: false, code: err.code, message: err.message });
  }
  const src = (await deps.rooms.mayReadBlob(room, sha)) ? await deps.blobs.source(sha) : null;
  if (!src) {
    return json(res, 404, { ok: false, code: 'NOT_FOUND', message: 'No such media in this room.' });
  }
  const head = src.size ? await firstBytes(src, 12) : Buffer.alloc(0);
  const type =
    head.subarray(4, 8).toString() === 'ftyp'
      ? TYPES.mp4
      : head.subarray(1, 4).toString() === 'PNG'
        ? TYPES.png
        : head[0] === 0xff && head[1] === 0xd8
          ? TYPES.jpeg
          : 'application/octet-stream';
  // Content-addressed: the bytes behind a name never change.
  await sendRanged(req, res, src, { 'content-type': type, 'cache-control': 'private, max-age=31536000, immutable' });
}

/** The first `n` bytes of a blob (fewer when it is shorter), to tell its type. */
async function firstBytes(src: BlobSource, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await src.read({ start: 0, end: Math.min(n, src.size) - 1 })) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A blob that could not be read (the object store failing, the blob gone): a code, never a crash. */
function blobFailed(res: ServerResponse, e: unknown) {
  if (res.headersSent) return void res.destroy();
  const err = e instanceof LoupeError ? e : new LoupeError(ErrorCode.INTERNAL, 'The media could not be read.');
  json(res, err.code === ErrorCode.BLOB_MISSING ? 404 : err.code.startsWith('BLOB_') ? 503 : 500, { ok: false, code: err.code, message: err.message });
}

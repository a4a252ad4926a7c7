import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ArchiveExtensions,
  ErrorCode,
  ImageExtensions,
  LoupeError,
  MovieCodecs,
  MovieExtensions,
  LADDER_GOP,
  ProxyLadderSpec,
  isProxyRungName,
  type InviteClaims,
  type VersionMedia,
} from '@loupe/shared';
import type { MediaConfig } from '../config.js';
import type { Logger } from '../log.js';
import type { InviteService } from '../auth/invite.service.js';
import type { FrameService } from '../media/frame.service.js';
import { uploadUrl, type IngestService } from '../media/ingest.service.js';
import { blobMissing, type BlobStore } from '../store/blob.repository.js';
import type { RoomRepository } from '../store/room.repository.js';
import type { VersionRepository } from '../store/version.repository.js';
import { sendFile, sendRanged } from './send-file.js';
import { storageRefusal } from '../store/storage-errors.js';

/** Handles a request under /api/ if it knows it; returns false to let others try. */
export type ApiHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

export const TUS_VERSION = '1.0.0';
const TUS_EXTENSIONS = 'creation,termination';

const STATUS: Partial<Record<string, number>> = {
  TOKEN_MISSING: 401,
  TOKEN_INVALID: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_REVOKED: 401,
  FORBIDDEN_ROLE: 403,
  WRONG_ROOM: 403,
  UPLOAD_NOT_FOUND: 404,
  SHOT_NOT_FOUND: 404,
  VERSION_NOT_FOUND: 404,
  ROOM_NOT_FOUND: 404,
  LUT_NOT_FOUND: 404,
  RUNG_NOT_FOUND: 404,
  UPLOAD_OFFSET_MISMATCH: 409,
  UPLOAD_TOO_LARGE: 413,
  UPLOAD_TOO_MANY_FILES: 413,
  UNSUPPORTED_FORMAT: 415,
  SEQUENCE_INVALID: 422,
  CORRUPT_MEDIA: 422,
  BAD_LUT: 422,
  NOT_FIXABLE: 422,
  FRAME_OUT_OF_RANGE: 416,
  STORAGE_FULL: 507,
  STORAGE_FAILED: 503,
  BLOB_MISSING: 404,
  BLOB_STORE_UNREACHABLE: 503,
  BLOB_BUCKET_NOT_FOUND: 503,
  BLOB_STORE_DENIED: 503,
  BLOB_STORE_FAILED: 503,
  INTERNAL: 500,
};

export function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | number> = {}) {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'tus-resumable': TUS_VERSION, ...headers });
  res.end(JSON.stringify(body));
}

export function fail(req: IncomingMessage, res: ServerResponse, e: unknown, log: Logger) {
  const err = e instanceof LoupeError ? e : storageRefusal(e) ?? new LoupeError(ErrorCode.INTERNAL, 'The server failed; it has been logged.');
  if (!(e instanceof LoupeError)) log.error({ err: e, url: req.url, method: req.method }, 'media API failed');
  const hasBody = (req.method === 'PATCH' || req.method === 'POST') && !req.readableEnded;
  send(res, STATUS[err.code] ?? 400, { ok: false, code: err.code, message: err.message }, hasBody ? { connection: 'close' } : {});
  if (hasBody) {
    // Do not read a refused body (it may be gigabytes); give the client a moment to read the answer.
    req.resume();
    setTimeout(() => req.destroy(), 1000).unref();
  }
}

/** Parses tus Upload-Metadata: `key base64value,key2 base64value2`. */
export function parseTusMetadata(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const pair of header.split(',')) {
    const [key, value] = pair.trim().split(/\s+/, 2);
    if (!key) continue;
    out[key] = value ? Buffer.from(value, 'base64').toString('utf8') : '';
  }
  return out;
}

function readJson(req: IncomingMessage, limit = 4 << 20): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new LoupeError(ErrorCode.BAD_REQUEST, `The request body is over ${limit} bytes.`));
        req.pause();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}'));
      } catch {
        reject(new LoupeError(ErrorCode.BAD_REQUEST, 'The body is not JSON.'));
      }
    });
    req.on('error', reject);
  });
}

/** The blob of a version's proxy of rung `name` ('full' or a rung of its ladder); RUNG_NOT_FOUND otherwise. */
export function proxyBlobOf(media: VersionMedia, name: string): string {
  if (media.type !== 'video') throw new LoupeError(ErrorCode.RUNG_NOT_FOUND, 'This version is a still: it has no proxy to play.');
  if (name === 'full') return media.blob;
  const rung = media.ladder?.find((r) => r.name === name);
  if (rung) return rung.blob;
  const has = ['full', ...(media.ladder ?? []).map((r) => r.name)].join(', ');
  const why = isProxyRungName(name) ? `this version has no ${name} proxy` : `"${name.slice(0, 40)}" is not a proxy rung`;
  throw new LoupeError(ErrorCode.RUNG_NOT_FOUND, `${why}; it has: ${has}.`.replace(/^./, (c) => c.toUpperCase()));
}

export function tokenOf(req: IncomingMessage, url: URL): string | null {
  const auth = req.headers.authorization;
  if (auth && /^Bearer\s+/i.test(auth)) return auth.replace(/^Bearer\s+/i, '').trim();
  return url.searchParams.get('token') ?? (req.headers['loupe-token'] as string | undefined) ?? null;
}

const int = (v: string | string[] | undefined): number | undefined => {
  if (typeof v !== 'string' || !/^\d{1,16}$/.test(v)) return undefined;
  return Number(v);
};

/**
 * The media HTTP API (docs/media.md): uploads over tus 1.0.0 (creation, termination), announced
 * multi-file uploads, their status, the limits, and full-quality frames.
 */
export function mediaApi(deps: {
  invites: InviteService;
  ingests: IngestService;
  frames: FrameService;
  versions: VersionRepository;
  rooms: RoomRepository;
  blobs: BlobStore;
  config: MediaConfig;
  log: Logger;
}): ApiHandler {
  const auth = async (req: IncomingMessage, url: URL): Promise<InviteClaims> => {
    const claims = await deps.invites.verify(tokenOf(req, url));
    if (!(await deps.rooms.get(claims.room))) throw new LoupeError(ErrorCode.ROOM_NOT_FOUND, 'The room of this invite no longer exists.');
    return claims;
  };

  return async (req, res, url) => {
    const p = url.pathname;
    if (!p.startsWith('/api/uploads') && !p.startsWith('/api/ingests') && !p.startsWith('/api/media/') && !/^\/api\/versions\/[^/]+\/(frames|proxy)\//.test(p)) return false;
    const method = String(req.headers['x-http-method-override'] ?? req.method ?? 'GET').toUpperCase();
    try {
      const tusVersion = req.headers['tus-resumable'];
      if (p.startsWith('/api/uploads') && method !== 'OPTIONS' && tusVersion !== undefined && tusVersion !== TUS_VERSION) {
        send(res, 412, { ok: false, code: ErrorCode.BAD_REQUEST, message: `tus ${tusVersion} is not supported; this server speaks ${TUS_VERSION}.` }, { 'tus-version': TUS_VERSION });
        return true;
      }

      if (method === 'OPTIONS' && p.startsWith('/api/uploads')) {
        res.writeHead(204, {
          'tus-resumable': TUS_VERSION,
          'tus-version': TUS_VERSION,
          'tus-extension': TUS_EXTENSIONS,
          'tus-max-size': deps.config.uploadMaxBytes,
          'access-control-expose-headers': 'Upload-Offset, Upload-Length, Location, Tus-Resumable, Loupe-Ingest',
        });
        res.end();
        return true;
      }

      if (p === '/api/media/limits' && method === 'GET') {
        await auth(req, url);
        const c = deps.config;
        send(res, 200, {
          ok: true,
          maxUploadBytes: c.uploadMaxBytes,
          maxFiles: c.uploadMaxFiles,
          maxPixels: c.maxPixels,
          unpackMaxBytes: c.unpackMaxBytes,
          proxy: { maxWidth: c.proxyMaxWidth, maxHeight: c.proxyMaxHeight, gop: c.proxyGop },
          ladder: { rungs: ProxyLadderSpec, gop: LADDER_GOP },
          sequenceFps: c.sequenceFps,
          extensions: { movie: MovieExtensions, image: ImageExtensions, archive: ArchiveExtensions },
          codecs: MovieCodecs,
          tus: { version: TUS_VERSION, extensions: TUS_EXTENSIONS.split(','), endpoint: '/api/uploads' },
        });
        return true;
      }

      // tus creation: one file, announced by its length and metadata.
      if (p === '/api/uploads' && method === 'POST') {
        const claims = await auth(req, url);
        if (req.headers['upload-defer-length']) throw new LoupeError(ErrorCode.BAD_REQUEST, 'Upload-Defer-Length is not supported: send Upload-Length.');
        const length = int(req.headers['upload-length']);
        if (length === undefined) throw new LoupeError(ErrorCode.BAD_REQUEST, 'Upload-Length (bytes) is required.');
        const meta = parseTusMetadata(req.headers['upload-metadata'] as string | undefined);
        const name = meta.filename ?? meta.name;
        if (!name) throw new LoupeError(ErrorCode.BAD_FILE_NAME, 'Upload-Metadata must carry the file name (filename).');
        const rec = await deps.ingests.create(claims, {
          files: [{ name, size: length }],
          shotId: meta.shot || meta.shotId || null,
          shotName: meta.shotName || null,
          fps: meta.fps ? Number(meta.fps) : null,
        });
        req.resume();
        send(res, 201, { ok: true, ingest: deps.ingests.view(rec) }, { location: uploadUrl(rec.id, 0), 'loupe-ingest': rec.id });
        return true;
      }

      const upload = /^\/api\/uploads\/([^/]+)$/.exec(p);
      if (upload) {
        const id = decodeURIComponent(upload[1]);
        const claims = await auth(req, url);
        if (method === 'HEAD' || method === 'GET') {
          await deps.ingests.settle(id);
          const f = await deps.ingests.file(id, claims);
          if (f.rec.state === 'cancelled' || f.rec.state === 'failed') throw new LoupeError(ErrorCode.UPLOAD_NOT_FOUND, `Upload ${id} was ${f.rec.state}.`);
          res.writeHead(200, {
            'tus-resumable': TUS_VERSION,
            'upload-offset': f.offset,
            'upload-length': f.size,
            'cache-control': 'no-store',
            'loupe-ingest': f.rec.id,
            'loupe-ingest-state': f.rec.state,
          });
          res.end();
          return true;
        }
        if (method === 'PATCH') {
          const type = String(req.headers['content-type'] ?? '').split(';')[0].trim();
          if (type !== 'application/offset+octet-stream') {
            throw new LoupeError(ErrorCode.UNSUPPORTED_FORMAT, 'PATCH bodies must be Content-Type: application/offset+octet-stream.');
          }
          const offset = int(req.headers['upload-offset']);
          if (offset === undefined) throw new LoupeError(ErrorCode.BAD_REQUEST, 'Upload-Offset is required.');
          const r = await deps.ingests.append(id, claims, offset, req, int(req.headers['content-length']));
          if (!res.destroyed) {
            res.writeHead(204, { 'tus-resumable': TUS_VERSION, 'upload-offset': r.offset, 'loupe-upload-complete': r.complete ? '1' : '0' });
            res.end();
          }
          return true;
        }
        if (method === 'DELETE') {
          const f = await deps.ingests.file(id, claims);
          await deps.ingests.cancel(f.rec.id, claims);
          res.writeHead(204, { 'tus-resumable': TUS_VERSION });
          res.end();
          return true;
        }
        throw new LoupeError(ErrorCode.BAD_REQUEST, `${method} is not a tus method.`);
      }

      if (p === '/api/ingests' && method === 'POST') {
        const claims = await auth(req, url);
        const body = (await readJson(req)) as Record<string, any>;
        if (body.room !== undefined && body.room !== claims.room) throw new LoupeError(ErrorCode.WRONG_ROOM, 'This invite is for another room.');
        const rec = await deps.ingests.create(claims, { files: body.files, shotId: body.shotId ?? null, shotName: body.shotName ?? null, fps: body.fps ?? null });
        send(res, 201, { ok: true, ingest: deps.ingests.view(rec) }, { 'loupe-ingest': rec.id });
        return true;
      }
      if (p === '/api/ingests' && method === 'GET') {
        const claims = await auth(req, url);
        send(res, 200, { ok: true, ingests: (await deps.ingests.list(claims.room)).map((r) => deps.ingests.view(r)) });
        return true;
      }
      const ingest = /^\/api\/ingests\/([A-Za-z0-9]+)$/.exec(p);
      if (ingest) {
        const claims = await auth(req, url);
        const rec = await deps.ingests.record(ingest[1], claims);
        if (method === 'GET') {
          send(res, 200, { ok: true, ingest: deps.ingests.view(rec) });
          return true;
        }
        if (method === 'DELETE') {
          await deps.ingests.cancel(rec.id, claims);
          send(res, 200, { ok: true, ingest: deps.ingests.view(await deps.ingests.record(rec.id, claims)) });
          return true;
        }
      }

      const frame = /^\/api\/versions\/([^/]+)\/frames\/(\d{1,9})$/.exec(p);
      if (frame && (method === 'GET' || method === 'HEAD')) {
        const claims = await auth(req, url);
        const version = await deps.versions.get(frame[1]);
        if (!version || (await deps.versions.roomOf(version.id)) !== claims.room) throw new LoupeError(ErrorCode.VERSION_NOT_FOUND, `No version ${frame[1]} in this room.`);
        const sha = await deps.frames.frame(version, Number(frame[2]));
        await deps.rooms.grantBlob(claims.room, sha);
        const src = await deps.blobs.source(sha);
        if (!src) throw blobMissing(sha);
        res.writeHead(200, {
          'content-type': 'image/png',
          'content-length': src.size,
          'cache-control': 'private, max-age=31536000, immutable',
          'loupe-blob': sha,
        });
        if (method === 'HEAD') res.end();
        else sendFile(src, res);
        return true;
      }

      // A version's proxy of one rung of the ladder ('full': the full proxy), with Range, for the player.
      const rung = /^\/api\/versions\/([^/]+)\/proxy\/([^/]+)$/.exec(p);
      if (rung && (method === 'GET' || method === 'HEAD')) {
        const claims = await auth(req, url);
        const version = await deps.versions.get(rung[1]);
        if (!version || (await deps.versions.roomOf(version.id)) !== claims.room) throw new LoupeError(ErrorCode.VERSION_NOT_FOUND, `No version ${rung[1]} in this room.`);
        const sha = proxyBlobOf(version.media, decodeURIComponent(rung[2]));
        const src = await deps.blobs.source(sha);
        if (!src) throw blobMissing(sha);
        await sendRanged(req, res, src, { 'content-type': 'video/mp4', 'cache-control': 'private, max-age=31536000, immutable' });
        return true;
      }

      send(res, 404, { ok: false, code: 'NOT_FOUND', message: `No ${method} ${p}.` });
      return true;
    } catch (e) {
      fail(req, res, e, deps.log);
      return true;
    }
  };
}

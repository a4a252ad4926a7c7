import type { IncomingMessage } from 'node:http';
import { ErrorCode, Limits, LoupeError } from '@loupe/shared';
import type { InviteService } from '../auth/invite.service.js';
import type { Logger } from '../log.js';
import type { RoomRepository } from '../store/room.repository.js';
import type { LutService } from '../playback/lut.service.js';
import { fail, send, tokenOf, type ApiHandler } from './uploads.js';

/** The body as text, refusing past `limit` bytes without reading the rest. */
function readText(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) return reject(tooLarge(limit));
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.pause();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const tooLarge = (limit: number) => new LoupeError(ErrorCode.BAD_LUT, `A LUT file is at most ${limit / 1024 / 1024} MB; a 65-point .cube is smaller.`);

/**
 * Viewer LUTs (docs/media.md, "Viewer image controls"): `POST /api/luts?name=look.cube` with the
 * .cube text as the body keeps it for the token's room and answers `{ ok, lut: { sha256, name, size } }`;
 * `GET /api/luts/<sha256>` gives it back to any member of that room.
 */
export function lutApi(deps: { invites: InviteService; rooms: RoomRepository; luts: LutService; log: Logger }): ApiHandler {
  return async (req, res, url) => {
    const p = url.pathname;
    if (p !== '/api/luts' && !p.startsWith('/api/luts/')) return false;
    try {
      const claims = await deps.invites.verify(tokenOf(req, url));
      if (!(await deps.rooms.get(claims.room))) throw new LoupeError(ErrorCode.ROOM_NOT_FOUND, 'The room of this invite no longer exists.');
      if (p === '/api/luts' && req.method === 'POST') {
        const text = await readText(req, Limits.maxLutBytes);
        const lut = await deps.luts.put(claims.room, text, url.searchParams.get('name') ?? undefined);
        deps.log.info({ room: claims.room, user: claims.sub, sha256: lut.sha256, size: lut.size }, 'viewer LUT kept');
        send(res, 201, { ok: true, lut });
        return true;
      }
      const one = /^\/api\/luts\/([0-9a-f]{64})$/.exec(p);
      if (one && req.method === 'GET') {
        const text = await deps.luts.get(claims.room, one[1]);
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'private, max-age=31536000, immutable' });
        res.end(text);
        return true;
      }
      throw new LoupeError(ErrorCode.BAD_REQUEST, `No ${req.method} ${p}.`);
    } catch (e) {
      fail(req, res, e, deps.log);
      return true;
    }
  };
}

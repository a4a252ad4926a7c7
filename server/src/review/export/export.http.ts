import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, ExportFormats, LoupeError, can, exportFormatOfFile } from '@loupe/shared';
import type { InviteService } from '../../auth/invite.service.js';
import type { RoomRepository } from '../../store/room.repository.js';
import type { Logger } from '../../log.js';
import type { ExportService } from './export.service.js';

const STATUS: Partial<Record<string, number>> = {
  TOKEN_MISSING: 401,
  TOKEN_INVALID: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_REVOKED: 401,
  FORBIDDEN_ROLE: 403,
  WRONG_ROOM: 403,
  ROOM_NOT_FOUND: 404,
  UNKNOWN_EXPORT: 404,
};

function fail(res: ServerResponse, e: unknown, log: Logger) {
  const err = e instanceof LoupeError ? e : new LoupeError(ErrorCode.INTERNAL, 'The export failed on the server; it has been logged.');
  if (!(e instanceof LoupeError)) log.error({ err: e }, 'export failed');
  if (res.headersSent) return void res.destroy();
  res.writeHead(STATUS[err.code] ?? 400, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify({ ok: false, code: err.code, message: err.message }));
}

function tokenOf(req: IncomingMessage, url: URL): string | null {
  const auth = req.headers.authorization;
  if (auth && /^Bearer\s+/i.test(auth)) return auth.replace(/^Bearer\s+/i, '').trim();
  return url.searchParams.get('token');
}

/**
 * `GET /export/<roomId>/<file>?token=...` (or `Authorization: Bearer <token>`): the room's exports
 * for its editors and directors. Files: notes.csv, notes.pdf, markers.edl, markers.otio,
 * approved.zip, events.jsonl; `?approved=only` leaves shots with nothing approved out of the EDL
 * and OTIO. Returns false for paths outside /export/.
 */
export function exportApi(deps: { invites: InviteService; rooms: RoomRepository; exports: ExportService; log: Logger }) {
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    const m = /^\/export\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (!m) return false;
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: false, code: ErrorCode.BAD_REQUEST, message: 'Exports are read with GET.' }));
        return true;
      }
      const roomId = decodeURIComponent(m[1]);
      const format = exportFormatOfFile(decodeURIComponent(m[2]));
      const claims = await deps.invites.verify(tokenOf(req, url));
      if (claims.room !== roomId) throw new LoupeError(ErrorCode.WRONG_ROOM, 'This invite is for another room.');
      if (!(await deps.rooms.get(roomId))) throw new LoupeError(ErrorCode.ROOM_NOT_FOUND, 'The room of this invite no longer exists.');
      if (!can(claims.role, 'export')) {
        throw new LoupeError(ErrorCode.FORBIDDEN_ROLE, `A ${claims.role} cannot export this room; editors and directors can.`);
      }
      if (!format) {
        const files = Object.values(ExportFormats).map((f) => f.file).join(', ');
        throw new LoupeError(ErrorCode.UNKNOWN_EXPORT, `No export "${m[2]}"; there are ${files}.`);
      }
      const name = await deps.exports.fileName(roomId, format);
      res.writeHead(200, {
        'content-type': ExportFormats[format].mime,
        'content-disposition': `attachment; filename="${name.replace(/[^\x20-\x7e]|"/g, '_')}"; filename*=UTF-8''${encodeURIComponent(name)}`,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      });
      if (req.method === 'HEAD') return res.end(), true;
      const started = Date.now();
      await deps.exports.write(roomId, format, res, {
        approvedOnly: url.searchParams.get('approved') === 'only',
        progress: (line) => deps.log.debug({ room: roomId, format }, line),
      });
      deps.log.info({ room: roomId, user: claims.sub, role: claims.role, format, ms: Date.now() - started }, 'room exported');
    } catch (e) {
      fail(res, e, deps.log);
    }
    return true;
  };
}

import crypto from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { ErrorCode, LoupeError, Roles, type InviteClaims, type Role } from '@loupe/shared';

export interface Invite {
  /** Also the member id of whoever uses it; revoke by this id. */
  id: string;
  role: Role;
  name: string;
  token: string;
  url: string;
  expiresAt: string;
}

/** What a checked invite token says: its claims and when it expires (seconds since the epoch). */
export type VerifiedInvite = InviteClaims & { exp: number };

/** Signs and checks room invites: HS256 JWTs carrying room, role, name and expiry. */
export class InviteService {
  private readonly key: Uint8Array;
  /** @param isRevoked tells whether an invite (by its member id) was revoked. */
  constructor(
    secret: string,
    private readonly isRevoked: (sub: string) => boolean | Promise<boolean> = () => false,
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  async sign(claims: Omit<InviteClaims, 'sub'> & { sub?: string }, ttlSeconds: number): Promise<string> {
    return new SignJWT({ room: claims.room, role: claims.role, name: claims.name })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(claims.sub ?? crypto.randomUUID())
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + Math.round(ttlSeconds))
      .sign(this.key);
  }

  /** Returns the claims or throws a LoupeError with TOKEN_MISSING / TOKEN_EXPIRED / TOKEN_INVALID. */
  async verify(token: unknown): Promise<VerifiedInvite> {
    if (typeof token !== 'string' || token.length === 0) {
      throw new LoupeError(ErrorCode.TOKEN_MISSING, 'No invite token: open the room with the invite link you were given.');
    }
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'] });
      const { room, role, name, sub, exp } = payload as Record<string, unknown>;
      if (typeof room !== 'string' || typeof name !== 'string' || typeof sub !== 'string' || !Roles.includes(role as Role)) {
        throw new LoupeError(ErrorCode.TOKEN_INVALID, 'The invite token is malformed.');
      }
      if (await this.isRevoked(sub)) throw new LoupeError(ErrorCode.TOKEN_REVOKED, 'This invite was revoked: ask the room owner for a new link.');
      return { room, role: role as Role, name, sub, exp: typeof exp === 'number' ? exp : Infinity };
    } catch (e) {
      if (e instanceof LoupeError) throw e;
      if (e instanceof joseErrors.JWTExpired) {
        throw new LoupeError(ErrorCode.TOKEN_EXPIRED, 'This invite has expired: ask the room owner for a new link.');
      }
      throw new LoupeError(ErrorCode.TOKEN_INVALID, 'The invite token is not valid for this server.');
    }
  }
}

/** A stable, readable colour per member id. */
export function memberColor(id: string): string {
  const palette = ['#ff6b6b', '#ffd166', '#06d6a0', '#4cc9f0', '#b197fc', '#f783ac', '#ffa94d', '#63e6be'];
  const h = crypto.createHash('sha1').update(id).digest();
  return palette[h[0] % palette.length];
}

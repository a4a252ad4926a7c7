import { ErrorCode, LoupeError } from '@loupe/shared';
import type { Logger } from '../log.js';

type Close = (reason: LoupeError) => void;

/**
 * Ends the live connections of an invite once it is revoked or expires. Each node looks every
 * `everyMs` at the invites of its own connected members: one query to the database all nodes share
 * (`loupe invite revoke` writes there), so a revocation reaches every node within that time, with
 * or without Redis. Connections are closed with TOKEN_REVOKED or TOKEN_EXPIRED.
 */
export class InviteWatch {
  private readonly live = new Map<string, { expiresAt: number; closers: Set<Close> }>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    /** The invites (member ids) among these that were revoked. */
    private readonly revokedAmong: (ids: string[]) => string[] | Promise<string[]>,
    everyMs: number,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => void this.check(), everyMs);
    this.timer.unref();
  }

  /** Watches one connection of an invite (`exp`: its expiry, seconds since the epoch); returns the way to stop. */
  track(invite: { sub: string; exp: number }, close: Close): () => void {
    let entry = this.live.get(invite.sub);
    if (!entry) this.live.set(invite.sub, (entry = { expiresAt: invite.exp * 1000, closers: new Set() }));
    entry.closers.add(close);
    return () => {
      entry.closers.delete(close);
      if (entry.closers.size === 0 && this.live.get(invite.sub) === entry) this.live.delete(invite.sub);
    };
  }

  /** One look at the database; a check still running when the next is due is not doubled. */
  private checking = false;

  async check(): Promise<void> {
    if (this.live.size === 0 || this.checking) return;
    this.checking = true;
    let revoked: Set<string>;
    try {
      const ids = [...this.live.keys()];
      revoked = new Set<string>();
      for (let i = 0; i < ids.length; i += 500) for (const id of await this.revokedAmong(ids.slice(i, i + 500))) revoked.add(id);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'could not check for revoked invites');
      return;
    } finally {
      this.checking = false;
    }
    const now = Date.now();
    for (const [sub, entry] of this.live) {
      const reason = revoked.has(sub)
        ? new LoupeError(ErrorCode.TOKEN_REVOKED, 'This invite was revoked: ask the room owner for a new link.')
        : entry.expiresAt <= now
          ? new LoupeError(ErrorCode.TOKEN_EXPIRED, 'This invite has expired: ask the room owner for a new link.')
          : null;
      if (!reason) continue;
      this.live.delete(sub);
      this.log.info({ user: sub, code: reason.code, connections: entry.closers.size }, 'invite ended: closing its connections');
      for (const close of entry.closers) close(reason);
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}

import {
  ErrorCode,
  Limits,
  LoupeError,
  type Member,
  type PlaybackInput,
  type PlaybackState,
  type PresentationState,
} from '@loupe/shared';
import type { VersionRepository } from '../store/version.repository.js';
import { RateLimiter } from '../realtime/rate-limit.js';

interface RoomPlayback {
  playback: PlaybackState | null;
  presentation: PresentationState;
  seq: number;
  /** Bumped on every change: the newest snapshot wins between nodes. */
  rev: number;
  /** Ends the presentation when a presenter who dropped out does not come back. */
  leaveTimer: NodeJS.Timeout | null;
}

export interface PresentationEvents {
  playback(roomId: string, state: PlaybackState, exceptSocket: string): void;
  presentation(roomId: string, p: PresentationState): void;
}

/** What nodes share about a room's playback (scale-out). */
export type PresentationSnapshot = Pick<RoomPlayback, 'playback' | 'presentation' | 'seq' | 'rev'>;

export interface PresentationShare {
  publish(roomId: string, snapshot: PresentationSnapshot): void;
  load(roomId: string): Promise<PresentationSnapshot | null>;
  listen(apply: (roomId: string, snapshot: PresentationSnapshot) => void): Promise<void>;
}

/**
 * Synced playback: who presents, who may drive, and the room's last playback state. Kept in
 * memory: it describes a live session, and a restarted server starts with everyone browsing freely.
 * With several nodes, each change is shared (Redis) so that every node answers the same.
 */
export class PresentationService {
  private rooms = new Map<string, RoomPlayback>();
  private rate = new RateLimiter(Limits.maxPlaybackEventsPerSecond);

  constructor(
    private readonly versions: VersionRepository,
    private readonly events: PresentationEvents,
    private readonly presenterGraceMs = 5_000,
    private readonly share?: PresentationShare,
  ) {
    void share?.listen((roomId, snap) => this.applyShared(roomId, snap));
  }

  get(roomId: string): RoomPlayback {
    let r = this.rooms.get(roomId);
    if (!r) {
      r = { playback: null, presentation: { presenterId: null, presenterName: null, control: 'presenter' }, seq: 0, rev: 0, leaveTimer: null };
      this.rooms.set(roomId, r);
    }
    return r;
  }

  /**
   * Makes sure this node knows the room's state as the other nodes left it, before a member joins:
   * read from Redis each time, since a change made on another node a moment ago may still be on
   * its way here.
   */
  async ensure(roomId: string): Promise<void> {
    if (!this.share) return;
    const snap = await this.share.load(roomId);
    if (snap) this.applyShared(roomId, snap);
  }

  private applyShared(roomId: string, snap: PresentationSnapshot) {
    const r = this.get(roomId);
    if (snap.rev <= r.rev) return;
    Object.assign(r, { playback: snap.playback, presentation: snap.presentation, seq: Math.max(r.seq, snap.seq), rev: snap.rev });
  }

  private changed(roomId: string, r: RoomPlayback) {
    r.rev++;
    this.share?.publish(roomId, { playback: r.playback, presentation: r.presentation, seq: r.seq, rev: r.rev });
  }

  /** The room's state if the member may drive its playback (NOT_PRESENTER otherwise). */
  private mayDrive(member: Member, roomId: string) {
    const r = this.get(roomId);
    const { presenterId, control } = r.presentation;
    if (control === 'presenter' && presenterId !== member.id) {
      throw new LoupeError(
        ErrorCode.NOT_PRESENTER,
        presenterId ? `${r.presentation.presenterName} is presenting: follow, or browse alone.` : 'Nobody is presenting: start presenting to drive playback for the room.',
      );
    }
    return r;
  }

  /** Accepts a playback change from the presenter (or anyone, with control 'everyone'). */
  async set(member: Member, socketId: string, roomId: string, input: PlaybackInput): Promise<PlaybackState> {
    this.limit(socketId);
    this.mayDrive(member, roomId);
    for (const id of [input.versionId, input.compare.versionB]) {
      if (id !== null && (await this.versions.roomOf(id)) !== roomId) throw new LoupeError(ErrorCode.VERSION_NOT_FOUND, `No version ${id} in this room.`);
    }
    // Checked again after the look-up: the presenter may have changed meanwhile.
    const r = this.mayDrive(member, roomId);
    const state: PlaybackState = { ...input, seq: ++r.seq, at: Date.now(), by: member.id };
    r.playback = state;
    this.changed(roomId, r);
    this.events.playback(roomId, state, socketId);
    return state;
  }

  /** Hands the presentation over, ends it, or switches who may drive. */
  setPresenter(member: Member, roomId: string, presenterId: string | null, control: PresentationState['control'] | undefined, here: Map<string, string>): PresentationState {
    const r = this.get(roomId);
    if (member.role !== 'director' && r.presentation.presenterId !== member.id) {
      throw new LoupeError(ErrorCode.FORBIDDEN_ROLE, 'Only the director or the current presenter can hand over the presentation.');
    }
    if (presenterId !== null && !here.has(presenterId)) {
      throw new LoupeError(ErrorCode.MEMBER_NOT_HERE, 'That member is not in the room.');
    }
    this.clearTimer(r);
    r.presentation = {
      presenterId,
      presenterName: presenterId === null ? null : here.get(presenterId)!,
      control: control ?? r.presentation.control,
    };
    this.changed(roomId, r);
    this.events.presentation(roomId, r.presentation);
    return r.presentation;
  }

  /** A member's last connection to the room closed. */
  memberLeft(roomId: string, memberId: string): void {
    const r = this.rooms.get(roomId);
    if (!r || r.presentation.presenterId !== memberId) return;
    this.clearTimer(r);
    r.leaveTimer = setTimeout(() => {
      r.leaveTimer = null;
      r.presentation = { ...r.presentation, presenterId: null, presenterName: null };
      this.changed(roomId, r);
      this.events.presentation(roomId, r.presentation);
    }, this.presenterGraceMs);
    r.leaveTimer.unref();
  }

  /** The presenter came back within the grace period. */
  memberJoined(roomId: string, memberId: string): void {
    const r = this.rooms.get(roomId);
    if (r?.presentation.presenterId === memberId) this.clearTimer(r);
  }

  socketGone(socketId: string): void {
    this.rate.forget(socketId);
  }

  close(): void {
    for (const r of this.rooms.values()) this.clearTimer(r);
  }

  private clearTimer(r: RoomPlayback) {
    if (r.leaveTimer) clearTimeout(r.leaveTimer);
    r.leaveTimer = null;
  }

  private limit(socketId: string) {
    if (!this.rate.allow(socketId)) {
      throw new LoupeError(ErrorCode.RATE_LIMITED, `More than ${Limits.maxPlaybackEventsPerSecond} playback changes a second; slow down.`);
    }
  }
}

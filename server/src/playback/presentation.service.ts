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

/** A member in the room as presenter:set sees them: name, and the tab id of their newest connection. */
export interface MemberHere {
  name: string;
  tab: string | null;
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
    /** The room's viewer LUTs: the look may only name one the room has (so followers can fetch it). */
    private readonly luts?: { has(roomId: string, sha256: string): Promise<boolean> },
  ) {
    void share?.listen((roomId, snap) => this.applyShared(roomId, snap));
  }

  get(roomId: string): RoomPlayback {
    let r = this.rooms.get(roomId);
    if (!r) {
      r = { playback: null, presentation: { presenterId: null, presenterName: null, presenterTab: null, control: 'presenter' }, seq: 0, rev: 0, leaveTimer: null };
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

  /** The room's state if the member (from this tab) may drive its playback (NOT_PRESENTER otherwise). */
  private mayDrive(member: Member, tab: string | null, roomId: string) {
    const r = this.get(roomId);
    const { presenterId, presenterTab, control } = r.presentation;
    if (control === 'presenter' && presenterId !== member.id) {
      throw new LoupeError(
        ErrorCode.NOT_PRESENTER,
        presenterId ? `${r.presentation.presenterName} is presenting: follow, or browse alone.` : 'Nobody is presenting: start presenting to drive playback for the room.',
      );
    }
    if (control === 'presenter' && presenterTab !== null && presenterTab !== tab) {
      throw new LoupeError(ErrorCode.NOT_PRESENTER, 'You are presenting from another tab: present from this one to drive from here.');
    }
    return r;
  }

  /**
   * Accepts a playback change from the presenter's presenting tab (or anyone, with control
   * 'everyone'). `tab`: the sender's tab id (room:join), null if its client sends none.
   */
  async set(member: Member, socketId: string, tab: string | null, roomId: string, input: PlaybackInput): Promise<PlaybackState> {
    this.limit(socketId);
    this.mayDrive(member, tab, roomId);
    for (const id of [input.versionId, input.compare.versionB]) {
      if (id !== null && (await this.versions.roomOf(id)) !== roomId) throw new LoupeError(ErrorCode.VERSION_NOT_FOUND, `No version ${id} in this room.`);
    }
    if (input.look?.lut && this.luts && !(await this.luts.has(roomId, input.look.lut.sha256))) {
      throw new LoupeError(ErrorCode.LUT_NOT_FOUND, `The LUT ${input.look.lut.name} is not in this room: upload it (POST /api/luts) first.`);
    }
    // Checked again after the look-ups: the presenter may have changed meanwhile.
    const r = this.mayDrive(member, tab, roomId);
    // A client that does not know the view and look (older, or a plain script) leaves the room's as they are.
    const view = input.view ?? r.playback?.view;
    const look = input.look ?? r.playback?.look;
    const state: PlaybackState = { ...input, ...(view ? { view } : {}), ...(look ? { look } : {}), seq: ++r.seq, at: Date.now(), by: member.id };
    r.playback = state;
    this.changed(roomId, r);
    this.events.playback(roomId, state, socketId);
    return state;
  }

  /**
   * Hands the presentation over, ends it, or switches who may drive. Whoever takes it presents from
   * the tab that asked (`tab`); a member handed it presents from their newest tab in `here`.
   */
  setPresenter(
    member: Member,
    tab: string | null,
    roomId: string,
    presenterId: string | null,
    control: PresentationState['control'] | undefined,
    here: Map<string, MemberHere>,
  ): PresentationState {
    const r = this.get(roomId);
    if (member.role !== 'director' && r.presentation.presenterId !== member.id) {
      throw new LoupeError(ErrorCode.FORBIDDEN_ROLE, 'Only the director or the current presenter can hand over the presentation.');
    }
    if (presenterId !== null && !here.has(presenterId)) {
      throw new LoupeError(ErrorCode.MEMBER_NOT_HERE, 'That member is not in the room.');
    }
    this.clearTimer(r);
    const presenterTab =
      presenterId === null ? null
      : presenterId === member.id ? tab
      : presenterId === r.presentation.presenterId ? r.presentation.presenterTab
      : here.get(presenterId)!.tab;
    r.presentation = {
      presenterId,
      presenterName: presenterId === null ? null : here.get(presenterId)!.name,
      presenterTab,
      control: control ?? r.presentation.control,
    };
    this.changed(roomId, r);
    this.events.presentation(roomId, r.presentation);
    return r.presentation;
  }

  /**
   * One of a member's connections to the room closed; `tabsLeft`: the tabs of their connections
   * still in the room. The presentation ends after a grace period once the presenting tab is gone.
   */
  memberLeft(roomId: string, memberId: string, tabsLeft: (string | null)[]): void {
    const r = this.rooms.get(roomId);
    if (!r || r.presentation.presenterId !== memberId) return;
    const { presenterTab } = r.presentation;
    if (presenterTab === null ? tabsLeft.length > 0 : tabsLeft.includes(presenterTab)) return;
    this.clearTimer(r);
    r.leaveTimer = setTimeout(() => {
      r.leaveTimer = null;
      r.presentation = { ...r.presentation, presenterId: null, presenterName: null, presenterTab: null };
      this.changed(roomId, r);
      this.events.presentation(roomId, r.presentation);
    }, this.presenterGraceMs);
    r.leaveTimer.unref();
  }

  /** The presenter (their presenting tab) came back within the grace period. */
  memberJoined(roomId: string, memberId: string, tab: string | null): void {
    const r = this.rooms.get(roomId);
    if (r?.presentation.presenterId === memberId && (r.presentation.presenterTab === null || r.presentation.presenterTab === tab)) this.clearTimer(r);
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

/**
 * Synced playback: the presenter drives play, pause, seek, speed, loop, version and compare for the
 * room; the others follow. The server keeps the last accepted state (with a sequence number and the
 * server time `at` its frame was on screen) and pushes it to everyone but the sender.
 *
 * - The presenter (or anyone, with control 'everyone') sends `playback:set` on every change. Sends go
 *   through one pump: the newest state always goes out, at most one per 12 ms (steps, seeks) or one
 *   per 50 ms (scrub and wipe drags), under the server's 100/s limit.
 * - Followers ignore states older than the newest they have, land exactly on `frame` when paused and,
 *   while playing, project the frame from `at` with the clock offset to the server and re-seek when
 *   the picture is more than 2 frames off.
 * - A follower who touches the transport while control is 'presenter' browses alone until they
 *   click "Follow presenter".
 * - The view (zoom, pan) and the look (image controls) travel in the same state. A follower who
 *   zooms or changes the look keeps following playback and looks on their own (view.own).
 */
import { tick } from 'svelte';
import type { Member, PlaybackInput, PlaybackState, PresentationState, Refusal, RoomState } from '@loupe/shared';
import type { LoupeSocket } from './connection.svelte';
import type { Player } from './player.svelte';
import type { Compare } from './compare.svelte';
import type { ViewSettings } from './view.svelte';
import type { Toasts } from './toasts.svelte';
import type { Tools } from './tools.svelte';
import type { Versions } from './versions.svelte';
import type { LocalChange } from './player.svelte';
import type { CompareChange } from './compare.svelte';
import type { ViewChange } from './view.svelte';

type Change = LocalChange | CompareChange | ViewChange | 'version' | 'beat';

const GAP_MS = 12;
const DRAG_GAP_MS = 50;
const HEARTBEAT_MS = 1000;
const DRIFT_FRAMES = 2;
const DRIFT_EVERY_MS = 250;
const ACK_TIMEOUT_MS = 5000;

const NOBODY: PresentationState = { presenterId: null, presenterName: null, presenterTab: null, control: 'presenter' };

/** Local clock that never jumps (Date.now() can). */
const localNow = () => performance.timeOrigin + performance.now();

/**
 * What playback sync needs of the room session (RoomSession is one): named here, so this module does
 * not import the session that owns it.
 */
export interface SyncRoom {
  readonly roomId: string;
  readonly socket: LoupeSocket;
  readonly connection: { readonly tab: string };
  readonly member: Member | null;
  readonly player: Player;
  readonly compare: Compare;
  readonly view: ViewSettings;
  readonly toasts: Toasts;
  readonly tools: Tools;
  readonly versions: Versions;
}

export class PlaybackSync {
  private readonly room: SyncRoom;
  presentation = $state<PresentationState>(NOBODY);
  /** False after "Browse alone" (or touching the transport while the presenter has control). */
  followWanted = $state(true);
  /** Newest playback sequence number seen (sent or received). */
  seq = $state(0);
  /** Newest room playback state known. */
  latest = $state.raw<PlaybackState | null>(null);

  readonly me = $derived.by(() => this.room.member?.id ?? null);
  /** Someone drives the room's playback. */
  readonly active = $derived(this.presentation.presenterId !== null || this.presentation.control === 'everyone');
  /** This tab presents: the presenter's other tabs follow like everyone else. */
  readonly isPresenter = $derived.by(() => {
    const { presenterId, presenterTab } = this.presentation;
    return !!this.me && presenterId === this.me && (presenterTab == null || presenterTab === this.room.connection.tab);
  });
  readonly isDirector = $derived.by(() => this.room.member?.role === 'director');
  /** May hand the presentation on, end it, switch control. */
  readonly canManage = $derived(this.isDirector || this.isPresenter);
  /** This page is following someone else's playback right now. */
  readonly following = $derived(this.active && this.followWanted && !this.isPresenter);
  /** Room states are applied here (followers; everyone, with control 'everyone'). */
  readonly applies = $derived(
    this.active && this.followWanted && (!this.isPresenter || this.presentation.control === 'everyone'),
  );
  /** Local changes go to the room. */
  readonly drives = $derived(
    this.active && (this.isPresenter || (this.presentation.control === 'everyone' && this.followWanted)),
  );

  /** Server clock minus local clock, ms: the largest (serverNow - receivedAt) seen is the best bound. */
  private offset: number | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private timerDue = 0;
  private lastSent = 0;
  private inflight = 0;
  private held: PlaybackState | null = null;
  private applyToken = 0;
  private clock: ReturnType<typeof setInterval> | null = null;
  private lastBeat = 0;
  private lastDrift = 0;
  private sentFrame = -1;
  private refusedNotice = 0;

  constructor(room: SyncRoom) {
    this.room = room;
    const socket = room.socket;
    socket.on('playback:state', (p) => {
      this.sample(p.serverNow);
      this.receive(p.state);
    });
    socket.on('presenter:state', (p) => this.setPresentation(p));
    room.player.onLocal = (c) => this.local(c);
    room.player.onStopped = () => {
      if (this.isPresenter) this.publish('seek');
    };
    room.compare.onLocal = (c) => this.local(c);
    room.view.onLocal = (c) => this.viewChanged(c);
    room.compare.onProblem = (m) => room.toasts.show('info', m, 'COMPARE');
    this.clock = setInterval(() => this.onClock(), 100);
  }

  destroy(): void {
    if (this.clock) clearInterval(this.clock);
    if (this.timer) clearTimeout(this.timer);
    this.clock = this.timer = null;
  }

  /** Server time now, as well as this page can tell. */
  serverNow(): number {
    return localNow() + (this.offset ?? 0);
  }

  // ---- joining ----------------------------------------------------------------------------------

  /** After every (re)join: presentation, last playback, a clock sample. */
  joined(s: RoomState): void {
    this.offset = null;
    if (typeof s.serverNow === 'number') this.sample(s.serverNow);
    const prevPresenter = this.presentation.presenterId;
    this.presentation = s.presentation ?? NOBODY;
    if (this.presentation.presenterId !== prevPresenter) this.followWanted = true;
    // The server may have restarted (sequence from 1 again): its state is the truth now.
    this.seq = s.playback?.seq ?? 0;
    this.latest = s.playback ?? null;
    this.held = null;
    if (this.isPresenter) this.publish('seek');
    else if (this.applies && this.latest) void this.apply(this.latest);
  }

  // ---- presenter hand-off -----------------------------------------------------------------------

  present(): Promise<boolean> {
    return this.setPresenter(this.me);
  }

  stopPresenting(): Promise<boolean> {
    return this.setPresenter(null);
  }

  makePresenter(memberId: string): Promise<boolean> {
    return this.setPresenter(memberId);
  }

  setControl(control: PresentationState['control']): Promise<boolean> {
    return this.setPresenter(this.presentation.presenterId, control);
  }

  /** Follow the presenter again, landing where the room is now. */
  follow(): void {
    this.followWanted = true;
    this.room.view.own = false;
    if (this.latest && this.applies) void this.apply(this.latest);
  }

  browseAlone(): void {
    this.followWanted = false;
  }

  private async setPresenter(presenterId: string | null, control?: PresentationState['control']): Promise<boolean> {
    const socket = this.room.socket;
    if (!socket.connected) {
      this.room.toasts.show('error', 'Not connected to the room. Wait for the connection to come back and try again.', 'DISCONNECTED');
      return false;
    }
    const payload = { room: this.room.roomId, presenterId, ...(control ? { control } : {}) };
    try {
      const r = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck('presenter:set', payload);
      if (!r.ok) {
        this.room.toasts.error(r);
        return false;
      }
      this.setPresentation(r.presentation);
      return true;
    } catch {
      this.room.toasts.show('error', 'The server did not answer in time. Try again.', 'TIMEOUT');
      return false;
    }
  }

  private setPresentation(p: PresentationState): void {
    const prev = this.presentation;
    this.presentation = p;
    if (p.presenterId !== prev.presenterId || p.presenterTab !== prev.presenterTab) {
      // A new presentation: everyone follows it; the new presenter puts the room on their view.
      this.followWanted = true;
      this.room.view.own = false;
      if (this.isPresenter) this.publish('seek');
    } else if (p.control !== prev.control && this.isPresenter) {
      this.publish('seek');
    }
  }

  // ---- sending ----------------------------------------------------------------------------------

  /** A person changed something here: send it, or stop following when the presenter has control. */
  private local(change: Change): void {
    if (change === 'version') this.room.player.pause();
    if (!this.active) return;
    if (this.drives) return this.publish(change);
    if (!this.isPresenter && this.presentation.control === 'presenter' && this.followWanted) {
      this.followWanted = false;
      this.applyToken++; // drop an apply still waiting for a version switch
    }
  }

  /** Zoom, pan or look changed here: the room follows the driver; a follower looks on their own. */
  private viewChanged(change: ViewChange): void {
    if (!this.active) return;
    if (this.drives) return this.publish(change);
    if (this.applies) this.room.view.own = true;
  }

  /** Version switched here (session.select). */
  versionChanged(): void {
    this.local('version');
  }

  private publish(change: Change): void {
    const gap = change === 'scrub' || change === 'wipe' || change === 'pan' ? DRAG_GAP_MS : GAP_MS;
    const now = performance.now();
    const due = Math.max(now, this.lastSent + gap);
    if (this.timer) {
      if (this.timerDue <= due) return; // an earlier send carries the newest state
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (due <= now) this.flush();
    else {
      this.timerDue = due;
      this.timer = setTimeout(() => this.flush(), due - now);
    }
  }

  private snapshot(): PlaybackInput | null {
    const versionId = this.room.versions.currentId;
    if (!versionId) return null;
    const p = this.room.player;
    const loop = p.loopRange;
    return {
      versionId,
      // Playing: the media clock, not the last frame callback (which lags when the page is busy).
      frame: Math.max(0, Math.floor(p.mediaPosition())),
      playing: p.playing && p.direction === 1,
      rate: p.rate,
      loop: loop ? { in: loop.in, out: loop.out } : null,
      compare: this.room.compare.snapshot(),
      view: $state.snapshot(this.room.view.view),
      look: $state.snapshot(this.room.view.look),
    };
  }

  private flush(): void {
    this.timer = null;
    const socket = this.room.socket;
    if (!this.drives || !socket.connected) return;
    const state = this.snapshot();
    if (!state) return;
    this.lastSent = performance.now();
    this.sentFrame = state.frame;
    if (state.playing) this.lastBeat = this.lastSent;
    this.inflight++;
    socket.timeout(ACK_TIMEOUT_MS).emit('playback:set', { room: this.room.roomId, state }, (err, r) => {
      this.inflight = Math.max(0, this.inflight - 1);
      if (!err) {
        if (r.ok) {
          this.sample(r.serverNow);
          if (r.state.seq > this.seq) {
            this.seq = r.state.seq;
            this.latest = r.state;
          }
        } else this.refused(r);
      }
      if (this.inflight === 0 && this.held) {
        const h = this.held;
        this.held = null;
        this.receive(h);
      }
    });
  }

  private refused(r: Refusal): void {
    if (r.code === 'RATE_LIMITED') {
      setTimeout(() => this.publish('seek'), 250);
      return;
    }
    if (r.code === 'NOT_PRESENTER') {
      // Our view of the presentation was stale; say it once in a while, not per frame.
      if (performance.now() - this.refusedNotice > 5000) {
        this.refusedNotice = performance.now();
        this.room.toasts.show('info', r.message || 'Only the presenter drives playback now.', r.code);
      }
      return;
    }
    this.room.toasts.error(r);
  }

  // ---- following --------------------------------------------------------------------------------

  private receive(state: PlaybackState): void {
    if (state.seq <= this.seq) return;
    // Our own send is on its way: it may be newer than this; decide when its ack is back.
    if (this.inflight > 0) {
      if (!this.held || state.seq > this.held.seq) this.held = state;
      return;
    }
    this.seq = state.seq;
    this.latest = state;
    if (this.applies) void this.apply(state);
  }

  private async apply(state: PlaybackState): Promise<void> {
    const token = ++this.applyToken;
    const { versions, player, compare } = this.room;
    if (state.versionId !== versions.currentId && versions.byId(state.versionId)) {
      versions.currentId = state.versionId;
      this.room.tools.selection = null;
    }
    // Let the viewer configure the player for the version first (rate, length, pinned still): on a
    // join or a version switch the player does not know the clip's length yet.
    await tick();
    if (token !== this.applyToken || !this.applies) return;
    compare.apply(state.compare);
    this.room.view.applyRemote(state.view, state.look);
    const position = this.positionOf(state);
    const ended = state.playing && !state.loop && position >= player.lastFrame + 0.5 - 1e-6;
    player.applyRemote({
      position: ended ? player.lastFrame : position,
      playing: state.playing && !ended,
      rate: state.rate,
      loop: state.loop,
    });
  }

  /** Where the room's playback is now, in frames (index + fraction). */
  private positionOf(state: PlaybackState): number {
    if (!state.playing) return state.frame;
    const seconds = Math.max(0, (this.serverNow() - state.at) / 1000);
    return this.room.player.project(state.frame + 0.5, seconds, true, state.rate, state.loop);
  }

  private onClock(): void {
    const now = performance.now();
    const p = this.room.player;
    if (this.isPresenter && this.drives && p.playing) {
      if (p.direction === -1) {
        // Reverse play has no room state of its own: the room follows it frame by frame.
        if (p.frame !== this.sentFrame) this.publish('scrub');
      } else if (now - this.lastBeat > HEARTBEAT_MS) {
        // Playing: a beat now and then keeps the followers on the presenter's real picture.
        this.lastBeat = now;
        this.publish('beat');
      }
    }
    const s = this.latest;
    if (this.applies && s && s.playing && p.playing && now - this.lastDrift >= DRIFT_EVERY_MS) {
      this.lastDrift = now;
      if (this.room.versions.currentId === s.versionId) p.correctDrift(this.positionOf(s), DRIFT_FRAMES);
    }
  }

  /** A clock sample: serverNow was read before we received it, so serverNow - now <= the offset. */
  private sample(serverNow: number): void {
    if (typeof serverNow !== 'number' || !Number.isFinite(serverNow)) return;
    const o = serverNow - localNow();
    if (this.offset === null || o > this.offset) this.offset = o;
  }
}

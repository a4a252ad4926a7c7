/**
 * One open room: the socket, the shared document, server state (versions, jobs), the player and the
 * tools, wired together once per page and kept across reconnects.
 */
import { adjacentShot, annotationsMap, can, canCancel, type Ack, shotEntryVersion, shotSummaries, versionLabel, type Annotation, type AvailableFix, type DecideRequest, type FixId, type FixPrepare, type FixRequest, type Job, type MaskKeyframe, type MaskTrack, type Member, type Refusal, type Region, type RoomState, type Version } from '@loupe/shared';
import { Collab, type Marker, type NoteThread } from './collab.svelte';
import { Connection, type LoupeSocket, type TimedSocket } from './connection.svelte';
import { Jobs } from './jobs.svelte';
import { Ladder } from './ladder.svelte';
import { Player } from './player.svelte';
import { Compare } from './compare.svelte';
import { PlaybackSync } from './sync.svelte';
import { Toasts } from './toasts.svelte';
import { Tools } from './tools.svelte';
import { Versions } from './versions.svelte';
import { Uploads } from './uploads.svelte';
import { ViewSettings } from './view.svelte';
import { decisionNews, newVersionNews } from './room-events';

/** Refusals that only mean "not joined yet" while a reconnect is in flight. */
const QUIET_CODES = new Set(['NOT_JOINED']);

export class RoomSession {
  readonly toasts = new Toasts();
  readonly versions = new Versions();
  readonly jobs = new Jobs();
  readonly player = new Player();
  readonly tools = new Tools();
  /** Version B and how it is compared with the version on screen. */
  readonly compare = new Compare(this.versions, this.player);
  readonly connection: Connection;
  /** Synced playback: presenter, followers (needs the socket, so made in the constructor). */
  readonly sync: PlaybackSync;
  readonly collab: Collab;
  /** Zoom, pan, image controls and this member's viewer preferences. */
  readonly view: ViewSettings;
  /** Which proxy this member plays (Auto or pinned; their own, not synced). */
  readonly ladder: Ladder;

  room = $state<{ id: string; name: string } | null>(null);
  member = $state<Member | null>(null);

  readonly canAnnotate = $derived(!!this.member && can(this.member.role, 'annotate'));
  readonly canRequestFix = $derived(!!this.member && can(this.member.role, 'requestFix'));
  readonly canDecide = $derived(!!this.member && can(this.member.role, 'decide'));
  readonly canUpload = $derived(!!this.member && can(this.member.role, 'upload'));
  readonly canExport = $derived(!!this.member && can(this.member.role, 'export'));
  /** Uploads in flight in the room (ours and everyone's ingest stages). */
  readonly uploads: Uploads;
  /** The fixes the server offers now (`fix:catalogue`), or null until it answers. */
  fixes = $state<AvailableFix[] | null>(null);
  /** The fix picked in the fix panel, and the parameters set per fix (kept across selections). */
  fixChoice = $state<FixId>('upscale-x2');
  fixParams = $state<Partial<Record<FixId, Record<string, unknown>>>>({});
  /**
   * Remove object on a shot: the masks this member drew (or corrected) on frames of a version, one per
   * frame; each is a keyframe of the track (it always wins on its frame).
   */
  maskKeys = $state<{ versionId: string; keys: MaskKeyframe[] }>({ versionId: '', keys: [] });
  /** The room's latest track of a remove-object mask (fix:track, anyone's): drawn on every frame of its range. */
  maskTrack = $state<MaskTrack | null>(null);
  /** A track this member asked for is on its way. */
  tracking = $state(false);
  /** Timeline marks (drawings and notes) of the version on screen, sorted by frame (reactive). */
  get markers(): Marker[] {
    return this.versions.currentId ? this.collab.markers(this.versions.currentId) : [];
  }

  constructor(
    readonly roomId: string,
    readonly token: string,
  ) {
    this.view = new ViewSettings(token);
    this.ladder = new Ladder(token);
    this.view.onProblem = (r) => this.toasts.error(r);
    this.player.onAudioBlocked = () => {
      this.view.setMuted(true);
      this.toasts.show('info', 'The browser kept the sound off until you click in the page: unmute it with the speaker button.', 'SOUND_BLOCKED');
    };
    this.connection = new Connection(roomId, token, (s) => this.onJoined(s), () => this.collab.provider.fresh);
    const socket = this.connection.socket;
    this.collab = new Collab(socket, roomId, (r) => this.refused(r));
    socket.on('fix:job', (job) => this.onJob(job));
    socket.on('fix:frame', (f) => this.jobs.addFrame(f));
    socket.on('fix:tracked', (t) => (this.maskTrack = t));
    socket.on('fix:tile', (tile) => {
      this.jobs.addTile(tile).catch((e) => console.warn('[loupe] bad tile', tile.jobId, tile.index, e));
    });
    socket.on('version:created', (v) => {
      const known = !!this.versions.byId(v.id);
      this.versions.upsert(v);
      if (!known) this.announce(v, newVersionNews(v, this.member));
      // The render this member watched is a version now: show it.
      if (v.provenance?.jobId && v.provenance.jobId === this.jobs.watching) {
        this.jobs.watching = null;
        if (this.versions.currentId === v.parentVersionId) this.select(v.id);
      }
    });
    socket.on('shot:created', (shot) => {
      if (!this.versions.shots.some((x) => x.id === shot.id)) this.versions.shots.push(shot);
    });
    this.uploads = new Uploads(token, this.roomId, (e) => this.toasts.error(e));
    socket.on('media:progress', (p) => {
      if (p.room && p.room !== this.roomId) return;
      const before = this.uploads.items.find((u) => u.id === p.uploadId);
      this.uploads.onProgress(p);
      if (p.stage === 'failed' && before?.mine && before.stage !== 'failed') {
        this.toasts.error(p.error ?? { code: 'INGEST_FAILED', message: `The upload of ${p.name} failed.` });
      }
    });
    socket.on('version:updated', (v) => {
      const before = this.versions.byId(v.id);
      const snapshot = before ? { ...before, decisions: [...before.decisions] } : null;
      this.versions.upsert(v);
      // Whoever is in the room hears it, whatever version they look at.
      this.announce(v, decisionNews(snapshot, v, this.member));
    });
    socket.on('room:error', (r) => this.refused(r));
    this.sync = new PlaybackSync(this);
  }

  get socket(): LoupeSocket {
    return this.connection.socket;
  }

  start(): void {
    this.connection.start();
  }

  destroy(): void {
    this.sync.destroy();
    // Tell the others we left (awareness removal) before the socket goes.
    this.collab.destroy();
    this.connection.stop();
  }

  /** Blob address with the token the server checks. */
  blobSrc(sha256: string): string {
    return `/blobs/${sha256}?token=${encodeURIComponent(this.token)}`;
  }

  /** The room's shots in order, each with its version count, latest version, status and poster. */
  readonly shotList = $derived(shotSummaries(this.versions.shots, this.versions.list));

  /**
   * Puts a shot on screen: its latest version. A presenter takes the room there (the version switch is
   * synced); a follower who does it browses alone, like any version switch.
   */
  goToShot(shotId: string): boolean {
    const v = shotEntryVersion(shotId, this.versions.list);
    if (!v) return false;
    if (v.id !== this.versions.currentId) this.select(v.id);
    return true;
  }

  /** The next (+1) or previous (-1) shot of the list; false at either end. */
  stepShot(step: 1 | -1): boolean {
    const id = adjacentShot(this.shotList.map((s) => s.shot.id), this.versions.shot?.id, step);
    return id ? this.goToShot(id) : false;
  }

  select(versionId: string): void {
    const changed = this.versions.currentId !== versionId;
    this.versions.currentId = versionId;
    this.tools.selection = null;
    if (changed) this.sync.versionChanged();
  }

  /** A toast about a version, with a link that puts it on screen. */
  private announce(v: Version, news: { message: string; mine: boolean } | null): void {
    if (!news) return;
    this.toasts.event(news.message, { label: `Show ${versionLabel(v)}`, run: () => this.select(v.id) }, news.mine ? 'MINE' : undefined);
  }

  refused(r: Refusal | { code: string; message: string }): void {
    if (QUIET_CODES.has(r.code)) return;
    this.toasts.error(r);
  }

  /**
   * Ask for a fix: a still of the frame (the quick preview), or with `shot` a render of the range into
   * the shot's next version (which this member then watches as it renders).
   */
  async requestFix(
    fix: FixId,
    versionId: string,
    frame: number,
    region: Region,
    params: Record<string, unknown> = {},
    shot?: { range: { in: number; out: number }; feather?: number; keyframes?: number[]; maskKeyframes?: MaskKeyframe[] },
  ): Promise<Job | null> {
    const request: FixRequest = {
      room: this.roomId,
      versionId,
      frame,
      region,
      fix,
      params,
      ...(shot
        ? {
            scope: 'shot' as const,
            range: shot.range,
            feather: shot.feather ?? 0,
            ...(shot.keyframes ? { keyframes: shot.keyframes } : {}),
            ...(shot.maskKeyframes?.length ? { maskKeyframes: shot.maskKeyframes } : {}),
          }
        : {}),
      idempotencyKey: crypto.randomUUID(),
    };
    const r = await this.ask((s) => s.emitWithAck('fix:request', request));
    if (!r) return null;
    this.jobs.upsert(r.job);
    if (shot) this.jobs.watching = r.job.id;
    return r.job;
  }

  /**
   * The fix panel's choice as it settles: the server reads and plans that frame ahead, so Apply
   * paints its first tile without waiting for the decode. A help only: nothing is shown or stored,
   * and a refusal says nothing (Apply reports problems).
   */
  prepareFix(fix: FixId, versionId: string, frame: number, region: Region, params: Record<string, unknown> = {}): void {
    if (!this.socket.connected || !this.canRequestFix) return;
    const prepare: FixPrepare = { room: this.roomId, versionId, frame, region, fix, params };
    this.socket.timeout(15_000).emitWithAck('fix:prepare', prepare).catch(() => {});
  }

  /** The masks drawn for a remove-object on this version (this member's keyframes), by frame. */
  maskKeysOf(versionId: string): MaskKeyframe[] {
    return this.maskKeys.versionId === versionId ? this.maskKeys.keys : [];
  }

  /** A mask drawn (or corrected) on a frame becomes that frame's keyframe; keyframes of another version are dropped. */
  keepMask(versionId: string, frame: number, mask: [number, number][]): void {
    const keys = this.maskKeysOf(versionId).filter((k) => k.frame !== frame);
    const same = this.maskKeysOf(versionId).find((k) => k.frame === frame);
    if (same && JSON.stringify(same.mask) === JSON.stringify(mask)) return;
    this.maskKeys = { versionId, keys: [...keys, { frame, mask }].sort((a, b) => a.frame - b.frame) };
  }

  dropMask(versionId: string, frame: number | null): void {
    this.maskKeys = { versionId, keys: frame === null ? [] : this.maskKeysOf(versionId).filter((k) => k.frame !== frame) };
  }

  /**
   * Remove object: track the mask drawn on `frame` (and the keyframes) over the range without
   * rendering; everyone in the room sees the track on every frame.
   */
  async trackMask(versionId: string, frame: number, mask: [number, number][], keys: MaskKeyframe[], range: { in: number; out: number }): Promise<MaskTrack | null> {
    this.tracking = true;
    try {
      const maskKeyframes = keys.filter((k) => k.frame !== frame);
      const r = await this.ask((s) => s.emitWithAck('fix:track', { room: this.roomId, versionId, frame, mask, range, ...(maskKeyframes.length ? { maskKeyframes } : {}) }));
      if (r) this.maskTrack = r.track;
      return r?.track ?? null;
    } finally {
      this.tracking = false;
    }
  }

  /** Cancel a queued or running job (its requester or a director). */
  async cancelJob(jobId: string): Promise<boolean> {
    const r = await this.ask((s) => s.emitWithAck('fix:cancel', { room: this.roomId, jobId }));
    if (r) this.jobs.upsert(r.job);
    return !!r;
  }

  /** Who may cancel a job: its requester or a director, while it is queued or running. */
  canCancel(job: Job): boolean {
    return !!this.member && canCancel(this.member, job);
  }

  /** Ask the server which fixes (and models) it offers; kept in `fixes`. */
  async loadFixes(): Promise<void> {
    if (!this.socket.connected) return;
    try {
      const r = await this.socket.timeout(15_000).emitWithAck('fix:catalogue', { room: this.roomId });
      if (r.ok) this.fixes = r.fixes;
    } catch {
      /* the picker falls back to the built-in catalogue */
    }
  }

  /** Address of an export, with the token (a download). */
  exportHref(url: string): string {
    return `${url}?token=${encodeURIComponent(this.token)}`;
  }

  async decide(versionId: string, decision: 'approved' | 'changes-requested', note: string): Promise<boolean> {
    const request: DecideRequest = { room: this.roomId, versionId, decision, note };
    const r = await this.ask((s) => s.emitWithAck('version:decide', request));
    if (!r) return false;
    this.versions.upsert(r.version);
    return true;
  }

  /** Emit with an ack (`send` emits on the socket with a timeout); a refusal or no answer becomes a toast and null. */
  private async ask<T extends object>(send: (socket: TimedSocket) => Promise<Ack<T>>): Promise<T | null> {
    if (!this.socket.connected) {
      this.toasts.show('error', 'Not connected to the room. Wait for the connection to come back and try again.', 'DISCONNECTED');
      return null;
    }
    try {
      const r = await send(this.socket.timeout(15_000));
      if (!r.ok) {
        this.toasts.error(r);
        return null;
      }
      return r;
    } catch {
      this.toasts.show('error', 'The server did not answer in time. Try again.', 'TIMEOUT');
      return null;
    }
  }

  private onJob(job: Job): void {
    const before = this.jobs.list.find((j) => j.id === job.id);
    this.jobs.upsert(job);
    // Whoever asked for a fix hears when it fails; the job list shows it to everyone.
    if (job.state === 'failed' && before?.state !== 'failed' && job.requestedBy.id === this.member?.id) {
      this.toasts.error(job.error ?? { code: 'INTERNAL', message: 'The fix failed.' });
    }
  }

  private onJoined(s: RoomState): void {
    this.room = s.room;
    this.member = s.member;
    this.versions.replaceAll(s.versions, s.shots);
    this.jobs.replaceAll(s.jobs);
    this.collab.start(s.sync, s.member, s.state);
    this.sync.joined(s);
    void this.loadFixes();
    void this.uploads.loadInFlight();
  }

  /** What tests inspect through window.__loupe. */
  debugHandle(): LoupeDebugHandle {
    const session = this;
    return {
      doc: this.collab.doc,
      awareness: this.collab.awareness,
      provider: this.collab.provider,
      socket: this.socket,
      session,
      state: {
        get versions() {
          return session.versions.list;
        },
        get jobs() {
          return session.jobs.list;
        },
        get currentVersionId() {
          return session.versions.currentId;
        },
        get frame() {
          return session.player.frame;
        },
        get playing() {
          return session.player.playing;
        },
        get member() {
          return session.member;
        },
        get connection() {
          return session.connection.state;
        },
        get tileCounts() {
          return session.jobs.tileCounts;
        },
        get markers() {
          return session.markers;
        },
        get notes() {
          return session.collab.threads;
        },
        /** Every drawing in the document, decoded (packed values are binary in the Y.Doc). */
        get annotations() {
          return [...annotationsMap(session.collab.doc).values()];
        },
        get undoDepth() {
          return session.collab.undoDepth;
        },
        get following() {
          return session.sync.following;
        },
        get presenterId() {
          return session.sync.presentation.presenterId;
        },
        get playbackSeq() {
          return session.sync.seq;
        },
        get rate() {
          return session.player.rate;
        },
        get loop() {
          return session.player.loopRange;
        },
        get compare() {
          return session.compare.snapshot();
        },
        get uploads() {
          return session.uploads.items;
        },
      },
    };
  }
}

export interface LoupeDebugHandle {
  doc: Collab['doc'];
  awareness: Collab['awareness'];
  provider: Collab['provider'];
  socket: LoupeSocket;
  session: RoomSession;
  state: {
    readonly versions: Version[];
    readonly jobs: Job[];
    readonly currentVersionId: string | null;
    readonly frame: number;
    readonly playing: boolean;
    readonly member: Member | null;
    readonly connection: string;
    readonly tileCounts: Record<string, number>;
    readonly markers: Marker[];
    readonly notes: NoteThread[];
    readonly annotations: Annotation[];
    readonly undoDepth: number;
    readonly following: boolean;
    readonly presenterId: string | null;
    readonly playbackSeq: number;
    readonly rate: number;
    readonly loop: { in: number; out: number } | null;
    readonly compare: ReturnType<Compare['snapshot']>;
    readonly uploads: Uploads['items'];
  };
}

/**
 * Frame-accurate playback of one <video>. Frame N is shown by seeking to its centre, (N + 0.5) / fps;
 * the frame on screen is floor(time * fps + 1e-3). During playback requestVideoFrameCallback reports
 * each presented frame, so the counter follows the picture and not the audio clock.
 *
 * On top of that: speed (0.25x..2x), in/out points and a loop that wraps playback between them, and
 * J/K/L shuttle. A <video> cannot play backwards, so reverse play is emulated with timed seeks: the
 * frame due is computed from the elapsed time and the next seek is issued once the last one landed.
 *
 * Every change a person makes (button, key, scrubber) is reported through `onLocal`, which the
 * synced-playback layer turns into a `playback:set`; changes that arrive from the room go through
 * `applyRemote` and are not reported back.
 */
import { untrack } from 'svelte';

type FrameCallbackVideo = HTMLVideoElement & {
  requestVideoFrameCallback?: (cb: (now: number, meta: { mediaTime: number }) => void) => number;
  cancelVideoFrameCallback?: (handle: number) => void;
};

export const RATES = [0.25, 0.5, 0.75, 1, 1.5, 2] as const;
export const MIN_RATE = 0.25;
export const MAX_RATE = 2;

/** What a person just changed; 'scrub' is a drag on the timeline (throttled by the sync layer). */
export type LocalChange = 'seek' | 'scrub' | 'play' | 'pause' | 'rate' | 'loop';

export interface LoopRange {
  in: number;
  out: number;
}

/** What the room asks the player to show (already projected to "now" by the caller). */
export interface RemotePlayback {
  /** Continuous position in frames (frame index + fraction) to show now. */
  position: number;
  playing: boolean;
  rate: number;
  loop: LoopRange | null;
}

export class Player {
  frame = $state(0);
  /** True while playing either way (forward on the <video>, or reverse by stepping). */
  playing = $state(false);
  /** 1 forward, -1 reverse (emulated). */
  direction = $state<1 | -1>(1);
  fps = $state(24);
  frameCount = $state(1);
  /** Set while an AI still is on screen: the picture stays on the frame it was made from. */
  pinned = $state<number | null>(null);
  loading = $state(true);
  error = $state<string | null>(null);
  /** Playback speed, MIN_RATE..MAX_RATE. */
  rate = $state(1);
  inPoint = $state<number | null>(null);
  outPoint = $state<number | null>(null);
  looping = $state(false);

  readonly lastFrame = $derived(Math.max(0, this.frameCount - 1));
  /** The range playback wraps in, when the loop is on: in/out points, or the whole clip. */
  readonly loopRange = $derived<LoopRange | null>(
    this.looping ? this.range() : null,
  );
  /** The marked range (shown on the timeline even while the loop is off), or null. */
  readonly marked = $derived<LoopRange | null>(
    this.inPoint === null && this.outPoint === null ? null : this.range(),
  );

  /** A person changed playback (not the room, not the video by itself). */
  onLocal: ((change: LocalChange) => void) | null = null;
  /** Playback stopped by itself (end of the clip, reverse reached the start). */
  onStopped: (() => void) | null = null;
  /** The browser refused to play with sound before the person interacted with the page. */
  onAudioBlocked: (() => void) | null = null;

  private video: FrameCallbackVideo | null = null;
  /** This member's sound (the <video> carries it, so it stays in sync with the picture). */
  private volume = 1;
  private muted = false;
  private frameLoop = 0;
  private wrapTimer: ReturnType<typeof setTimeout> | null = null;
  private reverseTimer = 0;
  /** The <video> should be playing as soon as it can (set before the media has loaded). */
  private wantPlay = false;
  /** Paused on purpose for a loop wrap: playback resumes when the seek to the in point lands. */
  private wrapping = false;

  private range(): LoopRange {
    const last = this.lastFrame;
    let a = Math.min(last, Math.max(0, this.inPoint ?? 0));
    let b = Math.min(last, Math.max(0, this.outPoint ?? last));
    if (a > b) [a, b] = [b, a];
    return { in: a, out: b };
  }

  configure(fps: number, frameCount: number, pinned: number | null): void {
    this.fps = fps > 0 ? fps : 24;
    this.frameCount = Math.max(1, frameCount);
    this.pinned = pinned;
    if (pinned !== null) this.go(pinned, true);
    else if (this.frame > this.lastFrame) this.go(this.lastFrame);
  }

  /** Used as an {@attach}: nothing read here may be tracked, or a state change would re-attach. */
  attach(video: HTMLVideoElement): () => void {
    return untrack(() => this.attachNow(video));
  }

  private attachNow(video: HTMLVideoElement): () => void {
    this.video = video as FrameCallbackVideo;
    this.applyAudio();
    const on = <K extends keyof HTMLMediaElementEventMap>(type: K, fn: () => void) => {
      video.addEventListener(type, fn);
      return () => video.removeEventListener(type, fn);
    };
    video.playbackRate = this.rate;
    const offs = [
      on('loadstart', () => {
        this.loading = true;
        this.error = null;
      }),
      on('loadedmetadata', () => {
        video.playbackRate = this.rate;
        this.place(this.frame);
        if (this.wantPlay && this.direction === 1 && this.pinned === null) this.startVideo();
      }),
      on('seeking', () => (this.loading = video.readyState < 3)),
      on('seeked', () => (this.loading = false)),
      on('canplay', () => (this.loading = false)),
      on('waiting', () => (this.loading = true)),
      on('playing', () => (this.loading = false)),
      on('play', this.onPlay),
      on('pause', this.onPause),
      on('ended', this.onEnded),
      on('ratechange', () => {
        // A new source resets the rate to 1: keep ours.
        if (Math.abs(video.playbackRate - this.rate) > 1e-6) video.playbackRate = this.rate;
      }),
      on('error', () => {
        this.loading = false;
        this.error = video.error?.message || 'The video could not be loaded.';
      }),
    ];
    return () => {
      this.stopFrameLoop();
      this.stopReverse();
      offs.forEach((off) => off());
      if (this.video === video) this.video = null;
    };
  }

  /** Volume (0..1) and mute of this member's sound. */
  setAudio(volume: number, muted: boolean): void {
    this.volume = volume;
    this.muted = muted;
    this.applyAudio();
  }

  private applyAudio(): void {
    const v = this.video;
    if (!v) return;
    v.volume = this.volume;
    v.muted = this.muted || this.volume === 0;
  }

  /** Where playback is, in frames: the video's own clock while it plays forward, else the frame on screen. */
  mediaPosition(): number {
    const v = this.video;
    if (v && this.playing && this.direction === 1 && !v.paused && !this.wrapping) return Math.min(this.lastFrame, Math.max(0, v.currentTime * this.fps));
    return this.frame;
  }

  /** The <video> on screen (the compare view follows it). */
  get element(): HTMLVideoElement | null {
    return this.video;
  }

  // ---- what people do ---------------------------------------------------------------------------

  /** Show frame n (clamped), pausing playback. */
  seek(n: number): void {
    this.go(n);
    this.local('seek');
  }

  /** A drag on the timeline: like seek, reported as a scrub. */
  scrub(n: number): void {
    this.go(n);
    this.local('scrub');
  }

  step(delta: number): void {
    this.seek(this.frame + delta);
  }

  first(): void {
    this.seek(0);
  }

  last(): void {
    this.seek(this.lastFrame);
  }

  toggle(): void {
    if (this.playing) this.pause();
    else this.play();
  }

  play(): void {
    if (!this.startForward()) return;
    this.local('play');
  }

  pause(): void {
    if (!this.playing && !this.wantPlay) return;
    this.halt();
    this.local('pause');
  }

  setRate(rate: number): void {
    this.applyRate(rate);
    this.local('rate');
  }

  /** L: play forward; again while playing forward, faster (up to 2x). */
  shuttleForward(): void {
    if (this.pinned !== null) return;
    if (this.playing && this.direction === 1) {
      if (this.rate >= MAX_RATE) return;
      this.applyRate(this.rate < 1 ? 1 : MAX_RATE);
      this.local('rate');
      return;
    }
    this.applyRate(1);
    this.startForward();
    this.local('play');
  }

  /** J: play backward (by stepping); again while going backward, faster (up to 2x). */
  shuttleBackward(): void {
    if (this.pinned !== null) return;
    if (this.playing && this.direction === -1) {
      if (this.rate < MAX_RATE) this.applyRate(this.rate < 1 ? 1 : MAX_RATE);
      this.startReverse();
      this.local('rate');
      return;
    }
    this.applyRate(1);
    this.startReverse();
    this.local('seek');
  }

  /** K: stop, either way. */
  shuttleStop(): void {
    this.pause();
  }

  setIn(frame = this.frame): void {
    this.inPoint = this.clamp(frame);
    if (this.outPoint !== null && this.outPoint < this.inPoint) this.outPoint = null;
    this.local('loop');
  }

  setOut(frame = this.frame): void {
    this.outPoint = this.clamp(frame);
    if (this.inPoint !== null && this.inPoint > this.outPoint) this.inPoint = null;
    this.local('loop');
  }

  clearInOut(): void {
    this.inPoint = null;
    this.outPoint = null;
    this.looping = false;
    this.cancelWrap();
    this.local('loop');
  }

  toggleLoop(): void {
    this.looping = !this.looping;
    this.cancelWrap();
    if (this.playing && this.direction === 1) this.scheduleWrap(this.video?.currentTime ?? 0);
    this.local('loop');
  }

  // ---- what the room asks for -------------------------------------------------------------------

  /** Show what the presenter shows, without reporting it back. */
  applyRemote(s: RemotePlayback): void {
    this.applyRate(s.rate);
    this.inPoint = s.loop ? s.loop.in : this.inPoint;
    this.outPoint = s.loop ? s.loop.out : this.outPoint;
    this.looping = !!s.loop;
    if (!s.playing || this.pinned !== null) {
      if (this.playing || this.wantPlay) this.halt();
      this.go(Math.floor(s.position + 1e-6));
      return;
    }
    this.stopReverse();
    this.direction = 1;
    const pos = Math.min(this.lastFrame + 0.5, Math.max(0, s.position));
    this.frame = this.clamp(Math.floor(pos));
    const v = this.video;
    if (v && v.readyState > 0) {
      // Already rolling near there: leave it (the drift check corrects real drift); else land exactly.
      const tolerance = v.paused ? 0.25 : 2;
      const t = pos / this.fps;
      if (Math.abs(v.currentTime - t) * this.fps > tolerance) v.currentTime = t;
    }
    this.playing = true;
    this.wantPlay = true;
    if (v && v.paused && v.readyState > 0) this.startVideo();
  }

  /** Re-seek, keep playing, when the picture drifted from where the room is (continuous frames). */
  correctDrift(position: number, tolerance = 2): boolean {
    const v = this.video;
    if (!v || v.readyState === 0 || !this.playing || this.direction !== 1) return false;
    const here = v.currentTime * this.fps;
    if (Math.abs(here - position) <= tolerance) {
      if (v.paused && !v.ended) this.startVideo();
      return false;
    }
    // Land a little ahead: the seek itself takes a moment while the clock keeps running.
    const lead = 0.06 * this.fps * this.rate;
    const target = Math.min(this.lastFrame + 0.5, position + lead);
    v.currentTime = target / this.fps;
    this.frame = this.clamp(Math.floor(target));
    if (v.paused) this.startVideo();
    return true;
  }

  /** Where playback will be after `seconds` more at the current rate, wrapped like the player does. */
  project(position: number, seconds: number, playing: boolean, rate: number, loop: LoopRange | null): number {
    if (!playing) return position;
    let p = position + seconds * this.fps * rate;
    if (loop && position < loop.out + 1) {
      const len = loop.out - loop.in + 1;
      if (p >= loop.out + 1) p = loop.in + ((((p - loop.in) % len) + len) % len);
    }
    return Math.min(p, this.lastFrame + 0.5);
  }

  // ---- mechanics --------------------------------------------------------------------------------

  /** Show frame n without reporting it (configure, remote states). */
  private go(n: number, force = false): void {
    if (this.pinned !== null && !force) n = this.pinned;
    n = this.clamp(Math.round(n));
    this.frame = n;
    this.halt(false);
    this.place(n);
  }

  /** Stop both kinds of playback; `land` rests the picture on a whole frame. */
  private halt(land = true): void {
    this.wantPlay = false;
    this.wrapping = false;
    this.stopReverse();
    this.cancelWrap();
    // No late frame callback may move the counter once we stopped.
    this.stopFrameLoop();
    const v = this.video;
    if (v && !v.paused) v.pause();
    this.playing = false;
    this.direction = 1;
    if (land) this.place(this.frame);
  }

  private startForward(): boolean {
    const v = this.video;
    if (this.pinned !== null) return false;
    this.stopReverse();
    this.direction = 1;
    const range = this.loopRange;
    if (range && (this.frame < range.in || this.frame >= range.out)) this.go(range.in);
    else if (!range && this.frame >= this.lastFrame) this.go(0);
    this.playing = true;
    this.wantPlay = true;
    if (v && v.readyState > 0) this.startVideo();
    return true;
  }

  private startVideo(): void {
    const v = this.video;
    if (!v) return;
    v.playbackRate = this.rate;
    v.play().catch((e: DOMException) => {
      // Autoplay rules: a page that was never clicked may play only muted. Play muted, and say so.
      if (e?.name === 'NotAllowedError' && !v.muted && this.video === v && this.wantPlay) {
        this.muted = true;
        this.applyAudio();
        this.onAudioBlocked?.();
        this.startVideo();
        return;
      }
      if (this.video === v && v.paused) {
        this.playing = false;
        this.wantPlay = false;
      }
    });
  }

  private applyRate(rate: number): void {
    const r = Math.min(MAX_RATE, Math.max(MIN_RATE, Number.isFinite(rate) ? rate : 1));
    this.rate = r;
    if (this.video) this.video.playbackRate = r;
    if (this.playing && this.direction === 1) {
      this.cancelWrap();
      if (this.video) this.scheduleWrap(this.video.currentTime);
    }
  }

  private clamp(n: number): number {
    return Math.min(this.lastFrame, Math.max(0, n));
  }

  private place(n: number): void {
    const v = this.video;
    if (!v || v.readyState === 0) return; // loadedmetadata places it
    const t = (n + 0.5) / this.fps;
    if (Math.abs(v.currentTime - t) > 1e-4) v.currentTime = t;
  }

  private frameFromTime(t: number): number {
    return this.clamp(Math.floor(t * this.fps + 1e-3));
  }

  private local(change: LocalChange): void {
    this.onLocal?.(change);
  }

  private onPlay = (): void => {
    if (this.direction === -1) return;
    this.playing = true;
    this.startFrameLoop();
  };

  private onPause = (): void => {
    this.stopFrameLoop();
    this.cancelWrap();
    if (this.wrapping) return;
    const v = this.video;
    if (this.direction === -1) return; // reverse play keeps the <video> paused on purpose
    if (this.wantPlay && v && !v.ended && v.readyState < 2) return; // a new source, play resumes on load
    this.playing = false;
    this.wantPlay = false;
    if (!v) return;
    // Land on a whole frame, centred, so a paused picture is always exactly frame N.
    if (Math.abs(v.currentTime * this.fps - (this.frame + 0.5)) > 0.01) {
      if (!v.ended) this.frame = this.frameFromTime(v.currentTime);
      this.place(this.frame);
    }
  };

  private onEnded = (): void => {
    const v = this.video;
    const range = this.loopRange;
    if (range && v && this.playing) {
      // The loop's out point is the last frame: wrap instead of stopping.
      v.currentTime = (range.in + 0.5) / this.fps;
      this.frame = range.in;
      this.startVideo();
      return;
    }
    this.playing = false;
    this.wantPlay = false;
    this.stopFrameLoop();
    this.frame = this.lastFrame;
    this.place(this.frame);
    this.onStopped?.();
  };

  private onFrame(frame: number, mediaTime: number): void {
    this.frame = frame;
    const range = this.loopRange;
    if (!range || !this.playing || this.direction !== 1 || this.wrapping) return;
    this.cancelWrap();
    // Jumped past the out point (a slow seek, a late tick): wrap now.
    if (frame > range.out || frame < range.in - 1) this.wrapTo(range.in);
    else this.scheduleWrap(mediaTime);
  }

  /**
   * Wrap back to the in point when the out frame has been on screen for its full duration. Set
   * afresh on every presented frame, from the video's own clock, so a skipped frame callback
   * cannot carry playback past the out point.
   */
  private scheduleWrap(mediaTime: number): void {
    const range = this.loopRange;
    if (!range) return;
    const end = (range.out + 1) / this.fps;
    const ms = Math.max(0, ((end - mediaTime) / this.rate) * 1000 - 4);
    this.wrapTimer = setTimeout(() => {
      this.wrapTimer = null;
      const v = this.video;
      const r = this.loopRange;
      if (!v || !r || !this.playing || this.direction !== 1 || this.wrapping) return;
      // The video stalled on the way: not there yet, look again.
      if (v.currentTime < (r.out + 0.5) / this.fps) return this.scheduleWrap(v.currentTime);
      this.wrapTo(r.in);
    }, ms);
  }

  /**
   * Back to the in point. Seeking while playing would keep presenting frames past the out point
   * until the seek lands, so the video holds on out, seeks, and plays on once the seek is done.
   */
  private wrapTo(frame: number): void {
    const v = this.video;
    if (!v) return;
    this.wrapping = true;
    if (!v.paused) v.pause();
    v.currentTime = (frame + 0.5) / this.fps;
    this.frame = frame;
    const resume = () => {
      v.removeEventListener('seeked', resume);
      if (!this.wrapping || this.video !== v) return;
      this.wrapping = false;
      if (this.playing && this.direction === 1) this.startVideo();
    };
    v.addEventListener('seeked', resume);
  }

  private cancelWrap(): void {
    if (this.wrapTimer) clearTimeout(this.wrapTimer);
    this.wrapTimer = null;
  }

  private startFrameLoop(): void {
    this.stopFrameLoop();
    const v = this.video;
    if (!v) return;
    if (v.requestVideoFrameCallback) {
      const tick = (_now: number, meta: { mediaTime: number }) => {
        this.onFrame(this.frameFromTime(meta.mediaTime), meta.mediaTime);
        if (this.playing && this.direction === 1 && this.video === v) this.frameLoop = v.requestVideoFrameCallback!(tick);
      };
      this.frameLoop = v.requestVideoFrameCallback(tick);
    } else {
      const tick = () => {
        this.onFrame(this.frameFromTime(v.currentTime), v.currentTime);
        if (this.playing && this.direction === 1 && this.video === v) this.frameLoop = requestAnimationFrame(tick);
      };
      this.frameLoop = requestAnimationFrame(tick);
    }
  }

  private stopFrameLoop(): void {
    const v = this.video;
    if (!this.frameLoop) return;
    if (v?.cancelVideoFrameCallback) v.cancelVideoFrameCallback(this.frameLoop);
    else cancelAnimationFrame(this.frameLoop);
    this.frameLoop = 0;
  }

  /** Reverse play: the frame due is start - elapsed * fps * rate; seek to it once the last seek landed. */
  private startReverse(): void {
    const v = this.video;
    this.stopReverse();
    this.cancelWrap();
    this.wantPlay = false;
    this.wrapping = false;
    this.direction = -1;
    this.playing = true;
    if (v && !v.paused) v.pause();
    const range = this.loopRange;
    let start = this.frame;
    if (range && (start <= range.in || start > range.out)) start = range.out;
    else if (!range && start <= 0) start = this.lastFrame;
    if (start !== this.frame) {
      this.frame = start;
      this.place(start);
    }
    let origin = performance.now();
    let from = this.frame;
    let rate = this.rate;
    const tick = () => {
      if (!this.playing || this.direction !== -1) return;
      if (rate !== this.rate) {
        // Speed changed mid-way: continue from here at the new speed.
        origin = performance.now();
        from = this.frame;
        rate = this.rate;
      }
      const due = from - Math.floor(((performance.now() - origin) / 1000) * this.fps * rate);
      const r = this.loopRange;
      const low = r ? r.in : 0;
      if (due < low) {
        if (r) {
          origin = performance.now();
          from = r.out;
          this.frame = r.out;
          this.place(r.out);
        } else {
          this.frame = 0;
          this.place(0);
          this.playing = false;
          this.direction = 1;
          this.reverseTimer = 0;
          this.onStopped?.();
          return;
        }
      } else if (due !== this.frame && !(this.video?.seeking ?? false)) {
        this.frame = due;
        this.place(due);
      }
      this.reverseTimer = requestAnimationFrame(tick);
    };
    this.reverseTimer = requestAnimationFrame(tick);
  }

  private stopReverse(): void {
    if (this.reverseTimer) cancelAnimationFrame(this.reverseTimer);
    this.reverseTimer = 0;
    if (this.direction === -1) this.direction = 1;
  }
}

/**
 * Frame-accurate playback of one <video>. Frame N is shown by seeking to its centre, (N + 0.5) / fps;
 * the frame on screen is floor(time * fps + 1e-3). During playback requestVideoFrameCallback reports
 * each presented frame, so the counter follows the picture and not the audio clock.
 */
type FrameCallbackVideo = HTMLVideoElement & {
  requestVideoFrameCallback?: (cb: (now: number, meta: { mediaTime: number }) => void) => number;
  cancelVideoFrameCallback?: (handle: number) => void;
};

export class Player {
  frame = $state(0);
  playing = $state(false);
  fps = $state(24);
  frameCount = $state(1);
  /** Set while an AI still is on screen: the picture stays on the frame it was made from. */
  pinned = $state<number | null>(null);
  loading = $state(true);
  error = $state<string | null>(null);

  readonly lastFrame = $derived(Math.max(0, this.frameCount - 1));
  private video: FrameCallbackVideo | null = null;
  private loop = 0;

  configure(fps: number, frameCount: number, pinned: number | null): void {
    this.fps = fps > 0 ? fps : 24;
    this.frameCount = Math.max(1, frameCount);
    this.pinned = pinned;
    if (pinned !== null) this.seek(pinned, true);
    else if (this.frame > this.lastFrame) this.seek(this.lastFrame);
  }

  attach(video: HTMLVideoElement): () => void {
    this.video = video as FrameCallbackVideo;
    const on = <K extends keyof HTMLMediaElementEventMap>(type: K, fn: () => void) => {
      video.addEventListener(type, fn);
      return () => video.removeEventListener(type, fn);
    };
    const offs = [
      on('loadstart', () => {
        this.loading = true;
        this.error = null;
      }),
      on('loadedmetadata', () => this.place(this.frame)),
      on('seeking', () => (this.loading = video.readyState < 3)),
      on('seeked', () => (this.loading = false)),
      on('canplay', () => (this.loading = false)),
      on('waiting', () => (this.loading = true)),
      on('playing', () => (this.loading = false)),
      on('play', this.onPlay),
      on('pause', this.onPause),
      on('ended', this.onEnded),
      on('error', () => {
        this.loading = false;
        this.error = video.error?.message || 'The video could not be loaded.';
      }),
    ];
    return () => {
      this.stopLoop();
      offs.forEach((off) => off());
      if (this.video === video) this.video = null;
    };
  }

  /** Show frame n (clamped), pausing playback. */
  seek(n: number, force = false): void {
    if (this.pinned !== null && !force) n = this.pinned;
    n = Math.min(this.lastFrame, Math.max(0, Math.round(n)));
    this.frame = n;
    if (this.video && !this.video.paused) this.video.pause();
    this.playing = false;
    this.place(n);
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
    const v = this.video;
    if (!v || this.pinned !== null) return;
    if (this.frame >= this.lastFrame) this.seek(0);
    this.playing = true;
    v.play().catch(() => (this.playing = !v.paused));
  }

  pause(): void {
    this.video?.pause();
  }

  private place(n: number): void {
    const v = this.video;
    if (!v || v.readyState === 0) return; // loadedmetadata places it
    const t = (n + 0.5) / this.fps;
    if (Math.abs(v.currentTime - t) > 1e-4) v.currentTime = t;
  }

  private frameFromTime(t: number): number {
    return Math.min(this.lastFrame, Math.max(0, Math.floor(t * this.fps + 1e-3)));
  }

  private onPlay = (): void => {
    this.playing = true;
    this.startLoop();
  };

  private onPause = (): void => {
    this.playing = false;
    this.stopLoop();
    const v = this.video;
    if (!v) return;
    // Land on a whole frame, centred, so a paused picture is always exactly frame N.
    if (Math.abs(v.currentTime * this.fps - (this.frame + 0.5)) > 0.01) {
      if (!v.ended) this.frame = this.frameFromTime(v.currentTime);
      this.place(this.frame);
    }
  };

  private onEnded = (): void => {
    this.playing = false;
    this.stopLoop();
    this.frame = this.lastFrame;
    this.place(this.frame);
  };

  private startLoop(): void {
    this.stopLoop();
    const v = this.video;
    if (!v) return;
    if (v.requestVideoFrameCallback) {
      const tick = (_now: number, meta: { mediaTime: number }) => {
        this.frame = this.frameFromTime(meta.mediaTime);
        if (this.playing && this.video === v) this.loop = v.requestVideoFrameCallback!(tick);
      };
      this.loop = v.requestVideoFrameCallback(tick);
    } else {
      const tick = () => {
        this.frame = this.frameFromTime(v.currentTime);
        if (this.playing && this.video === v) this.loop = requestAnimationFrame(tick);
      };
      this.loop = requestAnimationFrame(tick);
    }
  }

  private stopLoop(): void {
    const v = this.video;
    if (!this.loop) return;
    if (v?.cancelVideoFrameCallback) v.cancelVideoFrameCallback(this.loop);
    else cancelAnimationFrame(this.loop);
    this.loop = 0;
  }
}

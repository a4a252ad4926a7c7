/**
 * How this member looks at the picture: zoom and pan, image controls (channel, exposure, gamma,
 * difference gain, LUT), and their own preferences (display, frame counter, volume, fix results).
 *
 * The view and the look are part of the synced playback state: the presenter's go to the room. A
 * follower who zooms or changes the look keeps following playback but looks on their own ("own")
 * until they follow the presenter's view again. Display, counter and sound are per member only and
 * kept in this browser.
 */
import { LoupeError, parseCube, type Lut3d, type PictureLook, type PictureView } from '@loupe/shared';
import { FIT, pixelScale, sameView, zoomAt, zoomTo, type Size } from '$lib/view/view-transform';
import { Displays, isIdentity, NO_LOOK, type Display, type Grade } from '$lib/view/grade';
import { cleanCounter, type CounterOptions } from '$lib/view/frame-counter';
import { loadPref, savePref } from '$lib/view/prefs';

/** 'pan' is a drag (throttled like a scrub by the sync layer); the others are discrete. */
export type ViewChange = 'view' | 'pan' | 'look';

export interface LoadedLut {
  sha256: string;
  name: string;
  lut: Lut3d;
}

const unit = (v: unknown, fallback: number) => (typeof v === 'number' && v >= 0 && v <= 1 ? v : fallback);

export class ViewSettings {
  view = $state<PictureView>(FIT);
  look = $state<PictureLook>(NO_LOOK);
  /** A follower looking on their own: the room's view and look are not applied to them. */
  own = $state(false);
  display = $state<Display>(loadPref('display', (v) => (Displays.includes(v as Display) ? (v as Display) : 'srgb')));
  counter = $state<CounterOptions>(loadPref('counter', cleanCounter));
  volume = $state(loadPref('volume', (v) => unit(v, 1)));
  muted = $state(loadPref('muted', (v) => v === true));
  /** Draw finished fix results over the source they were made from (off: viewing v001 shows v001). */
  showFixResults = $state(false);
  /** Device pixels per CSS pixel, followed across monitors and browser zoom. */
  dpr = $state(typeof window === 'undefined' ? 1 : window.devicePixelRatio || 1);
  /** The LUT the look names, once fetched and parsed (null while loading or when there is none). */
  lut = $state.raw<LoadedLut | null>(null);
  lutLoading = $state(false);
  /** Why the look's LUT cannot be applied, for the controls. */
  lutProblem = $state<string | null>(null);
  /** WebGL2 is missing or failed: the image controls cannot draw. */
  glProblem = $state<string | null>(null);
  /** The picture, the viewer pane and the proxy as the viewer last laid them out (for zoom buttons and keys). */
  geometry = $state.raw<{ picture: Size; box: Size; proxy: Size | null } | null>(null);
  /** The element fullscreen shows (the viewer), and whether it is fullscreen now. */
  fullscreenTarget: HTMLElement | null = null;
  fullscreen = $state(false);

  /** What the shader draws with. */
  readonly grade = $derived<Grade>({
    channel: this.look.channel,
    exposure: this.look.exposure,
    gamma: this.look.gamma,
    display: this.display,
    lut: this.look.lut && this.lut?.sha256 === this.look.lut.sha256 ? this.lut.lut : null,
  });
  /** Nothing to draw through the shader: the plain <video> is shown. */
  readonly plain = $derived(isIdentity(this.grade));

  /** A person changed the view or the look here (not the room). */
  onLocal: ((change: ViewChange) => void) | null = null;
  /** A refusal to show (a bad LUT file, an upload that failed). */
  onProblem: ((r: { code: string; message: string }) => void) | null = null;

  private readonly token: string;
  private readonly cache = new Map<string, LoadedLut>();

  constructor(token: string) {
    this.token = token;
    if (typeof window !== 'undefined') {
      const watch = () => {
        const q = window.matchMedia(`(resolution: ${window.devicePixelRatio}dppx)`);
        q.addEventListener('change', () => {
          this.dpr = window.devicePixelRatio || 1;
          watch();
        }, { once: true });
      };
      watch();
    }
  }

  setView(view: PictureView, change: 'view' | 'pan' = 'view'): void {
    if (sameView(view, this.view)) return;
    this.view = view;
    this.onLocal?.(change);
  }

  /** Zoom in or out about the centre of the viewer (+ / - keys and buttons). */
  zoomBy(factor: number): void {
    const g = this.geometry;
    if (!g) return;
    this.setView(zoomAt(this.view, factor, [g.box.width / 2, g.box.height / 2], g.picture, g.box, this.dpr));
  }

  /** 1:1, 2:1, 4:1: n device pixels per displayed pixel (of the proxy, when it is smaller than the source). */
  zoomToPixels(n: number): void {
    const g = this.geometry;
    if (!g) return;
    this.setView(zoomTo(this.view, pixelScale(n, g.picture, g.proxy), g.picture, g.box, this.dpr));
  }

  fit(): void {
    this.setView(FIT);
  }

  /** Fullscreen needs a click or a key here: the browser does not let the room make it for anyone. */
  async toggleFullscreen(): Promise<void> {
    try {
      if (document.fullscreenElement) await document.exitFullscreen();
      else await this.fullscreenTarget?.requestFullscreen();
    } catch {
      this.onProblem?.({ code: 'FULLSCREEN', message: 'The browser refused fullscreen here.' });
    }
  }

  setLook(patch: Partial<PictureLook>): void {
    this.look = { ...this.look, ...patch };
    this.onLocal?.('look');
  }

  resetLook(): void {
    this.look = { ...NO_LOOK };
    this.onLocal?.('look');
  }

  /** The presenter's view and look (not reported back); ignored while looking on one's own. */
  applyRemote(view: PictureView | undefined, look: PictureLook | undefined): void {
    if (this.own) return;
    if (view && !sameView(view, this.view)) this.view = view;
    if (look) {
      this.look = look;
      void this.ensureLut();
    }
  }

  setDisplay(d: Display): void {
    this.display = d;
    savePref('display', d);
  }

  setCounter(c: Partial<CounterOptions>): void {
    this.counter = cleanCounter({ ...this.counter, ...c });
    savePref('counter', this.counter);
  }

  setVolume(v: number): void {
    this.volume = Math.min(1, Math.max(0, v));
    if (this.volume > 0 && this.muted) this.muted = false;
    savePref('volume', this.volume);
    savePref('muted', this.muted);
  }

  setMuted(m: boolean): void {
    this.muted = m;
    savePref('muted', m);
  }

  /**
   * A .cube file chosen here: checked in the browser (clear errors, nothing sent for a bad file),
   * kept by the server for the room (so the presenter's LUT reaches the followers by its hash), and
   * put in the look.
   */
  async loadLutFile(file: File): Promise<boolean> {
    let text: string;
    let lut: Lut3d;
    try {
      text = await file.text();
      lut = parseCube(text);
    } catch (e) {
      const err = e instanceof LoupeError ? e : { code: 'BAD_LUT', message: `${file.name} could not be read.` };
      this.onProblem?.({ code: err.code, message: `${file.name}: ${err.message}` });
      return false;
    }
    this.lutLoading = true;
    try {
      const r = await fetch(`/api/luts?name=${encodeURIComponent(file.name)}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.token}`, 'content-type': 'text/plain' },
        body: text,
      });
      const body = (await r.json().catch(() => null)) as { ok: boolean; lut?: { sha256: string; name: string }; code?: string; message?: string } | null;
      if (!r.ok || !body?.ok || !body.lut) {
        this.onProblem?.({ code: body?.code ?? 'BAD_LUT', message: body?.message ?? `The server did not keep ${file.name} (HTTP ${r.status}).` });
        return false;
      }
      const loaded = { sha256: body.lut.sha256, name: body.lut.name, lut };
      this.cache.set(loaded.sha256, loaded);
      this.lut = loaded;
      this.lutProblem = null;
      this.setLook({ lut: { sha256: loaded.sha256, name: loaded.name } });
      return true;
    } catch {
      this.onProblem?.({ code: 'DISCONNECTED', message: `${file.name} could not be sent: check the connection and try again.` });
      return false;
    } finally {
      this.lutLoading = false;
    }
  }

  clearLut(): void {
    this.setLook({ lut: null });
  }

  /** Fetch and parse the LUT the look names, once per hash. */
  async ensureLut(): Promise<void> {
    const ref = this.look.lut;
    if (!ref) {
      this.lutProblem = null;
      return;
    }
    if (this.lut?.sha256 === ref.sha256) return;
    const cached = this.cache.get(ref.sha256);
    if (cached) {
      this.lut = cached;
      return;
    }
    this.lutLoading = true;
    try {
      const r = await fetch(`/api/luts/${ref.sha256}?token=${encodeURIComponent(this.token)}`);
      if (!r.ok) throw new Error(`The LUT ${ref.name} could not be fetched (HTTP ${r.status}).`);
      const loaded = { sha256: ref.sha256, name: ref.name, lut: parseCube(await r.text()) };
      this.cache.set(ref.sha256, loaded);
      if (this.look.lut?.sha256 === ref.sha256) this.lut = loaded;
      this.lutProblem = null;
    } catch (e) {
      this.lutProblem = (e as Error).message;
    } finally {
      this.lutLoading = false;
    }
  }
}

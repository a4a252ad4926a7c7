/**
 * Which proxy this member's player plays: Auto (measured) or a pinned rung, kept in this browser and
 * never synced. Auto measures the link with a small ranged fetch of the version's smallest rung (not
 * cached) when a version opens, every PROBE_EVERY_MS while Auto plays, and when the picture stalls;
 * the pick (`pickAuto`) goes down at once and climbs with margin. Versions without rungs play Full.
 */
import { ProxyChoices, proxyUrl, type ProxyChoice, type Version, type VersionMedia } from '@loupe/shared';
import { loadPref, savePref } from '$lib/view/prefs';
import { optionsOf, pickAuto, resolve, type PlayOption, type RungClass } from '$lib/media/ladder';

type VideoMedia = Extract<VersionMedia, { type: 'video' }>;

export const PROBE_EVERY_MS = 6000;
/** A probe moves about this long of the link (at the last estimate), within these bounds. */
const PROBE_SECONDS = 0.5;
const PROBE_MIN = 24 << 10;
const PROBE_MAX = 256 << 10;
/** No estimate after this long (a very slow link): Auto starts on the smallest rung. */
const FIRST_PROBE_WAIT_MS = 2500;

export class Ladder {
  /** Auto, or the rung this member pinned. */
  choice = $state<ProxyChoice>(loadPref('proxy', (v) => ((ProxyChoices as readonly unknown[]).includes(v) ? (v as ProxyChoice) : 'auto')));
  /** The link's throughput as last measured, bits/s (null: not measured yet). */
  estimate = $state<number | null>(null);
  /** What Auto picked for the version on screen (null: not decided yet). */
  auto = $state<RungClass | null>(null);
  /** Probes so far (for tests and the menu). */
  probes = $state(0);
  private probing = false;
  private lastProbe = 0;
  /** The version being watched (on screen, with rungs). */
  private watched: { version: Version; options: PlayOption[] } | null = null;

  constructor(private readonly token: string) {}

  /** The rung class playing now: the pin, else Auto's pick (null while Auto waits for its first probe). */
  get wanted(): RungClass | null {
    return this.choice === 'auto' ? this.auto : this.choice;
  }

  setChoice(c: ProxyChoice): void {
    this.choice = c;
    savePref('proxy', c);
    // Back to Auto: measure now rather than at the next tick.
    if (c === 'auto' && this.watched) void this.probe(this.watched.version, this.watched.options);
  }

  /** What a version plays now (null: wait, Auto has not measured yet). */
  optionFor(media: VideoMedia): PlayOption | null {
    const options = optionsOf(media);
    if (options.length === 1) return options[0];
    const want = this.wanted;
    return want ? resolve(options, want) : null;
  }

  /** The address of a version's proxy of that option (the full proxy by its blob, as before the ladder). */
  src(version: Version, option: PlayOption): string {
    const media = version.media as VideoMedia;
    const path = option.name === 'full' ? `/blobs/${media.blob}` : proxyUrl(version.id, option.name);
    return `${path}?token=${encodeURIComponent(this.token)}`;
  }

  /**
   * While `version` is on screen: measure now, then every PROBE_EVERY_MS (Auto only, page visible).
   * Returns the stop function (an $effect's cleanup).
   */
  watch(version: Version): () => void {
    const media = version.media as VideoMedia;
    if (!media.ladder?.length) return () => {};
    let stopped = false;
    const options = optionsOf(media);
    const watched = { version, options };
    this.watched = watched;
    const first = setTimeout(() => {
      if (!stopped && this.auto === null) this.auto = options[0].name;
    }, FIRST_PROBE_WAIT_MS);
    const tick = () => {
      if (stopped || this.choice !== 'auto' || document.hidden) return;
      void this.probe(version, options);
    };
    tick();
    const timer = setInterval(tick, PROBE_EVERY_MS);
    return () => {
      stopped = true;
      if (this.watched === watched) this.watched = null;
      clearTimeout(first);
      clearInterval(timer);
    };
  }

  /** The picture waits for data: measure again now (at most once every 2 s). */
  stalled(version: Version | null): void {
    if (!version || version.media.type !== 'video' || !version.media.ladder?.length || this.choice !== 'auto') return;
    if (performance.now() - this.lastProbe > 2000) void this.probe(version, optionsOf(version.media));
  }

  private async probe(version: Version, options: PlayOption[]): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    this.lastProbe = performance.now();
    try {
      const bps = await measure(this.src(version, options[0]), this.estimate);
      if (bps === null) return;
      // Quick to fall (the new measure), slower to rise (the mean with the last estimate).
      this.estimate = this.estimate === null || bps < this.estimate ? bps : (this.estimate + bps) / 2;
      this.auto = pickAuto(options, this.estimate, this.auto);
      this.probes++;
    } finally {
      this.probing = false;
    }
  }
}

/**
 * Bits per second of a ranged, uncached fetch: bytes after the first chunk over the time after it
 * (the latency is not throughput), or all bytes over the whole time when the answer came at once.
 */
async function measure(url: string, estimate: number | null): Promise<number | null> {
  const want = Math.round(Math.min(PROBE_MAX, Math.max(PROBE_MIN, estimate ? (estimate / 8) * PROBE_SECONDS : 64 << 10)));
  const t0 = performance.now();
  try {
    const res = await fetch(url, { headers: { range: `bytes=0-${want - 1}` }, cache: 'no-store' });
    if (!res.ok || !res.body) return null;
    const reader = res.body.getReader();
    let total = 0;
    let first = 0;
    let tFirst = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!tFirst) {
        tFirst = performance.now();
        first = value.length;
      }
      total += value.length;
    }
    const tEnd = performance.now();
    const after = total - first;
    if (tEnd - tFirst > 40 && after >= 8192) return (after * 8) / ((tEnd - tFirst) / 1000);
    return (total * 8) / (Math.max(1, tEnd - t0) / 1000);
  } catch {
    return null;
  }
}

/**
 * Comparing two versions of the shot: A is the version on screen, B the one picked with "Compare"
 * on a version row. Modes: side by side, wipe (B right of a draggable line), difference (|A - B|)
 * and A/B (one or the other, flipped with Tab). Part of the synced playback state.
 *
 * An AI version is a still of a region of one frame, so it is judged against the frame it was made
 * from: A becomes its source version on that frame, B is the same frame with the still composited.
 */
import { CompareModes, type CompareMode, type PlaybackInput, type Version } from '@loupe/shared';
import type { Player } from './player.svelte';
import { defaultCompareB } from './compare-pick';
import type { Versions } from './versions.svelte';

export type CompareState = PlaybackInput['compare'];
/** 'wipe' is a drag of the wipe handle (throttled by the sync layer), the rest are discrete. */
export type CompareChange = 'compare' | 'wipe';

export const COMPARE_LABELS: Record<CompareMode, string> = {
  off: 'Off',
  'side-by-side': 'Side by side',
  wipe: 'Wipe',
  difference: 'Difference',
  ab: 'A/B toggle',
};
export { CompareModes };

/** Pixels between A and B side by side. */
export const SPLIT_GAP = 8;

export class Compare {
  private readonly versions: Versions;
  private readonly player: Player;
  mode = $state<CompareMode>('off');
  versionB = $state<string | null>(null);
  /** Wipe position, 0..1 from the left of the picture. */
  wipe = $state(0.5);
  showing = $state<'A' | 'B'>('A');

  /** A person changed the comparison (not the room). */
  onLocal: ((change: CompareChange) => void) | null = null;
  /** Says why a comparison could not start (no other version). */
  onProblem: ((message: string) => void) | null = null;

  constructor(versions: Versions, player: Player) {
    this.versions = versions;
    this.player = player;
  }

  /** The version shown as B, when there is one and it still exists. */
  readonly b = $derived.by(() => (this.versionB ? this.versions.byId(this.versionB) : null));
  readonly active = $derived(this.mode !== 'off' && !!this.b);

  snapshot(): CompareState {
    return { mode: this.mode, versionB: this.versionB, wipe: this.wipe, showing: this.showing };
  }

  /** The room's comparison (from the presenter); not reported back. */
  apply(c: CompareState): void {
    this.mode = c.mode;
    this.versionB = c.versionB;
    this.wipe = Math.min(1, Math.max(0, c.wipe));
    this.showing = c.showing;
  }

  /** "Compare" on a version row: B is that version; an AI still is set against its source frame. */
  compareWith(id: string): void {
    const v = this.versions.byId(id);
    if (!v) return;
    if (v.media.type === 'still') {
      const source = this.versions.videoOf(v);
      if (source && this.versions.currentId !== source.id) this.versions.currentId = source.id;
      // The picture underneath B is the frame the still was made from: A shows the same frame.
      this.player.seek(v.media.frame);
    } else if (id === this.versions.currentId) {
      // B cannot be A: put the version B would be compared with on screen as A.
      const other = this.defaultB(v);
      if (!other) return this.onProblem?.('There is no other version to compare with.');
      if (other.media.type === 'still') return this.compareWith(other.id);
      this.versions.currentId = other.id;
    }
    this.versionB = id;
    if (this.mode === 'off') this.mode = 'wipe';
    this.showing = 'A';
    this.local('compare');
  }

  setMode(mode: CompareMode): void {
    // No B yet, or B is the version on screen now: start from the default B of A.
    if (mode !== 'off' && (!this.b || this.b.id === this.versions.currentId)) {
      const b = this.defaultB(this.versions.current);
      if (!b) {
        this.mode = 'off';
        this.onProblem?.('There is no other version to compare with. Add a version, or run a fix.');
        return;
      }
      if (b.media.type === 'still') {
        // Same rule as the row button: an AI still is compared on its own frame.
        this.mode = mode;
        this.compareWith(b.id);
        return;
      }
      this.versionB = b.id;
    }
    this.mode = mode;
    if (mode !== 'ab') this.showing = 'A';
    this.local('compare');
  }

  /** Tab / the A|B button: flip what is on screen (switching to the A/B mode when in another). */
  toggleAB(): void {
    if (!this.b) return;
    if (this.mode !== 'ab') {
      this.mode = 'ab';
      this.showing = 'B';
    } else this.showing = this.showing === 'A' ? 'B' : 'A';
    this.local('compare');
  }

  setWipe(x: number, final = false): void {
    this.wipe = Math.min(1, Math.max(0, x));
    this.local(final ? 'compare' : 'wipe');
  }

  close(): void {
    this.mode = 'off';
    this.versionB = null;
    this.showing = 'A';
    this.local('compare');
  }

  /** What to compare with when none was picked: the previous version, or the source of an AI result. */
  private defaultB(a: Version | null): Version | null {
    return defaultCompareB(a, this.versions.list, (v) => this.versions.videoOf(v));
  }

  private local(change: CompareChange): void {
    this.onLocal?.(change);
  }
}

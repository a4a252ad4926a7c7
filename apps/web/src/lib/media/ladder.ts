/**
 * Which proxy the player plays (docs/media.md, "Proxy ladder"): the rungs a version has, what Auto
 * picks for a measured link, and what a version without that rung plays instead. Pure, unit-tested.
 */
import { LADDER_AUDIO_BITRATE, ProxyLadderSpec, type ProxyChoice, type ProxyRungName, type VersionMedia } from '@loupe/shared';

export type RungClass = ProxyRungName | 'full';

export interface PlayOption {
  name: RungClass;
  width: number;
  height: number;
  /** Bits per second it needs, audio included (Infinity: not known, an older full proxy). */
  bitrate: number;
}

/** Auto plays a rung only when the link carries this much more than it needs. */
export const HEADROOM = 1.4;
/** ... and climbs to a bigger one only with this much more (no back and forth at the edge). */
export const CLIMB = 1.8;

const RANK: Record<RungClass, number> = { ...Object.fromEntries(ProxyLadderSpec.map((r, i) => [r.name, i])), full: ProxyLadderSpec.length } as Record<RungClass, number>;
const HEIGHT: Record<RungClass, number> = { ...Object.fromEntries(ProxyLadderSpec.map((r) => [r.name, r.height])), full: Infinity } as Record<RungClass, number>;

/** What a version can play, smallest first: its rungs, then the full proxy. */
export function optionsOf(media: Extract<VersionMedia, { type: 'video' }>): PlayOption[] {
  const full = media.proxy ?? { width: media.width, height: media.height };
  return [
    ...(media.ladder ?? []).map((r) => ({ name: r.name, width: r.width, height: r.height, bitrate: r.bitrate + LADDER_AUDIO_BITRATE })),
    { name: 'full' as const, width: full.width, height: full.height, bitrate: media.proxy?.bitrate ?? Infinity },
  ];
}

/**
 * Auto's pick for a link of `bps` bits/s: the biggest option that fits with HEADROOM (the smallest
 * when none does). From `current`, it goes down at once but up only when the bigger one fits with CLIMB.
 */
export function pickAuto(options: PlayOption[], bps: number, current: RungClass | null): RungClass {
  const fits = options.filter((o) => o.bitrate * HEADROOM <= bps);
  const best = fits.length ? fits[fits.length - 1] : options[0];
  if (current === null || RANK[best.name] <= RANK[current]) return best.name;
  // Climbing: the biggest that fits with CLIMB, never below where we are.
  const climb = options.filter((o) => o.bitrate * CLIMB <= bps).pop();
  return climb && RANK[climb.name] > RANK[current] ? climb.name : current;
}

/**
 * The option of a version that plays a class (a pin, or what Auto picked for the version on screen):
 * the same rung if it has it, else its biggest rung no taller, else its smallest.
 */
export function resolve(options: PlayOption[], want: RungClass): PlayOption {
  const exact = options.find((o) => o.name === want);
  if (exact) return exact;
  const lower = options.filter((o) => o.name !== 'full' && o.height <= HEIGHT[want]).pop();
  return lower ?? options[0];
}

/** The badge: "360p auto", "720p", "Full". */
export function badgeText(playing: RungClass, choice: ProxyChoice): string {
  return `${playing === 'full' ? 'Full' : playing}${choice === 'auto' ? ' auto' : ''}`;
}

/** "1.6 Mbit/s", "420 kbit/s". */
export function formatRate(bps: number): string {
  if (!Number.isFinite(bps)) return '?';
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(bps >= 1e7 ? 0 : 1)} Mbit/s` : `${Math.round(bps / 1e3)} kbit/s`;
}

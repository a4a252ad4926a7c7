import type { Shot, Version } from './protocol.js';
import type { VersionStatus } from './versions.js';

/** One line of a room's shot list: the shot, how many versions it has, and its latest one. */
export interface ShotSummary {
  shot: Shot;
  versionCount: number;
  /** The highest-numbered version of the shot (null while it has none). */
  latest: Version | null;
  /** The latest version's review status ('pending' while it has none). */
  status: VersionStatus;
  /** The poster of the newest version that has one (a JPEG blob), for the shot list. */
  thumbnail: string | null;
}

/** The room's shots in their order, each with its versions counted and its latest version. */
export function shotSummaries(shots: readonly Shot[], versions: readonly Version[]): ShotSummary[] {
  return shots.map((shot) => {
    const own = versions.filter((v) => v.shotId === shot.id).sort((a, b) => a.number - b.number);
    const latest = own.at(-1) ?? null;
    const poster = lastOf(own, (v) => v.media.type === 'video' && !!v.media.thumbnail);
    return {
      shot,
      versionCount: own.length,
      latest,
      status: latest?.status ?? 'pending',
      thumbnail: poster?.media.type === 'video' ? (poster.media.thumbnail ?? null) : null,
    };
  });
}

/** The version a room opens a shot on: its latest full version (a movie, not a fix's still), else its latest. */
export function shotEntryVersion(shotId: string, versions: readonly Version[]): Version | null {
  const own = versions.filter((v) => v.shotId === shotId).sort((a, b) => a.number - b.number);
  return lastOf(own, (v) => v.media.type === 'video') ?? own.at(-1) ?? null;
}

/** The shot before (-1) or after (+1) `current` in the list, or null at either end or when `current` is not in it. */
export function adjacentShot(shotIds: readonly string[], current: string | null | undefined, step: 1 | -1): string | null {
  const i = current ? shotIds.indexOf(current) : -1;
  if (i < 0) return null;
  return shotIds[i + step] ?? null;
}

function lastOf<T>(list: readonly T[], ok: (t: T) => boolean): T | undefined {
  for (let i = list.length - 1; i >= 0; i--) if (ok(list[i])) return list[i];
  return undefined;
}

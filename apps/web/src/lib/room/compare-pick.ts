/** Which version B a comparison starts with when nobody picked one (pure: unit-tested). */
import type { Version } from '@loupe/shared';

/**
 * - An AI result is compared with its source: the same frame without the fix.
 * - A source version with the version before it of the same shot (v003 with v002); v001 with the
 *   next one; a shot with one source version with the newest AI result made from it.
 * - Else any other source version in the room, newest first. Null only when there is no other version.
 */
export function defaultCompareB(a: Version | null, list: Version[], videoOf: (v: Version | null) => Version | null): Version | null {
  if (!a) return null;
  if (a.media.type === 'still') return videoOf(a);
  const videos = list.filter((v) => v.media.type === 'video' && v.id !== a.id);
  const sameShot = videos.filter((v) => v.shotId === a.shotId);
  const before = sameShot.filter((v) => v.number < a.number).sort((x, y) => y.number - x.number)[0];
  if (before) return before;
  const after = sameShot.filter((v) => v.number > a.number).sort((x, y) => x.number - y.number)[0];
  if (after) return after;
  const results = list
    .filter((v) => v.media.type === 'still' && videoOf(v)?.id === a.id)
    .sort((x, y) => y.number - x.number || y.createdAt.localeCompare(x.createdAt));
  if (results[0]) return results[0];
  return [...videos].sort((x, y) => y.createdAt.localeCompare(x.createdAt))[0] ?? null;
}

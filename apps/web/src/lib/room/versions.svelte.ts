/** The room's shots and versions (server-authoritative), and which version is on screen. */
import type { Shot, Version } from '@loupe/shared';

export class Versions {
  list = $state<Version[]>([]);
  shots = $state<Shot[]>([]);
  currentId = $state<string | null>(null);

  readonly current = $derived(this.list.find((v) => v.id === this.currentId) ?? null);
  readonly newestFirst = $derived([...this.list].sort((a, b) => b.number - a.number || b.createdAt.localeCompare(a.createdAt)));
  readonly shot = $derived(this.shotOf(this.current));
  /** The version whose video is playing: the current one, or the source an AI still was made from. */
  readonly video = $derived(this.videoOf(this.current));

  replaceAll(versions: Version[], shots: Shot[]): void {
    this.list = [...versions];
    this.shots = [...shots];
    if (!this.current) {
      // Open on the newest source version: what the room came to review.
      const sources = this.list.filter((v) => v.media.type === 'video').sort((a, b) => b.number - a.number);
      this.currentId = (sources[0] ?? this.newestFirst[0])?.id ?? null;
    }
  }

  upsert(v: Version): void {
    const i = this.list.findIndex((x) => x.id === v.id);
    if (i >= 0) this.list[i] = v;
    else this.list.push(v);
  }

  byId(id: string | null | undefined): Version | null {
    return (id && this.list.find((v) => v.id === id)) || null;
  }

  shotOf(v: Version | null): Shot | null {
    if (!v) return null;
    return this.shots.find((s) => s.id === v.shotId) ?? this.shots[0] ?? null;
  }

  videoOf(v: Version | null): Version | null {
    const seen = new Set<string>();
    while (v && v.media.type !== 'video' && !seen.has(v.id)) {
      seen.add(v.id);
      v = this.byId(v.parentVersionId);
    }
    return v && v.media.type === 'video' ? v : null;
  }
}

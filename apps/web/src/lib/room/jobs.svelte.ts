/** Fix jobs of the room and the tiles they stream, kept per job so a layer can be rebuilt any time. */
import type { Job, RenderedFrame, Tile } from '@loupe/shared';

export interface TileImage {
  index: number;
  x: number;
  y: number;
  width: number;
  height: number;
  bitmap: ImageBitmap;
}

export class Jobs {
  list = $state<Job[]>([]);
  /** Tiles decoded so far per job; read through `tilesOf`, which tracks `tileCounts`. */
  private tiles = new Map<string, Map<number, TileImage>>();
  tileCounts = $state<Record<string, number>>({});
  /** Frames of shot renders as they land, per job; read through `renderedFrame`, which tracks `frameCounts`. */
  private frames = new Map<string, Map<number, RenderedFrame>>();
  frameCounts = $state<Record<string, number>>({});
  /** The shot render this member is watching (played over its source), or null. */
  watching = $state<string | null>(null);

  /** For the list: the running job, then the queue in order, then finished ones newest first. */
  readonly ordered = $derived(
    [...this.list].sort((a, b) => {
      const rank = (j: Job) => (j.state === 'running' ? 0 : j.state === 'queued' ? 1 : 2);
      return (
        rank(a) - rank(b) ||
        (a.state === 'queued' && b.state === 'queued' ? a.position - b.position : 0) ||
        b.createdAt.localeCompare(a.createdAt)
      );
    }),
  );

  replaceAll(jobs: Job[]): void {
    this.list = [...jobs];
  }

  upsert(job: Job): void {
    const i = this.list.findIndex((j) => j.id === job.id);
    if (i >= 0) this.list[i] = job;
    else this.list.push(job);
  }

  async addTile(tile: Tile): Promise<void> {
    const data = tile.data instanceof Uint8Array ? tile.data : new Uint8Array(tile.data as ArrayBuffer);
    const bitmap = await createImageBitmap(new Blob([data as BlobPart], { type: tile.mime }));
    let byIndex = this.tiles.get(tile.jobId);
    if (!byIndex) this.tiles.set(tile.jobId, (byIndex = new Map()));
    byIndex.get(tile.index)?.bitmap.close();
    byIndex.set(tile.index, { index: tile.index, x: tile.x, y: tile.y, width: tile.width, height: tile.height, bitmap });
    this.tileCounts[tile.jobId] = byIndex.size;
  }

  addFrame(f: RenderedFrame): void {
    let byFrame = this.frames.get(f.jobId);
    if (!byFrame) this.frames.set(f.jobId, (byFrame = new Map()));
    byFrame.set(f.frame, f);
    this.frameCounts[f.jobId] = byFrame.size;
  }

  /** A frame of a render, once it has landed. */
  renderedFrame(jobId: string, frame: number): RenderedFrame | undefined {
    void this.frameCounts[jobId];
    return this.frames.get(jobId)?.get(frame);
  }

  /** The shot renders of a version still running (or waiting to). */
  rendersOf(versionId: string): Job[] {
    return this.list.filter((j) => j.scope === 'shot' && j.versionId === versionId && (j.state === 'queued' || j.state === 'running'));
  }

  /** The watched render, while it runs. */
  get watched(): Job | null {
    const j = this.list.find((x) => x.id === this.watching);
    return j && (j.state === 'queued' || j.state === 'running') ? j : null;
  }

  tilesOf(jobId: string): TileImage[] {
    void this.tileCounts[jobId];
    return [...(this.tiles.get(jobId)?.values() ?? [])];
  }

  /**
   * Jobs that paint over this version and frame: queued and running ones, and finished ones whose
   * tiles streamed in while we watched. Older results live on as AI versions, not over the source.
   */
  overlaysFor(versionId: string, frame: number): Job[] {
    return this.list.filter(
      (j) =>
        j.scope !== 'shot' &&
        j.versionId === versionId &&
        j.frame === frame &&
        (j.state === 'queued' || j.state === 'running' || (j.state === 'done' && (this.tileCounts[j.id] ?? 0) > 0)),
    );
  }
}

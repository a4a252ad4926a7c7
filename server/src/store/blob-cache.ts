import fs from 'node:fs';
import path from 'node:path';
import { blobFile } from './blob.repository.js';

/**
 * A node's local copy of blobs whose source of truth is elsewhere (the object store). Blobs never
 * change, so a cached copy is never stale; the only question is room. With a limit, the least
 * recently used blobs are removed once the cache is over it, except blobs used in the last
 * `graceMs` (a path handed to ffmpeg a moment ago must still be there when ffmpeg opens it; a file
 * already open is safe, since removing it only unlinks the name). So the cache can stand above its
 * limit for a while when everything in it is in use.
 */
export class BlobCache {
  /** sha256 -> size and last use, in order of use (a Map keeps insertion order: oldest first). */
  private entries = new Map<string, { size: number; used: number }>();
  private total = 0;

  constructor(
    readonly dir: string,
    readonly maxBytes?: number,
    private readonly graceMs = 10 * 60_000,
    private readonly onEvict: (sha256: string, size: number) => void = () => {},
  ) {}

  file(sha256: string): string {
    return blobFile(this.dir, sha256);
  }

  /**
   * With a limit, reads what the folder holds (a restarted node keeps its cache), oldest use first,
   * and removes temporaries a stopped process left. Without one, there is nothing to count.
   */
  async load(): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    if (this.maxBytes === undefined) return;
    const found: { sha: string; size: number; used: number }[] = [];
    for (const sub of await fs.promises.readdir(this.dir)) {
      if (!/^[0-9a-f]{2}$/.test(sub)) continue;
      for (const name of await fs.promises.readdir(path.join(this.dir, sub))) {
        const file = path.join(this.dir, sub, name);
        if (name.endsWith('.tmp')) {
          await fs.promises.rm(file, { force: true });
          continue;
        }
        if (!/^[0-9a-f]{64}$/.test(name)) continue;
        const st = await fs.promises.stat(file).catch(() => null);
        if (st?.isFile()) found.push({ sha: name, size: st.size, used: Math.max(st.atimeMs, st.mtimeMs) });
      }
    }
    found.sort((a, b) => a.used - b.used);
    for (const f of found) this.remember(f.sha, f.size, f.used);
    await this.evict();
  }

  /** The cached file, if it is there (and marks it used). */
  async get(sha256: string): Promise<string | null> {
    const file = this.file(sha256);
    const st = await fs.promises.stat(file).catch(() => null);
    if (!st) {
      this.forget(sha256);
      return null;
    }
    this.remember(sha256, st.size, Date.now());
    return file;
  }

  /** Records a blob that was just written into the cache, then makes room if over the limit. */
  async added(sha256: string, size: number): Promise<void> {
    this.remember(sha256, size, Date.now());
    await this.evict();
  }

  get bytes(): number {
    return this.total;
  }

  private remember(sha: string, size: number, used: number) {
    this.forget(sha);
    this.entries.set(sha, { size, used });
    this.total += size;
  }

  private forget(sha: string) {
    const e = this.entries.get(sha);
    if (!e) return;
    this.entries.delete(sha);
    this.total -= e.size;
  }

  private async evict(): Promise<void> {
    if (this.maxBytes === undefined || this.total <= this.maxBytes) return;
    const now = Date.now();
    for (const [sha, e] of [...this.entries]) {
      if (this.total <= this.maxBytes) break;
      if (now - e.used < this.graceMs) continue;
      this.forget(sha);
      await fs.promises.rm(this.file(sha), { force: true });
      this.onEvict(sha, e.size);
    }
  }
}

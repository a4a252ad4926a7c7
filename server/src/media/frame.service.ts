import type { Version } from '@loupe/shared';
import type { BlobRepository } from '../store/blob.repository.js';
import type { FrameRepository } from '../store/frame.repository.js';
import { runFfmpeg } from './ffmpeg.js';

/** Full-quality frames of a version, extracted exactly (by frame index, not by time) and cached. */
export class FrameService {
  private inflight = new Map<string, Promise<string>>();
  constructor(
    private readonly blobs: BlobRepository,
    private readonly frames: FrameRepository,
  ) {}

  /** The PNG blob (sha256) of frame `frame` of a video version. */
  async frame(version: Version, frame: number): Promise<string> {
    if (version.media.type !== 'video') throw new Error('only video versions have frames');
    const cached = this.frames.get(version.id, frame);
    if (cached && this.blobs.has(cached)) return cached;
    const key = `${version.id}:${frame}`;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.extract(version.media.blob, frame)
        .then(async (png) => {
          const sha = await this.blobs.put(png);
          this.frames.put(version.id, frame, sha);
          return sha;
        })
        .finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private extract(blob: string, frame: number): Promise<Buffer> {
    return runFfmpeg([
      '-i', this.blobs.path(blob),
      '-vf', `select=eq(n\\,${frame})`, '-fps_mode', 'passthrough', '-frames:v', '1',
      '-f', 'image2pipe', '-c:v', 'png', '-compression_level', '1', '-',
    ]);
  }
}

/**
 * A tile run's checkpoint: each batch of tiles, once computed, is written to a file of its own in the
 * job's checkpoint folder (DATA_DIR/tmp/fix-<job>, shared by the workers like the blob folder) before
 * any of its tiles is sent to the room. A run of the same job that comes after a crash (a worker that
 * died, a restarted process) loads the batches found there instead of computing them again.
 *
 * A batch file is all or nothing: written under a temporary name and renamed into place, so a run
 * killed mid-write leaves no half file under the batch's name; what it holds is checked before it is
 * used (the same run: job, parameters, source, model and tiling, folded into `key`; the same tiles of
 * the same batch; the size and the sha256 of the pixels), and anything else is ignored (removed) and
 * computed again. Batches are the same as in an uninterrupted run, so every tile computed is computed
 * exactly as it would have been.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Pixels, Rect, TilePlan } from './tiling.js';
import type { TileRun } from './messages.js';

const MAGIC = Buffer.from('LOUPECK1');

interface BatchHeader {
  key: string;
  batch: number;
  depth: 8 | 16;
  tiles: { index: number; rect: Rect }[];
  bytes: number;
  sha256: string;
}

/** A computed tile: its index in the run (the order an uninterrupted run sends it), its rect in the result, its pixels. */
export interface CheckpointTile {
  index: number;
  rect: Rect;
  rgb: Pixels;
}

/**
 * What makes two runs' tiles interchangeable: the caller's identity of the job (`id`: job, parameters,
 * source frame, model), the model file and its per-job inputs, the value ranges, the result's depth and
 * the exact tiling (every batch's tiles, in order).
 */
export function checkpointKey(id: string, req: TileRun, batches: TilePlan[][], depth: 8 | 16): string {
  const hash = crypto.createHash('sha256');
  const { modelPath, inputName, outputName, inputRange, outputRange, width, height, scale, tileSize, context, inputSize, multipleOf, tileOrigin } = req;
  hash.update(JSON.stringify({ v: 1, id, modelPath, inputName, outputName, inputRange, outputRange, width, height, scale, tileSize, context, inputSize, multipleOf, tileOrigin, depth }));
  for (const [name, t] of Object.entries(req.extraInputs ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    hash.update(`|${name}:${t.dims.join('x')}:`).update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  hash.update(JSON.stringify(batches.map((b) => b.map((t) => [t.core.x, t.core.y, t.core.width, t.core.height, t.padded.x, t.padded.y, t.padded.width, t.padded.height]))));
  return hash.digest('hex');
}

export class TileCheckpoint {
  /** Set once a write failed: the run goes on without a checkpoint (it is a help, not a need). */
  private broken = false;

  constructor(
    readonly dir: string,
    private readonly key: string,
    private readonly depth: 8 | 16,
    private readonly log: (message: string) => void,
  ) {}

  private file(batch: number): string {
    return path.join(this.dir, `b${batch}.ckpt`);
  }

  /**
   * The batches found whole and valid, by batch number: each tile's pixels with its index and rect
   * (`expect(batch)` says which tiles the batch holds). An invalid file is removed.
   */
  async load(batches: number, expect: (batch: number) => { index: number; rect: Rect }[]): Promise<Map<number, CheckpointTile[]>> {
    const found = new Map<number, CheckpointTile[]>();
    const names = await fs.promises.readdir(this.dir).catch(() => [] as string[]);
    const numbered = names.flatMap((name) => /^b(\d+)\.ckpt$/.exec(name)?.[1] ?? []).map(Number);
    for (const batch of numbered.sort((x, y) => x - y)) {
      const file = this.file(batch);
      const tiles = batch < batches ? await this.read(file, batch, expect(batch)).catch((e: Error) => e.message) : 'no such batch in this run';
      if (typeof tiles === 'string') {
        this.log(`checkpoint ${file} ignored (${tiles}); its tiles are computed again`);
        await fs.promises.rm(file, { force: true });
      } else {
        found.set(batch, tiles);
      }
    }
    return found;
  }

  private async read(file: string, batch: number, expected: { index: number; rect: Rect }[]): Promise<CheckpointTile[] | string> {
    const buf = await fs.promises.readFile(file);
    if (buf.length < MAGIC.length + 4 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return 'not a checkpoint file';
    const headerLen = buf.readUInt32LE(MAGIC.length);
    const start = MAGIC.length + 4 + headerLen;
    if (start > buf.length) return 'torn header';
    let h: BatchHeader;
    try {
      h = JSON.parse(buf.subarray(MAGIC.length + 4, start).toString('utf8')) as BatchHeader;
    } catch {
      return 'torn header';
    }
    if (h.key !== this.key) return 'another run (job, parameters, source, model or tiling differ)';
    if (h.batch !== batch || h.depth !== this.depth || JSON.stringify(h.tiles) !== JSON.stringify(expected)) return 'other tiles than this batch';
    const bps = this.depth / 8;
    const bytes = h.tiles.reduce((n, t) => n + t.rect.width * t.rect.height * 3 * bps, 0);
    if (h.bytes !== bytes || buf.length - start !== bytes) return `torn: ${buf.length - start} of ${bytes} bytes`;
    const pixels = buf.subarray(start);
    if (crypto.createHash('sha256').update(pixels).digest('hex') !== h.sha256) return 'pixels do not match their sha256';
    // Copied out (aligned) from the file's buffer.
    const all = new Uint8Array(pixels);
    let at = 0;
    return h.tiles.map(({ index, rect }) => {
      const n = rect.width * rect.height * 3;
      const rgb = this.depth === 16 ? new Uint16Array(all.buffer, at, n) : all.subarray(at, at + n);
      at += n * bps;
      return { index, rect, rgb };
    });
  }

  /** Writes a computed batch; resolves once it is in place (or, if it could not be written, logged). */
  async save(batch: number, tiles: CheckpointTile[]): Promise<void> {
    if (this.broken) return;
    const parts = tiles.map((t) => new Uint8Array(t.rgb.buffer, t.rgb.byteOffset, t.rgb.byteLength));
    const hash = crypto.createHash('sha256');
    for (const p of parts) hash.update(p);
    const header: BatchHeader = {
      key: this.key,
      batch,
      depth: this.depth,
      tiles: tiles.map(({ index, rect }) => ({ index, rect })),
      bytes: parts.reduce((n, p) => n + p.length, 0),
      sha256: hash.digest('hex'),
    };
    const head = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(4);
    len.writeUInt32LE(head.length);
    const dest = this.file(batch);
    const tmp = `${dest}.${process.pid}.tmp`;
    try {
      await fs.promises.mkdir(this.dir, { recursive: true });
      await fs.promises.writeFile(tmp, [MAGIC, len, head, ...parts]);
      await fs.promises.rename(tmp, dest);
    } catch (e) {
      this.broken = true;
      await fs.promises.rm(tmp, { force: true });
      this.log(`checkpoint not written (${(e as Error).message}); the run goes on without one`);
    }
  }
}

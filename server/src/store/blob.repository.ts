import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { BlobStoreMessages, ErrorCode, LoupeError } from '@loupe/shared';

/** A stored blob as HTTP serves it: its size, and its bytes (all, or an inclusive range) as a stream. */
export interface BlobSource {
  size: number;
  read(range?: { start: number; end: number }): Promise<Readable>;
}

/**
 * Content-addressed media (the name is the sha256 of the bytes, so a blob never changes): uploads,
 * proxies, thumbnails, extracted frames, fix results. Two kinds (docs/deploy.md): the local folder
 * DATA_DIR/blobs (the embedded default), and an S3-compatible object store shared by every node, of
 * which each node keeps a local cache (s3.blob-store.ts).
 */
export interface BlobStore {
  readonly kind: 'local' | 's3';
  /** Whether the blob is stored (S3: in this node's cache, else in the bucket). */
  has(sha256: string): Promise<boolean>;
  /**
   * A local file holding the blob, for ffmpeg, sharp and the fix worker (S3: downloaded into the
   * cache first when needed, once however many ask at the same time). BLOB_MISSING when it is nowhere.
   */
  localPath(sha256: string): Promise<string>;
  /** The blob for serving, read where it is (S3: ranged reads of the bucket when not cached); null when missing. */
  source(sha256: string): Promise<BlobSource | null>;
  /** Stores bytes; resolves once they are stored (S3: in the bucket), with their sha256. */
  put(bytes: Uint8Array): Promise<string>;
  /**
   * Stores a finished file, which is moved (not copied) when it can be; resolves with its sha256.
   * `sha256`: the file's, hashed as it was written by this server's own worker (not read again).
   */
  putFile(file: string, sha256?: string): Promise<string>;
  close(): Promise<void>;
}

export function checkSha(sha256: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
  return sha256;
}

/** Where a blob sits in a content-addressed folder: `<dir>/ab/abcdef...`. */
export function blobFile(dir: string, sha256: string): string {
  checkSha(sha256);
  return path.join(dir, sha256.slice(0, 2), sha256);
}

export function blobMissing(sha256: string): LoupeError {
  return new LoupeError(ErrorCode.BLOB_MISSING, BlobStoreMessages.missing(sha256));
}

/** A local file as a BlobSource. */
export async function fileSource(file: string): Promise<BlobSource> {
  const size = (await fs.promises.stat(file)).size;
  return { size, read: async (range) => fs.createReadStream(file, range) };
}

/**
 * Makes `dest` atomically: `write` fills a temporary name beside it (same folder, so the rename is
 * atomic), which is then renamed into place; the temporary file never stays, whatever fails.
 */
export async function viaTemp(dest: string, write: (tmp: string) => Promise<void>): Promise<void> {
  await fs.promises.mkdir(path.dirname(dest), { recursive: true });
  const tmp = `${dest}.${process.pid}.${crypto.randomUUID()}.tmp`;
  try {
    await write(tmp);
    await fs.promises.rename(tmp, dest);
  } finally {
    await fs.promises.rm(tmp, { force: true });
  }
}

/** Writes bytes under `dest` atomically. */
export function writeAtomic(dest: string, bytes: Uint8Array): Promise<void> {
  return viaTemp(dest, (tmp) => fs.promises.writeFile(tmp, bytes));
}

/** Moves a file to `dest` (rename; copy and remove across file systems). */
export async function moveInto(file: string, dest: string): Promise<void> {
  await fs.promises.mkdir(path.dirname(dest), { recursive: true });
  try {
    await fs.promises.rename(file, dest);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
    await viaTemp(dest, (tmp) => fs.promises.copyFile(file, tmp));
    await fs.promises.rm(file, { force: true });
  }
}

/** The embedded default: content-addressed files under DATA_DIR/blobs, written atomically. */
export class LocalBlobStore implements BlobStore {
  readonly kind = 'local';
  readonly dir: string;
  constructor(dataDir: string) {
    this.dir = path.join(dataDir, 'blobs');
    fs.mkdirSync(this.dir, { recursive: true });
  }

  private file(sha256: string): string {
    return blobFile(this.dir, sha256);
  }

  async has(sha256: string): Promise<boolean> {
    return fs.existsSync(this.file(sha256));
  }

  async localPath(sha256: string): Promise<string> {
    const file = this.file(sha256);
    if (!fs.existsSync(file)) throw blobMissing(sha256);
    return file;
  }

  async source(sha256: string): Promise<BlobSource | null> {
    const file = this.file(sha256);
    return fs.existsSync(file) ? fileSource(file) : null;
  }

  async put(bytes: Uint8Array): Promise<string> {
    const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
    const dest = this.file(sha256);
    if (fs.existsSync(dest)) return sha256;
    await writeAtomic(dest, bytes);
    return sha256;
  }

  /** Moves a finished file into the store, hashing it on the way unless its sha256 is known. */
  async putFile(file: string, known?: string): Promise<string> {
    const sha256 = known ? checkSha(known) : await sha256File(file);
    const dest = this.file(sha256);
    if (fs.existsSync(dest)) await fs.promises.rm(file);
    else await moveInto(file, dest);
    return sha256;
  }

  async close(): Promise<void> {}
}

/** Local files of several blobs, `parallel` at a time (S3: downloads). */
export async function localPaths(store: BlobStore, shas: string[], parallel = 8): Promise<string[]> {
  const out = new Array<string>(shas.length);
  let next = 0;
  const worker = async () => {
    while (next < shas.length) {
      const i = next++;
      out[i] = await store.localPath(shas[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, shas.length) }, worker));
  return out;
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = crypto.createHash('sha256');
    fs.createReadStream(file)
      .on('data', (c) => hash.update(c))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

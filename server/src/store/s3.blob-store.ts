import crypto from 'node:crypto';
import fs from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, HeadBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { BlobStoreMessages, ErrorCode, LoupeError } from '@loupe/shared';
import type { BlobStoreConfig } from '../config.js';
import { BlobCache } from './blob-cache.js';
import { blobMissing, checkSha, fileSource, moveInto, sha256File, viaTemp, writeAtomic, type BlobSource, type BlobStore } from './blob.repository.js';

export type S3BlobConfig = Extract<BlobStoreConfig, { kind: 's3' }>;

/** Parts of a multipart upload (lib-storage): a result larger than one part goes up in parts, 4 at a time. */
const PART_BYTES = 8 * 1024 * 1024;

/**
 * Blobs in an S3-compatible object store (AWS S3, MinIO, Ceph RGW), the source of truth shared by
 * every node, under `<prefix><ab>/<sha256>` (the layout of DATA_DIR/blobs, so `aws s3 sync` moves a
 * local store over). ffmpeg, sharp and ONNX read local files, so each node keeps a content-addressed
 * cache (BlobCache): writes land in the bucket first, then in the cache; reads download on a miss.
 * A write resolves only once the bucket has the object (a multipart upload is completed or aborted,
 * never left half), so a version that names a blob can be read by every node.
 */
export class S3BlobStore implements BlobStore {
  readonly kind = 's3';
  readonly cache: BlobCache;
  private readonly client: S3Client;
  private readonly downloads = new Map<string, Promise<string>>();
  /** Named in every error: BLOB_URL and where the store is. */
  private readonly where: string;

  constructor(
    private readonly config: S3BlobConfig,
    opts: { graceMs?: number; onEvict?: (sha256: string, size: number) => void } = {},
  ) {
    this.client = new S3Client({
      region: config.region,
      endpoint: config.endpoint,
      forcePathStyle: config.forcePathStyle,
      credentials: config.credentials,
      // Checksums only where the API requires them: the SDK's default (a CRC trailer on every upload,
      // aws-chunked) is refused by older MinIO, Ceph RGW and test servers; the content's sha256 is its
      // name, checked on every download.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 60_000 },
    });
    this.cache = new BlobCache(config.cacheDir, config.cacheMaxBytes, opts.graceMs, opts.onEvict);
    this.where = `BLOB_URL=${config.url} (${config.endpoint ? `endpoint ${config.endpoint}` : `AWS S3, region ${config.region}`})`;
  }

  /** At start: the bucket answers, exists and lets us in (fail fast, naming BLOB_URL); reads the cache. */
  async open(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.config.bucket }));
    } catch (e) {
      // HEAD has no body: a missing bucket is a bare 404.
      if (status(e) === 404) throw new LoupeError(ErrorCode.BLOB_BUCKET_NOT_FOUND, BlobStoreMessages.noBucket(this.where, this.config.bucket));
      throw this.error(e, 'checking the bucket');
    }
    await this.cache.load();
  }

  private key(sha256: string): string {
    checkSha(sha256);
    return `${this.config.prefix}${sha256.slice(0, 2)}/${sha256}`;
  }

  /** The object's size, or null when the bucket does not have it. */
  private async head(sha256: string): Promise<number | null> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: this.key(sha256) }));
      return r.ContentLength ?? 0;
    } catch (e) {
      if (status(e) === 404 && !isNoBucket(e)) return null;
      throw this.error(e, `looking for ${sha256.slice(0, 12)}...`);
    }
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.cache.get(sha256)) !== null || (await this.head(sha256)) !== null;
  }

  async localPath(sha256: string): Promise<string> {
    const hit = await this.cache.get(sha256);
    if (hit) return hit;
    // One download per blob, however many ask for it meanwhile.
    let p = this.downloads.get(sha256);
    if (!p) {
      p = this.download(sha256).finally(() => this.downloads.delete(sha256));
      this.downloads.set(sha256, p);
    }
    return p;
  }

  /** Downloads into the cache: a temporary name, checked against the sha256, then renamed into place. */
  private async download(sha256: string): Promise<string> {
    const dest = this.cache.file(sha256);
    let size = 0;
    await viaTemp(dest, async (tmp) => {
      const body = await this.get(sha256);
      const hash = crypto.createHash('sha256');
      const hashing = new Transform({
        transform(chunk: Buffer, _enc, done) {
          hash.update(chunk);
          size += chunk.length;
          done(null, chunk);
        },
      });
      try {
        await pipeline(body, hashing, fs.createWriteStream(tmp));
      } catch (e) {
        if (e instanceof LoupeError) throw e;
        if ((e as NodeJS.ErrnoException).path) throw e; // the local disk (ENOSPC ...): as it is
        throw this.error(e, `downloading ${sha256.slice(0, 12)}...`);
      }
      const got = hash.digest('hex');
      if (got !== sha256) {
        throw new LoupeError(ErrorCode.BLOB_STORE_FAILED, BlobStoreMessages.failed(this.where, `downloading ${sha256.slice(0, 12)}...`, `the bytes received hash to ${got.slice(0, 12)}...`));
      }
    });
    await this.cache.added(sha256, size);
    return dest;
  }

  private async get(sha256: string, range?: { start: number; end: number }): Promise<Readable> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: this.key(sha256), Range: range ? `bytes=${range.start}-${range.end}` : undefined }));
      return r.Body as Readable;
    } catch (e) {
      if (status(e) === 404 && !isNoBucket(e)) throw blobMissing(sha256);
      throw this.error(e, `reading ${sha256.slice(0, 12)}...`);
    }
  }

  async source(sha256: string): Promise<BlobSource | null> {
    const hit = await this.cache.get(sha256);
    if (hit) return fileSource(hit);
    // Not here: serve straight from the bucket, a range at a time, without downloading it all.
    const size = await this.head(sha256);
    if (size === null) return null;
    return { size, read: (range) => this.get(sha256, range) };
  }

  async put(bytes: Uint8Array): Promise<string> {
    const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
    if ((await this.head(sha256)) === null) {
      await this.upload(sha256, { bytes }, bytes.byteLength);
    }
    if (!(await this.cache.get(sha256))) {
      await writeAtomic(this.cache.file(sha256), bytes);
      await this.cache.added(sha256, bytes.byteLength);
    }
    return sha256;
  }

  async putFile(file: string, known?: string): Promise<string> {
    const sha256 = known ? checkSha(known) : await sha256File(file);
    const size = (await fs.promises.stat(file)).size;
    if ((await this.head(sha256)) === null) await this.upload(sha256, { file }, size);
    if (await this.cache.get(sha256)) await fs.promises.rm(file);
    else {
      await moveInto(file, this.cache.file(sha256));
      await this.cache.added(sha256, size);
    }
    return sha256;
  }

  /**
   * Puts one object: a single PUT up to one part, a multipart upload above (lib-storage, parts in
   * parallel). A failure aborts the multipart upload, so the bucket never holds part of a blob.
   */
  private async upload(sha256: string, from: { bytes: Uint8Array } | { file: string }, size: number): Promise<void> {
    const params = { Bucket: this.config.bucket, Key: this.key(sha256), ContentType: 'application/octet-stream' };
    try {
      if (size <= PART_BYTES) {
        const bytes = 'bytes' in from ? from.bytes : await fs.promises.readFile(from.file);
        await this.client.send(new PutObjectCommand({ ...params, Body: bytes, ContentLength: bytes.byteLength }));
        return;
      }
      const body = 'bytes' in from ? from.bytes : fs.createReadStream(from.file);
      await new Upload({ client: this.client, params: { ...params, Body: body }, partSize: PART_BYTES, queueSize: 4, leavePartsOnError: false }).done();
    } catch (e) {
      if (e instanceof LoupeError) throw e;
      if ((e as NodeJS.ErrnoException).path) throw e; // reading the local file failed: as it is
      throw this.error(e, `storing ${sha256.slice(0, 12)}... (${size} bytes)`);
    }
  }

  /** What a failure of the store means, with a code and a message naming BLOB_URL. */
  error(e: unknown, what: string): LoupeError {
    const err = e as Error & { code?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
    const detail = `${err?.name && err.name !== 'Error' ? `${err.name}: ` : ''}${err?.message || err?.code || status(e) || String(e)}`;
    if (isNoBucket(e)) return new LoupeError(ErrorCode.BLOB_BUCKET_NOT_FOUND, BlobStoreMessages.noBucket(this.where, this.config.bucket));
    const s = status(e);
    const name = err?.name ?? '';
    if (s === 403 || s === 401 || /AccessDenied|Forbidden|InvalidAccessKeyId|SignatureDoesNotMatch|InvalidToken|ExpiredToken|CredentialsProviderError/.test(name)) {
      return new LoupeError(ErrorCode.BLOB_STORE_DENIED, BlobStoreMessages.denied(this.where, detail));
    }
    if (!s && (/^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|ENETUNREACH|EPIPE|CERT_|ERR_TLS|DEPTH_ZERO|UNABLE_TO)/.test(err?.code ?? '') || /TimeoutError|RequestTimeout|NetworkingError/.test(name))) {
      return new LoupeError(ErrorCode.BLOB_STORE_UNREACHABLE, BlobStoreMessages.unreachable(this.where, detail));
    }
    return new LoupeError(ErrorCode.BLOB_STORE_FAILED, BlobStoreMessages.failed(this.where, what, detail));
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

function status(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** A missing bucket: NoSuchBucket on GET and PUT; a bare 404 on HEAD of the bucket. */
function isNoBucket(e: unknown): boolean {
  const err = e as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return err?.name === 'NoSuchBucket' || err?.Code === 'NoSuchBucket';
}


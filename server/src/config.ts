import path from 'node:path';
import { z } from 'zod';
import { BlobStoreMessages, ErrorCode, Limits, LoupeError } from '@loupe/shared';

/** Everything the server reads from its environment, parsed once. */
const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  DATA_DIR: z.string().default('data'),
  /** Base URL printed in invite links. */
  PUBLIC_URL: z.string().url().optional(),
  /** HMAC secret for invite tokens; generated and kept in DATA_DIR when unset. */
  LOUPE_SECRET: z.string().min(16).optional(),
  /** Execution providers to try, in order. */
  LOUPE_PROVIDERS: z.string().default('cuda,cpu'),
  /** A studio's own models (LaMa, Real-ESRGAN ...): one sub-folder per model, manifest.json next to the .onnx. */
  LOUPE_MODELS_DIR: z.string().optional(),
  /** 1: also list the fixes whose learned model lost to the classical way on the measured fixtures (FixDescription.offered). */
  LOUPE_FIXES_ALL: z.enum(['0', '1']).default('0'),
  /** 0: no warm-up of the fix planners after start (the test suite, which starts hundreds of servers). */
  LOUPE_WARM_UP: z.enum(['0', '1']).default('1'),
  /** A running fix is stopped after this many seconds (no version is made). */
  FIX_TIMEOUT_S: z.coerce.number().positive().default(600),
  /** Invite lifetime. */
  INVITE_TTL_HOURS: z.coerce.number().positive().default(24 * 7),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Seconds a room with nobody in it stays in memory. */
  ROOM_IDLE_UNLOAD_S: z.coerce.number().min(0).default(20),
  /** A live room's stored updates are compacted into one snapshot at most this often (seconds), once ROOM_COMPACT_AFTER have gathered. */
  ROOM_COMPACT_S: z.coerce.number().min(0).default(60),
  /** Stored updates of a room that make it worth compacting (live, at load and at unload). */
  ROOM_COMPACT_AFTER: z.coerce.number().int().min(2).default(500),
  /** How often each node looks for revoked and expired invites among its live connections (seconds). */
  INVITE_CHECK_S: z.coerce.number().positive().default(2),
  /** Largest upload (all files of one upload together), bytes. */
  UPLOAD_MAX_BYTES: z.coerce.number().int().positive().default(Limits.defaultUploadMaxBytes),
  /** Most files in one upload (frames of a sequence) or entries in one zip. */
  UPLOAD_MAX_FILES: z.coerce.number().int().positive().default(Limits.defaultMaxUploadFiles),
  /** Hours an unfinished upload is kept for resuming. */
  UPLOAD_EXPIRY_HOURS: z.coerce.number().positive().default(48),
  /** Largest picture (width x height) of a movie or an image, from its header, before decoding. */
  MEDIA_MAX_PIXELS: z.coerce.number().int().positive().default(Limits.defaultMaxMediaPixels),
  /** Most bytes a zip may unpack to (default: 2 x UPLOAD_MAX_BYTES). */
  UNPACK_MAX_BYTES: z.coerce.number().int().positive().optional(),
  /** The browser proxy fits in this box. */
  PROXY_MAX_WIDTH: z.coerce.number().int().min(16).default(1920),
  PROXY_MAX_HEIGHT: z.coerce.number().int().min(16).default(1080),
  /** Keyframe interval of the proxy (frames): short for scrubbing, 1 = all-intra. */
  PROXY_GOP: z.coerce.number().int().min(1).default(6),
  /** Frame rate of image sequences that do not carry one (DPX and EXR headers may). */
  SEQUENCE_FPS: z.coerce.number().positive().max(1000).default(24),
  /** ffmpeg / ffprobe binaries; default: the system's (Debian's), else @ffmpeg-installer/ffmpeg. */
  FFMPEG_PATH: z.string().optional(),
  FFPROBE_PATH: z.string().optional(),
  /** Scale-out (docs/deploy.md): Redis shared by every node; unset = one process on its own. */
  REDIS_URL: z.string().url().optional(),
  /** Prefix of every Redis key and channel, so several Loupe installs (or test runs) can share a Redis. */
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]+$/).default('loupe'),
  /** PostgreSQL instead of the SQLite file under DATA_DIR. */
  DATABASE_URL: z.string().url().optional(),
  /** all: everything in one process; api: rooms and web only (fixes run on workers); worker: runs fixes only. */
  ROLE: z.enum(['all', 'api', 'worker']).default('all'),
  /** 1: make the first-start demo room on any node; 0: never. Unset: only on the embedded single node (docs/deploy.md). */
  LOUPE_DEMO: z.enum(['0', '1']).optional(),
  /** A worker or node that stops answering for this long loses its job (a fix, a render chunk, an ingest) to another (BullMQ lock). */
  FIX_LOCK_S: z.coerce.number().positive().default(30),
});

/** The object store's settings (docs/deploy.md#blobs-an-object-store), read by blobsFromEnv. */
const BlobEnv = z.object({
  /** s3://bucket[/prefix]: media in an S3-compatible object store; unset: the folder DATA_DIR/blobs. */
  BLOB_URL: z.string().optional(),
  /** The store's address (MinIO, Ceph RGW ...); unset: AWS S3 of AWS_REGION. */
  S3_ENDPOINT: z.string().optional(),
  AWS_ENDPOINT_URL_S3: z.string().optional(),
  AWS_ENDPOINT_URL: z.string().optional(),
  AWS_REGION: z.string().optional(),
  AWS_DEFAULT_REGION: z.string().optional(),
  /** 1: bucket in the path (http://host/bucket/key), as MinIO and Ceph RGW usually want; default 1 with an endpoint, else 0. */
  S3_FORCE_PATH_STYLE: z.enum(['0', '1']).optional(),
  /** This node's copy of the blobs it used (ffmpeg and ONNX read local files). */
  BLOB_CACHE_DIR: z.string().optional(),
  /** The cache's size limit; least recently used blobs go first. Unset: no limit. */
  BLOB_CACHE_MAX_GB: z.coerce.number().positive().optional(),
});

export type BlobStoreConfig =
  /** Content-addressed files under DATA_DIR/blobs: the embedded default. */
  | { kind: 'local' }
  | {
      kind: 's3';
      /** BLOB_URL as given (named in every error). */
      url: string;
      bucket: string;
      /** Key prefix, '' or ending with '/'. */
      prefix: string;
      endpoint?: string;
      region: string;
      forcePathStyle: boolean;
      /** Unset: the SDK's own chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, profiles, instance roles). */
      credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
      cacheDir: string;
      /** Bytes; unset: unbounded. */
      cacheMaxBytes?: number;
    };

/** The blob store the environment asks for (BLOB_URL and the usual S3 variables). */
export function blobsFromEnv(env: NodeJS.ProcessEnv, dataDir: string): BlobStoreConfig {
  const e = BlobEnv.parse(env);
  if (!e.BLOB_URL) return { kind: 'local' };
  const m = /^s3:\/\/([a-z0-9][a-z0-9._-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(e.BLOB_URL);
  const prefix = (m?.[2] ?? '').replace(/\/+$/, '');
  if (!m || prefix.split('/').some((part) => part === '.' || part === '..' || (part === '' && prefix !== '')) || /[\\\0]/.test(prefix)) {
    throw new LoupeError(ErrorCode.BLOB_URL_INVALID, BlobStoreMessages.invalidUrl(e.BLOB_URL));
  }
  const endpoint = e.S3_ENDPOINT ?? e.AWS_ENDPOINT_URL_S3 ?? e.AWS_ENDPOINT_URL;
  return {
    kind: 's3',
    url: e.BLOB_URL,
    bucket: m[1],
    prefix: prefix ? `${prefix}/` : '',
    endpoint,
    region: e.AWS_REGION ?? e.AWS_DEFAULT_REGION ?? 'us-east-1',
    forcePathStyle: e.S3_FORCE_PATH_STYLE ? e.S3_FORCE_PATH_STYLE === '1' : !!endpoint,
    cacheDir: path.resolve(e.BLOB_CACHE_DIR ?? path.join(dataDir, 'blob-cache')),
    cacheMaxBytes: e.BLOB_CACHE_MAX_GB === undefined ? undefined : Math.round(e.BLOB_CACHE_MAX_GB * 1024 ** 3),
  };
}

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  publicUrl?: string;
  secret?: string;
  providers: string[];
  /** Folders of studio models (LOUPE_MODELS_DIR). */
  modelsDirs: string[];
  /** LOUPE_FIXES_ALL=1: list every fix, those not offered by default too. */
  offerAllFixes: boolean;
  fixTimeoutMs: number;
  /** LOUPE_WARM_UP: compile match grade's planner in idle moments after start. */
  warmUp: boolean;
  inviteTtlHours: number;
  logLevel: z.infer<typeof Env>['LOG_LEVEL'];
  roomIdleUnloadMs: number;
  /** ROOM_COMPACT_S, ROOM_COMPACT_AFTER: a crash leaves at most this long's (or this many) stored updates of a room to load one by one. */
  roomCompact: { everyMs: number; afterRows: number };
  /** A revoked or expired invite's live connections are closed within this time. */
  inviteCheckMs: number;
  media: MediaConfig;
  role: 'all' | 'api' | 'worker';
  redis?: { url: string; prefix: string };
  databaseUrl?: string;
  fixLockMs: number;
  /** LOUPE_DEMO: make the first-start demo room (true), never (false), or unset: on the embedded single node only. */
  demo?: boolean;
  /** Where media lives: the local folder, or an object store with a cache on this node (BLOB_URL). */
  blobs: BlobStoreConfig;
}

export interface MediaConfig {
  uploadMaxBytes: number;
  uploadMaxFiles: number;
  uploadExpiryHours: number;
  maxPixels: number;
  unpackMaxBytes: number;
  proxyMaxWidth: number;
  proxyMaxHeight: number;
  proxyGop: number;
  sequenceFps: number;
}

/** What a caller (tests, the CLI) may set over the environment; media limits one by one. */
export type ConfigOverrides = Partial<Omit<Config, 'media'>> & { media?: Partial<MediaConfig> };

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: ConfigOverrides = {}): Config {
  const e = Env.parse(env);
  const config: Config = {
    port: e.PORT,
    host: e.HOST,
    dataDir: path.resolve(e.DATA_DIR),
    publicUrl: e.PUBLIC_URL,
    secret: e.LOUPE_SECRET,
    providers: e.LOUPE_PROVIDERS.split(',').map((s) => s.trim()).filter(Boolean),
    modelsDirs: e.LOUPE_MODELS_DIR ? [path.resolve(e.LOUPE_MODELS_DIR)] : [],
    offerAllFixes: e.LOUPE_FIXES_ALL === '1',
    fixTimeoutMs: e.FIX_TIMEOUT_S * 1000,
    warmUp: e.LOUPE_WARM_UP === '1',
    inviteTtlHours: e.INVITE_TTL_HOURS,
    logLevel: e.LOG_LEVEL,
    roomIdleUnloadMs: e.ROOM_IDLE_UNLOAD_S * 1000,
    roomCompact: { everyMs: e.ROOM_COMPACT_S * 1000, afterRows: e.ROOM_COMPACT_AFTER },
    inviteCheckMs: e.INVITE_CHECK_S * 1000,
    role: e.ROLE,
    redis: e.REDIS_URL ? { url: e.REDIS_URL, prefix: e.REDIS_PREFIX } : undefined,
    databaseUrl: e.DATABASE_URL,
    fixLockMs: e.FIX_LOCK_S * 1000,
    demo: e.LOUPE_DEMO === undefined ? undefined : e.LOUPE_DEMO === '1',
    blobs: overrides.blobs ?? blobsFromEnv(env, path.resolve(overrides.dataDir ?? e.DATA_DIR)),
    ...overrides,
    media: {
      uploadMaxBytes: e.UPLOAD_MAX_BYTES,
      uploadMaxFiles: e.UPLOAD_MAX_FILES,
      uploadExpiryHours: e.UPLOAD_EXPIRY_HOURS,
      maxPixels: e.MEDIA_MAX_PIXELS,
      unpackMaxBytes: e.UNPACK_MAX_BYTES ?? 2 * e.UPLOAD_MAX_BYTES,
      proxyMaxWidth: e.PROXY_MAX_WIDTH,
      proxyMaxHeight: e.PROXY_MAX_HEIGHT,
      proxyGop: e.PROXY_GOP,
      sequenceFps: e.SEQUENCE_FPS,
      ...overrides.media,
    },
  };
  if (config.role !== 'all' && !config.redis) {
    throw new Error(`ROLE=${config.role} needs REDIS_URL: API nodes and workers find each other through Redis (docs/deploy.md).`);
  }
  return config;
}

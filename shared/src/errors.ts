/** Every refusal a client can meet, with the code it carries on the wire. */
export const ErrorCode = {
  BAD_REQUEST: 'BAD_REQUEST', // payload failed its schema
  TOKEN_MISSING: 'TOKEN_MISSING',
  PROTOCOL_MISMATCH: 'PROTOCOL_MISMATCH', // the page speaks another protocol version than the server (Loupe was updated): reload the page
  TOKEN_INVALID: 'TOKEN_INVALID', // bad signature or malformed
  TOKEN_EXPIRED: 'TOKEN_EXPIRED',
  TOKEN_REVOKED: 'TOKEN_REVOKED',
  WRONG_ROOM: 'WRONG_ROOM', // token is for another room
  NOT_JOINED: 'NOT_JOINED', // event for a room the socket has not joined
  ROOM_NOT_FOUND: 'ROOM_NOT_FOUND',
  FORBIDDEN_ROLE: 'FORBIDDEN_ROLE', // the member's role may not do this
  VERSION_NOT_FOUND: 'VERSION_NOT_FOUND',
  FRAME_OUT_OF_RANGE: 'FRAME_OUT_OF_RANGE',
  REGION_OUT_OF_FRAME: 'REGION_OUT_OF_FRAME',
  REGION_TOO_LARGE: 'REGION_TOO_LARGE',
  REGION_TOO_SMALL: 'REGION_TOO_SMALL',
  UNKNOWN_FIX: 'UNKNOWN_FIX',
  QUEUE_FULL: 'QUEUE_FULL',
  BAD_YJS_MESSAGE: 'BAD_YJS_MESSAGE',
  BAD_ANNOTATION: 'BAD_ANNOTATION', // a document change that is not a valid annotation or note of yours
  MESSAGE_TOO_LARGE: 'MESSAGE_TOO_LARGE',
  INVALID_DECISION: 'INVALID_DECISION',
  UNKNOWN_EVENT: 'UNKNOWN_EVENT',
  FIX_FAILED: 'FIX_FAILED', // the fix ran and failed; no version was made
  FIX_TIMEOUT: 'FIX_TIMEOUT', // the fix ran past its time limit and was stopped; no version was made
  NOT_FIXABLE: 'NOT_FIXABLE', // the version has no frames to fix (e.g. an AI still)
  NOT_PRESENTER: 'NOT_PRESENTER', // only the presenter drives playback while control is 'presenter'
  MEMBER_NOT_HERE: 'MEMBER_NOT_HERE', // presentation handed to someone not in the room
  RATE_LIMITED: 'RATE_LIMITED',
  // Media upload and ingest (see docs/media.md)
  UPLOAD_TOO_LARGE: 'UPLOAD_TOO_LARGE', // over UPLOAD_MAX_BYTES, or more bytes than the upload declared
  UPLOAD_NOT_FOUND: 'UPLOAD_NOT_FOUND', // no such upload (or it was cancelled, finished or expired)
  UPLOAD_OFFSET_MISMATCH: 'UPLOAD_OFFSET_MISMATCH', // PATCH at another offset than the server has: ask HEAD again
  UPLOAD_TOO_MANY_FILES: 'UPLOAD_TOO_MANY_FILES',
  BAD_FILE_NAME: 'BAD_FILE_NAME', // path separators, control characters, hidden or relative names
  UNSUPPORTED_FORMAT: 'UNSUPPORTED_FORMAT', // file extension (or zip entry) Loupe does not ingest
  UNSUPPORTED_CODEC: 'UNSUPPORTED_CODEC', // a movie whose video codec is not H.264, HEVC, ProRes or DNxHD/HR
  CONTENT_MISMATCH: 'CONTENT_MISMATCH', // the bytes are not what the extension says
  CORRUPT_MEDIA: 'CORRUPT_MEDIA', // the right kind of file, but it cannot be read or decoded
  IMAGE_TOO_LARGE: 'IMAGE_TOO_LARGE', // over MEDIA_MAX_PIXELS (declared size: decompression bombs stop here)
  ARCHIVE_UNSAFE: 'ARCHIVE_UNSAFE', // zip entry escaping the folder, absolute path, or unpacking past the limit
  SEQUENCE_INVALID: 'SEQUENCE_INVALID', // names that do not make one sequence, frames of different sizes
  SHOT_NOT_FOUND: 'SHOT_NOT_FOUND',
  INGEST_FAILED: 'INGEST_FAILED', // processing failed for another reason; nothing was created
  JOB_NOT_FOUND: 'JOB_NOT_FOUND',
  JOB_FINISHED: 'JOB_FINISHED', // cancelling a job that is already done, failed or cancelled
  MODEL_UNAVAILABLE: 'MODEL_UNAVAILABLE', // the fix's model is not installed or was refused at start
  MASK_REQUIRED: 'MASK_REQUIRED', // the fix works on a drawn mask
  // Exports and webhooks (see docs/exports.md)
  UNKNOWN_EXPORT: 'UNKNOWN_EXPORT', // an export file name or format Loupe does not make
  WEBHOOK_URL_INVALID: 'WEBHOOK_URL_INVALID', // not an absolute http(s) URL
  WEBHOOK_NOT_FOUND: 'WEBHOOK_NOT_FOUND',
  WEBHOOK_FAILED: 'WEBHOOK_FAILED', // a delivery the receiver did not accept (logged; the job system retries it while it may)
  // Viewer
  BAD_LUT: 'BAD_LUT', // a .cube file that is not a 3D LUT Loupe can apply (the message says which line and why)
  LUT_NOT_FOUND: 'LUT_NOT_FOUND', // no such LUT in this room
  RUNG_NOT_FOUND: 'RUNG_NOT_FOUND', // a proxy rung the version does not have (older versions have only the full proxy)
  // Storage (see docs/deploy.md, durability)
  STORAGE_FULL: 'STORAGE_FULL', // the server's disk (or database volume) is full: nothing was saved, send it again later
  STORAGE_FAILED: 'STORAGE_FAILED', // the database refused or lost the write: nothing was saved, send it again
  // The object store for media (BLOB_URL=s3://..., see docs/deploy.md#blobs-an-object-store)
  BLOB_URL_INVALID: 'BLOB_URL_INVALID', // BLOB_URL is not s3://bucket[/prefix]
  BLOB_STORE_UNREACHABLE: 'BLOB_STORE_UNREACHABLE', // the object store did not answer (address, network, DNS, TLS)
  BLOB_BUCKET_NOT_FOUND: 'BLOB_BUCKET_NOT_FOUND', // the bucket of BLOB_URL does not exist on that store
  BLOB_STORE_DENIED: 'BLOB_STORE_DENIED', // the store refused the credentials or the operation (keys, policy)
  BLOB_STORE_FAILED: 'BLOB_STORE_FAILED', // the store failed an upload or a download: nothing was stored, try again
  BLOB_MISSING: 'BLOB_MISSING', // media the database names is neither on this node nor in the store
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Close codes of the y-websocket endpoint: a connection that breaks a rule is closed, alone, with one
 * of these; the reason starts with the error code. 4000-4999 are the application's own (RFC 6455
 * 7.4.2); stock y-websocket clients take 4400-4499 as final (no reconnect) and 4500-4599 as "try
 * again later".
 */
export const CloseCode = {
  /** A message that is not a readable y-protocols message. */
  UNREADABLE: 1003,
  /** A text frame that is not UTF-8 (`ws` closes with it itself). */
  INVALID_UTF8: 1007,
  /** A frame over Limits.maxMessageBytes (closed by `ws`) or a Yjs message over Limits.maxYjsMessageBytes. */
  TOO_LARGE: 1009,
  /** The invite was revoked or expired while connected (TOKEN_REVOKED / TOKEN_EXPIRED): final. */
  INVITE_ENDED: 4401,
} as const;

export interface Refusal {
  ok: false;
  code: ErrorCode;
  message: string;
}
export type Ack<T extends object = object> = ({ ok: true } & T) | Refusal;

export function refusal(code: ErrorCode, message: string): Refusal {
  return { ok: false, code, message };
}

/** An error that travels to the client as a Refusal. */
export class LoupeError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'LoupeError';
  }
  toAck(): Refusal {
    return refusal(this.code, this.message);
  }
}

/**
 * What an operator is told when the object store of BLOB_URL fails (at start and at run time), one
 * definition of each. `where` names BLOB_URL and the endpoint; `detail` is the store's own words.
 */
export const BlobStoreMessages = {
  invalidUrl: (url: string) => `BLOB_URL=${url} is not an object store address: write s3://bucket or s3://bucket/prefix (unset BLOB_URL for the local folder DATA_DIR/blobs).`,
  unreachable: (where: string, detail: string) => `The object store of ${where} did not answer (${detail}): check the endpoint (AWS_ENDPOINT_URL / S3_ENDPOINT), the network and TLS.`,
  noBucket: (where: string, bucket: string) => `The bucket "${bucket}" of ${where} does not exist: create it, or fix BLOB_URL.`,
  denied: (where: string, detail: string) => `The object store of ${where} refused access (${detail}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and that the bucket policy allows ListBucket, GetObject, PutObject and multipart uploads.`,
  failed: (where: string, what: string, detail: string) => `The object store of ${where} failed ${what} (${detail}); nothing was stored: try again.`,
  missing: (sha256: string) => `The media ${sha256.slice(0, 12)}... is neither on this server nor in the blob store (was it deleted by hand?).`,
} as const;

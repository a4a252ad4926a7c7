import type { BlobStoreConfig } from '../config.js';
import { LocalBlobStore, type BlobStore } from './blob.repository.js';

/**
 * The blob store the configuration names: the local folder DATA_DIR/blobs, or an S3-compatible
 * object store (BLOB_URL), checked before the server starts: an unreachable store, a missing bucket
 * or refused credentials stop the start with a code and a message naming BLOB_URL.
 */
export async function openBlobStore(dataDir: string, config: BlobStoreConfig): Promise<BlobStore> {
  if (config.kind === 'local') return new LocalBlobStore(dataDir);
  // Loaded only when asked for: the embedded server never loads the AWS SDK.
  const { S3BlobStore } = await import('./s3.blob-store.js');
  const store = new S3BlobStore(config);
  try {
    await store.open();
  } catch (e) {
    await store.close();
    throw e;
  }
  return store;
}

import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { FileStore, type Configstore } from '@tus/file-store';
import { Upload } from '@tus/server';
import { ErrorCode, LoupeError, type InviteClaims } from '@loupe/shared';
import type { IngestService } from './ingest.service.js';

/**
 * Where tus keeps an upload: file `i` of ingest `X` is `<uploads>/X/i.part` (what processing reads), so
 * the store's id is `X/i.part` while the URL names it `X.i` (`/api/uploads/X.i`, as always).
 */
export const storeIdOf = (uploadId: string): string | undefined => {
  const m = /^([A-Za-z0-9]{6,32})\.(\d{1,6})$/.exec(uploadId);
  return m ? `${m[1]}/${m[2]}.part` : undefined;
};
export const uploadIdOf = (storeId: string): string => {
  const m = /^([A-Za-z0-9]{6,32})\/(\d{1,6})\.part$/.exec(storeId);
  if (!m) throw new LoupeError(ErrorCode.UPLOAD_NOT_FOUND, 'No such upload.');
  return `${m[1]}.${m[2]}`;
};

/**
 * The tus store of Loupe's uploads: @tus/file-store's FileStore over the uploads folder, whose upload
 * records (its "configstore") are the ingests: an upload's size, name and date are those announced
 * when its ingest was created (POST /api/ingests or tus creation), its offset the size of its part
 * file. `claims` is the member of the request being served (checked before tus sees the request).
 *
 * Two departures from FileStore, both so members keep what they had:
 * - write: FileStore answers any failed write with a bare 500 ("Something went wrong receiving the
 *   file"); here the bytes go through IngestService.receive, so a full disk is STORAGE_FULL (507) and
 *   the room sees the upload's progress while the bytes arrive.
 * - remove (tus termination): cancels the whole ingest (all its files), as DELETE always did.
 *
 * Uploads are received on local disk also with BLOB_URL=s3://...: processing (probe, proxy, unpack)
 * reads the received files from the uploads folder, so @tus/s3-store (a multipart upload into the
 * bucket) would only add a download before processing. Only the ingest's outputs go to the blob store.
 */
export class IngestUploadStore extends FileStore {
  constructor(
    private readonly ingests: IngestService,
    uploadsDir: string,
    private readonly claims: () => InviteClaims,
  ) {
    super({ directory: uploadsDir, configstore: ingestRecords(ingests, claims) });
    // No creation-defer-length (an ingest is announced with its sizes), and expiry is the ingests'
    // (UPLOAD_EXPIRY_HOURS after the last progress, not after creation): neither is advertised.
    this.extensions = ['creation', 'creation-with-upload', 'termination'];
  }

  override async getUpload(id: string): Promise<Upload> {
    const { rec, index, size } = await this.ingests.file(uploadIdOf(id), this.claims());
    if (rec.state === 'cancelled' || rec.state === 'failed') throw new LoupeError(ErrorCode.UPLOAD_NOT_FOUND, `Upload ${uploadIdOf(id)} was ${rec.state}.`);
    // Received and handed to processing (its part files go once processed): every byte is in.
    if (rec.state !== 'uploading') return new Upload({ id, size, offset: size, metadata: { filename: rec.files[index].name }, creation_date: rec.createdAt });
    return super.getUpload(id);
  }

  override async create(upload: Upload): Promise<Upload> {
    // The ingest made the empty part file when it was created; FileStore's create checks it is there.
    await fs.promises.access(path.join(this.directory, upload.id));
    return super.create(upload);
  }

  override async write(readable: Readable, id: string, offset: number): Promise<number> {
    const file = path.join(this.directory, id);
    return this.ingests.receive(uploadIdOf(id), this.claims(), readable, () => fs.createWriteStream(file, { flags: 'r+', start: offset }));
  }

  override async remove(id: string): Promise<void> {
    const { rec } = await this.ingests.file(uploadIdOf(id), this.claims());
    await this.ingests.cancel(rec.id, this.claims());
  }

  override async declareUploadLength(): Promise<void> {
    throw new LoupeError(ErrorCode.BAD_REQUEST, 'Upload-Defer-Length is not supported: send Upload-Length.');
  }
}

/** The ingests as FileStore's upload records: read from the ingest, never written by tus. */
function ingestRecords(ingests: IngestService, claims: () => InviteClaims): Configstore {
  return {
    async get(id) {
      const { rec, index, size } = await ingests.file(uploadIdOf(id), claims());
      return new Upload({ id, size, offset: 0, metadata: { filename: rec.files[index].name }, creation_date: rec.createdAt });
    },
    // The ingest was stored when it was announced; cancelling removes its files.
    async set() {},
    async delete() {},
  };
}

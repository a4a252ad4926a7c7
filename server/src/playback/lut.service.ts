import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode, LoupeError, parseCube } from '@loupe/shared';
import type { BlobStore } from '../store/blob.repository.js';

export interface RoomLut {
  sha256: string;
  name: string;
  size: number;
}

/**
 * The .cube LUTs a room's members chose for the viewer, kept in the blob store (the local folder or
 * the object store, so every node finds them) and granted to the room, so the presenter's LUT can be
 * named in the synced playback state by its sha256 and fetched by every follower. A file is checked
 * (parsed) before it is kept: a member cannot make the room fetch something that is not a LUT.
 * LUTs kept by older versions in the data folder (`luts/<room>/<sha256>.cube`) are still read.
 */
export class LutService {
  private readonly legacyDir: string;

  constructor(
    private readonly blobs: BlobStore,
    private readonly rooms: { grantBlob(roomId: string, sha256: string): Promise<void>; mayReadBlob(roomId: string, sha256: string): Promise<boolean> },
    dataDir: string,
  ) {
    this.legacyDir = path.join(dataDir, 'luts');
  }

  private legacyFile(roomId: string, sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256) || !/^[A-Za-z0-9_-]{1,64}$/.test(roomId)) throw new LoupeError(ErrorCode.LUT_NOT_FOUND, 'No such LUT in this room.');
    return path.join(this.legacyDir, roomId, `${sha256}.cube`);
  }

  /** Checks and keeps a LUT; the same file twice is kept once. Throws BAD_LUT with the line at fault. */
  async put(roomId: string, text: string, name?: string): Promise<RoomLut> {
    const lut = parseCube(text);
    const sha256 = await this.blobs.put(Buffer.from(text, 'utf8'));
    await this.rooms.grantBlob(roomId, sha256);
    return { sha256, name: (name?.trim() || lut.title || 'LUT').slice(0, 200), size: lut.size };
  }

  /** The LUT's text, or LUT_NOT_FOUND. */
  async get(roomId: string, sha256: string): Promise<string> {
    const legacy = this.legacyFile(roomId, sha256);
    try {
      if (await this.rooms.mayReadBlob(roomId, sha256)) return await fs.promises.readFile(await this.blobs.localPath(sha256), 'utf8');
      return await fs.promises.readFile(legacy, 'utf8');
    } catch (e) {
      if (e instanceof LoupeError && e.code !== ErrorCode.BLOB_MISSING) throw e;
      throw new LoupeError(ErrorCode.LUT_NOT_FOUND, 'No such LUT in this room: the presenter may have to choose it again.');
    }
  }

  async has(roomId: string, sha256: string): Promise<boolean> {
    try {
      return fs.existsSync(this.legacyFile(roomId, sha256)) || ((await this.rooms.mayReadBlob(roomId, sha256)) && (await this.blobs.has(sha256)));
    } catch {
      return false;
    }
  }
}

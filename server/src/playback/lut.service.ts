import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { ErrorCode, LoupeError, parseCube } from '@loupe/shared';

export interface RoomLut {
  sha256: string;
  name: string;
  size: number;
}

/**
 * The .cube LUTs a room's members chose for the viewer, kept in the data folder
 * (`luts/<room>/<sha256>.cube`) so the presenter's LUT can be named in the synced playback state by
 * its sha256 and fetched by every follower. A file is checked (parsed) before it is kept: a member
 * cannot make the room fetch something that is not a LUT.
 */
export class LutService {
  private readonly dir: string;

  constructor(dataDir: string) {
    this.dir = path.join(dataDir, 'luts');
  }

  private file(roomId: string, sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256) || !/^[A-Za-z0-9_-]{1,64}$/.test(roomId)) throw new LoupeError(ErrorCode.LUT_NOT_FOUND, 'No such LUT in this room.');
    return path.join(this.dir, roomId, `${sha256}.cube`);
  }

  /** Checks and keeps a LUT; the same file twice is kept once. Throws BAD_LUT with the line at fault. */
  async put(roomId: string, text: string, name?: string): Promise<RoomLut> {
    const lut = parseCube(text);
    const sha256 = createHash('sha256').update(text).digest('hex');
    const file = this.file(roomId, sha256);
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    // Written aside and renamed: a reader never sees half a file.
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    await fs.promises.writeFile(tmp, text);
    await fs.promises.rename(tmp, file);
    return { sha256, name: (name?.trim() || lut.title || 'LUT').slice(0, 200), size: lut.size };
  }

  /** The LUT's text, or LUT_NOT_FOUND. */
  async get(roomId: string, sha256: string): Promise<string> {
    try {
      return await fs.promises.readFile(this.file(roomId, sha256), 'utf8');
    } catch (e) {
      if (e instanceof LoupeError) throw e;
      throw new LoupeError(ErrorCode.LUT_NOT_FOUND, 'No such LUT in this room: the presenter may have to choose it again.');
    }
  }

  has(roomId: string, sha256: string): boolean {
    try {
      return fs.existsSync(this.file(roomId, sha256));
    } catch {
      return false;
    }
  }
}

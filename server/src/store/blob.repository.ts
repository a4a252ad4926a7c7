import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Content-addressed files: the name is the sha256 of the bytes. Written atomically. */
export class BlobRepository {
  readonly dir: string;
  constructor(dataDir: string) {
    this.dir = path.join(dataDir, 'blobs');
    fs.mkdirSync(this.dir, { recursive: true });
  }

  path(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    return path.join(this.dir, sha256.slice(0, 2), sha256);
  }

  has(sha256: string): boolean {
    return fs.existsSync(this.path(sha256));
  }

  async put(bytes: Uint8Array): Promise<string> {
    const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
    const dest = this.path(sha256);
    if (fs.existsSync(dest)) return sha256;
    await fs.promises.mkdir(path.dirname(dest), { recursive: true });
    const tmp = `${dest}.${process.pid}.${crypto.randomUUID()}.tmp`;
    await fs.promises.writeFile(tmp, bytes);
    await fs.promises.rename(tmp, dest);
    return sha256;
  }

  /** Moves a finished file into the store (same filesystem), hashing it on the way. */
  async putFile(file: string): Promise<string> {
    const sha256 = await sha256File(file);
    const dest = this.path(sha256);
    await fs.promises.mkdir(path.dirname(dest), { recursive: true });
    if (fs.existsSync(dest)) await fs.promises.rm(file);
    else await fs.promises.rename(file, dest);
    return sha256;
  }
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

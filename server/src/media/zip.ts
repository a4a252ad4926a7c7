import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import { ErrorCode, LoupeError, badFileName, extensionOf, mediaKindOf } from '@loupe/shared';

/** Entries a zip may carry besides the frames; they are skipped. */
const IGNORED = new Set(['txt', 'md', 'json', 'xml', 'csv', 'log', 'nfo']);
const IGNORED_NAMES = new Set(['Thumbs.db', 'desktop.ini', '.DS_Store']);

export interface UnzippedFile {
  /** The entry's file name (its last path segment). */
  name: string;
  /** Where it was written (a name Loupe chose, never the entry's path). */
  path: string;
  size: number;
}

const unsafe = (why: string) => new LoupeError(ErrorCode.ARCHIVE_UNSAFE, why);

/**
 * Unpacks the image files of a zip into `outDir`. The entries' names are checked (an entry that would
 * land outside the folder, an absolute path or a drive letter refuses the whole zip with ARCHIVE_UNSAFE)
 * but never used as paths: files are written under names Loupe chooses. The declared sizes must fit
 * `maxBytes` before anything is unpacked, and the real sizes must match the declared ones.
 */
export async function unzipImages(zipPath: string, outDir: string, limits: { maxEntries: number; maxBytes: number }, onProgress?: (pct: number) => void): Promise<UnzippedFile[]> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(zipPath, { lazyEntries: true, autoClose: false, validateEntrySizes: true, strictFileNames: true, decodeStrings: true }, (err, z) =>
      err ? reject(mapZipError(err)) : resolve(z!),
    ),
  );
  try {
    if (zip.entryCount > limits.maxEntries * 2 + 16) {
      throw new LoupeError(ErrorCode.UPLOAD_TOO_MANY_FILES, `the zip has ${zip.entryCount} entries; at most ${limits.maxEntries} files per upload`);
    }
    // First pass: read and check the whole directory before unpacking one byte.
    const entries = await readEntries(zip);
    const wanted: yauzl.Entry[] = [];
    let total = 0;
    for (const e of entries) {
      const name = e.fileName;
      const parts = name.split('/');
      if (name.includes('\\') || /^[a-zA-Z]:/.test(name) || name.startsWith('/') || parts.includes('..')) {
        throw unsafe(`the zip entry "${name}" would be written outside the upload folder`);
      }
      if (name.endsWith('/')) continue; // a folder
      const base = parts[parts.length - 1];
      if (parts.includes('__MACOSX') || IGNORED_NAMES.has(base) || base.startsWith('._')) continue;
      if (IGNORED.has(extensionOf(base))) continue;
      const bad = badFileName(base);
      if (bad) throw new LoupeError(ErrorCode.BAD_FILE_NAME, `zip entry: ${bad}`);
      if (mediaKindOf(base) !== 'image') {
        throw new LoupeError(ErrorCode.UNSUPPORTED_FORMAT, `the zip entry "${name}" is not an image-sequence frame (a zip may hold PNG, JPEG, TIFF, OpenEXR or DPX frames)`);
      }
      if (e.isEncrypted()) throw new LoupeError(ErrorCode.UNSUPPORTED_FORMAT, `the zip entry "${name}" is encrypted`);
      if (!e.canDecodeFileData()) throw new LoupeError(ErrorCode.UNSUPPORTED_FORMAT, `the zip entry "${name}" uses an unsupported compression method`);
      wanted.push(e);
      total += e.uncompressedSize;
      if (wanted.length > limits.maxEntries) {
        throw new LoupeError(ErrorCode.UPLOAD_TOO_MANY_FILES, `the zip holds more than ${limits.maxEntries} frames`);
      }
      if (total > limits.maxBytes) throw unsafe(`the zip unpacks to more than ${limits.maxBytes} bytes (UNPACK_MAX_BYTES)`);
    }
    if (wanted.length === 0) throw new LoupeError(ErrorCode.UNSUPPORTED_FORMAT, 'the zip holds no image files');

    await fs.promises.mkdir(outDir, { recursive: true });
    const out: UnzippedFile[] = [];
    let done = 0;
    for (const [i, e] of wanted.entries()) {
      const base = e.fileName.split('/').pop()!;
      const dest = path.join(outDir, `z${String(i).padStart(6, '0')}.${extensionOf(base)}`);
      const stream = await new Promise<NodeJS.ReadableStream>((resolve, reject) => zip.openReadStream(e, (err, s) => (err ? reject(mapZipError(err)) : resolve(s!))));
      await pipeline(stream, fs.createWriteStream(dest)).catch((err: Error) => {
        throw mapZipError(err);
      });
      out.push({ name: base, path: dest, size: e.uncompressedSize });
      done += e.uncompressedSize;
      onProgress?.(total ? (100 * done) / total : 100);
    }
    return out;
  } finally {
    zip.close();
  }
}

function readEntries(zip: yauzl.ZipFile): Promise<yauzl.Entry[]> {
  return new Promise((resolve, reject) => {
    const list: yauzl.Entry[] = [];
    zip.on('entry', (e: yauzl.Entry) => {
      list.push(e);
      zip.readEntry();
    });
    zip.once('end', () => resolve(list));
    zip.once('error', (e: Error) => reject(mapZipError(e)));
    zip.readEntry();
  });
}

function mapZipError(e: Error): Error {
  if (e instanceof LoupeError) return e;
  const m = e.message ?? String(e);
  if (/absolute path|invalid relative path|invalid characters in fileName/.test(m)) {
    return unsafe(`the zip has an entry that would be written outside the upload folder (${m})`);
  }
  if (/too many bytes|too few bytes|size mismatch|uncompressed size/.test(m)) return unsafe(`a zip entry is not the size it declares (${m})`);
  return new LoupeError(ErrorCode.CORRUPT_MEDIA, `the zip cannot be read (${m})`);
}

/**
 * Pixels in and out of image files, shared by the server (FixRunner) and the inference worker:
 * reading RGB at 8 or 16 bits, and PNG encoding at either depth with an optional mask alpha.
 */
import zlib from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import type { Tile } from '@loupe/shared';
import type { Pixels, Rect } from './tiling.js';

/** A tile as sent to the room: its picture, encoded. */
export type EncodedTile = Pick<Tile, 'data' | 'mime'>;

/** Interleaved 8-bit sRGB of an image (alpha dropped). */
export async function readRgb(img: Sharp): Promise<{ rgb: Uint8Array; width: number; height: number }> {
  const { data, info } = await img.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}

/** RGB at 16 bits when `deep` (libvips' rgb16, native byte order), else 8 bits. */
export async function readPixels(img: Sharp, deep: boolean): Promise<{ rgb: Pixels; width: number; height: number }> {
  if (!deep) return readRgb(img);
  const { data, info } = await img.removeAlpha().toColourspace('rgb16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
  const rgb = data.byteOffset % 2 ? new Uint16Array(new Uint8Array(data).buffer) : new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
  return { rgb, width: info.width, height: info.height };
}

/** 16 -> 8 bits, rounded (v / 257). */
export function to8(rgb: Uint16Array): Uint8Array {
  const out = new Uint8Array(rgb.length);
  for (let i = 0; i < rgb.length; i++) out[i] = (rgb[i] + 128) / 257;
  return out;
}

/**
 * A tile for the room: a preview, painted until the version's lossless PNG replaces it. JPEG
 * (quality 90, full-resolution chroma) when opaque: measured on a 512x512 tile, 3.5 ms and 23 KB
 * against 8.6 ms and 386 KB for PNG, so fifteen tiles reach a remote member in 0.3 MB, not 6 MB.
 * PNG when it carries the mask's alpha (JPEG has none).
 */
export async function encodeTile(rgb: Uint8Array, width: number, height: number, alpha: Uint8Array | null): Promise<EncodedTile> {
  if (alpha) return { data: await writePng(rgb, width, height, alpha, height), mime: 'image/png' };
  const b = await sharp(rgb, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90, chromaSubsampling: '4:4:4' }).toBuffer();
  return { data: new Uint8Array(b.buffer, b.byteOffset, b.byteLength), mime: 'image/jpeg' };
}

/** The `r` part of a one-channel plane of width `stride`. */
export function cropAlpha(alpha: Uint8Array, stride: number, r: Rect): Uint8Array {
  const out = new Uint8Array(r.width * r.height);
  for (let y = 0; y < r.height; y++) out.set(alpha.subarray((r.y + y) * stride + r.x, (r.y + y) * stride + r.x + r.width), y * r.width);
  return out;
}

// ---------------------------------------------------------------------------------------------
// A fast PNG writer for results and tile previews (docs/gpu.md, "How fast the fix pipeline is").
//
// Every row uses PNG's "Up" filter (the first row of each band "Sub", so that a band needs nothing
// from the others), and each band is deflated on its own in libuv's thread pool (while the next batch
// of tiles runs); the parts, each ended with a sync flush, concatenate into one valid zlib stream
// (pigz's trick; matches never cross a band, which costs nothing with Z_RLE). On the grainy 1080p
// result of the benchmark (exposure with a relight): 8 bits 3.32 MB in about 50 ms vs libvips' level 6
// + adaptive filters 3.28 MB in 180-200 ms; 16 bits 10.4 MB in about 120 ms vs 10.3 MB in 470 ms.

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
/**
 * Z_RLE at level 1, at both depths. 8 bits: as small as libvips' level 6 + adaptive filters on grain,
 * 3-4x faster. 16 bits: the low bytes of a graded frame hardly compress whatever the setting (10.36 MB
 * vs 10.21 MB for level 1 default strategy, 10.26 MB for libvips level 6, of 12.4 MB raw), at 2.5x the speed.
 */
const DEFLATE = { level: 1, strategy: zlib.constants.Z_RLE, finishFlush: zlib.constants.Z_SYNC_FLUSH };
/** An empty final deflate block: what closes a stream of Z_SYNC_FLUSH-ed parts. */
const FINAL_BLOCK = Uint8Array.of(0x03, 0x00);
const PART_ROWS = 128;
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

function deflatePart(bytes: Uint8Array): Promise<Uint8Array> {
  // One output chunk as large as the worst case: the whole part is one job in the thread pool, not
  // one per 16 KB chunk, each waiting for a busy event loop to hand out the next.
  const options = { ...DEFLATE, chunkSize: Math.max(64 * 1024, bytes.length + (bytes.length >> 8) + 1024) };
  return new Promise((resolve, reject) => zlib.deflateRaw(bytes, options, (e, out) => (e ? reject(e) : resolve(new Uint8Array(out.buffer, out.byteOffset, out.byteLength)))));
}

/** Adler-32 of `bytes`, continuing from `adler`. */
function adler32(bytes: Uint8Array, adler = 1): number {
  let a = adler & 0xffff;
  let b = adler >>> 16;
  for (let i = 0; i < bytes.length; ) {
    const end = Math.min(bytes.length, i + 5552);
    for (; i < end; i++) {
      a += bytes[i];
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** A text chunk as PNG's iTXt (UTF-8, uncompressed, no language tag). */
export function pngTextChunk(keyword: string, text: string): Uint8Array {
  const key = Buffer.from(keyword, 'latin1');
  const body = Buffer.from(text, 'utf8');
  const data = new Uint8Array(key.length + 5 + body.length);
  data.set(key);
  data.set(body, key.length + 5); // keyword, NUL, compression flag and method 0, empty language and translated keyword
  return pngChunk('iTXt', data);
}

/**
 * A PNG's pieces (as PngWriter.pieces gives them: the signature, IHDR, then the rest) with a text chunk
 * right after IHDR, where readers look first. Nothing is copied.
 */
export function withPngText(pieces: Uint8Array[], keyword: string, text: string): Uint8Array[] {
  return [pieces[0], pieces[1], pngTextChunk(keyword, text), ...pieces.slice(2)];
}

/** A whole PNG file as pieces: the signature, IHDR, the rest (views, not copies). */
export function pngPieces(png: Uint8Array): Uint8Array[] {
  for (let i = 0; i < SIGNATURE.length; i++) if (png[i] !== SIGNATURE[i]) throw new Error('not a PNG');
  const ihdrEnd = 8 + 12 + new DataView(png.buffer, png.byteOffset, png.byteLength).getUint32(8);
  return [png.subarray(0, 8), png.subarray(8, ihdrEnd), png.subarray(ihdrEnd)];
}

/** The pieces joined into one file. */
export function joinPieces(pieces: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, zlib.crc32(out.subarray(4, 8 + data.length)) >>> 0);
  return out;
}

/**
 * Writes a PNG (RGB or RGBA, 8 or 16 bits: the depth of the pixels) band by band: `band(y0, y1)` filters
 * rows y0..y1-1 from `rgb` (which must hold them by then) and starts deflating them; `finish()` waits
 * for every band and assembles the file. Each row must belong to exactly one band; bands may come in
 * any order. The alpha plane (8 bits, width x height) is scaled to 16 bits for a 16-bit picture.
 */
export class PngWriter {
  private readonly parts = new Map<number, { rows: number; adler: number; bytes: Promise<Uint8Array>; length: number }>();
  private readonly deep: boolean;
  private readonly channels: number;
  private readonly rowBytes: number;

  constructor(
    private readonly rgb: Pixels,
    readonly width: number,
    readonly height: number,
    private readonly alpha: Uint8Array | null = null,
  ) {
    this.deep = rgb instanceof Uint16Array;
    this.channels = alpha ? 4 : 3;
    this.rowBytes = width * this.channels * (this.deep ? 2 : 1);
  }

  band(y0: number, y1: number): void {
    // Parts of at most PART_ROWS rows deflate in parallel: little is left after the last band comes in.
    for (let y = y0; y < y1; y += PART_ROWS) this.part(y, Math.min(y1, y + PART_ROWS));
  }

  private part(y0: number, y1: number): void {
    if (y1 <= y0) return;
    const { rowBytes } = this;
    const filtered = new Uint8Array((y1 - y0) * (rowBytes + 1));
    // Two row buffers of samples as they go in the file (big-endian for 16 bits, alpha interleaved).
    const bpp = this.channels * (this.deep ? 2 : 1);
    if (!this.alpha && this.upWords(y0, y1, filtered)) return this.deflate(y0, y1, filtered);
    if (!this.deep && !this.alpha) {
      // 8-bit RGB: filtered straight from the pixels, no row copies.
      const px = this.rgb as Uint8Array;
      for (let y = y0; y < y1; y++) {
        let o = (y - y0) * (rowBytes + 1);
        const s = y * rowBytes;
        const end = s + rowBytes;
        if (y === y0) {
          filtered[o++] = 1;
          for (let i = s; i < s + bpp; i++) filtered[o++] = px[i];
          for (let i = s + bpp; i < end; i++) filtered[o++] = px[i] - px[i - bpp];
        } else {
          filtered[o++] = 2;
          for (let i = s; i < end; i++) filtered[o++] = px[i] - px[i - rowBytes];
        }
      }
      return this.deflate(y0, y1, filtered);
    }
    if (this.deep && !this.alpha) {
      // 16-bit RGB: big-endian bytes filtered straight from the samples.
      const px = this.rgb as Uint16Array;
      const n = rowBytes >> 1;
      for (let y = y0; y < y1; y++) {
        let o = (y - y0) * (rowBytes + 1);
        const s = y * n;
        if (y === y0) {
          filtered[o++] = 1;
          for (let i = 0; i < n; i++) {
            const v = px[s + i];
            const a = i >= 3 ? px[s + i - 3] : 0;
            filtered[o++] = (v >> 8) - (a >> 8);
            filtered[o++] = (v & 255) - (a & 255);
          }
        } else {
          filtered[o++] = 2;
          for (let i = s, end = s + n; i < end; i++) {
            const v = px[i];
            const b = px[i - n];
            filtered[o++] = (v >> 8) - (b >> 8);
            filtered[o++] = (v & 255) - (b & 255);
          }
        }
      }
      return this.deflate(y0, y1, filtered);
    }
    let prev = new Uint8Array(rowBytes);
    let cur = new Uint8Array(rowBytes);
    for (let y = y0; y < y1; y++) {
      this.row(y, cur);
      const o = (y - y0) * (rowBytes + 1);
      if (y === y0) {
        // Sub: this band's first row needs nothing from the band above.
        filtered[o] = 1;
        for (let i = 0; i < bpp; i++) filtered[o + 1 + i] = cur[i];
        for (let i = bpp; i < rowBytes; i++) filtered[o + 1 + i] = cur[i] - cur[i - bpp];
      } else {
        filtered[o] = 2;
        for (let i = 0; i < rowBytes; i++) filtered[o + 1 + i] = cur[i] - prev[i];
      }
      const t = prev;
      prev = cur;
      cur = t;
    }
    this.deflate(y0, y1, filtered);
  }

  /**
   * RGB rows y0..y1-1 filtered four bytes at a time (SWAR), when every row starts on a 32-bit word of a
   * little-endian host: each byte's difference with the byte above, without borrows between bytes; at
   * 16 bits the two bytes of each sample swapped to big-endian (which commutes with the difference).
   * The first row is Sub (bytes from the left), the others Up. False (nothing done) when rows are not
   * word-aligned: the byte loops do it.
   */
  private upWords(y0: number, y1: number, filtered: Uint8Array): boolean {
    const { rowBytes, rgb, deep } = this;
    if (!LITTLE_ENDIAN || rowBytes % 4 !== 0 || rgb.byteOffset % 4 !== 0) return false;
    const words = new Uint32Array(rgb.buffer, rgb.byteOffset, rgb.byteLength >> 2);
    const n = rowBytes >> 2;
    const row = new Uint32Array(n);
    const rowBytesView = new Uint8Array(row.buffer);
    const bpp = deep ? 6 : 3;
    for (let y = y0; y < y1; y++) {
      const s = y * n;
      const o = (y - y0) * (rowBytes + 1);
      if (y === y0) {
        // Sub: the difference with the pixel to the left, bytes as the file stores them.
        const bytes = new Uint8Array(rgb.buffer, rgb.byteOffset + s * 4, rowBytes);
        filtered[o] = 1;
        for (let i = 0; i < rowBytes; i++) {
          const b = deep ? i ^ 1 : i; // big-endian samples: the other byte of the pair
          filtered[o + 1 + i] = bytes[b] - (i >= bpp ? bytes[b - bpp] : 0);
        }
        continue;
      }
      for (let k = 0; k < n; k++) {
        const a = words[s + k];
        const b = words[s - n + k];
        const d = ((a | 0x80808080) - (b & 0x7f7f7f7f)) ^ ((a ^ ~b) & 0x80808080);
        row[k] = deep ? ((d & 0x00ff00ff) << 8) | ((d >>> 8) & 0x00ff00ff) : d;
      }
      filtered[o] = 2;
      filtered.set(rowBytesView, o + 1);
    }
    return true;
  }

  private deflate(y0: number, y1: number, filtered: Uint8Array): void {
    // The deflate runs in the thread pool; the checksum here, meanwhile.
    const bytes = deflatePart(filtered);
    this.parts.set(y0, { rows: y1 - y0, adler: adler32(filtered), bytes, length: filtered.length });
  }

  /** Row y of the picture as the file stores it. */
  private row(y: number, out: Uint8Array): void {
    const { rgb, width, alpha, deep } = this;
    const src = y * width * 3;
    if (!deep) {
      const px = rgb as Uint8Array;
      if (!alpha) return out.set(px.subarray(src, src + width * 3));
      for (let x = 0, o = 0, s = src, a = y * width; x < width; x++, s += 3) {
        out[o++] = px[s];
        out[o++] = px[s + 1];
        out[o++] = px[s + 2];
        out[o++] = alpha[a + x];
      }
      return;
    }
    const px = rgb as Uint16Array;
    if (!alpha) {
      // Big-endian samples: swap the bytes of the native (little-endian) words.
      const bytes = new Uint8Array(px.buffer, px.byteOffset + src * 2, width * 6);
      if (!LITTLE_ENDIAN) return out.set(bytes);
      for (let i = 0; i < bytes.length; i += 2) {
        out[i] = bytes[i + 1];
        out[i + 1] = bytes[i];
      }
      return;
    }
    for (let x = 0, o = 0, s = src, a = y * width; x < width; x++) {
      for (let c = 0; c < 3; c++, s++) {
        out[o++] = px[s] >> 8;
        out[o++] = px[s] & 255;
      }
      out[o++] = alpha[a + x];
      out[o++] = alpha[a + x];
    }
  }

  /** Waits for every band and returns the file. */
  async finish(): Promise<Uint8Array> {
    return joinPieces(await this.pieces());
  }

  /**
   * Waits for every band and returns the file as pieces, in order, without copying the deflated parts:
   * the signature, IHDR, then IDAT (its head, the parts, its tail) and IEND.
   */
  async pieces(): Promise<Uint8Array[]> {
    const starts = [...this.parts.keys()].sort((a, b) => a - b);
    let y = 0;
    for (const s of starts) {
      if (s !== y) throw new Error(`PngWriter: rows ${y}..${s - 1} were never written`);
      y += this.parts.get(s)!.rows;
    }
    if (y !== this.height) throw new Error(`PngWriter: rows ${y}..${this.height - 1} were never written`);
    const ordered = starts.map((s) => this.parts.get(s)!);
    const bytes = await Promise.all(ordered.map((p) => p.bytes));
    // The stream's Adler-32, combined from the parts' in order (adler32_combine).
    let adler = 1;
    for (const p of ordered) adler = adler32Combine(adler, p.adler, p.length);
    const ihdr = new Uint8Array(13);
    const v = new DataView(ihdr.buffer);
    v.setUint32(0, this.width);
    v.setUint32(4, this.height);
    ihdr[8] = this.deep ? 16 : 8;
    ihdr[9] = this.alpha ? 6 : 2;
    // IDAT: length and type, the zlib header, the parts, the final block and Adler-32, then its CRC (over type and data).
    const dataLength = 2 + bytes.reduce((n, b) => n + b.length, 0) + FINAL_BLOCK.length + 4;
    const head = Uint8Array.of(0, 0, 0, 0, 0x49, 0x44, 0x41, 0x54, 0x78, 0x01);
    new DataView(head.buffer).setUint32(0, dataLength);
    const tail = new Uint8Array(FINAL_BLOCK.length + 8);
    tail.set(FINAL_BLOCK);
    let crc = zlib.crc32(head.subarray(4));
    for (const b of bytes) crc = zlib.crc32(b, crc);
    const tailView = new DataView(tail.buffer);
    tailView.setUint32(FINAL_BLOCK.length, adler);
    crc = zlib.crc32(tail.subarray(0, FINAL_BLOCK.length + 4), crc);
    tailView.setUint32(FINAL_BLOCK.length + 4, crc >>> 0);
    return [SIGNATURE, pngChunk('IHDR', ihdr), head, ...bytes, tail, pngChunk('IEND', new Uint8Array(0))];
  }
}

/** Adler-32 of A followed by B, from adler(A), adler(B) and B's length (zlib's adler32_combine). */
function adler32Combine(adler1: number, adler2: number, len2: number): number {
  const BASE = 65521;
  const rem = len2 % BASE;
  let sum1 = adler1 & 0xffff;
  let sum2 = (rem * sum1) % BASE;
  sum1 += (adler2 & 0xffff) + BASE - 1;
  sum2 += (adler1 >>> 16) + (adler2 >>> 16) + BASE - rem;
  if (sum1 >= BASE) sum1 -= BASE;
  if (sum1 >= BASE) sum1 -= BASE;
  if (sum2 >= BASE << 1) sum2 -= BASE << 1;
  if (sum2 >= BASE) sum2 -= BASE;
  return ((sum2 << 16) | sum1) >>> 0;
}

/** The whole picture through PngWriter, in bands of `bandRows` (deflated in parallel). */
export function writePng(rgb: Pixels, width: number, height: number, alpha: Uint8Array | null = null, bandRows = 256): Promise<Uint8Array> {
  const w = new PngWriter(rgb, width, height, alpha);
  for (let y = 0; y < height; y += bandRows) w.band(y, Math.min(height, y + bandRows));
  return w.finish();
}

import fs from 'node:fs';
import sharp from 'sharp';
import { ErrorCode, LoupeError } from '@loupe/shared';

/** What the first bytes of a file say it is. mp4 and mov share one container (ISO base media). */
export type Sniffed = 'isobmff' | 'png' | 'jpeg' | 'tiff' | 'exr' | 'dpx' | 'zip' | 'unknown';

const BOX_TYPES = new Set(['ftyp', 'moov', 'mdat', 'wide', 'free', 'skip', 'pnot', 'uuid']);

export async function sniff(file: string): Promise<Sniffed> {
  const b = await readBytes(file, 0, 16);
  if (b.length >= 8 && BOX_TYPES.has(b.toString('latin1', 4, 8))) return 'isobmff';
  if (b.length >= 8 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 4 && (b.toString('latin1', 0, 4) === 'II*\0' || b.toString('latin1', 0, 4) === 'MM\0*')) return 'tiff';
  if (b.length >= 4 && b.readUInt32LE(0) === 20000630) return 'exr';
  if (b.length >= 4 && (b.toString('latin1', 0, 4) === 'SDPX' || b.toString('latin1', 0, 4) === 'XPDS')) return 'dpx';
  if (b.length >= 4 && b.readUInt32LE(0) === 0x04034b50) return 'zip';
  return 'unknown';
}

/** What an image's header declares, read without decoding its pixels. */
export interface ImageHeader {
  width: number;
  height: number;
  /** Bits per channel: 8, 10, 12, 16 or 32. */
  bitDepth: number;
  /** Frame rate, when the header carries one (DPX, EXR). */
  fps?: number;
  /** SMPTE timecode, when the header carries one (DPX, EXR). */
  timecode?: string;
  dropFrame?: boolean;
  /** The reel, when the header names one (OpenEXR `reelName`). */
  reel?: string;
}

const corrupt = (name: string, why: string) => new LoupeError(ErrorCode.CORRUPT_MEDIA, `${name}: ${why}`);

/** Reads the header of a PNG, JPEG, TIFF, OpenEXR or DPX file. Throws CORRUPT_MEDIA when it is not readable. */
export async function imageHeader(file: string, format: 'png' | 'jpeg' | 'tiff' | 'exr' | 'dpx', name = file): Promise<ImageHeader> {
  switch (format) {
    case 'png':
      return pngHeader(await readBytes(file, 0, 33), name);
    case 'jpeg':
      return jpegHeader(file, name);
    case 'tiff': {
      const m = await sharp(file, { limitInputPixels: false }).metadata().catch((e: Error) => {
        throw corrupt(name, `not a readable TIFF (${e.message})`);
      });
      if (!m.width || !m.height) throw corrupt(name, 'the TIFF has no size');
      return { width: m.width, height: m.height, bitDepth: depthBits(m.depth) };
    }
    case 'exr':
      return exrHeader(await readBytes(file, 0, 1 << 20), name);
    case 'dpx':
      return dpxHeader(await readBytes(file, 0, 2048), name);
  }
}

function depthBits(depth: string | undefined): number {
  return depth === 'ushort' || depth === 'short' ? 16 : depth === 'float' || depth === 'uint' || depth === 'int' ? 32 : depth === 'double' ? 64 : 8;
}

export function pngHeader(b: Buffer, name = 'PNG'): ImageHeader {
  if (b.length < 33 || b.toString('latin1', 12, 16) !== 'IHDR') throw corrupt(name, 'the PNG has no IHDR header');
  const width = b.readUInt32BE(16);
  const height = b.readUInt32BE(20);
  const bitDepth = b[24];
  if (!width || !height) throw corrupt(name, 'the PNG declares a zero size');
  return { width, height, bitDepth: bitDepth === 16 ? 16 : 8 };
}

async function jpegHeader(file: string, name: string): Promise<ImageHeader> {
  const fd = await fs.promises.open(file, 'r');
  try {
    const size = (await fd.stat()).size;
    let pos = 2;
    const b = Buffer.alloc(10);
    // Walk the marker segments to the first start-of-frame (SOF0..SOF15, but not DHT, JPG or DAC).
    for (let n = 0; n < 1000 && pos + 4 <= size; n++) {
      await fd.read(b, 0, 10, pos);
      if (b[0] !== 0xff) throw corrupt(name, 'broken JPEG marker structure');
      const marker = b[1];
      if (marker === 0xff) {
        pos++;
        continue;
      }
      const len = b.readUInt16BE(2);
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        const height = b.readUInt16BE(5);
        const width = b.readUInt16BE(7);
        if (!width || !height) throw corrupt(name, 'the JPEG declares a zero size');
        return { width, height, bitDepth: b[4] > 8 ? 16 : 8 };
      }
      if (marker === 0xd9 || marker === 0xda) break;
      pos += 2 + len;
    }
    throw corrupt(name, 'no JPEG frame header');
  } finally {
    await fd.close();
  }
}

/** SMPTE 12M packed timecode (EXR timeCode, DPX time code): frames in the low byte, hours in the high. */
export function decodeSmpteTimecode(v: number): { timecode: string; dropFrame: boolean } | undefined {
  if (v === 0xffffffff) return undefined;
  const bcd = (units: number, tens: number) => tens * 10 + units;
  const ff = bcd(v & 0xf, (v >> 4) & 0x3);
  const ss = bcd((v >> 8) & 0xf, (v >> 12) & 0x7);
  const mm = bcd((v >> 16) & 0xf, (v >> 20) & 0x7);
  const hh = bcd((v >> 24) & 0xf, (v >> 28) & 0x3);
  if (ff > 59 || ss > 59 || mm > 59 || hh > 23) return undefined;
  const dropFrame = !!(v & 0x40);
  const p = (n: number) => String(n).padStart(2, '0');
  return { timecode: `${p(hh)}:${p(mm)}:${p(ss)}${dropFrame ? ';' : ':'}${p(ff)}`, dropFrame };
}

export function exrHeader(b: Buffer, name = 'EXR'): ImageHeader {
  if (b.length < 8 || b.readUInt32LE(0) !== 20000630) throw corrupt(name, 'not an OpenEXR file');
  const flags = b.readUInt32LE(4);
  if (flags & 0x800 || flags & 0x1000) throw new LoupeError(ErrorCode.UNSUPPORTED_FORMAT, `${name}: deep and multi-part OpenEXR files are not supported`);
  let pos = 8;
  const cstr = () => {
    const end = b.indexOf(0, pos);
    if (end < 0 || end - pos > 255) throw corrupt(name, 'truncated OpenEXR header');
    const s = b.toString('latin1', pos, end);
    pos = end + 1;
    return s;
  };
  const out: Partial<ImageHeader> & { display?: [number, number] } = {};
  let bitDepth = 0;
  for (let n = 0; n < 1000; n++) {
    const attr = cstr();
    if (!attr) break;
    const type = cstr();
    if (pos + 4 > b.length) throw corrupt(name, 'truncated OpenEXR header');
    const size = b.readInt32LE(pos);
    pos += 4;
    if (size < 0 || pos + size > b.length) throw corrupt(name, 'truncated OpenEXR header');
    const v = b.subarray(pos, pos + size);
    if ((attr === 'dataWindow' || attr === 'displayWindow') && type === 'box2i' && size >= 16) {
      const w = v.readInt32LE(8) - v.readInt32LE(0) + 1;
      const h = v.readInt32LE(12) - v.readInt32LE(4) + 1;
      if (attr === 'dataWindow') Object.assign(out, { width: w, height: h });
      else out.display = [w, h];
    } else if (attr === 'channels' && type === 'chlist') {
      let p = 0;
      while (p < v.length && v[p] !== 0) {
        const end = v.indexOf(0, p);
        if (end < 0 || end + 17 > v.length) break;
        const pixelType = v.readInt32LE(end + 1);
        bitDepth = Math.max(bitDepth, pixelType === 1 ? 16 : 32);
        p = end + 17;
      }
    } else if (attr === 'framesPerSecond' && type === 'rational' && size >= 8) {
      const d = v.readUInt32LE(4);
      if (d) out.fps = v.readInt32LE(0) / d;
    } else if (attr === 'timeCode' && type === 'timecode' && size >= 8) {
      const tc = decodeSmpteTimecode(v.readUInt32LE(0));
      if (tc) Object.assign(out, tc);
    } else if (attr === 'reelName' && type === 'string' && size > 0) {
      const reel = v.toString('utf8').replace(/\0+$/, '').trim();
      if (reel) out.reel = reel.slice(0, 64);
    }
    pos += size;
  }
  if (!out.width || !out.height || out.width <= 0 || out.height <= 0) throw corrupt(name, 'the OpenEXR header has no data window');
  // The decoder shows the display window; the larger of the two bounds the memory it needs.
  const [dw, dh] = out.display ?? [0, 0];
  return { ...out, width: Math.max(out.width, dw), height: Math.max(out.height, dh), bitDepth: bitDepth || 16 } as ImageHeader;
}

export function dpxHeader(b: Buffer, name = 'DPX'): ImageHeader {
  if (b.length < 804) throw corrupt(name, 'truncated DPX header');
  const magic = b.toString('latin1', 0, 4);
  if (magic !== 'SDPX' && magic !== 'XPDS') throw corrupt(name, 'not a DPX file');
  const le = magic === 'XPDS';
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const f32 = (o: number) => (le ? b.readFloatLE(o) : b.readFloatBE(o));
  const width = u32(772);
  const height = u32(776);
  const bitDepth = b[803];
  if (!width || !height || width === 0xffffffff || height === 0xffffffff) throw corrupt(name, 'the DPX header declares no size');
  const out: ImageHeader = { width, height, bitDepth: bitDepth || 8 };
  // The film and television headers (frame rate, time code) exist only when the image data starts after them.
  if (u32(4) >= 2048 && u32(4) !== 0xffffffff && b.length >= 1944) {
    const rate = [f32(1940), f32(1724)].find((r) => Number.isFinite(r) && r > 0 && r < 1000);
    if (rate) out.fps = rate;
    const tc = decodeSmpteTimecode(u32(1920));
    if (tc && u32(1920) !== 0) Object.assign(out, tc);
  }
  return out;
}

export async function readBytes(file: string, position: number, length: number): Promise<Buffer> {
  const fd = await fs.promises.open(file, 'r');
  try {
    const b = Buffer.alloc(length);
    const { bytesRead } = await fd.read(b, 0, length, position);
    return b.subarray(0, bytesRead);
  } finally {
    await fd.close();
  }
}

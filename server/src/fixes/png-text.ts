/** Text chunks in PNG files: embed provenance as iTXt (UTF-8), and read it back. */
import zlib from 'node:zlib';
import { joinPieces, pngPieces, withPngText } from '../inference/png.js';

/** The PNG with an uncompressed iTXt chunk `keyword` = `text` inserted right after IHDR. */
export function addPngText(png: Uint8Array, keyword: string, text: string): Uint8Array {
  return joinPieces(withPngText(pngPieces(png), keyword, text));
}

/** Every tEXt / iTXt chunk of a PNG, keyword -> text. */
export function readPngText(png: Uint8Array): Record<string, string> {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  const out: Record<string, string> = {};
  for (let at = 8; at + 12 <= buf.length; ) {
    const len = buf.readUInt32BE(at);
    const type = buf.toString('latin1', at + 4, at + 8);
    const data = buf.subarray(at + 8, at + 8 + len);
    if (type === 'tEXt') {
      const z = data.indexOf(0);
      out[data.toString('latin1', 0, z)] = data.toString('latin1', z + 1);
    } else if (type === 'iTXt') {
      const z = data.indexOf(0);
      const keyword = data.toString('latin1', 0, z);
      const compressed = data[z + 1] === 1;
      let p = z + 3;
      p = data.indexOf(0, p) + 1; // language tag
      p = data.indexOf(0, p) + 1; // translated keyword
      const body = data.subarray(p);
      out[keyword] = (compressed ? zlib.inflateSync(body) : body).toString('utf8');
    }
    at += 12 + len;
  }
  return out;
}

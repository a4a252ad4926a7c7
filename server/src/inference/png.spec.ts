import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { PngWriter, writePng } from './png.js';

const random8 = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => ((i * 2654435761 + seed * 97) >>> 7) & 255);
const random16 = (n: number) => Uint16Array.from({ length: n }, (_, i) => ((i * 2654435761) >>> 5) & 65535);

async function decode(png: Uint8Array, deep: boolean) {
  const { data, info } = await (deep ? sharp(png).toColourspace('rgb16') : sharp(png)).raw({ depth: deep ? 'ushort' : 'uchar' }).toBuffer({ resolveWithObject: true });
  return { px: deep ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2) : new Uint8Array(data), info };
}

describe('PngWriter', () => {
  const h = 203;
  // 304: rows on 32-bit words (filtered four bytes at a time); 301: byte by byte.
  for (const [deep, withAlpha, w] of [[false, false, 301], [false, false, 304], [true, false, 301], [true, false, 304], [false, true, 301], [true, true, 301]] as const) {
    it(`${deep ? 16 : 8}-bit RGB${withAlpha ? 'A' : ''}, ${w} wide, decodes to the same samples (bands of any size, in any order)`, async () => {
      const rgb = deep ? random16(w * h * 3) : random8(w * h * 3);
      const alpha = withAlpha ? random8(w * h, 5) : null;
      const writer = new PngWriter(rgb, w, h, alpha);
      // Bands out of order, one larger than a deflate part, one of a single row.
      writer.band(150, 151);
      writer.band(151, h);
      writer.band(0, 150);
      const png = await writer.finish();
      const { px, info } = await decode(png, deep);
      expect(info).toMatchObject({ width: w, height: h, channels: withAlpha ? 4 : 3 });
      const ch = withAlpha ? 4 : 3;
      let bad = 0;
      for (let i = 0; i < w * h; i++) {
        for (let c = 0; c < 3; c++) if (px[i * ch + c] !== rgb[i * 3 + c]) bad++;
        if (alpha && px[i * ch + 3] !== (deep ? alpha[i] * 257 : alpha[i])) bad++;
      }
      expect(bad).toBe(0);
    });
  }

  it('refuses to finish with rows missing', async () => {
    const writer = new PngWriter(random8(10 * 10 * 3), 10, 10);
    writer.band(0, 4);
    writer.band(6, 10);
    await expect(writer.finish()).rejects.toThrow(/rows 4..5/);
  });

  it('writePng: a smooth picture compresses', async () => {
    const rgb = new Uint8Array(640 * 360 * 3);
    for (let i = 0; i < rgb.length; i++) rgb[i] = (((i / 3) | 0) % 640) >> 2;
    const png = await writePng(rgb, 640, 360);
    expect(png.length).toBeLessThan(rgb.length / 20);
    expect(Buffer.compare((await decode(png, false)).px as Uint8Array, rgb)).toBe(0);
  });
});

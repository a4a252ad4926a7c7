import { describe, expect, it } from 'vitest';
import { decodeSmpteTimecode, dpxHeader, exrHeader, pngHeader } from './inspect.js';
import { bitDepthOf, frameIndexMode, toRational } from './probe.js';
import { fitBox, proxyScale } from './proxy.js';
import { frameFile } from './frame.service.js';
import { pngBomb, writeExr } from '../../test/media-helpers.js';

describe('reading headers without decoding', () => {
  it('PNG: the declared size, even when it is a bomb', () => {
    expect(pngHeader(pngBomb(100_000, 50_000))).toEqual({ width: 100_000, height: 50_000, bitDepth: 8 });
    expect(() => pngHeader(Buffer.alloc(40))).toThrow(/IHDR/);
  });

  it('OpenEXR: data window, channel type, frame rate and time code', () => {
    const exr = writeExr(40, 20, () => [0, 0, 0], 'half');
    expect(exrHeader(exr)).toMatchObject({ width: 40, height: 20, bitDepth: 16 });
    expect(exrHeader(writeExr(4, 2, () => [0, 0, 0], 'float'))).toMatchObject({ bitDepth: 32 });
    expect(() => exrHeader(exr.subarray(0, 30))).toThrow(/truncated|data window/);
    // The standard reelName attribute (a string), spliced in after the version field.
    const reel = Buffer.concat([Buffer.from('reelName\0string\0', 'latin1'), Buffer.from([8, 0, 0, 0]), Buffer.from('A001C003')]);
    expect(exrHeader(Buffer.concat([exr.subarray(0, 8), reel, exr.subarray(8)]))).toMatchObject({ width: 40, height: 20, reel: 'A001C003' });
  });

  it('DPX: frame rate and time code only when the header has room for them', () => {
    const b = Buffer.alloc(2048);
    b.write('SDPX', 0, 'latin1');
    b.writeUInt32BE(2048, 4);
    b.writeUInt32BE(4096, 772);
    b.writeUInt32BE(2160, 776);
    b[803] = 10;
    b.writeUInt32BE(0x10203004, 1920);
    b.writeFloatBE(24, 1940);
    expect(dpxHeader(b)).toEqual({ width: 4096, height: 2160, bitDepth: 10, fps: 24, timecode: '10:20:30:04', dropFrame: false });
    b.writeUInt32BE(1664, 4); // image data right after the generic header: no film or TV header
    expect(dpxHeader(b)).toEqual({ width: 4096, height: 2160, bitDepth: 10 });
  });

  it('SMPTE packed time codes, drop-frame flag included', () => {
    expect(decodeSmpteTimecode(0x01000000)).toEqual({ timecode: '01:00:00:00', dropFrame: false });
    expect(decodeSmpteTimecode(0x01000040 | 0x02)).toEqual({ timecode: '01:00:00;02', dropFrame: true });
    expect(decodeSmpteTimecode(0xffffffff)).toBeUndefined();
  });
});

describe('probe and proxy maths', () => {
  it('exact rates', () => {
    expect(toRational(23.976)).toEqual({ num: 24000, den: 1001 });
    expect(toRational(29.97)).toEqual({ num: 30000, den: 1001 });
    expect(toRational(59.94)).toEqual({ num: 60000, den: 1001 });
    expect(toRational(25)).toEqual({ num: 25, den: 1 });
    expect(toRational(12.5)).toEqual({ num: 12500, den: 1000 });
  });

  it('bit depths from pixel formats', () => {
    expect(bitDepthOf('yuv420p')).toBe(8);
    expect(bitDepthOf('yuv422p10le')).toBe(10);
    expect(bitDepthOf('yuva444p12le')).toBe(12);
    expect(bitDepthOf('rgb48be')).toBe(16);
    expect(bitDepthOf('gbrpf32le')).toBe(32);
    expect(bitDepthOf('yuv420p', '10')).toBe(10);
  });

  it('the proxy fits in the box, keeps the aspect (square pixels), never upscales, even sizes', () => {
    expect(fitBox(3840, 2160, 1, 1920, 1080)).toEqual({ width: 1920, height: 1080 });
    expect(fitBox(4096, 1716, 1, 1920, 1080)).toEqual({ width: 1920, height: 804 });
    expect(fitBox(1080, 1920, 1, 1920, 1080)).toEqual({ width: 608, height: 1080 });
    expect(fitBox(720, 576, 16 / 15, 1920, 1080)).toEqual({ width: 768, height: 576 });
    expect(fitBox(321, 181, 1, 1920, 1080)).toEqual({ width: 322, height: 182 });
  });

  it('converts RGB with the Rec.709 matrix and reads YUV with its own tags', () => {
    expect(proxyScale('rgb48be', { matrix: null, range: null }, { width: 2, height: 2 })).toContain('out_color_matrix=bt709');
    expect(proxyScale('yuv420p', { matrix: 'smpte170m', range: 'tv' }, { width: 2, height: 2 })).toContain('in_color_matrix=bt601:in_range=tv');
    expect(proxyScale('yuvj420p', { matrix: null, range: null }, { width: 2, height: 2 })).toContain('in_range=pc');
  });

  it('frame N of a movie is found by time only on a clean constant-rate grid', () => {
    const rate = { num: 24, den: 1 };
    const grid = Array.from({ length: 10 }, (_, i) => 0.5 + i / 24);
    expect(frameIndexMode(grid, rate, 10)).toEqual({ mode: 'seek', firstPts: 0.5 });
    expect(frameIndexMode(grid, rate, 11)).toEqual({ mode: 'decode' });
    expect(frameIndexMode([...grid.slice(0, 5), ...grid.slice(6), 0.5 + 10.5 / 24], rate, 10)).toEqual({ mode: 'decode' });
  });

  it('a sequence frame in a gap is the last file before it', () => {
    const m = { frames: [{ frame: 1001, sha256: 'a' }, { frame: 1002, sha256: 'b' }, { frame: 1005, sha256: 'c' }] };
    expect([1001, 1002, 1003, 1004, 1005].map((n) => frameFile(m, n))).toEqual(['a', 'b', 'b', 'b', 'c']);
  });
});

describe('movie rates', () => {
  it('takes the base rate unless the average says otherwise, and snaps odd averages to standard rates', async () => {
    const { movieRate } = await import('./probe.js');
    expect(movieRate({ num: 24000, den: 1001 }, { num: 24000, den: 1001 })).toEqual({ num: 24000, den: 1001 });
    expect(movieRate({ num: 30, den: 1 }, { num: 2990, den: 100 })).toEqual({ num: 30, den: 1 });
    expect(movieRate({ num: 90000, den: 1 }, { num: 2997, den: 100 })).toEqual({ num: 30000, den: 1001 });
    expect(movieRate({ num: 90000, den: 1 }, { num: 1234, den: 100 })).toEqual({ num: 12340, den: 1000 });
    expect(movieRate(undefined, undefined)).toBeUndefined();
  });
});

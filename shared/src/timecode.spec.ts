import { describe, expect, it } from 'vitest';
import { frameToTimecode, timecodeToFrame } from './timecode.js';

describe('SMPTE timecode', () => {
  it('counts non-drop-frame at integer rates', () => {
    expect(frameToTimecode(0, { fps: 24 })).toBe('00:00:00:00');
    expect(frameToTimecode(23, { fps: 24 })).toBe('00:00:00:23');
    expect(frameToTimecode(24, { fps: 24 })).toBe('00:00:01:00');
    expect(frameToTimecode(86399, { fps: 24 })).toBe('00:59:59:23');
    expect(frameToTimecode(90000, { fps: 25 })).toBe('01:00:00:00');
    expect(frameToTimecode(216000, { fps: 60 })).toBe('01:00:00:00');
  });

  it('counts 23.976 on a 24-frame base without dropping numbers', () => {
    expect(frameToTimecode(1439, { fps: 23.976 })).toBe('00:00:59:23');
    expect(frameToTimecode(1440, { fps: 23.976 })).toBe('00:01:00:00');
  });

  it('drops frame numbers 00 and 01 each minute except every tenth at 29.97 DF', () => {
    const df = { fps: 29.97, dropFrame: true };
    expect(frameToTimecode(1799, df)).toBe('00:00:59;29');
    expect(frameToTimecode(1800, df)).toBe('00:01:00;02');
    expect(frameToTimecode(17981, df)).toBe('00:09:59;29');
    expect(frameToTimecode(17982, df)).toBe('00:10:00;00');
    expect(frameToTimecode(107892, df)).toBe('01:00:00;00');
  });

  it('drops four numbers a minute at 59.94 DF', () => {
    const df = { fps: 59.94, dropFrame: true };
    expect(frameToTimecode(3599, df)).toBe('00:00:59;59');
    expect(frameToTimecode(3600, df)).toBe('00:01:00;04');
    expect(frameToTimecode(215784, df)).toBe('01:00:00;00');
  });

  it('round-trips frames through timecode at every common rate', () => {
    const rates = [
      { fps: 23.976 }, { fps: 24 }, { fps: 25 }, { fps: 29.97, dropFrame: true }, { fps: 29.97 },
      { fps: 30 }, { fps: 50 }, { fps: 59.94, dropFrame: true }, { fps: 60 },
    ];
    for (const rate of rates) {
      for (const f of [0, 1, 2, 1799, 1800, 1801, 17982, 17983, 107891, 107892, 123456]) {
        expect(timecodeToFrame(frameToTimecode(f, rate), rate)).toBe(f);
      }
    }
  });

  it('refuses text that is not a timecode', () => {
    expect(() => timecodeToFrame('1:2:3', { fps: 24 })).toThrow(/not a timecode/);
  });
});

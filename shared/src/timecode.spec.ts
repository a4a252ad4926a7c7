import { describe, expect, it } from 'vitest';
import { clockTimecode, frameToTimecode, mediaClock, timecodeToFrame } from './timecode.js';
import type { MediaSource } from './media.js';

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

describe('a version\'s own clock', () => {
  const shot = { fps: 24, dropFrame: false, startTimecode: '00:00:00:00' };
  const video = (source?: Partial<MediaSource>) => ({ type: 'video' as const, blob: 'x', width: 2, height: 2, fps: 24, frameCount: 48, source: source as MediaSource | undefined });

  it('counts from the media\'s own start timecode and names its reel, whatever the shot says', () => {
    const clock = mediaClock(shot, video({ startTimecode: '01:00:10:00', dropFrame: false, reel: 'A001C003' }));
    expect(clock).toMatchObject({ startTimecode: '01:00:10:00', startFrame: 86640, reel: 'A001C003' });
    expect(clockTimecode(clock, 24)).toBe('01:00:11:00');
  });

  it('falls back to the shot for versions without a probed source (demo, older versions)', () => {
    const clock = mediaClock({ ...shot, startTimecode: '10:00:00:00' }, video());
    expect([clock.startTimecode, clock.reel, clockTimecode(clock, 1)]).toEqual(['10:00:00:00', null, '10:00:00:01']);
    expect(clockTimecode(mediaClock(undefined, undefined), 0)).toBe('00:00:00:00');
  });

  it('keeps a 29.97 source\'s drop-frame count', () => {
    const clock = mediaClock(shot, { ...video({ startTimecode: '01:00:59;28', dropFrame: true }), fps: 29.97 });
    expect(clockTimecode(clock, 2)).toBe('01:01:00;02');
  });
});

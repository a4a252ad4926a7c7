import { describe, expect, it } from 'vitest';
import { cleanCounter, DEFAULT_COUNTER, displayFrame, displayRange, displayTimecode, frameIndex } from './frame-counter';

describe('frame counter options', () => {
  it('shows 0-based, 1-based and from a start frame, and reads typed numbers back', () => {
    expect(displayFrame(0, { ...DEFAULT_COUNTER, base: '0' })).toBe(0);
    expect(displayFrame(0, { ...DEFAULT_COUNTER, base: '1' })).toBe(1);
    const plate = { ...DEFAULT_COUNTER, base: 'start' as const, start: 1001 };
    expect(displayFrame(47, plate)).toBe(1048);
    expect(frameIndex(1048, plate)).toBe(47);
    expect(displayRange(10, 20, plate)).toBe('1011–1021');
    expect(displayRange(10, 10, { ...DEFAULT_COUNTER, base: '1' })).toBe('11');
  });

  it('counts timecode from the source start timecode or from zero', () => {
    const rate = { fps: 24 };
    expect(displayTimecode(25, rate, '01:00:00:00', DEFAULT_COUNTER)).toBe('01:00:01:01');
    expect(displayTimecode(25, rate, '01:00:00:00', { ...DEFAULT_COUNTER, timecode: 'zero' })).toBe('00:00:01:01');
    expect(displayTimecode(0, { fps: 29.97, dropFrame: true }, '00:00:59;28', DEFAULT_COUNTER)).toBe('00:00:59;28');
    expect(displayTimecode(2, { fps: 29.97, dropFrame: true }, '00:00:59;28', DEFAULT_COUNTER)).toBe('00:01:00;02');
    expect(displayTimecode(3, rate, 'garbage', DEFAULT_COUNTER)).toBe('00:00:00:03');
  });

  it('replaces stored nonsense with the defaults', () => {
    expect(cleanCounter(undefined)).toEqual(DEFAULT_COUNTER);
    expect(cleanCounter({ base: 'start', start: -4, timecode: 'zero' })).toEqual({ base: 'start', start: 1001, timecode: 'zero' });
    expect(cleanCounter({ base: 'x', start: 86400 })).toEqual({ base: '0', start: 86400, timecode: 'source' });
  });
});

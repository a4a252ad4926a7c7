import { describe, expect, it } from 'vitest';
import type { VersionMedia } from '@loupe/shared';
import { badgeText, formatRate, optionsOf, pickAuto, resolve } from './ladder';

const media = (ladder: boolean, fullBitrate?: number): Extract<VersionMedia, { type: 'video' }> => ({
  type: 'video',
  blob: 'b',
  width: 3840,
  height: 2160,
  fps: 24,
  frameCount: 48,
  proxy: { width: 1920, height: 1080, gop: 6, ...(fullBitrate ? { bitrate: fullBitrate } : {}) },
  ...(ladder
    ? {
        ladder: [
          { name: '360p' as const, width: 640, height: 360, bitrate: 500_000, gop: 12, blob: 'l' },
          { name: '720p' as const, width: 1280, height: 720, bitrate: 1_800_000, gop: 12, blob: 'm' },
        ],
      }
    : {}),
});

describe('the proxy ladder in the player', () => {
  const opts = optionsOf(media(true, 8_000_000));

  it('lists the rungs smallest first, then the full proxy, with what each needs (audio included)', () => {
    expect(opts.map((o) => [o.name, o.height, o.bitrate])).toEqual([
      ['360p', 360, 596_000],
      ['720p', 720, 1_896_000],
      ['full', 1080, 8_000_000],
    ]);
    expect(optionsOf(media(false)).map((o) => o.name)).toEqual(['full']);
    expect(optionsOf(media(false))[0].bitrate).toBe(Infinity);
  });

  it('picks the biggest that fits with headroom: 360p at 1.6 Mbit/s and at 200 kbit/s, Full on a fast link', () => {
    expect(pickAuto(opts, 1_600_000, null)).toBe('360p');
    expect(pickAuto(opts, 200_000, null)).toBe('360p');
    expect(pickAuto(opts, 3_000_000, null)).toBe('720p');
    expect(pickAuto(opts, 50_000_000, null)).toBe('full');
    // An older full proxy of unknown bitrate is never Auto's pick when there are rungs.
    expect(pickAuto(optionsOf(media(true)), 1e9, null)).toBe('720p');
  });

  it('goes down at once, climbs only with margin', () => {
    expect(pickAuto(opts, 1_600_000, 'full')).toBe('360p');
    expect(pickAuto(opts, 3_000_000, '360p')).toBe('360p'); // fits 720p, but not with CLIMB
    expect(pickAuto(opts, 3_500_000, '360p')).toBe('720p');
    expect(pickAuto(opts, 15_000_000, '720p')).toBe('full');
  });

  it('plays the same class on another version, or its nearest smaller rung', () => {
    const only360 = optionsOf({ ...media(true), ladder: media(true).ladder!.slice(0, 1) });
    expect(resolve(only360, '720p').name).toBe('360p');
    expect(resolve(only360, 'full').name).toBe('full');
    expect(resolve(optionsOf(media(false)), '360p').name).toBe('full');
  });

  it('says what plays', () => {
    expect(badgeText('360p', 'auto')).toBe('360p auto');
    expect(badgeText('full', 'full')).toBe('Full');
    expect(formatRate(1_600_000)).toBe('1.6 Mbit/s');
    expect(formatRate(420_000)).toBe('420 kbit/s');
  });
});

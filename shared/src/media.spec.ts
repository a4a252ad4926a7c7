import { describe, expect, it } from 'vitest';
import { badFileName, imageFormatOf, layoutSequence, mediaKindOf, parseSequenceName, sequenceLabel, SequenceError } from './media.js';

describe('sequence file names', () => {
  it('takes the frame number from the digits right before the extension', () => {
    expect(parseSequenceName('shot_v003.1001.exr')).toEqual({ prefix: 'shot_v003.', frame: 1001, padding: 4, ext: 'exr' });
    expect(parseSequenceName('plate_0042.DPX')).toEqual({ prefix: 'plate_', frame: 42, padding: 4, ext: 'dpx' });
    expect(parseSequenceName('frame12.png')).toEqual({ prefix: 'frame', frame: 12, padding: 2, ext: 'png' });
    expect(parseSequenceName('0001.tif')).toEqual({ prefix: '', frame: 1, padding: 4, ext: 'tif' });
    expect(parseSequenceName('poster.png')).toBeNull();
  });

  it('orders frames by number, reports gaps, and labels the sequence', () => {
    const s = layoutSequence(['a.1003.png', 'a.1001.png', 'a.1007.png', 'a.1002.png', 'a.1009.png']);
    expect(s.frames).toEqual([1001, 1002, 1003, 1007, 1009]);
    expect(s.files[0]).toBe('a.1001.png');
    expect(s.gaps).toEqual([{ from: 1004, to: 1006 }, { from: 1008, to: 1008 }]);
    expect(sequenceLabel(s)).toBe('a.[1001-1009].png');
    // jpg and jpeg are one format
    expect(layoutSequence(['r.1.jpg', 'r.2.jpeg']).frames).toEqual([1, 2]);
    // one file without a number is a one-frame sequence
    expect(layoutSequence(['still.exr'])).toMatchObject({ firstFrame: 1, lastFrame: 1, gaps: [], files: ['still.exr'] });
  });

  it('refuses names that do not make one sequence', () => {
    expect(() => layoutSequence(['a.0001.png', 'b.0002.png'])).toThrow(SequenceError);
    expect(() => layoutSequence(['a.0001.png', 'a.0002.exr'])).toThrow(/does not belong/);
    expect(() => layoutSequence(['a.1.png', 'a.0001.png'])).toThrow(/both frame 1/);
    expect(() => layoutSequence(['a.0001.png', 'notes.png'])).toThrow(/no frame number/);
    expect(() => layoutSequence(['a.1.png', 'a.999999.png'], { maxFrames: 1000 })).toThrow(/span/);
  });

  it('names, never paths', () => {
    for (const bad of ['', '../a.png', 'a/b.png', 'a\\b.png', '.hidden.png', 'C:a.png', 'a\u0001.png', 'x'.repeat(256)]) expect(badFileName(bad), bad).not.toBeNull();
    expect(badFileName('shot_v003.1001.exr')).toBeNull();
    expect(mediaKindOf('a.MOV')).toBe('movie');
    expect(mediaKindOf('a.zip')).toBe('archive');
    expect(mediaKindOf('a.avi')).toBeNull();
    expect(imageFormatOf('a.TIFF')).toBe('tiff');
  });
});

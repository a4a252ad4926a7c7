import type { Region } from '@loupe/shared';

/** A 0..1 fraction as a CSS percentage (for placing things over the picture). */
export const pct = (v: number): string => `${(v * 100).toFixed(4)}%`;

/** The region's mask as a CSS clip-path in the region's own box ('none' without a mask). */
export const maskClip = (r: Region): string =>
  r.mask && r.width > 0 && r.height > 0
    ? `polygon(${r.mask.map(([x, y]) => `${pct((x - r.x) / r.width)} ${pct((y - r.y) / r.height)}`).join(', ')})`
    : 'none';

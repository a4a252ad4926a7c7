/** The drawing tool, its style, and the region or mask selected for a fix. */
import type { Region } from '@loupe/shared';

export type ToolId = 'pen' | 'arrow' | 'region' | 'mask';

export const COLORS = [
  { value: '#ff453a', name: 'Red' },
  { value: '#ffd60a', name: 'Yellow' },
  { value: '#32d74b', name: 'Green' },
  { value: '#64d2ff', name: 'Cyan' },
  { value: '#bf5af2', name: 'Purple' },
  { value: '#ffffff', name: 'White' },
] as const;

/** Stroke widths as fractions of the picture height (1080p: 4, 9 and 17 px). */
export const SIZES = [
  { value: 0.004, name: 'Thin' },
  { value: 0.008, name: 'Medium' },
  { value: 0.016, name: 'Thick' },
] as const;

export interface Selection {
  versionId: string;
  frame: number;
  region: Region;
}

export class Tools {
  tool = $state<ToolId>('pen');
  color = $state<string>(COLORS[0].value);
  size = $state<number>(SIZES[1].value);
  selection = $state<Selection | null>(null);
}

import type { MediaSource } from '@loupe/shared';

/** What a fix decodes frames from: planned by FrameService.feeds, read by frame-feed.ts (in the fix worker). */
export type FileFormat = 'png' | 'jpeg' | 'tiff' | 'exr' | 'dpx';

export type FrameFeed =
  /** Frames `first`..`first + count - 1` of an uploaded movie (the original, not the proxy). */
  | { kind: 'movie'; file: string; source: Pick<MediaSource, 'pixFmt' | 'colour' | 'rate' | 'bitDepth' | 'frameLookup'>; first: number; count: number }
  /** Frames of a version that only has its H.264 blob (the demo, older versions). */
  | { kind: 'video'; file: string; first: number; count: number }
  /** One picture file per frame, starting at frame `first`. */
  | { kind: 'files'; first: number; files: { path: string; format: FileFormat }[] };

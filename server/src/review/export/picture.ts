import sharp, { type OverlayOptions } from 'sharp';
import type { Annotation, Version } from '@loupe/shared';
import type { BlobStore } from '../../store/blob.repository.js';
import type { FrameService } from '../../media/frame.service.js';
import { annotationsSvg } from './overlay.js';
import type { SnapshotIndex } from './snapshot.js';

export interface Picture {
  jpeg: Buffer;
  width: number;
  height: number;
}

/**
 * The picture a member saw when writing a note, as a JPEG at most `maxWidth` wide: the full-quality
 * frame of the version (an AI still sits on its source frame, inside its region, as in the room),
 * with the drawings composited over it.
 */
export async function framePicture(
  deps: { frames: FrameService; blobs: BlobStore },
  idx: SnapshotIndex,
  version: Version,
  frame: number,
  drawings: Annotation[],
  maxWidth = 1600,
): Promise<Picture> {
  const video = idx.videoOf(version);
  const still = version.media.type === 'still' ? version.media : null;
  const basePath = await deps.blobs.localPath(video ? await deps.frames.frame(video, still ? still.frame : frame) : still!.blob);
  const meta = await sharp(basePath).metadata();
  const srcW = meta.width ?? 1;
  const srcH = meta.height ?? 1;
  const width = Math.min(srcW, maxWidth);
  const height = Math.max(1, Math.round((srcH * width) / srcW));
  const layers: OverlayOptions[] = [];
  if (still && video) {
    const r = still.region;
    const w = Math.max(1, Math.round(r.width * width));
    const h = Math.max(1, Math.round(r.height * height));
    const left = Math.max(0, Math.min(width - 1, Math.round(r.x * width)));
    const top = Math.max(0, Math.min(height - 1, Math.round(r.y * height)));
    const patch = await sharp(await deps.blobs.localPath(still.blob))
      .resize(Math.min(w, width - left), Math.min(h, height - top), { fit: 'fill' })
      .png()
      .toBuffer();
    layers.push({ input: patch, left, top });
  }
  if (drawings.length) layers.push({ input: Buffer.from(annotationsSvg(drawings, width, height)), left: 0, top: 0 });
  // sharp resizes first, then composites: the layers are made at the output size.
  const jpeg = await sharp(basePath).resize(width, height, { fit: 'fill' }).composite(layers).flatten({ background: '#000' }).jpeg({ quality: 85 }).toBuffer();
  return { jpeg, width, height };
}

import crypto from 'node:crypto';
import fs from 'node:fs';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ZipFile } from 'yazl';
import { aiMadeVersion, ErrorCode, LoupeError, versionLabel, versionMaker, type Shot, type Version } from '@loupe/shared';
import type { BlobStore } from '../../store/blob.repository.js';
import { frameFile, type FrameService } from '../../media/frame.service.js';
import type { SequenceManifest } from '../../media/ingest.service.js';
import { editorialCut } from './cut.js';
import { notesCsv } from './csv.js';
import { markersEdl } from './edl.js';
import { framePath, masterLabel, stillPath, versionStem, type MasterMedia } from './master.js';
import { markersOtio } from './otio.js';
import { shotFolderNames, type RoomSnapshot } from './snapshot.js';

export interface ManifestEntry {
  path: string;
  sha256: string;
  bytes: number;
  /** media: the cut's files at source quality (a movie, or every frame of a sequence); still: an approved AI still. */
  kind: 'media' | 'still' | 'provenance' | 'timeline' | 'notes';
  versionId?: string;
}

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const json = (o: unknown) => Buffer.from(JSON.stringify(o, null, 2) + '\n');

/**
 * The approved media bundle: for each shot of the approved cut, its latest approved version at
 * source quality (see master.ts) with a provenance sidecar, the shot's approved AI stills, the cut
 * as OTIO and EDL pointing at those files, the notes as CSV, and manifest.json listing every other
 * file with its sha256 and size. Files are stored uncompressed and streamed from the blob store as
 * the zip is written; a render's frames are read (and cached) through FrameService one at a time.
 */
export async function approvedBundle(
  snap: RoomSnapshot,
  deps: { blobs: BlobStore; frames: FrameService },
  out: Writable,
  progress: (line: string) => void = () => {},
): Promise<{ files: ManifestEntry[]; missing: string[] }> {
  const folders = shotFolderNames(snap.shots);
  const clips = editorialCut(snap, { approvedOnly: true });
  const zip = new ZipFile();
  const files: ManifestEntry[] = [];
  const missing: string[] = [];
  const mtime = new Date(snap.takenAt);
  const addBuffer = (buf: Buffer, path: string, kind: ManifestEntry['kind'], versionId?: string) => {
    zip.addBuffer(buf, path, { mtime });
    files.push({ path, sha256: sha256(buf), bytes: buf.length, kind, ...(versionId ? { versionId } : {}) });
  };
  /** A blob as a file of the zip; a blob the store lost is listed in `missing`. Returns its size. */
  const addBlob = async (blob: string, path: string, kind: ManifestEntry['kind'], versionId: string): Promise<number> => {
    let file: string;
    let bytes: number;
    try {
      file = await deps.blobs.localPath(blob);
      bytes = (await fs.promises.stat(file)).size;
    } catch (e) {
      // Only a blob that is gone is left out; an object store that fails fails the export.
      if (e instanceof LoupeError && e.code !== ErrorCode.BLOB_MISSING) throw e;
      missing.push(path);
      progress(`zip: ${path}: ${blob} is missing from the blob store; left out`);
      return 0;
    }
    zip.addFile(file, path, { compress: false, mtime });
    files.push({ path, sha256: blob, bytes, kind, versionId });
    return bytes;
  };

  let written = 0;
  let shownMb = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      written += chunk.length;
      // A line every 50 MB: the total is not known before a render's frames are read.
      if (written - shownMb * 1e6 >= 50e6) progress(`zip: ${(written / 1e6).toFixed(0)} MB written`), (shownMb = Math.floor(written / 1e6));
      cb(null, chunk);
    },
  });
  const piped = pipeline(zip.outputStream, counter, out);
  piped.catch(() => {}); // awaited below; a receiver that goes away stops the loop through out.destroyed

  const approvedStills = snap.versions.filter((v) => v.status === 'approved' && v.media.type === 'still' && folders.has(v.shotId));
  const frameTotal = clips.reduce((s, c) => s + (c.master?.kind === 'frames' ? c.master.count : 1), 0);
  progress(`zip: ${clips.length} approved shot${clips.length === 1 ? '' : 's'} (${frameTotal} file${frameTotal === 1 ? '' : 's'} of media), ${approvedStills.length} approved AI still${approvedStills.length === 1 ? '' : 's'}`);

  for (const clip of clips) {
    if (out.destroyed) break;
    const { version: v, shot } = clip;
    const folder = folders.get(shot.id)!;
    const master = clip.master!;
    let file: Record<string, unknown>;
    if (master.kind === 'movie') {
      const bytes = await addBlob(master.blob, master.path, 'media', v.id);
      file = { path: master.path.split('/').pop(), sha256: master.blob, bytes, from: master.from };
    } else {
      const frameBlob = await frameSource(v, master, deps);
      let bytes = 0;
      for (let i = 0; i < master.count && !out.destroyed; i++) {
        bytes += await addBlob(await frameBlob(i), framePath(master, i), 'media', v.id);
        if (master.from === 'render' && (i + 1) % Math.max(1, Math.ceil(master.count / 10)) === 0) {
          progress(`zip: ${shot.name} ${versionLabel(v)}: frame ${i + 1} of ${master.count}`);
        }
      }
      file = { pattern: masterLabel(master).split('/').slice(1).join('/'), firstFrame: master.firstNumber, lastFrame: master.firstNumber + master.count - 1, count: master.count, bitDepth: master.bitDepth, bytes, from: master.from };
    }
    addBuffer(json(sidecar(snap, shot, v, { ...file, startTimecode: clip.clock.startTimecode, reel: clip.clock.reel })), `${folder}/${versionStem(folder, v)}.provenance.json`, 'provenance', v.id);
  }
  for (const v of approvedStills) {
    if (out.destroyed) break;
    const folder = folders.get(v.shotId)!;
    const path = stillPath(folder, v);
    const bytes = await addBlob(v.media.blob, path, 'still', v.id);
    const shot = snap.shots.find((s) => s.id === v.shotId)!;
    addBuffer(json(sidecar(snap, shot, v, { path: path.split('/').pop(), sha256: v.media.blob, bytes })), `${folder}/${versionStem(folder, v)}.provenance.json`, 'provenance', v.id);
  }
  addBuffer(json(markersOtio(snap, { approvedOnly: true })), 'timeline.otio', 'timeline');
  addBuffer(Buffer.from(markersEdl(snap, { approvedOnly: true })), 'timeline.edl', 'timeline');
  addBuffer(Buffer.from(notesCsv(snap)), 'notes.csv', 'notes');
  const manifest = {
    loupe: 'approved-bundle',
    formatVersion: 2,
    room: { id: snap.room.id, name: snap.room.name },
    exportedAt: snap.takenAt,
    cut: clips.map((c) => ({
      shot: c.shot.name,
      shotId: c.shot.id,
      version: versionLabel(c.version),
      versionId: c.version.id,
      media: c.master ? masterLabel(c.master) : null,
      from: c.master?.from ?? null,
      startTimecode: c.clock.startTimecode,
      reel: c.clock.reel,
      frames: c.frames,
    })),
    files,
    missing,
  };
  zip.addBuffer(json(manifest), 'manifest.json', { mtime });
  zip.end();
  await piped;
  progress(`zip: done, ${files.length + 1} files, ${(written / 1e6).toFixed(1)} MB`);
  return { files, missing };
}

/** The blob of each frame of a frame-sequence master: the original files of a sequence, a render's frames through FrameService. */
async function frameSource(v: Version, master: Extract<MasterMedia, { kind: 'frames' }>, deps: { blobs: BlobStore; frames: FrameService }): Promise<(i: number) => Promise<string>> {
  const src = v.media.type === 'video' ? v.media.source : undefined;
  if (master.from === 'sequence' && src?.manifest) {
    const m = JSON.parse(await fs.promises.readFile(await deps.blobs.localPath(src.manifest), 'utf8')) as SequenceManifest;
    // A missing frame holds the one before it, as in the room.
    return async (i) => frameFile(m, master.firstNumber + i);
  }
  return (i) => deps.frames.frame(v, i);
}

/** What sits beside a version's files: who made it, from what, and who approved it. */
function sidecar(snap: RoomSnapshot, shot: Shot, v: Version, file: Record<string, unknown>) {
  const approval = [...v.decisions].reverse().find((d) => d.decision === 'approved') ?? null;
  return {
    loupe: 'provenance',
    room: { id: snap.room.id, name: snap.room.name },
    shot,
    version: { id: v.id, number: v.number, label: versionLabel(v), title: v.label, kind: v.kind, status: v.status, parentVersionId: v.parentVersionId, createdBy: v.createdBy, createdAt: v.createdAt },
    aiMade: aiMadeVersion(v),
    ...(versionMaker(v) ? { madeBy: versionMaker(v)!.label } : {}),
    file,
    media: v.media,
    provenance: v.provenance,
    approvedBy: approval,
    decisions: v.decisions,
  };
}

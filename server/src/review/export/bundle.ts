import crypto from 'node:crypto';
import fs from 'node:fs';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ZipFile } from 'yazl';
import { aiMadeVersion, versionLabel, versionMaker } from '@loupe/shared';
import type { BlobRepository } from '../../store/blob.repository.js';
import { mediaPathIn } from './cut.js';
import { notesCsv } from './csv.js';
import { markersOtio } from './otio.js';
import { shotFolderNames, type RoomSnapshot } from './snapshot.js';

export interface ManifestEntry {
  path: string;
  sha256: string;
  bytes: number;
  kind: 'media' | 'provenance' | 'timeline' | 'notes';
  versionId?: string;
}

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const json = (o: unknown) => Buffer.from(JSON.stringify(o, null, 2) + '\n');

/**
 * The approved media bundle: each approved version's media (the movie's H.264 proxy, an AI
 * version's result PNG) with a provenance sidecar beside it, the approved cut as OTIO (its clips
 * point at the files here), the notes as CSV, and manifest.json listing every other file with its
 * sha256 and size. Media is stored uncompressed (it already is compressed) and streamed from the
 * blob store; the zip is written as it is made.
 */
export async function approvedBundle(
  snap: RoomSnapshot,
  deps: { blobs: BlobRepository },
  out: Writable,
  progress: (line: string) => void = () => {},
): Promise<{ files: ManifestEntry[]; missing: string[] }> {
  const folders = shotFolderNames(snap.shots);
  const shotOrder = new Map(snap.shots.map((s, i) => [s.id, i]));
  const approved = snap.versions
    .filter((v) => v.status === 'approved' && shotOrder.has(v.shotId))
    .sort((a, b) => shotOrder.get(a.shotId)! - shotOrder.get(b.shotId)! || a.number - b.number);
  const zip = new ZipFile();
  const files: ManifestEntry[] = [];
  const missing: string[] = [];
  const addBuffer = (buf: Buffer, path: string, kind: ManifestEntry['kind'], versionId?: string) => {
    zip.addBuffer(buf, path, { mtime: new Date(snap.takenAt) });
    files.push({ path, sha256: sha256(buf), bytes: buf.length, kind, ...(versionId ? { versionId } : {}) });
  };

  for (const v of approved) {
    const shot = snap.shots[shotOrder.get(v.shotId)!];
    const path = mediaPathIn(folders.get(shot.id)!, v);
    const file = deps.blobs.path(v.media.blob);
    let bytes: number;
    try {
      bytes = (await fs.promises.stat(file)).size;
    } catch {
      missing.push(path);
      progress(`zip: ${path}: media ${v.media.blob} is missing from the blob store; left out`);
      continue;
    }
    zip.addFile(file, path, { compress: false, mtime: new Date(v.createdAt) });
    files.push({ path, sha256: v.media.blob, bytes, kind: 'media', versionId: v.id });
    const approval = [...v.decisions].reverse().find((d) => d.decision === 'approved') ?? null;
    const sidecar = {
      loupe: 'provenance',
      room: { id: snap.room.id, name: snap.room.name },
      shot,
      version: { id: v.id, number: v.number, label: versionLabel(v), title: v.label, kind: v.kind, status: v.status, parentVersionId: v.parentVersionId, createdBy: v.createdBy, createdAt: v.createdAt },
      aiMade: aiMadeVersion(v),
      ...(versionMaker(v) ? { madeBy: versionMaker(v)!.label } : {}),
      file: { path: path.split('/').pop(), sha256: v.media.blob, bytes },
      media: v.media,
      provenance: v.provenance,
      approvedBy: approval,
      decisions: v.decisions,
    };
    addBuffer(json(sidecar), path.replace(/\.[a-z0-9]+$/, '.provenance.json'), 'provenance', v.id);
  }
  addBuffer(json(markersOtio(snap, { approvedOnly: true })), 'timeline.otio', 'timeline');
  addBuffer(Buffer.from(notesCsv(snap)), 'notes.csv', 'notes');
  const manifest = {
    loupe: 'approved-bundle',
    formatVersion: 1,
    room: { id: snap.room.id, name: snap.room.name },
    exportedAt: snap.takenAt,
    files,
    missing,
  };
  zip.addBuffer(json(manifest), 'manifest.json', { mtime: new Date(snap.takenAt) });

  const total = files.reduce((s, f) => s + f.bytes, 0);
  const mb = (b: number) => (b / 1e6).toFixed(1);
  progress(`zip: ${approved.length} approved version${approved.length === 1 ? '' : 's'}, ${files.length + 1} files, ${mb(total)} MB`);
  let written = 0;
  let shown = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      written += chunk.length;
      const pct = total ? Math.min(100, Math.floor((100 * written) / total / 10) * 10) : 100;
      // Percentages only where there is something to wait for.
      if (pct > shown && total > 4e6) progress(`zip: ${pct}% (${mb(written)} of ${mb(total)} MB)`), (shown = pct);
      cb(null, chunk);
    },
  });
  zip.end();
  await pipeline(zip.outputStream, counter, out);
  return { files, missing };
}

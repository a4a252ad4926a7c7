import type { Writable } from 'node:stream';
import type * as Y from 'yjs';
import { ErrorCode, ExportFormats, LoupeError, type ExportFormat } from '@loupe/shared';
import type { BlobStore } from '../../store/blob.repository.js';
import type { DocRepository } from '../../store/doc.repository.js';
import type { EventRepository } from '../../store/event.repository.js';
import type { RoomRepository } from '../../store/room.repository.js';
import type { VersionRepository } from '../../store/version.repository.js';
import type { FrameService } from '../../media/frame.service.js';
import { drainedOrClosed } from '../../streams.js';
import { approvedBundle } from './bundle.js';
import { notesCsv } from './csv.js';
import { markersEdl } from './edl.js';
import { markersOtio } from './otio.js';
import { notesPdf } from './pdf.js';
import { docFromUpdates, safeName, snapshotFromDoc, type RoomSnapshot } from './snapshot.js';

export interface ExportOptions {
  /** EDL / OTIO: leave out shots nothing of which is approved. */
  approvedOnly?: boolean;
  /** Progress lines (PDF pages, zip percentages). */
  progress?: (line: string) => void;
}

/**
 * Takes a room's notes, drawings, decisions, approved media and event log out in the formats the
 * cutting room and pipelines read. Works on the data folder alone (the CLI) or beside a running
 * server (which passes its in-memory documents).
 */
export class ExportService {
  constructor(
    private readonly deps: {
      rooms: RoomRepository;
      versions: VersionRepository;
      docs: DocRepository;
      blobs: BlobStore;
      frames: FrameService;
      events: EventRepository;
      /** The room's live document when a server holds it (else it is read from the database). */
      liveDoc?: (roomId: string) => Y.Doc | undefined;
    },
  ) {}

  async snapshot(roomId: string): Promise<RoomSnapshot> {
    const room = await this.deps.rooms.get(roomId);
    if (!room) throw new LoupeError(ErrorCode.ROOM_NOT_FOUND, `No room ${roomId}.`);
    const [shots, versions] = await Promise.all([this.deps.rooms.shots(roomId), this.deps.versions.listForRoom(roomId)]);
    // The live document is read after the awaits: it is then the newest there is.
    const live = this.deps.liveDoc?.(roomId);
    const doc = live ?? docFromUpdates(await this.deps.docs.load(roomId));
    try {
      return snapshotFromDoc(room, shots, versions, doc);
    } finally {
      if (!live) doc.destroy();
    }
  }

  /** A file name for the download: `grade-review-notes.csv`. */
  async fileName(roomId: string, format: ExportFormat): Promise<string> {
    const room = await this.deps.rooms.get(roomId);
    return `${safeName(room?.name ?? roomId, 'room')}-${ExportFormats[format].file}`;
  }

  /** Writes the export to `out` and ends it. */
  async write(roomId: string, format: ExportFormat, out: Writable, opts: ExportOptions = {}): Promise<void> {
    const snap = await this.snapshot(roomId);
    const progress = opts.progress ?? (() => {});
    switch (format) {
      case 'csv':
        return endWith(out, notesCsv(snap));
      case 'edl':
        return endWith(out, markersEdl(snap, opts));
      case 'otio':
        return endWith(out, JSON.stringify(markersOtio(snap, opts), null, 2) + '\n');
      case 'pdf':
        return notesPdf(snap, this.deps, out, progress);
      case 'zip':
        await approvedBundle(snap, this.deps, out, progress);
        return;
      case 'events':
        return this.writeEvents(roomId, out);
      default:
        throw new LoupeError(ErrorCode.UNKNOWN_EXPORT, `No export format "${String(format)}".`);
    }
  }

  /** The session event log as JSON lines, oldest first, streamed with backpressure. */
  private async writeEvents(roomId: string, out: Writable): Promise<void> {
    for await (const e of this.deps.events.iterate(roomId)) {
      const line = JSON.stringify({ id: e.id, at: e.at, room: e.roomId, type: e.type, actor: e.actor, data: e.data }) + '\n';
      if (!out.write(line)) await drainedOrClosed(out);
      if (out.destroyed) return;
    }
    await endWith(out, '');
  }
}

function endWith(out: Writable, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    out.once('error', reject);
    out.end(text, () => resolve());
  });
}

import type * as Y from 'yjs';
import type { Logger } from '../log.js';
import type { Db } from '../store/database.js';
import type { BlobStore } from '../store/blob.repository.js';
import type { RoomRepository } from '../store/room.repository.js';
import type { VersionRepository } from '../store/version.repository.js';
import { DocRepository } from '../store/doc.repository.js';
import { EventRepository } from '../store/event.repository.js';
import { FrameRepository } from '../store/frame.repository.js';
import { WebhookRepository } from '../store/webhook.repository.js';
import { FrameService } from '../media/frame.service.js';
import { EventLogService } from './event-log.service.js';
import { ExportService } from './export/export.service.js';
import { WebhookService, webhookSettings } from './webhook.service.js';
import type { JobSystem } from '../jobs/job-system.js';

interface Stores {
  db: Db;
  rooms: RoomRepository;
  versions: VersionRepository;
  blobs: BlobStore;
}

/** Exports working on the data folder alone (the CLI). */
export function openExports(s: Stores & { frames?: FrameService; liveDoc?: (roomId: string) => Y.Doc | undefined }): ExportService {
  return new ExportService({
    rooms: s.rooms,
    versions: s.versions,
    docs: new DocRepository(s.db),
    blobs: s.blobs,
    frames: s.frames ?? new FrameService(s.blobs, new FrameRepository(s.db)),
    events: new EventRepository(s.db),
    liveDoc: s.liveDoc,
  });
}

export type HandOver = Awaited<ReturnType<typeof openHandOver>>;

/**
 * What takes a running server's sessions out of the room: the event log (fed by the gateway, the
 * fix queue, decisions and the room documents), webhooks (fed by the event log) and the exports.
 */
export async function openHandOver(s: Stores & { frames: FrameService; log: Logger; env: NodeJS.ProcessEnv; liveDoc: (roomId: string) => Y.Doc | undefined; jobs: JobSystem }) {
  const events = new EventLogService({ events: new EventRepository(s.db), rooms: s.rooms, versions: s.versions, log: s.log });
  const settings = webhookSettings(s.env, (m) => s.log.warn(m));
  const hooks = new WebhookRepository(s.db);
  const webhooks = new WebhookService({ hooks, rooms: s.rooms, settings, log: s.log, jobs: s.jobs }, settings.secret ?? (await hooks.secret()));
  events.onEvent((e) => webhooks.handle(e));
  const exports = openExports(s);
  if (settings.urls.length) s.log.info({ urls: settings.urls.length }, 'webhooks: server-wide URLs from LOUPE_WEBHOOKS');
  return {
    events,
    webhooks,
    exports,
    /** Writes what the event log still holds and stops webhook retries; before the database closes. */
    async close() {
      await events.close();
      webhooks.close();
    },
  };
}

import path from 'node:path';
import type { Config } from '../config.js';
import { generateShowcase, SHOWCASE } from '../media/demo.js';
import type { IngestService } from '../media/ingest.service.js';
import type { RoomRepository } from '../store/room.repository.js';
import type { CreatedRoom, RoomService } from './room.service.js';

/** The setting that records the demo room once made: it is made once per database, never again. */
export const DEMO_ROOM_SETTING = 'demo_room';

/**
 * Whether a first start makes the demo room: LOUPE_DEMO=1 or 0 when set, else only the embedded
 * single node (ROLE=all, no Redis, no DATABASE_URL). API nodes and workers of a scale-out install
 * share a database that is not theirs to fill (docs/deploy.md).
 */
export function demoWanted(config: Pick<Config, 'demo' | 'role' | 'redis' | 'databaseUrl'>): boolean {
  return config.demo ?? (config.role === 'all' && !config.redis && !config.databaseUrl);
}

/**
 * The first-start demo room (docs/media.md#the-demo): its movies are filmed by ffmpeg from the photograph
 * in server/assets/demo and ingested as uploads are (proxy, poster, filmstrip, source record). Made when
 * the database has no room and no demo room was ever made; null otherwise.
 */
export async function createDemoRoom(deps: {
  roomService: RoomService;
  rooms: RoomRepository;
  ingests: IngestService;
  dataDir: string;
  log: (msg: string) => void;
}): Promise<CreatedRoom | null> {
  const { roomService, rooms, ingests, log } = deps;
  if ((await rooms.setting(DEMO_ROOM_SETTING)) || (await rooms.list()).length > 0) return null;
  const started = Date.now();
  log(`generating the demo (two shots, ${SHOWCASE.width}x${SHOWCASE.height}, ${SHOWCASE.fps} fps) with ffmpeg ...`);
  let lastPct = -1;
  const movies = await generateShowcase(path.join(deps.dataDir, 'tmp'), (done, total) => {
    const pct = Math.floor((100 * done) / total / 25) * 25;
    if (pct > lastPct) log(`  demo: filmed ${Math.min(100, pct)}%`), (lastPct = pct);
  });
  const created = await roomService.create('Demo room', { demo: false });
  // Recorded before the ingests: a restart never makes a second demo room, even after a crash here.
  await rooms.setSetting(DEMO_ROOM_SETTING, created.room.id);
  const claims = { room: created.room.id, role: 'director' as const, name: 'Loupe', sub: 'loupe-demo' };
  const shotIds = new Map<string, string>();
  for (const m of movies) {
    log(`  demo: ingesting ${m.name} ...`);
    const shotId = shotIds.get(m.shot);
    const rec = await ingests.ingestLocal(claims, m.file, { name: m.name, label: m.label, ...(shotId ? { shotId } : { shotName: m.shot }) });
    if (rec.state !== 'done' || !rec.result) throw new Error(`the demo movie ${m.name} could not be ingested: ${rec.error?.message ?? rec.state}`);
    shotIds.set(m.shot, rec.result.shotId);
  }
  log(`  demo: ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return created;
}

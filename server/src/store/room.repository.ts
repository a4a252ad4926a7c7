import type { Shot } from '@loupe/shared';
import type { Db } from './database.js';

export interface RoomRow {
  id: string;
  name: string;
  createdAt: string;
}

export class RoomRepository {
  constructor(private readonly db: Db) {}

  create(room: RoomRow): void {
    this.db.prepare('INSERT INTO rooms (id, name, created_at) VALUES (?, ?, ?)').run(room.id, room.name, room.createdAt);
  }

  get(id: string): RoomRow | undefined {
    return this.db.prepare('SELECT id, name, created_at AS createdAt FROM rooms WHERE id = ?').get(id) as RoomRow | undefined;
  }

  list(): RoomRow[] {
    return this.db.prepare('SELECT id, name, created_at AS createdAt FROM rooms ORDER BY created_at').all() as RoomRow[];
  }

  addShot(roomId: string, shot: Shot, createdAt: string): void {
    this.db
      .prepare(
        `INSERT INTO shots (id, room_id, name, fps, drop_frame, width, height, frame_count, start_timecode, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(shot.id, roomId, shot.name, shot.fps, shot.dropFrame ? 1 : 0, shot.width, shot.height, shot.frameCount, shot.startTimecode, createdAt);
  }

  shots(roomId: string): Shot[] {
    const rows = this.db
      .prepare(
        `SELECT id, name, fps, drop_frame AS dropFrame, width, height, frame_count AS frameCount,
                start_timecode AS startTimecode FROM shots WHERE room_id = ? ORDER BY created_at`,
      )
      .all(roomId) as (Omit<Shot, 'dropFrame'> & { dropFrame: number })[];
    return rows.map((r) => ({ ...r, dropFrame: !!r.dropFrame }));
  }

  /** Records that a room may read a blob (its media, its results). */
  grantBlob(roomId: string, sha256: string): void {
    this.db.prepare('INSERT OR IGNORE INTO room_blobs (room_id, sha256) VALUES (?, ?)').run(roomId, sha256);
  }

  mayReadBlob(roomId: string, sha256: string): boolean {
    return !!this.db.prepare('SELECT 1 FROM room_blobs WHERE room_id = ? AND sha256 = ?').get(roomId, sha256);
  }

  setting(key: string): string | undefined {
    return (this.db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  /** The stored value, or `value` stored now: nodes starting together on one database agree on the first one. */
  settingOrInit(key: string, value: string): string {
    this.db.prepare('INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)').run(key, value);
    return this.setting(key)!;
  }

  setSetting(key: string, value: string): void {
    this.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }
}

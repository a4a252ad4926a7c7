import type { Shot } from '@loupe/shared';
import { Repository } from './database.js';

export interface RoomRow {
  id: string;
  name: string;
  createdAt: string;
}

export class RoomRepository extends Repository {
  async create(room: RoomRow): Promise<void> {
    await this.db.insertInto('rooms').values({ id: room.id, name: room.name, created_at: room.createdAt }).execute();
  }

  get(id: string): Promise<RoomRow | undefined> {
    return this.db.selectFrom('rooms').select(['id', 'name', 'created_at as createdAt']).where('id', '=', id).executeTakeFirst();
  }

  list(): Promise<RoomRow[]> {
    return this.db.selectFrom('rooms').select(['id', 'name', 'created_at as createdAt']).orderBy('created_at').execute();
  }

  async addShot(roomId: string, shot: Shot, createdAt: string): Promise<void> {
    await this.db
      .insertInto('shots')
      .values({
        id: shot.id,
        room_id: roomId,
        name: shot.name,
        fps: shot.fps,
        drop_frame: shot.dropFrame ? 1 : 0,
        width: shot.width,
        height: shot.height,
        frame_count: shot.frameCount,
        start_timecode: shot.startTimecode,
        created_at: createdAt,
      })
      .execute();
  }

  async shots(roomId: string): Promise<Shot[]> {
    const rows = await this.db
      .selectFrom('shots')
      .select(['id', 'name', 'fps', 'drop_frame', 'width', 'height', 'frame_count', 'start_timecode'])
      .where('room_id', '=', roomId)
      .orderBy('created_at')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      fps: r.fps,
      dropFrame: !!r.drop_frame,
      width: r.width,
      height: r.height,
      frameCount: r.frame_count,
      startTimecode: r.start_timecode,
    }));
  }

  /** Records that a room may read a blob (its media, its results). */
  async grantBlob(roomId: string, sha256: string): Promise<void> {
    await this.db.insertInto('room_blobs').values({ room_id: roomId, sha256 }).onConflict((c) => c.doNothing()).execute();
  }

  async mayReadBlob(roomId: string, sha256: string): Promise<boolean> {
    return !!(await this.db.selectFrom('room_blobs').select('sha256').where('room_id', '=', roomId).where('sha256', '=', sha256).executeTakeFirst());
  }

  async setting(key: string): Promise<string | undefined> {
    return (await this.db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst())?.value;
  }

  /** The stored value, or `value` stored now: nodes starting together on one database agree on the first one. */
  async settingOrInit(key: string, value: string): Promise<string> {
    await this.db.insertInto('settings').values({ key, value }).onConflict((c) => c.doNothing()).execute();
    return (await this.setting(key))!;
  }

  async setSetting(key: string, value: string): Promise<void> {
    await this.db
      .insertInto('settings')
      .values({ key, value })
      .onConflict((c) => c.column('key').doUpdateSet({ value: (eb) => eb.ref('excluded.value') }))
      .execute();
  }
}

import crypto from 'node:crypto';
import { Repository } from './database.js';

export interface WebhookRow {
  id: string;
  roomId: string;
  url: string;
  createdAt: string;
}

const SECRET_KEY = 'webhook_secret';

/** Per-room webhook URLs (LOUPE_WEBHOOKS adds server-wide ones) and the signing secret. */
export class WebhookRepository extends Repository {
  async add(roomId: string, url: string): Promise<WebhookRow> {
    const row: WebhookRow = { id: crypto.randomBytes(6).toString('base64url'), roomId, url, createdAt: new Date().toISOString() };
    await this.db.insertInto('webhooks').values({ id: row.id, room_id: row.roomId, url: row.url, created_at: row.createdAt }).execute();
    return row;
  }

  /** Hooks of one room, or of every room. */
  list(roomId?: string): Promise<WebhookRow[]> {
    let q = this.db.selectFrom('webhooks').select(['id', 'room_id as roomId', 'url', 'created_at as createdAt']);
    if (roomId) q = q.where('room_id', '=', roomId);
    return q.orderBy('created_at').execute();
  }

  async remove(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('webhooks').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** The stored signing secret, generated on first use (the server and the CLI agree on it, whoever asks first). */
  async secret(): Promise<string> {
    await this.db.insertInto('settings').values({ key: SECRET_KEY, value: crypto.randomBytes(32).toString('base64url') }).onConflict((c) => c.doNothing()).execute();
    return (await this.db.selectFrom('settings').select('value').where('key', '=', SECRET_KEY).executeTakeFirstOrThrow()).value;
  }
}

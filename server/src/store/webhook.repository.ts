import crypto from 'node:crypto';
import type { Db } from './database.js';

export interface WebhookRow {
  id: string;
  roomId: string;
  url: string;
  createdAt: string;
}

const SECRET_KEY = 'webhook_secret';

/** Per-room webhook URLs (LOUPE_WEBHOOKS adds server-wide ones) and the signing secret. */
export class WebhookRepository {
  constructor(private readonly db: Db) {}

  add(roomId: string, url: string): WebhookRow {
    const row: WebhookRow = { id: crypto.randomBytes(6).toString('base64url'), roomId, url, createdAt: new Date().toISOString() };
    this.db.prepare('INSERT INTO webhooks (id, room_id, url, created_at) VALUES (?, ?, ?, ?)').run(row.id, row.roomId, row.url, row.createdAt);
    return row;
  }

  /** Hooks of one room, or of every room. */
  list(roomId?: string): WebhookRow[] {
    const sql = 'SELECT id, room_id AS roomId, url, created_at AS createdAt FROM webhooks';
    return (roomId ? this.db.prepare(`${sql} WHERE room_id = ? ORDER BY created_at`).all(roomId) : this.db.prepare(`${sql} ORDER BY created_at`).all()) as WebhookRow[];
  }

  remove(id: string): boolean {
    return this.db.prepare('DELETE FROM webhooks WHERE id = ?').run(id).changes > 0;
  }

  /** The stored signing secret, generated on first use (the server and the CLI agree on it, whoever asks first). */
  secret(): string {
    this.db.prepare('INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)').run(SECRET_KEY, crypto.randomBytes(32).toString('base64url'));
    return (this.db.prepare('SELECT value FROM settings WHERE key = ?').get(SECRET_KEY) as { value: string }).value;
  }
}

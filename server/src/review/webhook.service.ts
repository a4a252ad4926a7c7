import crypto from 'node:crypto';
import { ErrorCode, LoupeError } from '@loupe/shared';
import type { Logger } from '../log.js';
import type { RoomEvent } from '../store/event.repository.js';
import type { RoomRepository } from '../store/room.repository.js';
import type { WebhookRepository } from '../store/webhook.repository.js';
import { done, type JobSystem, type Outcome } from '../jobs/job-system.js';

/** The session events sent to webhooks (docs/exports.md has their payloads). */
export const WebhookEvents = ['version.decided', 'fix.finished', 'note.added'] as const;
export type WebhookEvent = (typeof WebhookEvents)[number];

export interface WebhookSettings {
  /** Server-wide URLs (LOUPE_WEBHOOKS), called for every room besides each room's own. */
  urls: string[];
  /** LOUPE_WEBHOOK_SECRET; else one generated into the database (`npx loupe webhook secret`). */
  secret?: string;
  /** Wait before the first retry; doubles each time (LOUPE_WEBHOOK_RETRY_MS). */
  retryBaseMs: number;
  /** Tries per delivery, the first included (LOUPE_WEBHOOK_ATTEMPTS). */
  maxAttempts: number;
  /** Time a receiver has to answer one try. */
  timeoutMs: number;
  /** Deliveries waiting at once; more are dropped (and logged) rather than grow without bound. */
  maxPending: number;
}

/** An absolute http(s) URL, or a WEBHOOK_URL_INVALID refusal. */
export function checkWebhookUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    throw new LoupeError(ErrorCode.WEBHOOK_URL_INVALID, `"${raw}" is not a URL; give an absolute http:// or https:// URL.`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new LoupeError(ErrorCode.WEBHOOK_URL_INVALID, `"${raw}" is not an http:// or https:// URL.`);
  }
  return u.href;
}

/** Reads the webhook settings from the environment; bad URLs are reported through `warn` and skipped. */
export function webhookSettings(env: NodeJS.ProcessEnv, warn: (msg: string) => void = () => {}): WebhookSettings {
  const urls: string[] = [];
  for (const raw of (env.LOUPE_WEBHOOKS ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    try {
      urls.push(checkWebhookUrl(raw));
    } catch (e) {
      warn(`LOUPE_WEBHOOKS: ${(e as Error).message}`);
    }
  }
  const num = (v: string | undefined, d: number, min: number) => (v && Number.isFinite(Number(v)) ? Math.max(min, Number(v)) : d);
  return {
    urls,
    secret: env.LOUPE_WEBHOOK_SECRET || undefined,
    retryBaseMs: num(env.LOUPE_WEBHOOK_RETRY_MS, 2000, 10),
    maxAttempts: Math.round(num(env.LOUPE_WEBHOOK_ATTEMPTS, 8, 1)),
    timeoutMs: 10_000,
    maxPending: 1000,
  };
}

/** `sha256=<hex HMAC-SHA256 of the raw body>`, the X-Loupe-Signature header. */
export function signBody(secret: string, body: string): string {
  return `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** One delivery: an event's body for one URL, a job of the job system ('io' lane). */
interface Delivery {
  url: string;
  event: string;
  id: string;
  body: string;
}

/** The job system's name for a webhook delivery. */
export const WEBHOOK_JOB = 'webhook.deliver';

/**
 * Sends chosen session events to webhook URLs as signed JSON POSTs. Each delivery is a job on the
 * job system's 'io' lane (in this process, or BullMQ on Redis, where a waiting retry survives a
 * restart and any node may send it): it never holds up the room, and a try that fails (network
 * error, time-out, 408, 425, 429, 5xx) runs again with exponential back-off and jitter, or after the
 * receiver's Retry-After when that is longer. In this process, retries waiting when the server stops
 * are dropped (and logged): the event log keeps every event.
 */
export class WebhookService {
  private closed = false;

  constructor(
    private readonly deps: { hooks: WebhookRepository; rooms: RoomRepository; settings: WebhookSettings; log: Logger; jobs: JobSystem },
    /** LOUPE_WEBHOOK_SECRET, or the one kept in the database (`WebhookRepository.secret`). */
    readonly secret: string,
  ) {
    deps.jobs.register<Delivery>({ name: WEBHOOK_JOB, lane: 'io', run: (d, ctx) => this.attempt(d, ctx.attempt) });
  }

  /** The URLs a room's events go to: the server-wide ones and the room's own. */
  async urlsFor(roomId: string): Promise<string[]> {
    return [...new Set([...this.deps.settings.urls, ...(await this.deps.hooks.list(roomId)).map((h) => h.url)])];
  }

  /**
   * An event from the event log: queued for each URL if it is one webhooks receive. Resolves once
   * queued (the deliveries go on in the background); never rejects.
   */
  async handle(e: RoomEvent): Promise<void> {
    if (this.closed || !(WebhookEvents as readonly string[]).includes(e.type)) return;
    let urls: string[];
    let room: { name: string } | undefined;
    let waiting: number;
    try {
      urls = await this.urlsFor(e.roomId);
      if (urls.length === 0) return;
      room = await this.deps.rooms.get(e.roomId);
      waiting = await this.deps.jobs.count('io');
    } catch (err) {
      this.deps.log.error({ room: e.roomId, event: e.type, err: (err as Error).message }, 'webhook not sent: its URLs could not be read');
      return;
    }
    if (this.closed) return;
    const id = crypto.randomUUID();
    const body = JSON.stringify({
      id,
      event: e.type,
      seq: e.id,
      at: e.at,
      room: { id: e.roomId, name: room?.name ?? null },
      actor: e.actor,
      data: e.data,
    });
    for (const url of urls) {
      if (waiting++ >= this.deps.settings.maxPending) {
        this.deps.log.warn({ room: e.roomId, url, event: e.type }, 'webhook dropped: too many deliveries waiting');
        continue;
      }
      const key = `webhook:${id}:${crypto.createHash('sha256').update(url).digest('hex').slice(0, 16)}`;
      await this.deps.jobs
        .add<Delivery>('io', WEBHOOK_JOB, { url, event: e.type, id, body }, { key, attempts: this.deps.settings.maxAttempts })
        .catch((err: Error) => this.deps.log.error({ room: e.roomId, url, event: e.type, err: err.message }, 'webhook not queued'));
    }
  }

  close(): void {
    this.closed = true;
  }

  /** One try of a delivery: done, or failed with whether and when to try again. */
  private async attempt(d: Delivery, attempt: number): Promise<Outcome> {
    const { settings, log } = this.deps;
    let retry = false;
    let why = '';
    let retryAfterMs = 0;
    try {
      const res = await fetch(d.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Loupe-Webhooks/1',
          'x-loupe-event': d.event,
          'x-loupe-delivery': d.id,
          'x-loupe-attempt': String(attempt),
          'x-loupe-signature': signBody(this.secret, d.body),
        },
        body: d.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(settings.timeoutMs),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) {
        log.debug({ url: d.url, event: d.event, delivery: d.id, attempt }, 'webhook delivered');
        return done();
      }
      why = `HTTP ${res.status}`;
      retry = res.status === 408 || res.status === 425 || res.status === 429 || res.status >= 500;
      const ra = Number(res.headers.get('retry-after'));
      if (Number.isFinite(ra) && ra > 0) retryAfterMs = Math.min(ra * 1000, 10 * 60_000);
    } catch (e) {
      why = (e as Error).name === 'TimeoutError' ? `no answer in ${settings.timeoutMs} ms` : (e as Error).message;
      retry = true;
    }
    if (!retry || attempt >= settings.maxAttempts || this.closed) {
      log.warn({ url: d.url, event: d.event, delivery: d.id, attempts: attempt, why }, 'webhook not delivered; giving up');
      return { status: 'failed', code: ErrorCode.WEBHOOK_FAILED, message: `${d.url}: ${why}` };
    }
    const backoff = settings.retryBaseMs * 2 ** (attempt - 1) * (0.8 + Math.random() * 0.4);
    const wait = Math.round(Math.min(Math.max(backoff, retryAfterMs), 10 * 60_000));
    log.info({ url: d.url, event: d.event, delivery: d.id, attempt, why, retryInMs: wait }, 'webhook failed; will retry');
    return { status: 'failed', code: ErrorCode.WEBHOOK_FAILED, message: `${d.url}: ${why}`, retry: true, retryInMs: wait };
  }
}

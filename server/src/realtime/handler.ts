import type { z } from 'zod';
import { ErrorCode, LoupeError, refusal, type Refusal } from '@loupe/shared';
import type { Logger } from '../log.js';
import { storageRefusal } from '../store/storage-errors.js';

/**
 * Wraps an event handler: validates the payload with its schema, turns every thrown LoupeError into
 * an ack `{ ok: false, code, message }`, and keeps unexpected errors from reaching the socket.
 * A handler's effects happen only after validation, so a refused message changes nothing.
 */
export function handler<S extends z.ZodType, R extends object>(
  log: Logger,
  event: string,
  schema: S,
  fn: (payload: z.output<S>) => R | Promise<R>,
) {
  return async (payload: unknown, ack?: unknown) => {
    const reply = typeof ack === 'function' ? (ack as (r: unknown) => void) : () => {};
    const parsed = schema.safeParse(payload);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      return reply(refusal(ErrorCode.BAD_REQUEST, `${event}: ${first ? `${first.path.join('.') || 'payload'}: ${first.message}` : 'invalid payload'}`));
    }
    try {
      reply({ ok: true, ...(await fn(parsed.data)) });
    } catch (e) {
      reply(toRefusal(log, event, e));
    }
  };
}

export function toRefusal(log: Logger, event: string, e: unknown): Refusal {
  if (e instanceof LoupeError) return e.toAck();
  log.error({ err: e, event }, 'handler failed');
  // A full disk is the member's to know: nothing was saved, and the same request works later.
  const full = storageRefusal(e);
  if (full) return full.toAck();
  return refusal(ErrorCode.INTERNAL, `${event} failed on the server; it has been logged.`);
}

import { pino, type Logger } from 'pino';

/** One JSON line per event; room, user and job ids go in the fields. */
export function createLogger(level: string): Logger {
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime });
}
export type { Logger };

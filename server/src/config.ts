import path from 'node:path';
import { z } from 'zod';

/** Everything the server reads from its environment, parsed once. */
const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  DATA_DIR: z.string().default('data'),
  /** Base URL printed in invite links. */
  PUBLIC_URL: z.string().url().optional(),
  /** HMAC secret for invite tokens; generated and kept in DATA_DIR when unset. */
  LOUPE_SECRET: z.string().min(16).optional(),
  /** Execution providers to try, in order. */
  LOUPE_PROVIDERS: z.string().default('cuda,cpu'),
  /** Invite lifetime. */
  INVITE_TTL_HOURS: z.coerce.number().positive().default(24 * 7),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Seconds a room with nobody in it stays in memory. */
  ROOM_IDLE_UNLOAD_S: z.coerce.number().min(0).default(30),
});

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  publicUrl?: string;
  secret?: string;
  providers: string[];
  inviteTtlHours: number;
  logLevel: z.infer<typeof Env>['LOG_LEVEL'];
  roomIdleUnloadMs: number;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const e = Env.parse(env);
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir: path.resolve(e.DATA_DIR),
    publicUrl: e.PUBLIC_URL,
    secret: e.LOUPE_SECRET,
    providers: e.LOUPE_PROVIDERS.split(',').map((s) => s.trim()).filter(Boolean),
    inviteTtlHours: e.INVITE_TTL_HOURS,
    logLevel: e.LOG_LEVEL,
    roomIdleUnloadMs: e.ROOM_IDLE_UNLOAD_S * 1000,
    ...overrides,
  };
}

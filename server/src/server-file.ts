import fs from 'node:fs';
import path from 'node:path';

/**
 * `server.json` in the data folder: which server is running on it, so that the CLI pointed at the same
 * folder (`--data`) talks to that server and prints links that open it. Written once the server
 * listens, removed when it stops cleanly; a file left by a crash is ignored once its pid is gone.
 */
export interface ServerFile {
  /** Base of the links the server prints (PUBLIC_URL, else http://localhost:PORT). */
  url: string;
  port: number;
  pid: number;
  startedAt: string;
}

export const serverFilePath = (dataDir: string) => path.join(dataDir, 'server.json');

export function writeServerFile(dataDir: string, info: ServerFile): void {
  const file = serverFilePath(dataDir);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(info, null, 2) + '\n');
  fs.renameSync(tmp, file);
}

/** Removes the file if it is still this server's (another server may have taken the folder since). */
export function removeServerFile(dataDir: string, info: Pick<ServerFile, 'pid' | 'port'>): void {
  const found = readServerFile(dataDir, { checkAlive: false });
  if (found && found.pid === info.pid && found.port === info.port) fs.rmSync(serverFilePath(dataDir), { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, under another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The running server of a data folder, or undefined when there is none (no file, unreadable, or its process is gone). */
export function readServerFile(dataDir: string, { checkAlive = true } = {}): ServerFile | undefined {
  let info: ServerFile;
  try {
    info = JSON.parse(fs.readFileSync(serverFilePath(dataDir), 'utf8')) as ServerFile;
  } catch {
    return undefined;
  }
  if (typeof info?.url !== 'string' || !Number.isInteger(info.port) || !Number.isInteger(info.pid)) return undefined;
  if (checkAlive && !alive(info.pid)) return undefined;
  return info;
}

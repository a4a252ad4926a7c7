import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { mediaKindOf } from '@loupe/shared';
import { DetailedError, Upload as TusUpload } from 'tus-js-client';
import type { IngestView } from '../media/ingest.service.js';

/**
 * `loupe upload`: sends files to a room over the upload API (tus, with tus-js-client), with a progress
 * bar, and waits for the ingest. A dropped connection is resumed from the offset the server has; an
 * interrupted command run again with the same files resumes the same upload (its state is kept under
 * ~/.cache/loupe).
 */
export interface UploadOptions {
  server: string;
  room: string;
  token: string;
  files: string[];
  shotId?: string;
  shotName?: string;
  fps?: number;
  json?: boolean;
  /** Retries per file after a dropped connection (default 20). */
  retries?: number;
  stateDir?: string;
  /** Where the progress goes (default stderr). */
  out?: NodeJS.WriteStream;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface LocalFile {
  path: string;
  name: string;
  size: number;
  mtimeMs: number;
}

/** Expands the arguments: files as given, folders to the media files in them (sorted). */
export function localFiles(args: string[]): LocalFile[] {
  const out: LocalFile[] = [];
  for (const a of args) {
    const st = fs.statSync(a);
    if (st.isDirectory()) {
      for (const n of fs.readdirSync(a).sort()) {
        const p = path.join(a, n);
        const s = fs.statSync(p);
        if (s.isFile() && !n.startsWith('.') && mediaKindOf(n)) out.push({ path: path.resolve(p), name: n, size: s.size, mtimeMs: s.mtimeMs });
      }
    } else out.push({ path: path.resolve(a), name: path.basename(a), size: st.size, mtimeMs: st.mtimeMs });
  }
  if (out.length === 0) throw new Error('no files to upload');
  return out;
}

function request(
  method: string,
  url: URL,
  headers: Record<string, string | number>,
  body?: NodeJS.ReadableStream | Buffer,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const lib = url.protocol === 'https:' ? https : http;
    const req = lib.request(url, { method, headers, timeout: 60_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer for 60 s')));
    req.on('error', (e) => {
      (body as { destroy?: () => void } | undefined)?.destroy?.();
      reject(e);
    });
    if (!body) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else {
      body.on('error', (e) => req.destroy(e as Error));
      body.pipe(req);
    }
  });
}

function apiError(r: { status: number; body: string }): ApiError {
  try {
    const j = JSON.parse(r.body);
    return new ApiError(r.status, j.code ?? `HTTP_${r.status}`, j.message ?? r.body);
  } catch {
    return new ApiError(r.status, `HTTP_${r.status}`, r.body || `HTTP ${r.status}`);
  }
}

const MB = 1024 * 1024;
const fmtBytes = (n: number) => (n >= 1024 * MB ? `${(n / 1024 / MB).toFixed(2)} GB` : `${(n / MB).toFixed(1)} MB`);

/** One progress line, redrawn in place on a terminal, printed now and then elsewhere. */
class Bar {
  private lastLine = '';
  private lastPrinted = 0;
  private lastKey = '';
  constructor(private readonly out: NodeJS.WriteStream) {}
  draw(label: string, pct: number, detail = '') {
    const width = 24;
    const filled = Math.round((Math.max(0, Math.min(100, pct)) / 100) * width);
    const line = `${label.padEnd(11)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct.toFixed(0).padStart(3)}%${detail ? `  ${detail}` : ''}`;
    if (this.out.isTTY) {
      if (line !== this.lastLine) this.out.write(`\r\x1b[K${line}`);
    } else {
      // Logs get a line per stage and per quarter.
      const key = `${label}:${Math.floor(pct / 25)}`;
      if (key !== this.lastKey || Date.now() - this.lastPrinted > 10_000) {
        this.out.write(line + '\n');
        this.lastKey = key;
        this.lastPrinted = Date.now();
      }
    }
    this.lastLine = line;
  }
  note(msg: string) {
    this.out.write(this.out.isTTY ? `\r\x1b[K${msg}\n` : `${msg}\n`);
    if (this.out.isTTY && this.lastLine) this.out.write(this.lastLine);
  }
  end() {
    if (this.out.isTTY && this.lastLine) this.out.write('\n');
    this.lastLine = '';
  }
}

/**
 * Sends one file to its tus upload URL with tus-js-client: it asks the server (HEAD) where to resume
 * and sends the rest; a dropped connection or a 5xx is retried (back off 0.5 s doubling to 10 s), a
 * refusal (4xx other than a stale offset or a lock) is final and thrown as the server's ApiError.
 */
function send(
  f: LocalFile,
  url: string,
  /** progress: the bytes the server has; `first` for the offset it had when this run began. */
  o: { auth: Record<string, string>; retries: number; note: (m: string) => void; progress: (sent: number, first: boolean) => void },
): Promise<void> {
  const delays = Array.from({ length: o.retries }, (_, k) => Math.min(10_000, 250 * 2 ** Math.min(k + 1, 6)));
  let asked = false;
  return new Promise((resolve, reject) => {
    const upload = new TusUpload(fs.createReadStream(f.path), {
      uploadUrl: url,
      headers: o.auth,
      retryDelays: delays,
      onShouldRetry: (err, attempt) => {
        const status = err.originalResponse?.getStatus() ?? 0;
        const retry = status === 0 || status === 409 || status === 423 || status >= 500;
        if (retry) o.note(`Connection lost (${err.originalRequest && !err.originalResponse ? (err.causingError?.message ?? err.message) : `HTTP ${status}`}); resuming in ${(delays[attempt] / 1000).toFixed(1)} s.`);
        return retry;
      },
      onAfterResponse: (req, res) => {
        if (req.getMethod() !== 'HEAD' || res.getStatus() !== 200) return;
        const offset = Number(res.getHeader('Upload-Offset'));
        if (offset > 0 && offset < f.size) o.note(`Resuming ${f.name} at ${fmtBytes(offset)}.`);
        o.progress(offset, !asked);
        asked = true;
      },
      onProgress: (sent) => o.progress(sent, false),
      onSuccess: () => resolve(),
      onError: (e) => {
        const res = e instanceof DetailedError ? e.originalResponse : null;
        if (res && res.getStatus() >= 400) reject(apiError({ status: res.getStatus(), body: res.getBody() }));
        else reject(new Error(`giving up on ${f.name} after ${o.retries} retries: ${(e instanceof DetailedError ? e.causingError?.message : null) ?? e.message}`));
      },
    });
    upload.start();
  });
}

export async function upload(o: UploadOptions): Promise<number> {
  const out = o.out ?? process.stderr;
  const bar = new Bar(out);
  const base = new URL(o.server.endsWith('/') ? o.server : `${o.server}/`);
  const auth = { authorization: `Bearer ${o.token}` };
  const files = localFiles(o.files);
  const total = files.reduce((s, f) => s + f.size, 0);

  // Resume the same upload when the same files go to the same place again.
  const stateDir = o.stateDir ?? process.env.LOUPE_STATE_DIR ?? path.join(os.homedir(), '.cache', 'loupe', 'uploads');
  const key = crypto
    .createHash('sha256')
    .update(JSON.stringify([base.href, o.room, o.shotId ?? null, files.map((f) => [f.path, f.size, f.mtimeMs])]))
    .digest('hex')
    .slice(0, 24);
  const stateFile = path.join(stateDir, `${key}.json`);
  const getIngest = async (id: string): Promise<IngestView | undefined> => {
    const r = await request('GET', new URL(`api/ingests/${id}`, base), auth);
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw apiError(r);
    return JSON.parse(r.body).ingest;
  };

  let ingest: IngestView | undefined;
  if (fs.existsSync(stateFile)) {
    const saved = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { ingestId: string };
    ingest = await getIngest(saved.ingestId).catch(() => undefined);
    if (ingest && (ingest.state === 'failed' || ingest.state === 'cancelled')) ingest = undefined;
    if (ingest) bar.note(`Resuming upload ${ingest.id} (${ingest.label}).`);
  }
  if (!ingest) {
    const r = await request(
      'POST',
      new URL('api/ingests', base),
      { ...auth, 'content-type': 'application/json' },
      Buffer.from(JSON.stringify({ room: o.room, files: files.map((f) => ({ name: f.name, size: f.size })), shotId: o.shotId, shotName: o.shotName, fps: o.fps })),
    );
    if (r.status !== 201) throw apiError(r);
    ingest = JSON.parse(r.body).ingest as IngestView;
    fs.mkdirSync(stateDir, { recursive: true });
    fs.writeFileSync(stateFile, JSON.stringify({ ingestId: ingest.id, server: base.href, room: o.room, createdAt: new Date().toISOString() }));
    bar.note(`Uploading ${ingest.label} (${fmtBytes(total)}) to room ${o.room}${o.shotId ? ` as the next version of shot ${o.shotId}` : ' as a new shot'}.`);
  }

  // Send each file from where the server is.
  let done = 0;
  const started = Date.now();
  let sentThisRun = 0;
  /** Bytes this run sent of the files already sent. */
  let runDone = 0;
  const show = (current: number) => {
    const s = (Date.now() - started) / 1000;
    const rate = s > 0.5 ? `  ${fmtBytes(sentThisRun / s)}/s` : '';
    bar.draw('uploading', total ? (100 * (done + current)) / total : 100, `${fmtBytes(done + current)} / ${fmtBytes(total)}${rate}`);
  };
  if (ingest.state === 'uploading') {
    for (const [i, f] of files.entries()) {
      const url = new URL(ingest.files[i].uploadUrl.replace(/^\//, ''), base).href;
      let before = 0;
      await send(f, url, {
        auth,
        retries: o.retries ?? 20,
        note: (m) => bar.note(m),
        progress: (sent, first) => {
          if (first) before = sent;
          sentThisRun = runDone + sent - before;
          show(sent);
        },
      }).catch((e: unknown) => {
        bar.end();
        throw e;
      });
      done += f.size;
      runDone += f.size - before;
      show(0);
    }
    bar.draw('uploading', 100, `${fmtBytes(total)} / ${fmtBytes(total)}`);
    bar.end();
  }

  // Then the server's stages until the version lands.
  let last: IngestView = ingest;
  for (;;) {
    const v = await getIngest(ingest.id).catch((e: Error) => {
      bar.note(`Waiting for the server (${e.message}).`);
      return undefined;
    });
    if (v) {
      last = v;
      if (v.state === 'done' || v.state === 'failed' || v.state === 'cancelled') break;
      if (v.stage !== 'uploading') bar.draw(v.stage, v.percent);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  bar.end();
  fs.rmSync(stateFile, { force: true });
  if (o.json) process.stdout.write(JSON.stringify(last, null, 2) + '\n');
  if (last.state === 'done') {
    const r = last.result!;
    const gaps = r.gaps.length ? `; missing frames ${r.gaps.map((g) => (g.from === g.to ? g.from : `${g.from}-${g.to}`)).join(', ')}` : '';
    out.write(`Done: ${last.label} is v${String(r.versionNumber).padStart(3, '0')} of shot ${r.shotId} (version ${r.versionId})${gaps}.\n`);
    out.write(uploadOutcome(r, o.shotId) + '\n');
    return 0;
  }
  out.write(`${last.error?.code ?? 'FAILED'}: ${last.error?.message ?? `the upload was ${last.state}`}\n`);
  return 1;
}

/**
 * What the upload became, said plainly, and how to choose next time: "new shot sh020 (id ...)" or
 * "v003 of shot sh020 (id ...)".
 */
export function uploadOutcome(r: NonNullable<IngestView['result']>, askedShot: string | undefined): string {
  const name = r.shotName ? `${r.shotName} ` : '';
  const v = `v${String(r.versionNumber).padStart(3, '0')}`;
  const newShot = r.newShot ?? !askedShot;
  if (newShot) {
    return `Made a new shot ${name}(id ${r.shotId}) with ${v}. To upload the next version of a shot instead, give --shot SHOT_ID (this one: --shot ${r.shotId}; \`loupe shot list ROOM\` lists them); --new-shot (the default) makes a new shot.`;
  }
  return `Added ${v} of shot ${name}(id ${r.shotId}). Without --shot an upload makes a new shot (--new-shot); \`loupe shot list ROOM\` lists the shots.`;
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}

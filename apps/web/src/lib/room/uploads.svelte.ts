/**
 * Uploads of the room (docs/media.md): this page's own uploads (announce with POST /api/ingests, then
 * each file with tus-js-client, which resumes after a dropped connection and, by the files'
 * fingerprints kept in localStorage, after a reload: the same files dropped again continue where the
 * server is) and everyone's ingest stages from `media:progress`, keyed by ingest id.
 */
import { badFileName, mediaKindOf, type IngestStage, type MediaProgress } from '@loupe/shared';
import { DetailedError, Upload, defaultOptions, type PreviousUpload, type UploadOptions } from 'tus-js-client';

export interface UploadItem {
  id: string;
  name: string;
  stage: IngestStage;
  /** 0..100 within the stage. */
  percent: number;
  by: { id: string; name: string } | null;
  mine: boolean;
  error: { code: string; message: string } | null;
  /** When the item reached done / failed / cancelled (to let it fade away). */
  endedAt: number | null;
}

/** A file's upload URL: `/api/uploads/<ingest>.<index>`. */
const UPLOAD_URL = /\/api\/uploads\/([A-Za-z0-9]+)\.\d+$/;

/** An ingest as POST /api/ingests answers it (the fields an upload needs). */
interface Ingest {
  id: string;
  label: string;
  files: { name: string; size: number; offset: number; uploadUrl: string }[];
}

/** An ingest as `GET /api/ingests` lists it (the fields the panel needs). */
interface InFlight {
  id: string;
  label: string;
  stage: IngestStage;
  percent: number;
  by?: { id: string; name: string };
  error?: { code: string; message: string } | null;
}

const ENDED: IngestStage[] = ['done', 'failed', 'cancelled'];
/** How long a finished upload stays on screen. */
const LINGER_MS = 6000;

export class Uploads {
  items = $state<UploadItem[]>([]);
  /** Where tus-js-client keeps upload URLs by the files' fingerprints: localStorage in a browser. */
  private readonly urlStorage = defaultOptions.urlStorage;
  readonly active = $derived(this.items.filter((u) => u.endedAt === null || Date.now() - u.endedAt < LINGER_MS));

  constructor(
    private readonly token: string,
    private readonly roomId: string,
    private readonly onError: (e: { code: string; message: string }) => void,
  ) {}

  private upsert(id: string, patch: Partial<UploadItem> & { name: string }): UploadItem {
    let item = this.items.find((u) => u.id === id);
    if (!item) {
      this.items.push({ id, stage: 'uploading', percent: 0, by: null, mine: false, error: null, endedAt: null, ...patch });
      item = this.items[this.items.length - 1];
    } else Object.assign(item, patch);
    if (ENDED.includes(item.stage) && item.endedAt === null) {
      item.endedAt = Date.now();
      const id2 = item.id;
      setTimeout(() => {
        const i = this.items.findIndex((u) => u.id === id2);
        if (i >= 0 && this.items[i].endedAt !== null) this.items.splice(i, 1);
      }, LINGER_MS);
    }
    return item;
  }

  /** A `media:progress` event (for everyone's uploads, ours too). */
  onProgress(p: MediaProgress): void {
    const known = this.items.find((u) => u.id === p.uploadId);
    // While our own bytes go out, our XHR progress is finer than the server's.
    if (known?.mine && known.stage === 'uploading' && p.stage === 'uploading') return;
    if (known && ENDED.includes(known.stage)) return;
    this.upsert(p.uploadId, { name: p.name, stage: p.stage, percent: p.percent, by: p.by, error: p.error ?? null });
  }

  /** On (re)join: uploads already in flight, so a late joiner sees them too (docs/media.md). */
  async loadInFlight(): Promise<void> {
    try {
      const r = await fetch('/api/ingests', { headers: this.headers() });
      if (!r.ok) return;
      const body = (await r.json()) as { ingests?: InFlight[] } | InFlight[];
      const list = Array.isArray(body) ? body : (body.ingests ?? []);
      for (const i of list) {
        if (ENDED.includes(i.stage) || this.items.some((u) => u.id === i.id)) continue;
        this.upsert(i.id, { name: i.label, stage: i.stage, percent: i.percent, by: i.by ?? null, error: i.error ?? null });
      }
    } catch {
      // Progress events still arrive; the list is only a head start.
    }
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { Authorization: `Bearer ${this.token}`, ...extra };
  }

  /** Files dropped or picked while a shot is open, waiting for the member to say what they are. */
  pending = $state<{ files: File[]; shot: { id: string; name: string } } | null>(null);

  private refused(files: File[]): boolean {
    for (const f of files) {
      const bad = badFileName(f.name) ?? (mediaKindOf(f.name) ? null : `"${f.name}" is not a movie, an image or a zip`);
      if (bad) {
        this.onError({ code: 'UNSUPPORTED_FORMAT', message: `Cannot upload: ${bad}.` });
        return true;
      }
    }
    return false;
  }

  /**
   * Dropped or picked files: with a shot open, ask first whether they are a new shot or the next
   * version of that shot (`choose`); with none, they make a new shot.
   */
  offer(files: File[], shot: { id: string; name: string } | null): void {
    if (files.length === 0 || this.refused(files)) return;
    if (!shot) return void this.upload(files);
    this.pending = { files, shot: { id: shot.id, name: shot.name } };
  }

  /** The member's answer to `offer`. */
  choose(as: 'new-shot' | 'next-version' | 'cancel'): void {
    const p = this.pending;
    this.pending = null;
    if (!p || as === 'cancel') return;
    void this.upload(p.files, as === 'next-version' ? p.shot.id : undefined);
  }

  /** Upload dropped or picked files as one ingest (a movie, a zip or the frames of one sequence). */
  async upload(files: File[], shotId?: string): Promise<void> {
    if (files.length === 0 || this.refused(files)) return;
    const movies = files.filter((f) => mediaKindOf(f.name) !== 'image');
    if (files.length > 1 && movies.length > 0) {
      // Several movies or zips: one ingest each.
      await Promise.all(files.map((f) => this.upload([f], shotId)));
      return;
    }
    // The same files to the same shot, begun before a reload: resume that ingest where the server is.
    const prior = await this.previous(files, shotId);
    let ingest = prior?.ingest;
    if (!ingest) {
      try {
        const r = await fetch('/api/ingests', {
          method: 'POST',
          headers: this.headers({ 'Content-Type': 'application/json' }),
          body: JSON.stringify({ files: files.map((f) => ({ name: f.name, size: f.size })), ...(shotId ? { shotId } : {}) }),
        });
        const body = await r.json().catch(() => ({ ok: false, code: 'INTERNAL', message: `The server answered ${r.status}.` }));
        if (!body.ok) return this.onError({ code: body.code, message: body.message });
        ingest = body.ingest as Ingest;
      } catch {
        return this.onError({ code: 'DISCONNECTED', message: 'Could not reach the server to start the upload.' });
      }
    }
    const total = files.reduce((s, f) => s + f.size, 0) || 1;
    const sent = files.map(() => 0);
    const item = this.upsert(ingest.id, { name: ingest.label, mine: true, stage: 'uploading', percent: 0 });
    const report = () => {
      if (item.stage !== 'uploading') return;
      item.percent = Math.min(100, (sent.reduce((a, b) => a + b, 0) / total) * 100);
    };
    try {
      // Files one after the other: a sequence is many small files, a movie is one.
      for (let i = 0; i < files.length; i++) {
        const f = ingest.files.find((x) => x.name === files[i].name) ?? ingest.files[i];
        const stored = prior?.stored.find((p) => p.uploadUrl?.endsWith(f.uploadUrl));
        await this.send(files[i], f.uploadUrl, stored, shotId, (n) => {
          sent[i] = n;
          report();
        });
      }
    } catch (e) {
      const err = e as { code?: string; message?: string };
      this.upsert(ingest.id, { name: ingest.label, stage: 'failed', error: { code: err.code ?? 'UPLOAD_FAILED', message: err.message ?? 'The upload failed.' } });
      this.onError({ code: err.code ?? 'UPLOAD_FAILED', message: err.message ?? 'The upload failed.' });
    }
  }

  /**
   * tus-js-client's upload of one file of an ingest: it stores the file's fingerprint with its upload
   * URL in localStorage, asks the server (HEAD) where to resume and sends the rest, retrying after a
   * dropped connection. Progress is the browser's own (XHR upload progress), as fine as before.
   */
  private tus(file: File, shotId: string | undefined, opts: Partial<UploadOptions> = {}): Upload {
    return new Upload(file, {
      headers: this.headers(),
      // One file of this room, to this shot (or a new one): the same file elsewhere is another upload.
      fingerprint: async (f: File) => ['loupe', this.roomId, shotId ?? 'new-shot', f.name, f.size, f.lastModified].join('::'),
      urlStorage: this.urlStorage,
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      retryDelays: [800, 1600, 2400, 5000, 10000],
      // A refusal other than a stale offset or a locked upload will not change by retrying.
      onShouldRetry: (err) => {
        const status = err.originalResponse?.getStatus() ?? 0;
        return status === 0 || status === 409 || status === 423 || status >= 500;
      },
      ...opts,
    });
  }

  /**
   * The ingest these files were being uploaded into before the page was reloaded, if it still takes
   * bytes, with each file's stored upload (by fingerprint); stored uploads of one that does not are forgotten.
   */
  private async previous(files: File[], shotId: string | undefined): Promise<{ ingest: Ingest; stored: PreviousUpload[] } | null> {
    try {
      const stored: PreviousUpload[] = [];
      const all: PreviousUpload[] = [];
      for (const f of files) {
        const found = await this.tus(f, shotId).findPreviousUploads();
        all.push(...found);
        const p = found.find((u) => !!u.uploadUrl && UPLOAD_URL.test(u.uploadUrl));
        if (p) stored.push(p);
      }
      const ids = new Set(stored.map((p) => UPLOAD_URL.exec(p.uploadUrl!)![1]));
      let ingest: (Ingest & { state: string }) | null = null;
      if (stored.length === files.length && ids.size === 1) {
        const r = await fetch(`/api/ingests/${[...ids][0]}`, { headers: this.headers() });
        if (r.ok) ingest = ((await r.json()) as { ingest: Ingest & { state: string } }).ingest;
      }
      if (ingest?.state === 'uploading' && ingest.files.length === files.length) return { ingest, stored };
      await Promise.all(all.map((p) => this.urlStorage.removeUpload(p.urlStorageKey)));
      return null;
    } catch {
      return null;
    }
  }

  /** Sends one file to its upload URL; resolves once every byte is on the server. */
  private send(file: File, url: string, stored: PreviousUpload | undefined, shotId: string | undefined, progress: (bytes: number) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const upload = this.tus(file, shotId, {
        uploadUrl: url,
        onProgress: (bytes) => progress(bytes),
        onSuccess: () => {
          progress(file.size);
          resolve();
        },
        onError: (e) => reject(refusalOf(e)),
      });
      // Resumed after a reload: the stored entry is the one forgotten once the file is in.
      if (stored) upload.resumeFromPreviousUpload(stored);
      upload.start();
    });
  }
}

/** Loupe's code and message from a failed tus request (the server answers JSON refusals). */
function refusalOf(e: Error | DetailedError): { code: string; message: string } {
  const res = e instanceof DetailedError ? e.originalResponse : null;
  if (!res) return { code: 'DISCONNECTED', message: 'The connection dropped during the upload.' };
  try {
    const body = JSON.parse(res.getBody()) as { code?: string; message?: string };
    if (body.code) return { code: body.code, message: body.message ?? `The server answered ${res.getStatus()}.` };
  } catch {
    /* not JSON */
  }
  return { code: res.getHeader('Loupe-Error-Code') ?? `HTTP_${res.getStatus()}`, message: `The server answered ${res.getStatus()}.` };
}

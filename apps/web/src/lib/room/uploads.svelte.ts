/**
 * Uploads of the room (docs/media.md): this page's own uploads (announce with POST /api/ingests, then
 * tus PATCH per file) and everyone's ingest stages from `media:progress`, keyed by ingest id.
 */
import { badFileName, mediaKindOf, type IngestStage, type MediaProgress } from '@loupe/shared';

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
  readonly active = $derived(this.items.filter((u) => u.endedAt === null || Date.now() - u.endedAt < LINGER_MS));

  constructor(
    private readonly token: string,
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
    let ingest: { id: string; label: string; files: { name: string; size: number; offset: number; uploadUrl: string }[] };
    try {
      const r = await fetch('/api/ingests', {
        method: 'POST',
        headers: this.headers({ 'Content-Type': 'application/json' }),
        body: JSON.stringify({ files: files.map((f) => ({ name: f.name, size: f.size })), ...(shotId ? { shotId } : {}) }),
      });
      const body = await r.json().catch(() => ({ ok: false, code: 'INTERNAL', message: `The server answered ${r.status}.` }));
      if (!body.ok) return this.onError({ code: body.code, message: body.message });
      ingest = body.ingest;
    } catch {
      return this.onError({ code: 'DISCONNECTED', message: 'Could not reach the server to start the upload.' });
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
        await this.send(files[i], f.uploadUrl, (n) => {
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

  /** tus: HEAD for the offset, then PATCH the rest; retried a few times after a dropped connection. */
  private async send(file: File, url: string, progress: (bytes: number) => void): Promise<void> {
    let lastError: unknown = null;
    for (let attempt = 0; attempt < 4; attempt++) {
      let offset = 0;
      try {
        const h = await fetch(url, { method: 'HEAD', headers: this.headers({ 'Tus-Resumable': '1.0.0' }) });
        if (h.ok) offset = Number(h.headers.get('Upload-Offset') ?? 0) || 0;
      } catch {
        /* try from 0 */
      }
      if (offset >= file.size && file.size > 0) return progress(file.size);
      try {
        await this.patch(file, url, offset, progress);
        return;
      } catch (e) {
        lastError = e;
        if ((e as { fatal?: boolean }).fatal) throw e;
        await new Promise((r) => setTimeout(r, 800 * (attempt + 1)));
      }
    }
    throw lastError;
  }

  private patch(file: File, url: string, offset: number, progress: (bytes: number) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('PATCH', url);
      for (const [k, v] of Object.entries(this.headers({ 'Tus-Resumable': '1.0.0', 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream' }))) {
        xhr.setRequestHeader(k, v);
      }
      xhr.upload.onprogress = (e) => progress(offset + e.loaded);
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          progress(file.size);
          return resolve();
        }
        let body: { code?: string; message?: string } = {};
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          /* not JSON */
        }
        const fatal = xhr.status !== 409 && xhr.status < 500;
        reject({ code: body.code ?? `HTTP_${xhr.status}`, message: body.message ?? `The server answered ${xhr.status}.`, fatal });
      };
      xhr.onerror = () => reject({ code: 'DISCONNECTED', message: 'The connection dropped during the upload.' });
      xhr.send(file.slice(offset));
    });
  }
}

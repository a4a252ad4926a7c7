import {
  annotationsMap,
  readAnnotation,
  clockTimecode,
  mediaClock,
  notesMap,
  aiMadeVersion,
  makerOf,
  versionLabel,
  versionMaker,
  type Annotation,
  type Job,
  type Note,
  type Role,
  type Version,
} from '@loupe/shared';
import type { Logger } from '../log.js';
import type { LoadedRoom, Origin } from '../collab/room-doc.registry.js';
import type { EventRepository, RoomEvent } from '../store/event.repository.js';
import type { RoomRepository } from '../store/room.repository.js';
import type { VersionRepository } from '../store/version.repository.js';

export type Actor = NonNullable<RoomEvent['actor']>;
/** Awaited before the next event is written (webhooks queue their deliveries). */
export type EventListener = (e: RoomEvent) => void | Promise<void>;

/** Drawing changes of one member in one room, summed until they pause. */
interface DrawTally {
  roomId: string;
  actor: Actor | null;
  added: number;
  changed: number;
  removed: number;
  kinds: Record<string, number>;
  versions: Set<string>;
  frames: Set<number>;
  /** First and last change, ms since the epoch (made ISO strings only when written). */
  from: number;
  to: number;
  timer: NodeJS.Timeout | null;
}

const MAX_FRAMES_LISTED = 50;

/** The parts of a version an event or a webhook needs. */
export function versionSummary(v: Version, shotName?: string) {
  const p = v.provenance;
  return {
    id: v.id,
    shotId: v.shotId,
    ...(shotName !== undefined ? { shot: shotName } : {}),
    number: v.number,
    label: versionLabel(v),
    title: v.label,
    kind: v.kind,
    status: v.status,
    // A learned model made it; madeBy says what did ("AI · learned model (…)" or "Algorithm (…)").
    aiMade: aiMadeVersion(v),
    ...(versionMaker(v) ? { madeBy: versionMaker(v)!.label } : {}),
    ...(p ? { fix: p.fix, jobId: p.jobId, model: { id: p.model.id, version: p.model.version, sha256: p.model.sha256, ...makerOf(p.model) }, provider: p.provider, frame: p.frame } : {}),
    media: { type: v.media.type, sha256: v.media.blob, width: v.media.width, height: v.media.height },
  };
}

/**
 * The session event log of every room: who joined, drew (summed per member until they pause),
 * wrote notes, asked for which fix, decided what, and when. Append-only in the database; each event
 * also goes to the listeners (webhooks). Recording never throws into the caller: a room keeps
 * working if the log cannot be written.
 */
export class EventLogService {
  private listeners: EventListener[] = [];
  private tallies = new Map<string, DrawTally>();
  /** The last state of each unfinished job seen, so that progress ticks log nothing. */
  private jobStates = new Map<string, Job['state']>();
  /** Who is who (from joins), to name the author of a document change. */
  private people = new Map<string, { name: string; role: Role }>();
  private closed = false;
  /** Events are written one after another, in the order they happened (and a ref is checked with nothing in between). */
  private writing: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly deps: {
      events: EventRepository;
      rooms: RoomRepository;
      versions: VersionRepository;
      log: Logger;
      /** A member's drawing is logged once they pause this long ... */
      drawQuietMs?: number;
      /** ... or after this long of drawing without a pause. */
      drawMaxMs?: number;
    },
  ) {}

  onEvent(fn: EventListener): void {
    this.listeners.push(fn);
  }

  /**
   * Appends an event (once per `ref` and type when a ref is given) and tells the listeners. `data`
   * may be read from the database (a function): it is read in turn, so events keep their order.
   */
  record(
    roomId: string,
    type: string,
    actor: Actor | null,
    data: Record<string, unknown> | (() => Promise<Record<string, unknown>>),
    ref: string | null = null,
    at = new Date().toISOString(),
  ): Promise<RoomEvent | null> {
    if (this.closed) return Promise.resolve(null);
    const written = this.writing.then(() => this.write(roomId, type, actor, data, ref, at));
    this.writing = written;
    return written;
  }

  private async write(roomId: string, type: string, actor: Actor | null, data: Record<string, unknown> | (() => Promise<Record<string, unknown>>), ref: string | null, at: string): Promise<RoomEvent | null> {
    try {
      if (ref && (await this.deps.events.has(roomId, type, ref))) return null;
      const e = await this.deps.events.append({ roomId, at, type, actor, data: typeof data === 'function' ? await data() : data }, ref);
      for (const fn of this.listeners) {
        try {
          await fn(e);
        } catch (err) {
          this.deps.log.error({ err, room: roomId, type }, 'event listener failed');
        }
      }
      return e;
    } catch (err) {
      this.deps.log.error({ err, room: roomId, type }, 'could not record the event');
      return null;
    }
  }

  memberJoined(roomId: string, member: { id: string; name: string; role: Role }, via: 'room' | 'yjs'): void {
    this.people.set(member.id, { name: member.name, role: member.role });
    void this.record(roomId, 'member.joined', this.actor(member.id, member.name), { via });
  }

  memberLeft(roomId: string, member: { id: string; name: string; role: Role }, via: 'room' | 'yjs'): void {
    this.flushTally(`${roomId}\0${member.id}`);
    void this.record(roomId, 'member.left', this.actor(member.id, member.name), { via });
  }

  /** Every job update of the fix queue (it listens on the job pipeline's port, FixEvents): logs a request, a failure and a cancellation once each. */
  job(roomId: string, job: Job): void {
    const prev = this.jobStates.get(job.id);
    if (prev === job.state) return;
    const terminal = job.state === 'done' || job.state === 'failed' || job.state === 'cancelled';
    if (terminal) this.jobStates.delete(job.id);
    else this.jobStates.set(job.id, job.state);
    const by = this.actor(job.requestedBy.id, job.requestedBy.name, job.requestedBy.role);
    const jobData = { jobId: job.id, fix: job.fix, versionId: job.versionId, frame: job.frame, region: job.region };
    if (prev === undefined && !terminal) void this.record(roomId, 'fix.requested', by, jobData, job.id, job.createdAt);
    if (job.state === 'failed') void this.record(roomId, 'fix.failed', by, { ...jobData, error: job.error }, job.id);
    if (job.state === 'cancelled') {
      const c = job.cancelledBy;
      void this.record(roomId, 'fix.cancelled', c ? this.actor(c.id, c.name, c.role) : null, jobData, job.id);
    }
  }

  /** A new version: a finished fix (AI) or an upload. Logged once per job or version. */
  versionCreated(roomId: string, v: Version): void {
    const summary = async () => ({ version: versionSummary(v, (await this.shot(roomId, v.shotId))?.name) });
    if (v.kind === 'ai') {
      const p = v.provenance;
      const by = p ? this.actor(p.requestedBy.id, p.requestedBy.name, p.requestedBy.role) : this.actor(v.createdBy.id, v.createdBy.name);
      void this.record(roomId, 'fix.finished', by, async () => ({ ...(await summary()), jobId: p?.jobId ?? null }), p?.jobId ?? v.id);
    } else {
      void this.record(roomId, 'version.created', this.actor(v.createdBy.id, v.createdBy.name), summary, v.id);
    }
  }

  private async shot(roomId: string, shotId: string) {
    return (await this.deps.rooms.shots(roomId)).find((s) => s.id === shotId);
  }

  /** A decision on a version (the newest entry of its audit trail; logged once each). */
  decided(roomId: string, v: Version): void {
    const d = v.decisions.at(-1);
    if (!d) return;
    void this.record(roomId, 'version.decided', this.actor(d.by.id, d.by.name, d.by.role), async () => ({
      decision: d.decision,
      previous: v.decisions.at(-2)?.decision ?? 'pending',
      note: d.note,
      version: versionSummary(v, (await this.shot(roomId, v.shotId))?.name),
    }), `${v.id}#${v.decisions.length}`, d.at);
  }

  /**
   * Watches a loaded room document: drawings (summed) and notes (each) become events. A change
   * another node accepted is that node's to log.
   */
  watch(room: LoadedRoom): void {
    const roomId = room.id;
    // Another node's change is that node's to log; a repair at load (doc-repair.ts) is nobody's.
    const fromOtherNode = (origin: unknown) => (origin as Origin | null)?.kind === 'remote' || (origin as Origin | null)?.kind === 'repair';
    annotationsMap(room.doc).observe((event, tx) => {
      if (fromOtherNode(tx.origin)) return;
      try {
        const who = originMember(tx.origin);
        const map = annotationsMap(room.doc);
        for (const [key, change] of event.changes.keys) {
          const a = change.action === 'delete' ? readAnnotation(change.oldValue) : map.get(key);
          this.tally(roomId, who, a, change.action);
        }
      } catch (err) {
        this.deps.log.error({ err, room: roomId }, 'event log: drawing change not logged');
      }
    });
    notesMap(room.doc).observe((event, tx) => {
      if (fromOtherNode(tx.origin)) return;
      try {
        const who = originMember(tx.origin);
        const map = notesMap(room.doc);
        for (const [key, change] of event.changes.keys) this.noteChange(roomId, who, change, map.get(key));
      } catch (err) {
        this.deps.log.error({ err, room: roomId }, 'event log: note change not logged');
      }
    });
  }

  /** Resolves once the events recorded so far are written (for tests and exports). */
  written(): Promise<void> {
    return this.writing.then(() => undefined);
  }

  /** Writes the drawing tallies still waiting and records nothing more (the database is about to close). */
  async close(): Promise<void> {
    for (const key of [...this.tallies.keys()]) this.flushTally(key);
    this.closed = true;
    await this.writing;
  }

  private noteChange(roomId: string, who: string | null, change: { action: 'add' | 'update' | 'delete'; oldValue: unknown }, now: Note | undefined) {
    const old = change.oldValue as Note | undefined;
    if (change.action === 'add' && now) {
      void this.record(roomId, 'note.added', this.actor(who ?? now.author.id, now.author.name), () => this.noteData(roomId, now));
    } else if (change.action === 'update' && now && old) {
      const name = who === now.author.id ? now.author.name : undefined;
      if (old.status !== now.status) {
        const by = now.status === 'resolved' && now.resolvedBy ? this.actor(now.resolvedBy.id, now.resolvedBy.name) : this.actor(who, name);
        void this.record(roomId, now.status === 'resolved' ? 'note.resolved' : 'note.reopened', by, { noteId: now.id, versionId: now.versionId, frame: now.frame });
      } else if (old.text !== now.text) {
        void this.record(roomId, 'note.edited', this.actor(who, name), { noteId: now.id, text: now.text });
      }
    } else if (change.action === 'delete' && old) {
      void this.record(roomId, 'note.deleted', this.actor(who, who === old.author.id ? old.author.name : undefined), { noteId: old.id, parentId: old.parentId, versionId: old.versionId, frame: old.frame });
    }
  }

  /** A note as webhooks and the log carry it: with its shot, version label and timecode. */
  private async noteData(roomId: string, n: Note): Promise<Record<string, unknown>> {
    const v = (await this.deps.versions.roomOf(n.versionId)) === roomId ? await this.deps.versions.get(n.versionId) : undefined;
    const shot = v ? await this.shot(roomId, v.shotId) : undefined;
    // A still counts on the clock of the movie it was made from.
    const video = v?.media.type === 'video' ? v : v?.parentVersionId ? await this.deps.versions.get(v.parentVersionId) : undefined;
    const timecode = shot ? clockTimecode(mediaClock(shot, video?.media), n.frame) : null;
    return {
      note: { id: n.id, parentId: n.parentId, reply: n.parentId !== null, versionId: n.versionId, frame: n.frame, frameEnd: n.frameEnd, text: n.text, status: n.status, createdAt: n.createdAt, annotationIds: n.annotationIds ?? [] },
      timecode,
      shot: shot ? { id: shot.id, name: shot.name } : null,
      version: v ? { id: v.id, label: versionLabel(v), kind: v.kind } : null,
    };
  }

  private tally(roomId: string, who: string | null, a: Annotation | undefined, action: 'add' | 'update' | 'delete') {
    const key = `${roomId}\0${who ?? ''}`;
    const now = Date.now();
    let t = this.tallies.get(key);
    if (!t) {
      const name = a && a.author?.id === who ? a.author.name : undefined;
      t = { roomId, actor: this.actor(who, name), added: 0, changed: 0, removed: 0, kinds: {}, versions: new Set(), frames: new Set(), from: now, to: now, timer: null };
      this.tallies.set(key, t);
    }
    if (action === 'add') t.added++;
    else if (action === 'update') t.changed++;
    else t.removed++;
    if (a) {
      t.kinds[a.kind] = (t.kinds[a.kind] ?? 0) + 1;
      t.versions.add(a.versionId);
      if (t.frames.size < MAX_FRAMES_LISTED) t.frames.add(a.frame);
    }
    t.to = now;
    if (now - t.from >= (this.deps.drawMaxMs ?? 60_000)) return this.flushTally(key);
    // One timer per pause, not one per stroke: when it fires early (strokes kept coming), it waits the rest.
    if (!t.timer) this.armTally(key, t, this.deps.drawQuietMs ?? 3000);
  }

  private armTally(key: string, t: DrawTally, ms: number) {
    t.timer = setTimeout(() => {
      t.timer = null;
      if (this.tallies.get(key) !== t) return;
      const left = t.to + (this.deps.drawQuietMs ?? 3000) - Date.now();
      if (left > 0) this.armTally(key, t, left);
      else this.flushTally(key);
    }, ms);
    t.timer.unref();
  }

  private flushTally(key: string) {
    const t = this.tallies.get(key);
    if (!t) return;
    this.tallies.delete(key);
    if (t.timer) clearTimeout(t.timer);
    void this.record(
      t.roomId,
      'annotations.drawn',
      t.actor,
      { added: t.added, changed: t.changed, removed: t.removed, kinds: t.kinds, versions: [...t.versions], frames: [...t.frames].sort((a, b) => a - b), from: new Date(t.from).toISOString(), to: new Date(t.to).toISOString() },
      null,
      new Date(t.to).toISOString(),
    );
  }

  private actor(id: string | null, name?: string, role?: string): Actor | null {
    if (!id) return null;
    const known = this.people.get(id);
    return { id, name: name ?? known?.name ?? id, ...(role ?? known?.role ? { role: role ?? known!.role } : {}) };
  }
}

/** The member behind a document change (null for the server's own changes). */
function originMember(origin: unknown): string | null {
  const o = origin as Origin | null | undefined;
  return o && typeof o === 'object' && 'memberId' in o && typeof o.memberId === 'string' ? o.memberId : null;
}

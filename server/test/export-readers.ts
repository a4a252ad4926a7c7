/**
 * Independent readers for the export formats, written for the tests from the formats' own rules
 * (CMX 3600, OpenTimelineIO's JSON schema), not from the exporters' code.
 */
import crypto from 'node:crypto';
import yauzl from 'yauzl';

/** SMPTE timecode -> frame count. Drop-frame (29.97/59.94) skips frame numbers 0 and 1 (0-3 at 59.94) of each minute except every tenth. */
export function tcFrames(tc: string, fps: number, drop: boolean): number {
  const m = /^(\d\d):(\d\d):(\d\d)([:;])(\d\d)$/.exec(tc);
  if (!m) throw new Error(`bad timecode ${tc}`);
  const [h, mi, s, f] = [m[1], m[2], m[3], m[5]].map(Number);
  const base = Math.round(fps);
  let frames = ((h * 60 + mi) * 60 + s) * base + f;
  if (drop) {
    const skip = base === 60 ? 4 : 2;
    const minutes = h * 60 + mi;
    frames -= skip * (minutes - Math.floor(minutes / 10));
  }
  return frames;
}

export interface EdlEvent {
  num: number;
  reel: string;
  channel: string;
  transition: string;
  srcIn: string;
  srcOut: string;
  recIn: string;
  recOut: string;
  comments: string[];
  locators: { tc: string; color: string; text: string }[];
}

/** Parses a CMX 3600 EDL strictly: every line must be a title, an FCM, an event, a comment or blank. */
export function parseEdl(text: string): { title: string; dropFrame: boolean; events: EdlEvent[] } {
  const lines = text.split(/\r\n|\n/);
  let title = '';
  let dropFrame: boolean | null = null;
  const events: EdlEvent[] = [];
  const TC = '(\\d\\d:\\d\\d:\\d\\d[:;]\\d\\d)';
  const eventRe = new RegExp(`^(\\d{3})\\s+(\\S{1,8})\\s+(V|A|A2|AA|AA/V|B)\\s+(C|D|W\\d{3})\\s+(?:\\d{3}\\s+)?${TC}\\s+${TC}\\s+${TC}\\s+${TC}\\s*$`);
  for (const line of lines) {
    if (line.trim() === '') continue;
    if (/[^\x20-\x7e]/.test(line)) throw new Error(`non-ASCII EDL line: ${line}`);
    let m: RegExpExecArray | null;
    if ((m = /^TITLE: (.*)$/.exec(line))) title = m[1];
    else if ((m = /^FCM: (DROP FRAME|NON-DROP FRAME)$/.exec(line))) dropFrame = m[1] === 'DROP FRAME';
    else if ((m = eventRe.exec(line))) {
      events.push({ num: Number(m[1]), reel: m[2], channel: m[3], transition: m[4], srcIn: m[5], srcOut: m[6], recIn: m[7], recOut: m[8], comments: [], locators: [] });
    } else if ((m = /^\* LOC: (\d\d:\d\d:\d\d[:;]\d\d) (\w+)\s+(.*)$/.exec(line))) {
      if (!events.length) throw new Error('locator before any event');
      events[events.length - 1].locators.push({ tc: m[1], color: m[2], text: m[3] });
    } else if (line.startsWith('* ')) {
      if (!events.length) throw new Error('comment before any event');
      events[events.length - 1].comments.push(line.slice(2));
    } else throw new Error(`not CMX 3600: ${JSON.stringify(line)}`);
  }
  if (dropFrame === null) throw new Error('no FCM line');
  events.forEach((e, i) => {
    if (e.num !== i + 1) throw new Error(`event ${e.num} out of order`);
  });
  return { title, dropFrame, events };
}

type Json = Record<string, unknown>;
export interface OtioClip {
  name: string;
  rate: number;
  start: number;
  duration: number;
  targetUrl: string | null;
  /** An ImageSequenceReference: where its frames are, and the file that shows the clip's media time `t`. */
  sequence?: { base: string; prefix: string; suffix: string; startFrame: number; padding: number; rate: number };
  fileAt?: (t: number) => string;
  metadata: Json;
  markers: { name: string; color: string; start: number; duration: number; rate: number; metadata: Json }[];
}

function rational(o: unknown, what: string): { value: number; rate: number } {
  const r = o as Json;
  if (r?.OTIO_SCHEMA !== 'RationalTime.1' || typeof r.value !== 'number' || typeof r.rate !== 'number' || !(r.rate > 0)) throw new Error(`${what}: not a RationalTime`);
  return { value: r.value, rate: r.rate };
}

function timeRange(o: unknown, what: string) {
  const r = o as Json;
  if (r?.OTIO_SCHEMA !== 'TimeRange.1') throw new Error(`${what}: not a TimeRange`);
  const start = rational(r.start_time, `${what}.start_time`);
  const duration = rational(r.duration, `${what}.duration`);
  if (start.rate !== duration.rate) throw new Error(`${what}: start and duration rates differ`);
  if (!Number.isInteger(start.value) || !Number.isInteger(duration.value) || duration.value <= 0) throw new Error(`${what}: not whole frames`);
  return { start: start.value, duration: duration.value, rate: start.rate };
}

/** Walks an OTIO JSON timeline: Timeline -> Stack -> Track(s) -> Clips with markers, checking each object's schema. */
export function parseOtio(text: string): { name: string; globalStart: { value: number; rate: number }; tracks: { name: string; kind: string; clips: OtioClip[] }[] } {
  const t = JSON.parse(text) as Json;
  if (t.OTIO_SCHEMA !== 'Timeline.1') throw new Error('not a Timeline.1');
  const stack = t.tracks as Json;
  if (stack?.OTIO_SCHEMA !== 'Stack.1' || !Array.isArray(stack.children)) throw new Error('tracks is not a Stack.1');
  const tracks = (stack.children as Json[]).map((tr, ti) => {
    if (tr.OTIO_SCHEMA !== 'Track.1' || !Array.isArray(tr.children)) throw new Error(`track ${ti}: not a Track.1`);
    if (tr.kind !== 'Video' && tr.kind !== 'Audio') throw new Error(`track ${ti}: kind ${String(tr.kind)}`);
    const clips = (tr.children as Json[]).map((c, ci) => {
      const what = `track ${ti} clip ${ci}`;
      if (c.OTIO_SCHEMA !== 'Clip.1') throw new Error(`${what}: ${String(c.OTIO_SCHEMA)}`);
      const sr = timeRange(c.source_range, `${what}.source_range`);
      const ref = c.media_reference as Json;
      if (!ref || !['ExternalReference.1', 'MissingReference.1', 'ImageSequenceReference.1'].includes(String(ref.OTIO_SCHEMA))) throw new Error(`${what}: media_reference`);
      if (ref.OTIO_SCHEMA === 'ExternalReference.1' && typeof ref.target_url !== 'string') throw new Error(`${what}: target_url`);
      let sequence: OtioClip['sequence'];
      let fileAt: OtioClip['fileAt'];
      if (ref.OTIO_SCHEMA === 'ImageSequenceReference.1') {
        // OTIO's rule: the frame of media time t is start_frame + (t - available_range.start) * rate / frame_step.
        const avail = timeRange(ref.available_range, `${what}.available_range`);
        for (const k of ['target_url_base', 'name_prefix', 'name_suffix']) if (typeof ref[k] !== 'string') throw new Error(`${what}: ${k}`);
        for (const k of ['start_frame', 'frame_step', 'rate', 'frame_zero_padding']) if (typeof ref[k] !== 'number') throw new Error(`${what}: ${k}`);
        if (ref.rate !== sr.rate || ref.frame_step !== 1) throw new Error(`${what}: sequence rate or step`);
        const seq = { base: String(ref.target_url_base), prefix: String(ref.name_prefix), suffix: String(ref.name_suffix), startFrame: Number(ref.start_frame), padding: Number(ref.frame_zero_padding), rate: Number(ref.rate) };
        sequence = seq;
        fileAt = (t) => {
          if (t < avail.start || t >= avail.start + avail.duration) throw new Error(`${what}: ${t} outside the sequence`);
          return `${seq.base}${seq.prefix}${String(seq.startFrame + t - avail.start).padStart(seq.padding, '0')}${seq.suffix}`;
        };
      }
      if (!Array.isArray(c.markers)) throw new Error(`${what}: markers`);
      const markers = (c.markers as Json[]).map((m, mi) => {
        if (m.OTIO_SCHEMA !== 'Marker.1' || typeof m.name !== 'string' || typeof m.color !== 'string') throw new Error(`${what} marker ${mi}`);
        const mr = timeRange(m.marked_range, `${what} marker ${mi}`);
        if (mr.rate !== sr.rate) throw new Error(`${what} marker ${mi}: rate differs from the clip's`);
        return { name: m.name, color: m.color, start: mr.start, duration: mr.duration, rate: mr.rate, metadata: (m.metadata ?? {}) as Json };
      });
      return {
        name: String(c.name),
        rate: sr.rate,
        start: sr.start,
        duration: sr.duration,
        targetUrl: ref.OTIO_SCHEMA === 'ExternalReference.1' ? String(ref.target_url) : null,
        ...(sequence ? { sequence, fileAt } : {}),
        metadata: (c.metadata ?? {}) as Json,
        markers,
      };
    });
    return { name: String(tr.name), kind: String(tr.kind), clips };
  });
  return { name: String(t.name), globalStart: rational(t.global_start_time, 'global_start_time'), tracks };
}

/** Every file of a zip with its bytes' sha256, read with yauzl (CRC and sizes checked). */
export function readZip(buf: Buffer): Promise<Map<string, { sha256: string; bytes: number; data: Buffer }>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(buf, { lazyEntries: true, validateEntrySizes: true }, (err, zip) => {
      if (err || !zip) return reject(err);
      const out = new Map<string, { sha256: string; bytes: number; data: Buffer }>();
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(e);
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            const data = Buffer.concat(chunks);
            out.set(entry.fileName, { sha256: crypto.createHash('sha256').update(data).digest('hex'), bytes: data.length, data });
            zip.readEntry();
          });
          stream.on('error', reject);
        });
      });
      zip.on('end', () => resolve(out));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

/**
 * How a shot render is cut into chunks and in which order they run: pure maths, no I/O.
 *
 * The room wants the frame on screen first, then the frames around it, so the render starts with the
 * chunk holding the playhead and goes outward, one chunk after, one chunk before, alternately. Chunk
 * boundaries fall on multiples of the proxy's GOP, so each chunk's proxy segment starts on a keyframe
 * and the segments join without re-encoding.
 */

export interface FrameRange {
  /** First frame (0-based, inclusive). */
  in: number;
  /** Last frame (inclusive). */
  out: number;
}

export interface Chunk {
  /** 0, 1, 2 ... in frame order (not run order). */
  index: number;
  first: number;
  last: number;
}

/** Frames per chunk: a few seconds of work each, so a preview waits at most one chunk and a dead worker loses little. */
export function chunkSize(msPerFrame: number, gop: number, targetMs = 3000): number {
  const frames = Math.max(1, Math.round(targetMs / Math.max(1, msPerFrame)));
  return Math.max(gop, Math.round(frames / gop) * gop);
}

/** The chunks covering `range`, cut at multiples of `size` counted from frame 0 (so from keyframes). */
export function chunksOf(range: FrameRange, size: number): Chunk[] {
  if (!(size >= 1) || range.out < range.in) return [];
  const chunks: Chunk[] = [];
  let first = range.in;
  while (first <= range.out) {
    const last = Math.min(range.out, (Math.floor(first / size) + 1) * size - 1);
    chunks.push({ index: chunks.length, first, last });
    first = last + 1;
  }
  return chunks;
}

/** Run order: the chunk holding `playhead` (clamped into the range) first, then outward, after before before. */
export function outwardOrder(chunks: Chunk[], playhead: number): Chunk[] {
  if (chunks.length === 0) return [];
  const at = Math.max(0, chunks.findIndex((c) => playhead <= c.last));
  const start = playhead > chunks[chunks.length - 1].last ? chunks.length - 1 : at;
  const out = [chunks[start]];
  for (let d = 1; out.length < chunks.length; d++) {
    if (start + d < chunks.length) out.push(chunks[start + d]);
    if (start - d >= 0) out.push(chunks[start - d]);
  }
  return out;
}

/** Frames done as sorted inclusive runs [first, last], the compact form the room receives. */
export function runsOf(frames: Iterable<number>): [number, number][] {
  const sorted = [...new Set(frames)].sort((a, b) => a - b);
  const runs: [number, number][] = [];
  for (const f of sorted) {
    const last = runs[runs.length - 1];
    if (last && f === last[1] + 1) last[1] = f;
    else runs.push([f, f]);
  }
  return runs;
}

/** Frames per second and seconds left, from when the render started and what it has done. */
export function renderRate(done: number, total: number, startedMs: number, nowMs: number): { fps: number; etaSeconds: number | null } {
  const seconds = (nowMs - startedMs) / 1000;
  if (done <= 0 || seconds <= 0) return { fps: 0, etaSeconds: null };
  const fps = done / seconds;
  return { fps: +fps.toFixed(2), etaSeconds: Math.round((total - done) / fps) };
}

/**
 * `count` frames spread evenly over the range (both ends included when count >= 2): the frames a
 * shot's colour transform is estimated from.
 */
export function spreadFrames(range: FrameRange, count: number): number[] {
  const n = range.out - range.in + 1;
  if (n <= count) return Array.from({ length: n }, (_, i) => range.in + i);
  if (count <= 1) return [range.in + Math.floor((n - 1) / 2)];
  return Array.from({ length: count }, (_, i) => range.in + Math.round((i * (n - 1)) / (count - 1)));
}

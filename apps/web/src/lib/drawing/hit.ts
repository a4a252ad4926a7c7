/** Hit testing for the object eraser: is a point (CSS px of the displayed picture) on a drawing? */
import type { Mark } from './render';

type Box = { x: number; y: number; width: number; height: number };

function distToSegment(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  const t = len2 > 0 ? Math.min(1, Math.max(0, ((px - ax) * dx + (py - ay) * dy) / len2)) : 0;
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

function distToPolyline(px: number, py: number, pts: readonly (readonly number[])[], closed = false): number {
  if (pts.length === 1) return Math.hypot(px - pts[0][0], py - pts[0][1]);
  let best = Infinity;
  const n = closed ? pts.length : pts.length - 1;
  for (let i = 0; i < n; i++) {
    const a = pts[i];
    const b = pts[(i + 1) % pts.length];
    best = Math.min(best, distToSegment(px, py, a[0], a[1], b[0], b[1]));
  }
  return best;
}

/**
 * Whether (px, py) is within `tolerance` CSS px of the drawing's ink. `textBox` measures text
 * (it needs a canvas context); without it text is never hit.
 */
export function hitMark(
  m: Mark,
  px: number,
  py: number,
  w: number,
  h: number,
  tolerance: number,
  textBox?: (m: Mark) => Box,
): boolean {
  const half = Math.max(1.5, m.size * h) / 2 + tolerance;
  const pts = m.points.map((p) => [p[0] * w, p[1] * h] as const);
  if (!pts.length) return false;
  switch (m.kind) {
    case 'pen':
      return distToPolyline(px, py, pts) <= half;
    case 'line':
    case 'arrow':
      return pts.length >= 2 && distToSegment(px, py, pts[0][0], pts[0][1], pts[1][0], pts[1][1]) <= half;
    case 'rect': {
      if (pts.length < 2) return false;
      const [a, b] = pts;
      const corners = [
        [a[0], a[1]],
        [b[0], a[1]],
        [b[0], b[1]],
        [a[0], b[1]],
      ];
      return distToPolyline(px, py, corners, true) <= half;
    }
    case 'ellipse': {
      if (pts.length < 2) return false;
      const [a, b] = pts;
      const cx = (a[0] + b[0]) / 2;
      const cy = (a[1] + b[1]) / 2;
      const rx = Math.abs(b[0] - a[0]) / 2;
      const ry = Math.abs(b[1] - a[1]) / 2;
      const ring: [number, number][] = [];
      for (let i = 0; i < 64; i++) {
        const t = (i / 64) * Math.PI * 2;
        ring.push([cx + rx * Math.cos(t), cy + ry * Math.sin(t)]);
      }
      return distToPolyline(px, py, ring, true) <= half;
    }
    case 'text': {
      if (!textBox) return false;
      const box = textBox(m);
      return (
        px >= box.x - tolerance &&
        px <= box.x + box.width + tolerance &&
        py >= box.y - tolerance &&
        py <= box.y + box.height + tolerance
      );
    }
    default:
      return false;
  }
}

/** Points every `step` px from a to b (inclusive of b), so a fast eraser drag misses nothing between events. */
export function sweep(a: readonly [number, number], b: readonly [number, number], step: number): [number, number][] {
  const n = Math.max(1, Math.ceil(Math.hypot(b[0] - a[0], b[1] - a[1]) / Math.max(1, step)));
  const out: [number, number][] = [];
  for (let i = 1; i <= n; i++) out.push([a[0] + ((b[0] - a[0]) * i) / n, a[1] + ((b[1] - a[1]) * i) / n]);
  return out;
}

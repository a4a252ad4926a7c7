/** Pure canvas drawing of annotations and selections, in CSS pixels of the displayed picture. */
import { getStroke } from 'perfect-freehand';
import type { Point } from '@loupe/shared';

export interface Mark {
  kind: string;
  points: readonly (readonly number[])[];
  color: string;
  /** Stroke width as a fraction of the picture's height. */
  size: number;
}

/** A mouse reports a flat 0.5 (or 0) pressure: let perfect-freehand simulate it from speed instead. */
function hasRealPressure(points: Mark['points']): boolean {
  return points.some((p) => p[2] !== undefined && p[2] !== 0.5 && p[2] !== 0);
}

/** The outline perfect-freehand returns, as a closed smooth path. */
function outlinePath(outline: number[][]): Path2D {
  const path = new Path2D();
  if (outline.length < 2) return path;
  const avg = (a: number, b: number) => (a + b) / 2;
  path.moveTo(outline[0][0], outline[0][1]);
  for (let i = 1; i < outline.length; i++) {
    const [x0, y0] = outline[i - 1];
    const [x1, y1] = outline[i];
    path.quadraticCurveTo(x0, y0, avg(x0, x1), avg(y0, y1));
  }
  path.closePath();
  return path;
}

export function drawPen(ctx: CanvasRenderingContext2D, m: Mark, w: number, h: number, complete: boolean): void {
  const width = Math.max(1, m.size * h);
  const real = hasRealPressure(m.points);
  const pts = m.points.map((p) => [p[0] * w, p[1] * h, real ? (p[2] ?? 0.5) : 0.5]);
  const outline = getStroke(pts, {
    size: width,
    thinning: real ? 0.6 : 0.5,
    smoothing: 0.5,
    streamline: 0.45,
    simulatePressure: !real,
    last: complete,
  });
  ctx.fillStyle = m.color;
  ctx.fill(outlinePath(outline));
}

export function drawArrow(ctx: CanvasRenderingContext2D, m: Mark, w: number, h: number): void {
  if (m.points.length < 2) return;
  const [ax, ay] = [m.points[0][0] * w, m.points[0][1] * h];
  const [bx, by] = [m.points[1][0] * w, m.points[1][1] * h];
  const len = Math.hypot(bx - ax, by - ay);
  if (len < 1) return;
  const lw = Math.max(1.5, m.size * h);
  const head = Math.min(len * 0.6, lw * 3.2 + h * 0.012);
  const ux = (bx - ax) / len;
  const uy = (by - ay) / len;
  const baseX = bx - ux * head;
  const baseY = by - uy * head;
  const half = head * 0.55;
  ctx.strokeStyle = m.color;
  ctx.fillStyle = m.color;
  ctx.lineWidth = lw;
  ctx.lineCap = 'round';
  ctx.beginPath();
  ctx.moveTo(ax, ay);
  ctx.lineTo(baseX + ux * lw * 0.5, baseY + uy * lw * 0.5);
  ctx.stroke();
  ctx.beginPath();
  ctx.moveTo(bx, by);
  ctx.lineTo(baseX - uy * half, baseY + ux * half);
  ctx.lineTo(baseX + uy * half, baseY - ux * half);
  ctx.closePath();
  ctx.lineJoin = 'round';
  ctx.lineWidth = Math.max(1, lw * 0.5);
  ctx.fill();
  ctx.stroke();
}

/** Region and mask selections while they are dragged: a dashed outline on a light veil. */
export function drawSelection(ctx: CanvasRenderingContext2D, m: Mark, w: number, h: number): void {
  const pts = m.points;
  if (pts.length < 2) return;
  ctx.save();
  ctx.beginPath();
  if (m.kind === 'region') {
    const x0 = Math.min(pts[0][0], pts[1][0]) * w;
    const y0 = Math.min(pts[0][1], pts[1][1]) * h;
    ctx.rect(x0, y0, Math.abs(pts[1][0] - pts[0][0]) * w, Math.abs(pts[1][1] - pts[0][1]) * h);
  } else {
    ctx.moveTo(pts[0][0] * w, pts[0][1] * h);
    for (const p of pts.slice(1)) ctx.lineTo(p[0] * w, p[1] * h);
    ctx.closePath();
  }
  ctx.fillStyle = 'rgba(255,255,255,0.08)';
  ctx.fill();
  ctx.lineWidth = 1.5;
  ctx.setLineDash([6, 4]);
  ctx.strokeStyle = 'rgba(0,0,0,0.7)';
  ctx.stroke();
  ctx.lineDashOffset = 5;
  ctx.strokeStyle = m.color || '#fff';
  ctx.stroke();
  ctx.restore();
}

export function drawMark(ctx: CanvasRenderingContext2D, m: Mark, w: number, h: number, complete = true): void {
  switch (m.kind) {
    case 'pen':
      return drawPen(ctx, m, w, h, complete);
    case 'arrow':
    case 'line':
      return drawArrow(ctx, m, w, h);
    case 'region':
    case 'mask':
      return drawSelection(ctx, m, w, h);
  }
}

/** Size a canvas backing store to its CSS box at the screen's pixel ratio; returns a context in CSS px. */
export function prepareCanvas(canvas: HTMLCanvasElement, w: number, h: number): CanvasRenderingContext2D | null {
  const dpr = window.devicePixelRatio || 1;
  const bw = Math.max(1, Math.round(w * dpr));
  const bh = Math.max(1, Math.round(h * dpr));
  if (canvas.width !== bw) canvas.width = bw;
  if (canvas.height !== bh) canvas.height = bh;
  const ctx = canvas.getContext('2d');
  if (!ctx) return null;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  return ctx;
}

export type { Point };

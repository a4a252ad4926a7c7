/** Pure canvas drawing of annotations and selections, in CSS pixels of the displayed picture. */
import { getStroke } from 'perfect-freehand';
import type { Point } from '@loupe/shared';

export interface Mark {
  kind: string;
  points: readonly (readonly number[])[];
  color: string;
  /** Stroke width as a fraction of the picture's height. */
  size: number;
  text?: string;
}

/** Text height (one line) as a fraction of the picture's height, from the stroke size (1080p: 28, 39, 60 px). */
export function textHeight(size: number): number {
  return 0.016 + size * 2.5;
}

/** The font text annotations are drawn in, at a given pixel height. */
export function textFont(px: number): string {
  return `600 ${px.toFixed(2)}px Inter, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif`;
}

export const TEXT_LINE_HEIGHT = 1.2;

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

export function drawLine(ctx: CanvasRenderingContext2D, m: Mark, w: number, h: number): void {
  if (m.points.length < 2) return;
  ctx.strokeStyle = m.color;
  ctx.lineWidth = Math.max(1.5, m.size * h);
  ctx.lineCap = 'round';
  ctx.beginPath();
  ctx.moveTo(m.points[0][0] * w, m.points[0][1] * h);
  ctx.lineTo(m.points[1][0] * w, m.points[1][1] * h);
  ctx.stroke();
}

export function drawRect(ctx: CanvasRenderingContext2D, m: Mark, w: number, h: number): void {
  if (m.points.length < 2) return;
  const [a, b] = m.points;
  ctx.strokeStyle = m.color;
  ctx.lineWidth = Math.max(1.5, m.size * h);
  ctx.lineJoin = 'round';
  ctx.strokeRect(Math.min(a[0], b[0]) * w, Math.min(a[1], b[1]) * h, Math.abs(b[0] - a[0]) * w, Math.abs(b[1] - a[1]) * h);
}

export function drawEllipse(ctx: CanvasRenderingContext2D, m: Mark, w: number, h: number): void {
  if (m.points.length < 2) return;
  const [a, b] = m.points;
  const rx = (Math.abs(b[0] - a[0]) * w) / 2;
  const ry = (Math.abs(b[1] - a[1]) * h) / 2;
  if (rx < 0.5 && ry < 0.5) return;
  ctx.strokeStyle = m.color;
  ctx.lineWidth = Math.max(1.5, m.size * h);
  ctx.beginPath();
  ctx.ellipse(((a[0] + b[0]) / 2) * w, ((a[1] + b[1]) / 2) * h, Math.max(0.5, rx), Math.max(0.5, ry), 0, 0, Math.PI * 2);
  ctx.stroke();
}

/** Text from its anchor (the top-left of the first line), with a dark halo so it reads on any picture. */
export function drawText(ctx: CanvasRenderingContext2D, m: Mark, w: number, h: number): void {
  if (!m.points.length || !m.text) return;
  const px = textHeight(m.size) * h;
  const x = m.points[0][0] * w;
  const y = m.points[0][1] * h;
  ctx.save();
  ctx.font = textFont(px);
  ctx.textBaseline = 'top';
  ctx.lineJoin = 'round';
  ctx.lineWidth = Math.max(2, px * 0.16);
  ctx.strokeStyle = 'rgba(0,0,0,0.55)';
  ctx.fillStyle = m.color;
  m.text.split('\n').forEach((line, i) => {
    const ly = y + i * px * TEXT_LINE_HEIGHT;
    ctx.strokeText(line, x, ly);
    ctx.fillText(line, x, ly);
  });
  ctx.restore();
}

/** Where a text annotation sits, in CSS pixels of the displayed picture. */
export function textBox(
  ctx: CanvasRenderingContext2D,
  m: Mark,
  w: number,
  h: number,
): { x: number; y: number; width: number; height: number } {
  const px = textHeight(m.size) * h;
  const lines = (m.text ?? '').split('\n');
  ctx.save();
  ctx.font = textFont(px);
  const width = Math.max(...lines.map((l) => ctx.measureText(l).width), px * 0.3);
  ctx.restore();
  return { x: (m.points[0]?.[0] ?? 0) * w, y: (m.points[0]?.[1] ?? 0) * h, width, height: px * TEXT_LINE_HEIGHT * lines.length };
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
      return drawArrow(ctx, m, w, h);
    case 'line':
      return drawLine(ctx, m, w, h);
    case 'rect':
      return drawRect(ctx, m, w, h);
    case 'ellipse':
      return drawEllipse(ctx, m, w, h);
    case 'text':
      return drawText(ctx, m, w, h);
    case 'region':
    case 'mask':
      return drawSelection(ctx, m, w, h);
  }
}

/** Onion-skin tints, as in RV: frames before in a cool tint, frames after in a warm one. */
export const GHOST_BEFORE = '#5ab8ff';
export const GHOST_AFTER = '#ff9a4d';

/** Opacity of a ghost `distance` frames away when ghosting `range` frames each way. */
export function ghostAlpha(distance: number, range: number): number {
  if (distance < 1 || distance > range) return 0;
  return 0.5 * (1 - (distance - 1) / Math.max(1, range)) + 0.12;
}

/** A drawing from a neighbouring frame: in the tint, faded with distance. */
export function drawGhost(ctx: CanvasRenderingContext2D, m: Mark, w: number, h: number, tint: string, alpha: number): void {
  ctx.save();
  ctx.globalAlpha = alpha;
  // A soft dark edge keeps a faint ghost readable on bright and busy pictures.
  ctx.shadowColor = 'rgba(0,0,0,0.85)';
  ctx.shadowBlur = 4;
  drawMark(ctx, { ...m, color: tint }, w, h, true);
  ctx.restore();
}

/** One laser trail: points with their age in ms; segments fade out over `life` ms and thin towards the tail. */
export function drawLaser(
  ctx: CanvasRenderingContext2D,
  pts: readonly { x: number; y: number; age: number }[],
  color: string,
  w: number,
  h: number,
  life: number,
): void {
  const live = pts.filter((p) => p.age < life);
  if (!live.length) return;
  const base = Math.max(2.5, h * 0.006);
  ctx.save();
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.shadowColor = color;
  ctx.shadowBlur = base * 2.5;
  for (let i = 1; i < live.length; i++) {
    const a = live[i - 1];
    const b = live[i];
    const k = 1 - b.age / life;
    ctx.globalAlpha = Math.max(0, k);
    ctx.strokeStyle = color;
    ctx.lineWidth = base * (0.35 + 0.65 * k);
    ctx.beginPath();
    ctx.moveTo(a.x * w, a.y * h);
    ctx.lineTo(b.x * w, b.y * h);
    ctx.stroke();
  }
  const head = live[live.length - 1];
  const k = Math.max(0, 1 - head.age / life);
  ctx.globalAlpha = k;
  ctx.fillStyle = '#fff';
  ctx.beginPath();
  ctx.arc(head.x * w, head.y * h, base * 0.55, 0, Math.PI * 2);
  ctx.fill();
  ctx.fillStyle = color;
  ctx.beginPath();
  ctx.arc(head.x * w, head.y * h, base * 1.1, 0, Math.PI * 2);
  ctx.globalAlpha = k * 0.55;
  ctx.fill();
  ctx.restore();
}

/** Size a canvas backing store to its CSS box at the screen's pixel ratio; returns a context in CSS px. */
/** Largest canvas backing store (pixels) a zoomed layer gets: past it, ink is scaled up (softer). */
const MAX_CANVAS_PIXELS = 16_000_000;

/**
 * Sizes the canvas for w x h CSS pixels at the device pixel ratio, times `zoom` when the layer is
 * shown zoomed in (view transform), within MAX_CANVAS_PIXELS; draws in CSS pixels.
 */
export function prepareCanvas(canvas: HTMLCanvasElement, w: number, h: number, zoom = 1): CanvasRenderingContext2D | null {
  const fit = Math.sqrt(MAX_CANVAS_PIXELS / Math.max(1, w * h * (window.devicePixelRatio || 1) ** 2));
  const dpr = (window.devicePixelRatio || 1) * Math.max(1, Math.min(zoom, fit));
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

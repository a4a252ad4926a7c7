import { annotationPoints, type Annotation } from '@loupe/shared';

/*
 * Drawings as SVG at a picture's pixel size, following the room UI's canvas drawing
 * (apps/web/src/lib/drawing/render.ts): widths are fractions of the picture's height, arrows get the
 * same head, text the same height and dark halo. Pen strokes are polylines of their width.
 */

/** Only plain colour syntax reaches the SVG: members choose the colour, librsvg reads the markup. */
export function safeColor(c: string): string {
  const s = String(c).trim();
  if (/^#[0-9a-fA-F]{3,8}$/.test(s) || /^[a-zA-Z]{3,20}$/.test(s) || /^rgba?\(\s*[\d.\s%,]+\)$/.test(s)) return s;
  return '#ff4d4d';
}

const esc = (s: string) => s.replace(/[<>&"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
const n = (v: number) => (Number.isFinite(v) ? Number(v.toFixed(2)) : 0);

function mark(a: Annotation, w: number, h: number): string {
  const color = esc(safeColor(a.color));
  const pts = annotationPoints(a).map((p) => [n(p[0] * w), n(p[1] * h)] as const);
  const lw = n(Math.max(1.5, a.size * h));
  const stroke = `fill="none" stroke="${color}" stroke-width="${lw}" stroke-linecap="round" stroke-linejoin="round"`;
  switch (a.kind) {
    case 'pen': {
      if (pts.length === 0) return '';
      if (pts.length === 1) return `<circle cx="${pts[0][0]}" cy="${pts[0][1]}" r="${n(lw / 2)}" fill="${color}"/>`;
      return `<polyline points="${pts.map((p) => p.join(',')).join(' ')}" ${stroke}/>`;
    }
    case 'line':
      return pts.length < 2 ? '' : `<line x1="${pts[0][0]}" y1="${pts[0][1]}" x2="${pts[1][0]}" y2="${pts[1][1]}" ${stroke}/>`;
    case 'arrow': {
      if (pts.length < 2) return '';
      const [[ax, ay], [bx, by]] = pts;
      const len = Math.hypot(bx - ax, by - ay);
      if (len < 1) return '';
      const head = Math.min(len * 0.6, lw * 3.2 + h * 0.012);
      const [ux, uy] = [(bx - ax) / len, (by - ay) / len];
      const [baseX, baseY] = [bx - ux * head, by - uy * head];
      const half = head * 0.55;
      const tri = [
        [bx, by],
        [baseX - uy * half, baseY + ux * half],
        [baseX + uy * half, baseY - ux * half],
      ].map(([x, y]) => `${n(x)},${n(y)}`);
      return (
        `<line x1="${ax}" y1="${ay}" x2="${n(baseX + ux * lw * 0.5)}" y2="${n(baseY + uy * lw * 0.5)}" ${stroke}/>` +
        `<polygon points="${tri.join(' ')}" fill="${color}" stroke="${color}" stroke-width="${n(Math.max(1, lw * 0.5))}" stroke-linejoin="round"/>`
      );
    }
    case 'rect': {
      if (pts.length < 2) return '';
      const [[x0, y0], [x1, y1]] = pts;
      return `<rect x="${Math.min(x0, x1)}" y="${Math.min(y0, y1)}" width="${n(Math.abs(x1 - x0))}" height="${n(Math.abs(y1 - y0))}" ${stroke}/>`;
    }
    case 'ellipse': {
      if (pts.length < 2) return '';
      const [[x0, y0], [x1, y1]] = pts;
      return `<ellipse cx="${n((x0 + x1) / 2)}" cy="${n((y0 + y1) / 2)}" rx="${n(Math.max(0.5, Math.abs(x1 - x0) / 2))}" ry="${n(Math.max(0.5, Math.abs(y1 - y0) / 2))}" ${stroke}/>`;
    }
    case 'text': {
      if (!pts.length || !a.text) return '';
      const px = (0.016 + a.size * 2.5) * h;
      const lines = a.text.split('\n').map(
        (line, i) =>
          `<text x="${pts[0][0]}" y="${n(pts[0][1] + px * 0.8 + i * px * 1.2)}" font-size="${n(px)}">${esc(line)}</text>`,
      );
      const attrs = `font-family="DejaVu Sans, Liberation Sans, sans-serif" font-weight="600" fill="${color}" stroke-linejoin="round"`;
      // The halo first, then the letters over it.
      return (
        `<g ${attrs} stroke="rgba(0,0,0,0.55)" stroke-width="${n(Math.max(2, px * 0.16))}">${lines.join('')}</g>` +
        `<g ${attrs}>${lines.join('')}</g>`
      );
    }
    default:
      return '';
  }
}

/** An SVG of `width` x `height` pixels holding the drawings, transparent elsewhere. */
export function annotationsSvg(list: Annotation[], width: number, height: number): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    list.map((a) => mark(a, width, height)).join('') +
    '</svg>'
  );
}

/**
 * A fast fill for thin masks (wires, scratches, blemishes): onion-peel from the hole's edge inwards,
 * each pixel the mean of its known neighbours, then Gauss-Seidel smoothing of the hole towards a
 * harmonic (membrane) fill. Smooth by design: it smears textures, which PatchMatch rebuilds instead.
 */
export interface Picture {
  /** Interleaved RGB, float or 8-bit values 0..255. */
  data: Float32Array;
  width: number;
  height: number;
}

const N4 = [
  [1, 0],
  [-1, 0],
  [0, 1],
  [0, -1],
] as const;

/** Fills `hole` (1 = unknown) in place. */
export function diffuseFill(img: Picture, hole: Uint8Array, smoothingPasses = 60): void {
  const { data, width: w, height: h } = img;
  const known = Uint8Array.from(hole, (v) => (v ? 0 : 1));
  let front: number[] = [];
  for (let i = 0; i < w * h; i++) if (!known[i] && hasKnownNeighbour(known, i, w, h)) front.push(i);
  const order: number[] = [];
  while (front.length) {
    const filled: number[] = [];
    for (const i of front) {
      const x = i % w;
      const y = (i - x) / w;
      let r = 0, g = 0, b = 0, n = 0;
      for (const [dx, dy] of N4) {
        const xx = x + dx, yy = y + dy;
        if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
        const j = yy * w + xx;
        if (!known[j]) continue;
        r += data[j * 3]; g += data[j * 3 + 1]; b += data[j * 3 + 2]; n++;
      }
      if (n) {
        data[i * 3] = r / n; data[i * 3 + 1] = g / n; data[i * 3 + 2] = b / n;
        filled.push(i);
      }
    }
    for (const i of filled) (known[i] = 1), order.push(i);
    const next = new Set<number>();
    for (const i of filled) {
      const x = i % w;
      const y = (i - x) / w;
      for (const [dx, dy] of N4) {
        const xx = x + dx, yy = y + dy;
        if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
        const j = yy * w + xx;
        if (!known[j]) next.add(j);
      }
    }
    front = [...next];
    if (!filled.length) break; // a hole with no known pixel at all: leave it
  }
  for (let pass = 0; pass < smoothingPasses; pass++) {
    for (const i of pass % 2 ? order : [...order].reverse()) {
      const x = i % w;
      const y = (i - x) / w;
      let r = 0, g = 0, b = 0, n = 0;
      for (const [dx, dy] of N4) {
        const xx = x + dx, yy = y + dy;
        if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
        const j = yy * w + xx;
        r += data[j * 3]; g += data[j * 3 + 1]; b += data[j * 3 + 2]; n++;
      }
      data[i * 3] = r / n; data[i * 3 + 1] = g / n; data[i * 3 + 2] = b / n;
    }
  }
}

function hasKnownNeighbour(known: Uint8Array, i: number, w: number, h: number): boolean {
  const x = i % w;
  const y = (i - x) / w;
  return (x > 0 && known[i - 1] === 1) || (x < w - 1 && known[i + 1] === 1) || (y > 0 && known[i - w] === 1) || (y < h - 1 && known[i + w] === 1);
}

/** Largest distance (in pixels, chessboard metric) from a hole pixel to the nearest known one: a mask's "thickness". */
export function holeThickness(hole: Uint8Array, w: number, h: number): number {
  const dist = new Int32Array(w * h);
  const INF = 1 << 28;
  for (let i = 0; i < w * h; i++) dist[i] = hole[i] ? INF : 0;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (!dist[i]) continue;
      let d = dist[i];
      if (x > 0) d = Math.min(d, dist[i - 1] + 1);
      if (y > 0) d = Math.min(d, dist[i - w] + 1, x > 0 ? dist[i - w - 1] + 1 : INF, x < w - 1 ? dist[i - w + 1] + 1 : INF);
      dist[i] = d;
    }
  let max = 0;
  for (let y = h - 1; y >= 0; y--)
    for (let x = w - 1; x >= 0; x--) {
      const i = y * w + x;
      if (!dist[i]) continue;
      let d = dist[i];
      if (x < w - 1) d = Math.min(d, dist[i + 1] + 1);
      if (y < h - 1) d = Math.min(d, dist[i + w] + 1, x < w - 1 ? dist[i + w + 1] + 1 : INF, x > 0 ? dist[i + w - 1] + 1 : INF);
      dist[i] = d;
      if (d < INF) max = Math.max(max, d);
    }
  return max;
}

/**
 * The noise level the denoise fix works to, measured on the server from a crop of the region. Pure, no I/O.
 */

/**
 * Noise standard deviation on the 8-bit scale (Immerkær 1996): the Laplacian-difference operator
 * cancels smooth structure; the median over channels keeps one busy channel from dominating.
 * Pixels on strong edges are left out so that texture is not mistaken for noise.
 */
export function estimateNoiseSigma(rgb: Uint8Array, width: number, height: number): number {
  if (width < 3 || height < 3) return 0;
  const per: number[] = [];
  for (let c = 0; c < 3; c++) {
    const responses: number[] = [];
    const at = (x: number, y: number) => rgb[(y * width + x) * 3 + c];
    for (let y = 1; y < height - 1; y++)
      for (let x = 1; x < width - 1; x++) {
        const v =
          at(x - 1, y - 1) - 2 * at(x, y - 1) + at(x + 1, y - 1) - 2 * at(x - 1, y) + 4 * at(x, y) - 2 * at(x + 1, y) + at(x - 1, y + 1) - 2 * at(x, y + 1) + at(x + 1, y + 1);
        responses.push(Math.abs(v));
      }
    responses.sort((a, b) => a - b);
    // Robust: the mean of the lower 90% (edges live in the top tail), rescaled for the cut.
    const keep = Math.max(1, Math.floor(responses.length * 0.9));
    let sum = 0;
    for (let i = 0; i < keep; i++) sum += responses[i];
    const meanAbs = sum / keep;
    // For Gaussian noise, E|N*I| = sqrt(2/pi) * 6 * sigma; the 90% trimmed mean of |gaussian| is 0.8 of the full one.
    per.push((meanAbs / 0.8) * Math.sqrt(Math.PI / 2) / 6);
  }
  per.sort((a, b) => a - b);
  return per[1];
}

/**
 * What the learned restoration models gain over the classical way on one generated fixture each
 * (server/test/restore-quality.ts; `npm run bench -- fixes` measures two and prints the table of
 * docs/gpu.md). The bounds are loose: they hold the shape of the measured result, not its decimals.
 * Heavy: one MAXIM tile per model (seconds to tens of seconds each on two cores, plus opening it).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { FixCatalogue } from '@loupe/shared';
import { Engine } from '../src/inference/engine.js';
import { LEARNED, measureRestore, type Degradation, type RestoreRow } from './restore-quality.js';

const engine = new Engine(['cpu']);
afterAll(() => engine.close());

const PICTURE = 3;
async function scores(kind: Degradation) {
  const rows = await measureRestore(engine, [kind], [PICTURE], (line) => console.log(line));
  const pick = (f: (r: RestoreRow) => boolean) => rows.find(f)!;
  return { degraded: pick((r) => r.method === 'degraded'), classical: pick((r) => r.method.startsWith('classical')), learned: pick((r) => r.learned) };
}

describe('learned restoration against the classical way (one fixture each)', () => {
  it('sensor noise (Poisson-Gaussian): the MAXIM denoiser cleans it, and keeps structure better than the guided filter', async () => {
    const s = await scores('sensor-noise');
    expect(s.learned.psnr).toBeGreaterThan(s.degraded.psnr + 4);
    expect(s.classical.psnr).toBeGreaterThan(s.degraded.psnr + 4);
    expect(s.learned.ssim).toBeGreaterThan(s.classical.ssim);
  }, 600_000);

  it('low light (3.3 stops under): the MAXIM network brings the picture back; auto exposure lifts it only part of the way, as it is built to', async () => {
    const s = await scores('low-light');
    expect(s.learned.psnr).toBeGreaterThan(s.degraded.psnr + 10);
    // Auto exposure lifts a dark frame towards the highlight floor, never past it (docs/fixes.md): it helps, and the learned model wins here.
    expect(s.classical.psnr).toBeGreaterThan(s.degraded.psnr + 2);
    expect(s.learned.psnr).toBeGreaterThan(s.classical.psnr + 3);
  }, 600_000);

  it('motion blur with a known kernel: Richardson-Lucy restores structure; the GoPro-trained network does not damage the picture', async () => {
    const s = await scores('motion-blur');
    expect(s.classical.ssim).toBeGreaterThan(s.degraded.ssim + 0.05);
    expect(s.learned.psnr).toBeGreaterThan(s.degraded.psnr - 2);
  }, 600_000);

  it('haze: the dark-channel prior beats the MAXIM dehazer, which is why dehaze is not offered by default', async () => {
    const s = await scores('haze');
    expect(s.learned.psnr).toBeGreaterThan(s.degraded.psnr + 2);
    expect(s.classical.psnr).toBeGreaterThan(s.learned.psnr);
    expect(FixCatalogue[LEARNED.haze.fix as 'dehaze'].offered).toBe(false);
  }, 600_000);

  it('colour cast: the exposure fix with an eyedropper pick undoes it better than the MAXIM retoucher (not offered by default)', async () => {
    const s = await scores('colour-cast');
    // The cast goes; the flat contrast stays (the exposure fix does not touch contrast), and auto exposure leaves a 0.7-stop dip alone.
    expect(s.classical.psnr).toBeGreaterThan(s.degraded.psnr + 0.8);
    expect(s.classical.psnr).toBeGreaterThan(s.learned.psnr);
    expect(s.learned.ssim).toBeGreaterThan(s.degraded.ssim);
    expect(FixCatalogue[LEARNED['colour-cast'].fix as 'retouch'].offered).toBe(false);
  }, 600_000);
});

import fs from 'node:fs';
import path from 'node:path';
import type { JobRepository } from '../store/job.repository.js';

/**
 * Where a frame fix's tiles are checkpointed while it runs (inference/checkpoint.ts): a folder of the
 * job under DATA_DIR/tmp, which the workers share like the blob folder, so that the next run of the job
 * (after a crash, on this worker or another) finds it. Scratch, not media: it goes when the job ends.
 */
export function checkpointDir(dataDir: string, jobId: string): string {
  return path.join(dataDir, 'tmp', `fix-${jobId}`);
}

export function removeCheckpoint(dataDir: string, jobId: string): Promise<void> {
  return fs.promises.rm(checkpointDir(dataDir, jobId), { recursive: true, force: true });
}

/**
 * Checkpoints of jobs that are over (or unknown) are leftovers (their run ended on a node that did not
 * see this folder, or died as it ended); those of jobs still waiting or running are not touched.
 */
export async function removeOrphanCheckpoints(dataDir: string, jobs: Pick<JobRepository, 'get'>): Promise<number> {
  const tmp = path.join(dataDir, 'tmp');
  const entries = await fs.promises.readdir(tmp).catch(() => [] as string[]);
  let removed = 0;
  for (const d of entries) {
    if (!d.startsWith('fix-')) continue;
    const rec = await jobs.get(d.slice('fix-'.length));
    if (rec && (rec.job.state === 'queued' || rec.job.state === 'running')) continue;
    await fs.promises.rm(path.join(tmp, d), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

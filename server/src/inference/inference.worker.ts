/**
 * The inference worker process: the Engine (ONNX Runtime sessions, provider choice, tiling, hole
 * filling) off the server's event loop. A child process rather than a thread, so that a native crash
 * in a provider, or stopping it mid-run (cancel, timeout), cannot take the server down. Each finished
 * tile is sent back as soon as it is ready.
 */
import { Engine } from './engine.js';
import { runChunk } from './chunk.js';
import type { InferenceRun, PngText, WorkerReply, WorkerRequest } from './messages.js';

/** Resolves once the message has been handed to the IPC channel (the engine waits for its tiles to leave). */
const post = (msg: WorkerReply): Promise<void> => new Promise((resolve) => process.send!(msg, undefined, undefined, () => resolve()));
const engines = new Map<string, Engine>();
const engine = (providers: string[]) => {
  const key = providers.join(',');
  let e = engines.get(key);
  if (!e) engines.set(key, (e = new Engine(providers, (message) => post({ type: 'log', message }))));
  return e;
};

/** The seals sealed results wait for, by job. */
const seals = new Map<string, (text: PngText) => void>();
const sealOf = (jobId: string) => () => new Promise<PngText>((resolve) => seals.set(jobId, resolve));

// The server went away: nothing left to work for.
process.on('disconnect', () => process.exit(0));
process.on('message', (req: WorkerRequest) => {
  if (req.type === 'seal') {
    seals.get(req.jobId)?.(req.text);
    seals.delete(req.jobId);
    return;
  }
  if (req.type === 'inspect') {
    engine(req.providers)
      .inspect(req.modelPath)
      .then(
        (result) => post({ type: 'inspected', requestId: req.requestId, result }),
        (e: Error) => post({ type: 'inspected', requestId: req.requestId, error: e.message }),
      );
    return;
  }
  if (req.type === 'read') {
    engine(req.providers)
      .read(req.source, req.views)
      .then(
        (views) => post({ type: 'read', jobId: req.jobId, views }),
        (e: Error) => post({ type: 'error', jobId: req.jobId, message: e.message }),
      );
    return;
  }
  if (req.type === 'chunk') {
    const { type: _t, jobId, providers, ...chunk } = req;
    runChunk(engine(providers), jobId, chunk, post)
      .then(({ segment, provider }) => post({ type: 'chunk-done', jobId, provider, segment }))
      .catch((e: Error) => post({ type: 'error', jobId, message: e.message }));
    return;
  }
  const { type: _type, jobId, providers, ...run } = req;
  engine(providers)
    .run(jobId, run as InferenceRun, post, sealOf(jobId))
    .catch((e: Error) => post({ type: 'error', jobId, message: e.message }))
    .finally(() => seals.delete(jobId));
});

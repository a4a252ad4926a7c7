/**
 * ONNX Runtime on a thread of its own (see ort-host.ts). onnxruntime-node's session.run blocks the
 * thread that calls it; here it blocks this one, so the inference process's main thread converts
 * the next batch, encodes the last one's tiles and talks to the server meanwhile.
 * Plain JS (no TypeScript loader in a worker thread); messages are answered by id.
 */
import { parentPort } from 'node:worker_threads';
import ort from 'onnxruntime-node';

const sessions = new Map();
const meta = (m) => m.map((v) => ({ name: v.name, isTensor: v.isTensor, ...(v.isTensor ? { type: v.type, shape: [...v.shape] } : {}) }));

async function handle(msg) {
  if (msg.type === 'create') {
    const session = await ort.InferenceSession.create(msg.path, msg.options);
    sessions.set(msg.session, session);
    return { value: { inputs: meta(session.inputMetadata), outputs: meta(session.outputMetadata) } };
  }
  if (msg.type === 'run') {
    const session = sessions.get(msg.session);
    if (!session) throw new Error(`no session ${msg.session}`);
    const feeds = {};
    for (const [name, t] of Object.entries(msg.feeds)) feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
    const t0 = performance.now();
    const out = await session.run(feeds, msg.outputs);
    const ms = performance.now() - t0;
    const value = {};
    const transfer = [];
    for (const [name, t] of Object.entries(out)) {
      value[name] = { type: t.type, data: t.data, dims: [...t.dims] };
      transfer.push(t.data.buffer);
    }
    return { value: { outputs: value, ms }, transfer };
  }
  throw new Error(`unknown message ${msg.type}`);
}

parentPort.on('message', (msg) => {
  handle(msg).then(
    ({ value, transfer }) => {
      try {
        parentPort.postMessage({ id: msg.id, value }, transfer ?? []);
      } catch {
        parentPort.postMessage({ id: msg.id, value }); // a buffer that cannot move is copied
      }
    },
    (e) => parentPort.postMessage({ id: msg.id, error: e instanceof Error ? e.message : String(e) }),
  );
});

/** `npm run build -w models`: makes every catalogued model's ONNX file that is missing (a no-op when all exist). */
import { ensureAllModels } from './catalogue.js';

const started = performance.now();
try {
  const models = await ensureAllModels({ log: (line) => console.log(line) });
  console.log(`models: ${models.length} ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
} catch (err) {
  console.error(`models: build failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}

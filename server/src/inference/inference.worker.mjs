// The worker process does not inherit the TypeScript loader from vitest or the CLI: register it here.
import { register } from 'tsx/esm/api';
register();
await import('./inference.worker.ts');

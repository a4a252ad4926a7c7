import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vite';

// `vite dev` runs the UI alone; everything the Loupe server answers is proxied to it.
const server = process.env.LOUPE_SERVER ?? 'http://localhost:3000';

export default defineConfig({
  plugins: [sveltekit()],
  resolve: {
    // One copy of Yjs in the bundle, or `instanceof` checks between doc and provider break.
    dedupe: ['yjs', 'y-protocols', 'lib0'],
  },
  server: {
    proxy: {
      '/socket.io': { target: server, ws: true },
      '/blobs': server,
      '/healthz': server,
    },
  },
});

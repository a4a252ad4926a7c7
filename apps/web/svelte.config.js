import adapter from '@sveltejs/adapter-node';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/kit').Config} */
export default {
  preprocess: vitePreprocess(),
  compilerOptions: { runes: true },
  kit: {
    // The Loupe server imports build/handler.js and mounts it beside Socket.IO and /blobs.
    adapter: adapter({ out: 'build' }),
  },
};

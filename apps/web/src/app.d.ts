// See https://svelte.dev/docs/kit/types#app.d.ts
import type { LoupeDebugHandle } from '$lib/room/session.svelte';

declare global {
  namespace App {}
  interface Window {
    /** Test inspection handle, set by the room page. */
    __loupe?: LoupeDebugHandle;
  }
}

export {};

/**
 * Looking closely from the keyboard: + / − zoom, F fit, 1 / 2 / 4 pixel zoom (1:1, 2:1, 4:1),
 * Shift+F fullscreen, Alt+R / G / B / A / Y one channel (Alt+C all), Space held down pans.
 * Called from keyboard.ts; returns true when it handled the key.
 */
import type { PictureChannel } from '@loupe/shared';
import type { RoomSession } from './session.svelte';
import { spaceKey } from '$lib/view/space-key.svelte';

const CHANNEL_CODES: Record<string, PictureChannel> = { KeyR: 'r', KeyG: 'g', KeyB: 'b', KeyA: 'a', KeyY: 'luma', KeyC: 'rgb' };
const ZOOM_STEP = 1.25;

export function handleViewKey(e: KeyboardEvent, room: RoomSession): boolean {
  const v = room.view;
  if (e.metaKey || e.ctrlKey) return false;
  if (e.altKey) {
    const channel = CHANNEL_CODES[e.code];
    if (!channel || e.shiftKey) return false;
    // Again on the same channel: back to all of them (as RV does).
    v.setLook({ channel: v.look.channel === channel ? 'rgb' : channel });
    return true;
  }
  switch (e.key) {
    case '+':
    case '=':
      v.zoomBy(ZOOM_STEP);
      return true;
    case '-':
    case '_':
      v.zoomBy(1 / ZOOM_STEP);
      return true;
    case 'f':
      v.fit();
      return true;
    case 'F':
      void v.toggleFullscreen();
      return true;
    case '1':
    case '2':
    case '4':
      v.zoomToPixels(Number(e.key));
      return true;
    case ' ':
      // Play/pause waits for the release: a drag while Space is down pans instead.
      if (!e.repeat) {
        spaceKey.held = true;
        spaceKey.used = false;
      }
      return true;
    default:
      return false;
  }
}

/** Space released: play or pause, unless it was held to pan. */
export function handleViewKeyUp(e: KeyboardEvent, room: RoomSession): boolean {
  if (e.key !== ' ' || !spaceKey.held) return false;
  spaceKey.held = false;
  if (!spaceKey.used) room.player.toggle();
  spaceKey.used = false;
  return true;
}

/** The window lost the focus with Space down: no release will come. */
export function resetSpaceKey(): void {
  spaceKey.held = false;
  spaceKey.used = false;
}

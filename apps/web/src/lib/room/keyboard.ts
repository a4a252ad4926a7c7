/** Review-room shortcuts, the ones RV and SyncSketch users already have in their fingers. */
import type { RoomSession } from './session.svelte';
import { handleEditKey, handleToolKey, selectTool } from './draw-keys';
import { handlePlaybackKey } from './playback-keys';
import { handleViewKey, handleViewKeyUp } from './view-keys';

function typing(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el && (el.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName));
}

export function handleRoomKey(e: KeyboardEvent, room: RoomSession): void {
  if (handleEditKey(e, room)) return; // Ctrl/Cmd+Z, Ctrl/Cmd+Shift+Z, Ctrl+Y
  // J/K/L shuttle, I/O in/out, \ loop, Tab A/B, ? help (so L and O as tools are Shift+L, Shift+O).
  if (handlePlaybackKey(e, room)) return;
  if (typing(e.target)) return;
  // Zoom, fit, pixel zoom, fullscreen, channels, and Space (play on release, pan while held).
  if (handleViewKey(e, room)) {
    e.preventDefault();
    return;
  }
  if (e.metaKey || e.ctrlKey || e.altKey) return;
  const p = room.player;
  const jump = e.shiftKey ? 10 : 1;
  const tool = (t: 'pen' | 'arrow' | 'region' | 'mask') => selectTool(room, t);
  switch (e.key) {
    case 'ArrowLeft':
      p.step(-jump);
      break;
    case 'ArrowRight':
      p.step(jump);
      break;
    case 'Home':
      p.first();
      break;
    case 'End':
      p.last();
      break;
    case 'p':
    case 'P':
      tool('pen');
      break;
    case 'a':
    case 'A':
      tool('arrow');
      break;
    case 'r':
    case 'R':
      tool('region');
      break;
    case 'm':
    case 'M':
      tool('mask');
      break;
    case 'Escape':
      room.tools.selection = null;
      break;
    case '[':
      room.stepShot(-1);
      break;
    case ']':
      room.stepShot(1);
      break;
    default:
      // Drawing tools (L, B, O, T, E, X) and ghosting (G); keys handled above win.
      if (!handleToolKey(e, room)) return;
  }
  e.preventDefault();
}

export function handleRoomKeyUp(e: KeyboardEvent, room: RoomSession): void {
  if (typing(e.target)) return;
  if (handleViewKeyUp(e, room)) e.preventDefault();
}

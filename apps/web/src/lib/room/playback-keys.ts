/**
 * Playback shortcuts beyond the basic ones in keyboard.ts (Space, ←/→, Shift+←/→, Home, End):
 * J/K/L shuttle (hold K and tap J or L to step), I/O in and out points, \ loop, Alt+X clear in/out,
 * Tab A/B flip while comparing, ? help. Called first by keyboard.ts; returns true when it handled
 * the key. L and O are the shuttle and the out point, so the line and ellipse tools are Shift+L and
 * Shift+O (they fall through to the drawing keys).
 */
import type { RoomSession } from './session.svelte';
import { help } from './help.svelte';

function typing(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el && (el.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName));
}

/** K is held down: J and L step one frame instead of shuttling (Avid, Premiere, Resolve). */
let kHeld = false;

export function handlePlaybackKeyUp(e: KeyboardEvent): void {
  if (e.key === 'k' || e.key === 'K') kHeld = false;
}

export function resetPlaybackKeys(): void {
  kHeld = false;
}

export function handlePlaybackKey(e: KeyboardEvent, room: RoomSession): boolean {
  if (help.open && e.key === 'Escape') return done(e, () => (help.open = false));
  if (typing(e.target) || e.metaKey || e.ctrlKey) return false;
  if (e.key === '?') return done(e, () => (help.open = !help.open));
  const p = room.player;
  if (e.altKey) {
    if (e.code === 'KeyX') return done(e, () => p.clearInOut());
    return false;
  }
  if (e.shiftKey) return false; // Shift+L, Shift+O are drawing tools; Shift+arrows are in keyboard.ts
  switch (e.key.toLowerCase()) {
    case 'j':
      return done(e, () => (kHeld ? p.step(-1) : p.shuttleBackward()));
    case 'k':
      kHeld = true;
      return done(e, () => p.shuttleStop());
    case 'l':
      return done(e, () => (kHeld ? p.step(1) : p.shuttleForward()));
    case 'i':
      return done(e, () => p.setIn());
    case 'o':
      return done(e, () => p.setOut());
    case '\\':
      return done(e, () => p.toggleLoop());
    case 'tab':
      // Only while comparing: otherwise Tab keeps moving the focus.
      if (!room.compare.b || room.compare.mode === 'off') return false;
      return done(e, () => room.compare.toggleAB());
    default:
      return false;
  }
}

function done(e: KeyboardEvent, fn: () => void): true {
  if (!e.repeat || e.key.toLowerCase() !== 'k') fn();
  e.preventDefault();
  return true;
}

/** Every shortcut in the room, for the help overlay. */
export const SHORTCUTS: { group: string; items: { keys: string[]; label: string }[] }[] = [
  {
    group: 'Playback',
    items: [
      { keys: ['Space'], label: 'Play / pause (on release)' },
      { keys: ['L'], label: 'Play forward; again: 2x' },
      { keys: ['J'], label: 'Play backward; again: 2x' },
      { keys: ['K'], label: 'Stop' },
      { keys: ['K', '+ J / L'], label: 'Hold K, tap J or L: step one frame' },
      { keys: ['←', '→'], label: 'Step one frame' },
      { keys: ['Shift', '+ ← / →'], label: 'Step ten frames' },
      { keys: ['Home'], label: 'First frame' },
      { keys: ['End'], label: 'Last frame' },
    ],
  },
  {
    group: 'Shots',
    items: [
      { keys: ['['], label: 'Previous shot (its latest version)' },
      { keys: [']'], label: 'Next shot' },
    ],
  },
  {
    group: 'In, out and loop',
    items: [
      { keys: ['I'], label: 'Set in point at this frame' },
      { keys: ['O'], label: 'Set out point at this frame' },
      { keys: ['\\'], label: 'Loop on / off (in to out, or the whole clip)' },
      { keys: ['Alt', '+ X'], label: 'Clear in and out' },
    ],
  },
  {
    group: 'Look closely',
    items: [
      { keys: ['Wheel'], label: 'Zoom at the pointer (pinch on a touch screen)' },
      { keys: ['+', '−'], label: 'Zoom in, out' },
      { keys: ['F'], label: 'Fit the picture' },
      { keys: ['1', '2', '4'], label: '1:1, 2:1, 4:1 (of the proxy when it is smaller)' },
      { keys: ['Space', '+ drag'], label: 'Pan (also the middle button, or drag with the pointer)' },
      { keys: ['Shift', '+ F'], label: 'Fullscreen' },
      { keys: ['Alt', '+ R / G / B / A'], label: 'One channel; again: all' },
      { keys: ['Alt', '+ Y'], label: 'Luminance' },
      { keys: ['Alt', '+ C'], label: 'All channels' },
    ],
  },
  {
    group: 'Compare',
    items: [
      { keys: ['Tab'], label: 'Flip between A and B (while comparing)' },
    ],
  },
  {
    group: 'Draw and point',
    items: [
      { keys: ['V'], label: 'Pointer: click a drawing to find its note, drag to pan' },
      { keys: ['P'], label: 'Pen' },
      { keys: ['Shift', '+ L'], label: 'Line' },
      { keys: ['A'], label: 'Arrow' },
      { keys: ['B'], label: 'Rectangle' },
      { keys: ['Shift', '+ O'], label: 'Ellipse' },
      { keys: ['T'], label: 'Text' },
      { keys: ['E'], label: 'Eraser' },
      { keys: ['X'], label: 'Laser pointer' },
      { keys: ['G'], label: 'Ghosting (onion skin)' },
      { keys: ['Ctrl', '+ Z'], label: 'Undo' },
      { keys: ['Ctrl', '+ Shift + Z'], label: 'Redo' },
    ],
  },
  {
    group: 'Fix',
    items: [
      { keys: ['R'], label: 'Region for an AI fix' },
      { keys: ['M'], label: 'Mask (lasso) for an AI fix' },
      { keys: ['Esc'], label: 'Clear the selection' },
    ],
  },
  {
    group: 'Room',
    items: [{ keys: ['?'], label: 'This help' }],
  },
];

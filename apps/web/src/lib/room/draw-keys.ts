/** Drawing shortcuts: tools by letter, undo/redo, ghosting. Called from keyboard.ts. */
import type { RoomSession } from './session.svelte';
import { TOOLS, type ToolId } from './tools.svelte';

function typing(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el && (el.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName));
}

/** Pick a tool if this member may use it. */
export function selectTool(room: RoomSession, id: ToolId): boolean {
  const info = TOOLS.find((t) => t.id === id);
  if (!info || !(room.canAnnotate || info.viewer)) return false;
  room.tools.tool = id;
  return true;
}

/**
 * Ctrl/Cmd+Z undo, Ctrl/Cmd+Shift+Z and Ctrl+Y redo: this page's own drawings only.
 * Returns true when it handled the key. Text fields keep their own undo.
 */
export function handleEditKey(e: KeyboardEvent, room: RoomSession): boolean {
  if (!(e.ctrlKey || e.metaKey) || e.altKey || typing(e.target)) return false;
  const key = e.key.toLowerCase();
  let done: boolean;
  if (key === 'z' && !e.shiftKey) done = undo(room);
  else if ((key === 'z' && e.shiftKey) || (key === 'y' && e.ctrlKey && !e.metaKey)) done = redo(room);
  else return false;
  void done;
  e.preventDefault();
  return true;
}

export function undo(room: RoomSession): boolean {
  if (!room.canAnnotate) return false;
  return room.collab.undo();
}

export function redo(room: RoomSession): boolean {
  if (!room.canAnnotate) return false;
  return room.collab.redo();
}

/** Plain letter shortcuts for the tools and ghosting. Returns true when it handled the key. */
export function handleToolKey(e: KeyboardEvent, room: RoomSession): boolean {
  if (typing(e.target) || e.metaKey || e.ctrlKey || e.altKey) return false;
  const key = e.key.toUpperCase();
  if (key === 'G') {
    room.tools.ghost = !room.tools.ghost;
    return true;
  }
  const tool = TOOLS.find((t) => t.key === key);
  if (!tool) return false;
  selectTool(room, tool.id);
  return true;
}

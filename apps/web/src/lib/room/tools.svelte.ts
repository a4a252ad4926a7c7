/** The drawing tool, its style, hold and ghosting, and the region or mask selected for a fix. */
import type { AnnotationKind, Region } from '@loupe/shared';

export type ToolId =
  | 'pointer'
  | 'pen'
  | 'line'
  | 'arrow'
  | 'rect'
  | 'ellipse'
  | 'text'
  | 'eraser'
  | 'laser'
  | 'region'
  | 'mask';

export interface ToolInfo {
  id: ToolId;
  label: string;
  /** The shortcut's letter key. */
  key: string;
  /** Needs Shift: the plain letter is a playback key (L shuttle, O out point). */
  shift?: boolean;
  group: 'select' | 'draw' | 'point' | 'fix';
  /** Tools a view-only member may use (pointing is not writing). */
  viewer?: boolean;
}

/** How a tool's shortcut is written in titles: "P", "Shift+L". */
export const shortcutText = (t: ToolInfo) => (t.shift ? `Shift+${t.key}` : t.key);

export const TOOLS: readonly ToolInfo[] = [
  // The default: a click never draws; a drag pans (when zoomed in), a click on a drawing finds its note.
  { id: 'pointer', label: 'Pointer (select, pan)', key: 'V', group: 'select', viewer: true },
  { id: 'pen', label: 'Pen', key: 'P', group: 'draw' },
  { id: 'line', label: 'Line', key: 'L', shift: true, group: 'draw' },
  { id: 'arrow', label: 'Arrow', key: 'A', group: 'draw' },
  { id: 'rect', label: 'Rectangle', key: 'B', group: 'draw' },
  { id: 'ellipse', label: 'Ellipse', key: 'O', shift: true, group: 'draw' },
  { id: 'text', label: 'Text', key: 'T', group: 'draw' },
  { id: 'eraser', label: 'Eraser (removes a whole drawing)', key: 'E', group: 'point' },
  { id: 'laser', label: 'Laser pointer (not saved)', key: 'X', group: 'point', viewer: true },
  // Selecting writes nothing: every member may select; the fix panel says who may ask for a fix.
  { id: 'region', label: 'Region for a fix', key: 'R', group: 'fix', viewer: true },
  { id: 'mask', label: 'Mask (lasso) for a fix', key: 'M', group: 'fix', viewer: true },
];

/** Tools whose gesture becomes an annotation of the same kind. */
export const SHAPE_TOOLS = ['pen', 'line', 'arrow', 'rect', 'ellipse'] as const satisfies readonly AnnotationKind[];
export type ShapeTool = (typeof SHAPE_TOOLS)[number];
export const isShapeTool = (t: string): t is ShapeTool => (SHAPE_TOOLS as readonly string[]).includes(t);

export const COLORS = [
  { value: '#ff453a', name: 'Red' },
  { value: '#ffd60a', name: 'Yellow' },
  { value: '#32d74b', name: 'Green' },
  { value: '#64d2ff', name: 'Cyan' },
  { value: '#bf5af2', name: 'Purple' },
  { value: '#ffffff', name: 'White' },
] as const;

/** Stroke widths as fractions of the picture height (1080p: 4, 9 and 17 px). */
export const SIZES = [
  { value: 0.004, name: 'Thin' },
  { value: 0.008, name: 'Medium' },
  { value: 0.016, name: 'Thick' },
] as const;

export const MAX_HOLD = 9999;
export const MAX_GHOST = 24;

export interface Selection {
  versionId: string;
  frame: number;
  region: Region;
}

const clampInt = (v: number, lo: number, hi: number, fallback: number) =>
  Number.isFinite(v) ? Math.min(hi, Math.max(lo, Math.round(v))) : fallback;

export class Tools {
  tool = $state<ToolId>('pointer');
  /** The drawing the pointer tool clicked (its note is shown in the notes panel), or null. */
  picked = $state<string | null>(null);
  color = $state<string>(COLORS[0].value);
  size = $state<number>(SIZES[1].value);
  selection = $state<Selection | null>(null);
  /** Where the fix panel sits over the picture (toasts keep clear of it). */
  fixPanelAt = $state<'top' | 'bottom'>('top');
  /** An eyedropper pick in progress (the fix panel's "Pick neutral"): the next click on the picture goes here, normalised 0..1. */
  picking = $state<((x: number, y: number) => void) | null>(null);

  /** How many frames the next drawings (and notes) last: frameEnd = frame + hold - 1. */
  private holdValue = $state(1);
  /** Onion skin: show the drawings of the frames around this one. */
  ghost = $state(false);
  private ghostValue = $state(5);

  get hold(): number {
    return this.holdValue;
  }
  set hold(v: number) {
    this.holdValue = clampInt(v, 1, MAX_HOLD, 1);
  }

  get ghostFrames(): number {
    return this.ghostValue;
  }
  set ghostFrames(v: number) {
    this.ghostValue = clampInt(v, 1, MAX_GHOST, 5);
  }

  /** The last frame a drawing made now on `frame` shows on, kept inside the shot. */
  frameEnd(frame: number, lastFrame: number): number {
    return Math.max(frame, Math.min(lastFrame, frame + this.holdValue - 1));
  }
}

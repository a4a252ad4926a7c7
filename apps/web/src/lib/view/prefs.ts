/**
 * A member's own viewer preferences, kept in this browser (localStorage): volume, frame counter,
 * display, their own LUT. Nothing here is shared with the room. A browser that refuses storage
 * (private mode, quota) still works; the preferences then last for the page.
 */
const PREFIX = 'loupe.viewer.';

export function loadPref<T>(key: string, clean: (v: unknown) => T): T {
  let raw: unknown = undefined;
  try {
    const s = globalThis.localStorage?.getItem(PREFIX + key);
    raw = s == null ? undefined : JSON.parse(s);
  } catch {
    raw = undefined;
  }
  return clean(raw);
}

export function savePref(key: string, value: unknown): void {
  try {
    globalThis.localStorage?.setItem(PREFIX + key, JSON.stringify(value));
  } catch {
    /* storage refused: the preference lasts for this page */
  }
}

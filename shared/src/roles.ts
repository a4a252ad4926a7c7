export const Roles = ['director', 'artist', 'editor', 'viewer'] as const;
export type Role = (typeof Roles)[number];

/** What each role may do. The server checks these; the UI only mirrors them. */
export const Permissions = {
  annotate: ['director', 'artist', 'editor'],
  /** Upload media: a new shot or the next version of one. */
  upload: ['director', 'artist', 'editor'],
  requestFix: ['director', 'artist'],
  decide: ['director'],
  /**
   * Moderate the room document: resolve or reopen anyone's note, delete anyone's drawing or note.
   * Everyone else changes and deletes only what they wrote.
   */
  moderate: ['director'],
  /** Take notes, reports, markers, approved media and the event log out of the room (docs/exports.md). */
  export: ['director', 'editor'],
} as const satisfies Record<string, readonly Role[]>;
export type Permission = keyof typeof Permissions;

export function can(role: Role, permission: Permission): boolean {
  return (Permissions[permission] as readonly Role[]).includes(role);
}

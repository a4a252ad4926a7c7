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

/**
 * Who may cancel a fix job, and when: whoever asked for it, or a director of the room, while it is
 * queued or running. The server refuses everyone else (FORBIDDEN_ROLE); the room shows the Cancel
 * button only where this holds.
 */
export function canCancel(member: { id: string; role: Role }, job: { state: string; requestedBy: { id: string } }): boolean {
  if (job.state !== 'queued' && job.state !== 'running') return false;
  return job.requestedBy.id === member.id || member.role === 'director';
}

export const Roles = ['director', 'artist', 'editor', 'viewer'] as const;
export type Role = (typeof Roles)[number];

/** What each role may do. The server checks these; the UI only mirrors them. */
export const Permissions = {
  annotate: ['director', 'artist', 'editor'],
  requestFix: ['director', 'artist'],
  decide: ['director'],
} as const satisfies Record<string, readonly Role[]>;
export type Permission = keyof typeof Permissions;

export function can(role: Role, permission: Permission): boolean {
  return (Permissions[permission] as readonly Role[]).includes(role);
}

/** The approval state of a version, and who may move it where. */
export const VersionStatuses = ['pending', 'approved', 'changes-requested'] as const;
export type VersionStatus = (typeof VersionStatuses)[number];
export const Decisions = ['approved', 'changes-requested', 'pending'] as const;
export type Decision = (typeof Decisions)[number];

/** Any status may move to any other by a decision; deciding the status a version already has is refused. */
export function nextStatus(current: VersionStatus, decision: Decision): VersionStatus | null {
  return current === decision ? null : decision;
}

import { ErrorCode, LoupeError, can, nextStatus, type DecideRequest, type Member, type Version } from '@loupe/shared';
import type { VersionRepository } from '../store/version.repository.js';

/** Approvals: role-gated decisions on versions, each kept in the version's audit trail. */
export class ReviewService {
  constructor(
    private readonly versions: VersionRepository,
    private readonly broadcast: (roomId: string, v: Version) => void,
  ) {}

  async decide(member: Member, req: Required<Pick<DecideRequest, 'room' | 'versionId' | 'decision'>> & { note?: string }): Promise<Version> {
    if (!can(member.role, 'decide')) {
      throw new LoupeError(ErrorCode.FORBIDDEN_ROLE, 'Only the director can approve a version or request changes.');
    }
    const version = await this.versions.get(req.versionId);
    if (!version || (await this.versions.roomOf(req.versionId)) !== req.room) {
      throw new LoupeError(ErrorCode.VERSION_NOT_FOUND, `No version ${req.versionId} in this room.`);
    }
    const status = nextStatus(version.status, req.decision);
    if (!status) throw new LoupeError(ErrorCode.INVALID_DECISION, `The version is already ${version.status}.`);
    const updated = await this.versions.decide(version.id, req.room, {
      decision: status,
      note: req.note ?? '',
      by: { id: member.id, name: member.name, role: member.role },
      at: new Date().toISOString(),
    });
    this.broadcast(req.room, updated);
    return updated;
  }
}

/** What a member is told when something happens to a version (pure: unit-tested). */
import { FixCatalogue, versionLabel, type Member, type Version } from '@loupe/shared';

export interface VersionNews {
  message: string;
  /** The member is the one who asked for this fix (the decision is about their request). */
  mine: boolean;
}

const quote = (note: string) => (note.trim() ? `: “${note.trim().length > 140 ? note.trim().slice(0, 139) + '…' : note.trim()}”` : '');

/** A decision was added to a version: "v005 approved by Dana", "Your fix request was sent back: …". */
export function decisionNews(before: Version | null, after: Version, me: Pick<Member, 'id'> | null): VersionNews | null {
  if (!me || after.decisions.length <= (before?.decisions.length ?? 0)) return null;
  const d = after.decisions[after.decisions.length - 1];
  if (d.by.id === me.id) return null; // the decider knows
  const label = versionLabel(after);
  const requester = after.kind === 'ai' ? (after.provenance?.requestedBy.id ?? after.createdBy.id) : after.createdBy.id;
  const mine = requester === me.id;
  if (mine && after.kind === 'ai') {
    if (d.decision === 'changes-requested') return { mine, message: `Your fix request ${label} was sent back by ${d.by.name}${quote(d.note)}` };
    if (d.decision === 'approved') return { mine, message: `Your fix ${label} was approved by ${d.by.name}${quote(d.note)}` };
  }
  const what = mine ? `Your ${label}` : label;
  if (d.decision === 'approved') return { mine, message: `${what} approved by ${d.by.name}${quote(d.note)}` };
  if (d.decision === 'changes-requested') return { mine, message: `${d.by.name} requested changes on ${mine ? `your ${label}` : label}${quote(d.note)}` };
  return { mine, message: `${d.by.name} set ${label} back to pending` };
}

/** A new version arrived: "New version v006 from Sam"; the requester of a fix hears that it is ready. */
export function newVersionNews(v: Version, me: Pick<Member, 'id'> | null): VersionNews | null {
  if (!me) return null;
  const label = versionLabel(v);
  const fix = v.kind === 'ai' && v.provenance ? (FixCatalogue[v.provenance.fix]?.label ?? v.provenance.fix) : null;
  const requester = v.kind === 'ai' ? (v.provenance?.requestedBy.id ?? v.createdBy.id) : v.createdBy.id;
  if (requester === me.id) return v.kind === 'ai' ? { mine: true, message: `Your fix is ready: ${label}${fix ? ` (${fix})` : ''}` } : null;
  // Made by a learned model ("AI") or by an algorithm (remove object's clean plate, colour fixes): said as the badge says it.
  const maker = v.provenance?.aiMade === false ? 'Algorithm' : 'AI';
  return { mine: false, message: `New version ${label} from ${v.createdBy.name}${fix ? ` · ${maker} ${fix}` : ''}` };
}

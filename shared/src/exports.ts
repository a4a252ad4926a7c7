/**
 * What a room can be exported as (docs/exports.md): the same names on the command line
 * (`npx loupe export ROOM --format csv`) and over HTTP (`GET /export/<roomId>/notes.csv?token=...`,
 * editor and director invites).
 */
export const ExportFormats = {
  csv: { file: 'notes.csv', mime: 'text/csv; charset=utf-8', label: 'Notes (CSV)' },
  pdf: { file: 'notes.pdf', mime: 'application/pdf', label: 'Report with drawn-over frames (PDF)' },
  edl: { file: 'markers.edl', mime: 'text/plain; charset=us-ascii', label: 'Markers (CMX 3600 EDL)' },
  otio: { file: 'markers.otio', mime: 'application/json', label: 'Approved cut with markers (OpenTimelineIO)' },
  zip: { file: 'approved.zip', mime: 'application/zip', label: 'Approved media with provenance (zip)' },
  events: { file: 'events.jsonl', mime: 'application/x-ndjson', label: 'Session event log (JSON lines)' },
} as const;
export type ExportFormat = keyof typeof ExportFormats;

export function exportFormatOfFile(file: string): ExportFormat | null {
  for (const [format, d] of Object.entries(ExportFormats)) if (d.file === file) return format as ExportFormat;
  return null;
}

/** Where an export is served; the browser adds ?token= (or sends Authorization: Bearer). */
export function exportUrl(roomId: string, format: ExportFormat): string {
  return `/export/${encodeURIComponent(roomId)}/${ExportFormats[format].file}`;
}

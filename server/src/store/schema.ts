import type { ColumnType, Generated } from 'kysely';

/**
 * The tables as the repositories see them, one interface per table (snake_case, as stored). The
 * schema itself is made by the numbered migrations in ./migrations; change both together.
 * Integers come back as numbers on both engines (database.ts parses PostgreSQL's BIGINT).
 */
export interface Tables {
  settings: { key: string; value: string };
  rooms: { id: string; name: string; created_at: string };
  shots: {
    id: string;
    room_id: string;
    name: string;
    fps: number;
    /** 0 or 1. */
    drop_frame: number;
    width: number;
    height: number;
    frame_count: number;
    start_timecode: string;
    created_at: string;
  };
  versions: {
    id: string;
    shot_id: string;
    room_id: string;
    number: number;
    label: string;
    kind: string;
    status: string;
    parent_version_id: string | null;
    /** JSON. */
    media: string;
    /** JSON. */
    created_by: string;
    created_at: string;
    /** JSON, null for a version that is not AI-made. */
    provenance: string | null;
    /** The job (or `ingest:<id>`) that made it: UNIQUE, so one version per job. */
    job_id: string | null;
  };
  decisions: { id: Generated<number>; version_id: string; room_id: string; decision: string; note: string; by: string; at: string };
  jobs: { id: string; room_id: string; idempotency_key: string; state: string; data: string; created_at: string };
  /** checked: the write rules' version the row was checked under (migration 0003), null when unknown. */
  doc_updates: { id: Generated<number>; room_id: string; data: Uint8Array; checked: ColumnType<number | null, number | null | undefined, number | null> };
  room_blobs: { room_id: string; sha256: string };
  invites: { id: string; room_id: string; role: string; name: string; created_at: string; expires_at: string; revoked_at: string | null };
  frames: { version_id: string; frame: number; sha256: string };
  ingests: { id: string; room_id: string; state: string; data: string; created_at: string; updated_at: string };
  room_events: { id: Generated<number>; room_id: string; at: string; type: string; actor: string | null; data: string; ref: string | null };
  webhooks: { id: string; room_id: string; url: string; created_at: string };
  doc_clients: { room_id: string; client_id: number; member_id: string };
  render_frames: { job_id: string; frame: number; sha256: string; preview: string };
  render_chunks: { job_id: string; chunk: number; segment: string };
}

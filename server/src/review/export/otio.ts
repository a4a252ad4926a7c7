import { makerLabel, makerOf, timecodeToFrame, versionLabel } from '@loupe/shared';
import { editorialCut, exactRate, type CutClip } from './cut.js';
import { clipName, markerColor, markerText } from './edl.js';
import { SnapshotIndex, shotRate, shotTimecode, startFrame, type RoomSnapshot } from './snapshot.js';

/*
 * OpenTimelineIO JSON with the oldest schema versions of each object (Timeline.1, Stack.1, Track.1,
 * Clip.1, Marker.1, ExternalReference.1): every OTIO release reads them (newer ones upgrade them on
 * load), so Resolve, Premiere (via its OTIO plug-in) and Avid (via otio adapters) open the file.
 */

const time = (value: number, rate: number) => ({ OTIO_SCHEMA: 'RationalTime.1', rate, value });
const range = (start: number, duration: number, rate: number) => ({
  OTIO_SCHEMA: 'TimeRange.1',
  duration: time(duration, rate),
  start_time: time(start, rate),
});

function marker(clip: CutClip, t: CutClip['threads'][number], rate: number, idx: SnapshotIndex) {
  const { note, replies } = t;
  const v = idx.version(note.versionId);
  return {
    OTIO_SCHEMA: 'Marker.1',
    name: markerText(t),
    color: markerColor(note),
    // In the clip's media time: the shot's start timecode plus the note's frame, at the shot's rate.
    marked_range: range(startFrame(clip.shot) + note.frame, note.frameEnd - note.frame + 1, rate),
    metadata: {
      loupe: {
        noteId: note.id,
        version: v ? versionLabel(v) : null,
        frame: note.frame,
        frameEnd: note.frameEnd,
        timecode: shotTimecode(clip.shot, note.frame),
        author: note.author.name,
        text: note.text,
        status: note.status,
        createdAt: note.createdAt,
        replies: replies.map((r) => ({ author: r.author.name, text: r.text, createdAt: r.createdAt })),
      },
    },
  };
}

function clipJson(clip: CutClip, idx: SnapshotIndex) {
  const rate = exactRate(clip.shot.fps);
  const start = startFrame(clip.shot);
  const v = clip.version;
  const media = v.media;
  const sourceRange = range(start + clip.firstFrame, clip.frames, rate);
  const reference = clip.bundlePath
    ? {
        OTIO_SCHEMA: 'ExternalReference.1',
        // Relative to the unpacked approved.zip.
        target_url: clip.bundlePath,
        available_range: media.type === 'video' ? range(start, Math.max(1, media.frameCount), rate) : sourceRange,
        metadata: { loupe: { sha256: media.blob } },
        name: clip.bundlePath.split('/').pop(),
      }
    : { OTIO_SCHEMA: 'MissingReference.1', available_range: null, metadata: {}, name: '' };
  return {
    OTIO_SCHEMA: 'Clip.1',
    name: clipName(clip),
    source_range: sourceRange,
    media_reference: reference,
    effects: [],
    markers: clip.threads.map((t) => marker(clip, t, rate, idx)),
    enabled: true,
    metadata: {
      loupe: {
        shotId: clip.shot.id,
        shot: clip.shot.name,
        versionId: v.id,
        version: versionLabel(v),
        kind: v.kind,
        status: v.status,
        approved: clip.approved,
        fps: clip.shot.fps,
        dropFrame: clip.shot.dropFrame,
        startTimecode: clip.shot.startTimecode,
        ...(v.kind === 'ai' && v.provenance
          ? { aiMade: makerOf(v.provenance.model).kind === 'learned', madeBy: makerLabel(v.provenance.model), fix: v.provenance.fix, model: { ...v.provenance.model, ...makerOf(v.provenance.model) }, provider: v.provenance.provider, frame: v.provenance.frame }
          : {}),
      },
    },
  };
}

/** The cut as an OTIO timeline: Timeline -> Stack -> one video Track, one clip per approved version, notes as markers. */
export function markersOtio(snap: RoomSnapshot, opts: { approvedOnly?: boolean } = {}): object {
  const idx = new SnapshotIndex(snap);
  const clips = editorialCut(snap, opts);
  const first = clips[0]?.shot;
  const rate = first ? exactRate(first.fps) : 24;
  return {
    OTIO_SCHEMA: 'Timeline.1',
    name: snap.room.name,
    global_start_time: time(timecodeToFrame('01:00:00:00', first ? shotRate(first) : { fps: 24 }), rate),
    metadata: { loupe: { roomId: snap.room.id, exportedAt: snap.takenAt } },
    tracks: {
      OTIO_SCHEMA: 'Stack.1',
      name: 'tracks',
      source_range: null,
      effects: [],
      markers: [],
      enabled: true,
      metadata: {},
      children: [
        {
          OTIO_SCHEMA: 'Track.1',
          name: 'Loupe approved',
          kind: 'Video',
          source_range: null,
          effects: [],
          markers: [],
          enabled: true,
          metadata: {},
          children: clips.map((c) => clipJson(c, idx)),
        },
      ],
    },
  };
}

import { makerLabel, makerOf, timecodeToFrame, versionLabel } from '@loupe/shared';
import { editorialCut, exactRate, type CutClip, type CutMarker } from './cut.js';
import { clipName, markerColor, markerText } from './edl.js';
import { masterLabel, type MasterMedia } from './master.js';
import { SnapshotIndex, type RoomSnapshot } from './snapshot.js';

/*
 * OpenTimelineIO JSON with the oldest schema versions of each object (Timeline.1, Stack.1, Track.1,
 * Clip.1, Marker.1, ExternalReference.1; ImageSequenceReference.1 for frame sequences, OTIO 0.13 and
 * later): every OTIO release reads them (newer ones upgrade them on load), so Resolve, Premiere (via
 * its OTIO plug-in) and Avid (via otio adapters) open the file.
 */

const time = (value: number, rate: number) => ({ OTIO_SCHEMA: 'RationalTime.1', rate, value });
const range = (start: number, duration: number, rate: number) => ({
  OTIO_SCHEMA: 'TimeRange.1',
  duration: time(duration, rate),
  start_time: time(start, rate),
});

function marker(clip: CutClip, m: CutMarker, rate: number, idx: SnapshotIndex) {
  const { note, replies, version } = m;
  return {
    OTIO_SCHEMA: 'Marker.1',
    name: markerText(m),
    color: markerColor(note),
    // In the clip's media time: the version's start timecode plus the note's frame, at its rate.
    marked_range: range(clip.clock.startFrame + m.frame, m.frameEnd - m.frame + 1, rate),
    metadata: {
      loupe: {
        noteId: note.id,
        // The version the note was written on (the clip may hold a later one), and its timecode there.
        versionId: note.versionId,
        version: version ? versionLabel(version) : null,
        frame: note.frame,
        frameEnd: note.frameEnd,
        timecode: version ? idx.timecode(version, note.frame) : null,
        author: note.author.name,
        text: note.text,
        status: note.status,
        createdAt: note.createdAt,
        replies: replies.map((r) => ({ author: r.author.name, text: r.text, createdAt: r.createdAt })),
      },
    },
  };
}

/** The clip's media in the unpacked approved.zip: one file, or an image sequence (ImageSequenceReference). */
function mediaReference(master: MasterMedia | null, available: object, rate: number, sha256: string) {
  if (!master) return { OTIO_SCHEMA: 'MissingReference.1', available_range: null, metadata: {}, name: '' };
  if (master.kind === 'movie') {
    return { OTIO_SCHEMA: 'ExternalReference.1', target_url: master.path, available_range: available, metadata: { loupe: { sha256, from: master.from } }, name: master.path.split('/').pop() };
  }
  return {
    OTIO_SCHEMA: 'ImageSequenceReference.1',
    target_url_base: `${master.folder}/`,
    name_prefix: master.prefix,
    name_suffix: `.${master.ext}`,
    start_frame: master.firstNumber,
    frame_step: 1,
    rate,
    frame_zero_padding: master.padding,
    missing_frame_policy: 'error',
    available_range: available,
    metadata: { loupe: { from: master.from, bitDepth: master.bitDepth } },
    name: masterLabel(master).split('/').pop(),
  };
}

function clipJson(clip: CutClip, idx: SnapshotIndex) {
  const rate = exactRate(clip.clock.fps);
  const v = clip.version;
  const sourceRange = range(clip.clock.startFrame, clip.frames, rate);
  const { reel, startTimecode } = clip.clock;
  return {
    OTIO_SCHEMA: 'Clip.1',
    name: clipName(clip),
    source_range: sourceRange,
    media_reference: mediaReference(clip.master, sourceRange, rate, v.media.blob),
    effects: [],
    markers: clip.markers.map((m) => marker(clip, m, rate, idx)),
    enabled: true,
    metadata: {
      // Where the cmx_3600 adapter (and the tools built on it) read and write a clip's reel.
      ...(reel ? { cmx_3600: { reel } } : {}),
      loupe: {
        shotId: clip.shot.id,
        shot: clip.shot.name,
        versionId: v.id,
        version: versionLabel(v),
        kind: v.kind,
        status: v.status,
        approved: clip.approved,
        fps: clip.clock.fps,
        dropFrame: clip.clock.dropFrame,
        startTimecode,
        reel,
        ...(v.kind === 'ai' && v.provenance
          ? { aiMade: makerOf(v.provenance.model).kind === 'learned', madeBy: makerLabel(v.provenance.model), fix: v.provenance.fix, model: { ...v.provenance.model, ...makerOf(v.provenance.model) }, provider: v.provenance.provider, frame: v.provenance.frame }
          : {}),
      },
    },
  };
}

/** The cut as an OTIO timeline: Timeline -> Stack -> one video Track, one clip per shot, notes as markers. */
export function markersOtio(snap: RoomSnapshot, opts: { approvedOnly?: boolean } = {}): object {
  const idx = new SnapshotIndex(snap);
  const clips = editorialCut(snap, opts);
  const first = clips[0]?.clock;
  const rate = first ? exactRate(first.fps) : 24;
  return {
    OTIO_SCHEMA: 'Timeline.1',
    name: snap.room.name,
    global_start_time: time(timecodeToFrame('01:00:00:00', first ?? { fps: 24 }), rate),
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

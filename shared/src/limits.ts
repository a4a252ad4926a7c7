/** Limits both sides know. The server enforces them; the UI uses them to refuse early. */
export const Limits = {
  /** Largest Socket.IO message (bytes). Larger ones close the socket in Socket.IO; we refuse below that. */
  maxMessageBytes: 1_000_000,
  /** Largest single Yjs message (sync step 2 or update) a client may send. */
  maxYjsMessageBytes: 512_000,
  /** Yjs sync messages (strokes, notes, erasing) a socket may send per second. */
  maxYjsMessagesPerSecond: 200,
  /** Awareness updates (cursor, live stroke, laser) a socket may send per second; more are dropped. */
  maxAwarenessPerSecond: 60,
  /** fix:prepare messages a socket may send a second (the panel sends one as the choice settles). */
  maxFixPreparesPerSecond: 5,
  /**
   * Nesting of objects and arrays in one annotation or note value, extra fields included: Yjs reads
   * and writes values recursively, so a deeper one would overflow the stack of every reader.
   */
  maxValueDepth: 16,
  /**
   * Size of one annotation or note value as Yjs encodes it, extra fields included (a stroke of
   * 4,000 points in the legacy `points` arrays is about 130 KB).
   */
  maxValueBytes: 160_000,
  /** Points in one stroke. */
  maxStrokePoints: 4_000,
  /** Characters in a text annotation or a decision note. */
  maxTextLength: 2_000,
  /** Pending + running fix jobs per room. */
  maxQueuedJobsPerRoom: 8,
  /** Pending + running fix jobs one member may have in a room. */
  maxQueuedJobsPerUser: 3,
  /** Source pixels a single fix may read (the region's size at full resolution). */
  maxFixRegionPixels: 1920 * 1080,
  /** playback:set messages a member may send per second (a burst of rapid seeks is fine). */
  maxPlaybackEventsPerSecond: 300,
  /** Keyframes a shot render's colour transform may be estimated on. */
  maxKeyframes: 32,
  /** Widest feathered edge of a fix region, in source pixels. */
  maxFeather: 200,
  /** Remove object: how far the drawn mask is grown outward before filling, in source pixels (default, most). */
  defaultRemoveGrow: 4,
  maxRemoveGrow: 64,
  /**
   * Remove object: frames one track-only request (fix:track) may track, and tracks one room may run
   * at once (it runs on the server the room is on: the proxy decoded small, a few ms a frame).
   */
  maxTrackFrames: 600,
  maxTracksPerRoom: 1,
  /** Smallest region side, in source pixels. */
  minFixRegionSide: 8,
  /** Default upload size limit (bytes, all files of one upload together); the server's UPLOAD_MAX_BYTES may change it. */
  defaultUploadMaxBytes: 20 * 1024 ** 3,
  /** Default largest picture (width x height) a movie or image may declare; the server's MEDIA_MAX_PIXELS may change it. */
  defaultMaxMediaPixels: 40_000_000,
  /** Default number of files in one upload (frames of a sequence, or entries of a zip). */
  defaultMaxUploadFiles: 20_000,
  /** Viewer zoom, in device pixels per picture pixel (1 is 1:1): the closest in and farthest out. */
  maxViewScale: 32,
  minViewScale: 0.02,
  /** A .cube LUT file's size in bytes, and its largest 3D grid (65 is the largest grid graders export). */
  maxLutBytes: 10 * 1024 * 1024,
  maxLutSize: 65,
} as const;

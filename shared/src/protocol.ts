/**
 * The wire protocol between the room UI and the server: one definition of every event, its payload
 * (zod schema for what arrives at the server, TypeScript types for both sides) and its ack.
 * Events are `domain:action`. Every ack is `{ ok: true, ... } | { ok: false, code, message }`.
 */
import { z } from 'zod';
import type { Ack, Refusal } from './errors.js';
import type { Role } from './roles.js';
import { Decisions, type VersionStatus } from './versions.js';
import { FixIds, type AvailableFix, type FixId } from './fixes.js';
import type { Provenance } from './provenance.js';
import { Limits } from './limits.js';
import { RegionSchema, type Region } from './region.js';
import type { Filmstrip, MediaProgress, MediaSource, ProxyLadder } from './media.js';

/**
 * The version of this protocol. A client sends it in its handshake (`auth.protocol`); the server
 * refuses a different one with PROTOCOL_MISMATCH (the page is older or newer than the server: reload).
 * Bump it on any change an older page cannot follow.
 *   2: drawings are stored packed (one binary per drawing, shared/src/annotations.ts encodeAnnotation),
 *      which a page of protocol 1 would read as an empty drawing.
 */
export const PROTOCOL_VERSION = 2;

/** What a client sends when it connects (Socket.IO `auth`). */
export interface HandshakeAuth {
  token: string;
  /** PROTOCOL_VERSION of the page; absent from clients that do not send one (taken as current). */
  protocol?: number;
}

/** The message a client of another protocol version is refused with. */
export function protocolMismatchMessage(page: unknown, server: unknown = PROTOCOL_VERSION): string {
  return `This page is from another version of Loupe (protocol ${String(page)}; the server speaks ${String(server)}). Reload the page.`;
}

const id = z.string().min(1).max(64);
const unit = z.number().finite();
const binary = z.instanceof(Uint8Array);

/** A mask drawn on one more frame of a shot (remove object): a keyframe of the mask's track. */
export const MaskKeyframeSchema = z.object({ frame: z.number().int().min(0), mask: z.array(z.tuple([unit, unit])).min(3).max(Limits.maxStrokePoints) }).strict();
export type MaskKeyframe = z.infer<typeof MaskKeyframeSchema>;

export const JoinSchema = z.object({
  room: id,
  /** The member's copy of the room document is empty: the ack then carries the whole of it (`state`). */
  fresh: z.boolean().optional(),
  /**
   * This page's id, the same across its reconnects: a person with the room open in several tabs is
   * one member, and only the tab that presents drives playback (PresentationState.presenterTab).
   */
  tab: z.string().min(1).max(64).optional(),
});
export const YMessageSchema = z.object({ room: id, data: binary });
/** Frames of a shot, inclusive, 0-based. */
export const FrameRangeSchema = z
  .object({ in: z.number().int().min(0), out: z.number().int().min(0) })
  .refine((r) => r.in <= r.out, 'the range must not end before it starts');
export type FrameRange = z.infer<typeof FrameRangeSchema>;

/** A fix makes a still of one frame (the quick preview) or renders every frame of a range of the shot. */
export const FixScopes = ['frame', 'shot'] as const;
export type FixScope = (typeof FixScopes)[number];

export const FixRequestSchema = z.object({
  room: id,
  versionId: id,
  /** The frame on screen: the still's frame, or the frame a shot render shows first. */
  frame: z.number().int().min(0),
  /** Where the fix applies; the full frame when absent. */
  region: RegionSchema.optional(),
  fix: z.enum(FixIds),
  params: z.record(z.string(), z.unknown()).default({}),
  scope: z.enum(FixScopes).default('frame'),
  /** Shot renders: the frames to fix (default the whole shot); frames outside it stay the source's. */
  range: FrameRangeSchema.optional(),
  /**
   * Shot renders of colour fixes: frames the transform is estimated on, interpolated smoothly between
   * them (default: one transform for the range, from frames spread over it).
   */
  keyframes: z.array(z.number().int().min(0)).max(Limits.maxKeyframes).optional(),
  /**
   * Remove object on a shot: the mask drawn (or corrected) on more frames of the range, besides the
   * region's mask on `frame`. Each is a keyframe of the track: it always wins on its frame.
   */
  maskKeyframes: z.array(MaskKeyframeSchema).max(Limits.maxKeyframes).optional(),
  /** Soften the region's edge over this many source pixels, outward (0 = a hard edge, the default). */
  feather: z.number().min(0).max(Limits.maxFeather).default(0),
  /** The same key twice returns the first job instead of queueing another. */
  idempotencyKey: z.string().min(8).max(64),
});
export type FixRequest = z.input<typeof FixRequestSchema>;

/**
 * Remove object on a shot, before the fill: the mask drawn on `frame` (and on more frames of the
 * range, keyframes that always win on their frame) tracked over the range, nothing rendered. The
 * answer (and a 'fix:tracked' to the rest of the room) is the track the render would use.
 */
export const TrackRequestSchema = z
  .object({
    room: id,
    versionId: id,
    /** The frame the mask is drawn on (the frame on screen). */
    frame: z.number().int().min(0),
    /** The drawn mask: a polygon in shares of the frame. */
    mask: MaskKeyframeSchema.shape.mask,
    /** Masks drawn or corrected on more frames of the range (a later one for the same frame wins). */
    maskKeyframes: z.array(MaskKeyframeSchema).max(Limits.maxKeyframes).optional(),
    /** The frames to track over (default the whole shot), at most Limits.maxTrackFrames. */
    range: FrameRangeSchema.optional(),
  })
  .strict();
export type TrackRequest = z.input<typeof TrackRequestSchema>;

/** A tracked mask (the answer to fix:track, and what the room is sent). */
export interface MaskTrack {
  versionId: string;
  range: FrameRange;
  /** Every mask drawn, the frame on screen's included, by frame. */
  keys: MaskKeyframe[];
  /** Per frame of the range: [frame, keyframe, dx, dy], as RenderProgress.tracked. */
  tracked: [number, number, number, number][];
  /** Worst mean grey mismatch left by the match (0..255): high means the object was lost somewhere. */
  residual: number;
  by: { id: string; name: string };
  /** How long the server took, ms. */
  ms: number;
}
export const FixCancelSchema = z.object({ room: id, jobId: id });
export const FixCatalogueSchema = z.object({ room: id });
/**
 * The fix panel's choice while the artist makes it (the frame, region, fix and parameters a request
 * would carry): the server gets that frame ready for it, decoded and planned, so that the fix, once
 * asked, paints its first tile without waiting for the decode. Nothing is stored or shown to the room.
 */
export const FixPrepareSchema = FixRequestSchema.pick({ room: true, versionId: true, frame: true, region: true, fix: true, params: true });
export type FixPrepare = z.input<typeof FixPrepareSchema>;
export const DecideSchema = z.object({
  room: id,
  versionId: id,
  decision: z.enum(Decisions),
  note: z.string().max(Limits.maxTextLength).default(''),
});
export type DecideRequest = z.input<typeof DecideSchema>;

export interface Member {
  id: string;
  name: string;
  role: Role;
  color: string;
}

export interface Shot {
  id: string;
  name: string;
  fps: number;
  dropFrame: boolean;
  width: number;
  height: number;
  frameCount: number;
  startTimecode: string;
}

export type VersionMedia =
  | {
      type: 'video';
      /** The browser proxy (H.264 mp4) the player plays. */
      blob: string;
      /** Size of the full-quality frames (the source), which regions and fixes refer to. */
      width: number;
      height: number;
      fps: number;
      frameCount: number;
      /**
       * Uploaded media: size of the proxy (at most 1080p; same aspect as width x height); `bitrate`, its
       * average bits per second with audio (versions made since the ladder).
       */
      proxy?: { width: number; height: number; gop: number; bitrate?: number };
      /** Uploaded media since the ladder: smaller proxies for slow links, smallest first (absent: only the full proxy). */
      ladder?: ProxyLadder;
      /** Uploaded media: where the full-quality frames come from, and what the probe found. */
      source?: MediaSource;
      /** Uploaded media: a JPEG poster (the middle frame), served by /blobs. */
      thumbnail?: string;
      /** Uploaded media: a JPEG sprite of frames for the timeline, served by /blobs. */
      filmstrip?: Filmstrip;
    }
  /** A still made by a fix: the picture of `region` of `frame`, at width x height. */
  | { type: 'still'; blob: string; width: number; height: number; frame: number; region: Region };

export interface DecisionRecord {
  decision: VersionStatus;
  note: string;
  by: { id: string; name: string; role: Role };
  at: string;
}

export interface Version {
  id: string;
  shotId: string;
  /** 1, 2, 3 ... within the shot; shown as v001. */
  number: number;
  label: string;
  kind: 'source' | 'ai';
  status: VersionStatus;
  parentVersionId: string | null;
  media: VersionMedia;
  createdBy: { id: string; name: string };
  createdAt: string;
  provenance: Provenance | null;
  decisions: DecisionRecord[];
}

export const JobStates = ['queued', 'running', 'done', 'failed', 'cancelled'] as const;
export type JobState = (typeof JobStates)[number];

/** A shot render's progress: what the room's timeline fills in with. */
export interface RenderProgress {
  framesDone: number;
  framesTotal: number;
  /** Frames rendered so far, as sorted inclusive runs [first, last]. */
  done: [number, number][];
  /** Frames per second since the render started (0 until the first frame). */
  fps: number;
  /** Seconds left at that rate, or null before the first frame. */
  etaSeconds: number | null;
  /** The version number the render will become (shown as v004 while it renders). */
  number: number;
  /**
   * Remove object: the mask as tracked, per frame of the range: [frame, keyframe, dx, dy], the mask
   * drawn on `keyframe` (the job's region.mask on the job's frame, or one of its maskKeyframes) moved
   * by (dx, dy), shares of the frame's width and height (the nearer keyframe's, where two are blended).
   * Known once the plan has tracked it, before the fill runs.
   */
  tracked?: [number, number, number, number][];
}

export interface Job {
  id: string;
  fix: FixId;
  versionId: string;
  frame: number;
  /** The region asked for (the full frame when the request had none). */
  region: Region;
  /** 'frame': a still of one frame; 'shot': a new version of the shot, every frame of `range` fixed. */
  scope: FixScope;
  /** Shot renders: the frames fixed. */
  range?: FrameRange;
  /** Remove object on a shot: the masks drawn on more frames (keyframes of the track). */
  maskKeyframes?: MaskKeyframe[];
  /** Shot renders: frames done, rate and ETA (set once the render has started). */
  render?: RenderProgress;
  state: JobState;
  /** Place in the room's queue, 1 = next; 0 once running or finished. */
  position: number;
  /** 0..1 */
  progress: number;
  tilesDone: number;
  tilesTotal: number;
  /** Size of the result in pixels, known once the job starts. */
  output: { width: number; height: number } | null;
  requestedBy: { id: string; name: string; role: Role };
  createdAt: string;
  resultVersionId: string | null;
  error: { code: string; message: string } | null;
  /** The source version's pixels changed while the job ran; its result was made from the older ones. */
  stale?: boolean;
  /** Who cancelled it, when state is 'cancelled'. */
  cancelledBy?: { id: string; name: string; role: Role } | null;
}

/** One finished tile of a running fix, in result pixels. */
export interface Tile {
  jobId: string;
  index: number;
  x: number;
  y: number;
  width: number;
  height: number;
  mime: 'image/png' | 'image/jpeg';
  data: Uint8Array;
  /** A coarse pass (e.g. PatchMatch at a lower scale): later tiles over the same pixels replace it. */
  preview?: boolean;
}

/** One frame of a running shot render, for the room to show (the full-quality frame is stored apart). */
export interface RenderedFrame {
  jobId: string;
  frame: number;
  /** The frame as the player shows it: a JPEG blob (sha256) at the proxy's size, served by /blobs. */
  preview: string;
  width: number;
  height: number;
}

export interface RoomState {
  room: { id: string; name: string };
  member: Member;
  shots: Shot[];
  versions: Version[];
  jobs: Job[];
  /** The server's y-protocols sync step 1 for the room document. */
  sync: Uint8Array;
  /**
   * For a join that said `fresh`: the whole room document as Yjs updates (packUpdates), to apply
   * in one transaction before the sync exchange (RoomDocProvider.start does). The step 1 then asks nothing.
   */
  state?: Uint8Array;
  protocol: number;
  /** Last accepted playback state, or null if nobody has driven playback yet. */
  playback: PlaybackState | null;
  presentation: PresentationState;
  /** Server clock (ms since epoch) when the ack was made: clients estimate their clock offset from it. */
  serverNow: number;
}

export interface ClientToServerEvents {
  'room:join': (p: z.input<typeof JoinSchema>, ack: (r: Ack<RoomState>) => void) => void;
  /** A y-protocols sync message (step 1, step 2 or update). Acked once applied and stored. */
  'y:sync': (p: z.input<typeof YMessageSchema>, ack?: (r: Ack) => void) => void;
  /** A y-protocols awareness update (cursor, live stroke, name). Volatile: never stored. */
  'y:awareness': (p: z.input<typeof YMessageSchema>) => void;
  'fix:request': (p: FixRequest, ack: (r: Ack<{ job: Job }>) => void) => void;
  /** Remove object: track the drawn mask(s) over a range without rendering; the room is sent the track too. Director or artist. */
  'fix:track': (p: TrackRequest, ack: (r: Ack<{ track: MaskTrack }>) => void) => void;
  /** Cancel a queued or running job: its requester or a director. Everyone sees the job move to 'cancelled'. */
  'fix:cancel': (p: z.input<typeof FixCancelSchema>, ack: (r: Ack<{ job: Job }>) => void) => void;
  /**
   * The fix panel's current choice, sent while the artist makes it: the server reads and plans that
   * frame ahead of the request. `ready`: it did (false when it computes no fixes itself, or is busy). Director or artist.
   */
  'fix:prepare': (p: FixPrepare, ack: (r: Ack<{ ready: boolean }>) => void) => void;
  /** The fixes this server offers now, with the models (built-in and the studio's) each may use. */
  'fix:catalogue': (p: z.input<typeof FixCatalogueSchema>, ack: (r: Ack<{ fixes: AvailableFix[] }>) => void) => void;
  'version:decide': (p: DecideRequest, ack: (r: Ack<{ version: Version }>) => void) => void;
  /** Presenter (or anyone, with control 'everyone') sets the room's playback. */
  'playback:set': (p: z.input<typeof PlaybackSetSchema>, ack: (r: Ack<{ state: PlaybackState; serverNow: number }>) => void) => void;
  /** Hand the presentation to a member, end it, or switch control. Director or current presenter. */
  'presenter:set': (p: z.input<typeof PresenterSetSchema>, ack: (r: Ack<{ presentation: PresentationState }>) => void) => void;
}

export interface ServerToClientEvents {
  'y:sync': (p: { room: string; data: Uint8Array }) => void;
  'y:awareness': (p: { room: string; data: Uint8Array }) => void;
  'fix:job': (job: Job) => void;
  'fix:tile': (tile: Tile) => void;
  /** A frame of a shot render is done: everyone's timeline fills in; the player can show it. */
  'fix:frame': (f: RenderedFrame) => void;
  /** A member tracked a remove-object mask (fix:track): everyone can see it on every frame before any fill. */
  'fix:tracked': (t: MaskTrack) => void;
  'version:created': (v: Version) => void;
  /** An upload made a new shot (sent before the 'version:created' of its first version). */
  'shot:created': (shot: Shot) => void;
  /** An upload's progress: receiving, then each processing stage, then done or failed. */
  'media:progress': (p: MediaProgress) => void;
  'version:updated': (v: Version) => void;
  /** Playback changed; sent to everyone but the member who changed it (who has it in the ack). */
  'playback:state': (p: { state: PlaybackState; serverNow: number }) => void;
  'presenter:state': (p: PresentationState) => void;
  /** A refusal for a message that had no ack to carry it (unknown event, awareness). */
  'room:error': (r: Refusal) => void;
}

/** What the Socket.IO handshake carries. */
export interface HandshakeAuth {
  token: string;
}

/** Token claims, signed by the server (HS256 JWT). */
export interface InviteClaims {
  room: string;
  role: Role;
  name: string;
  /** Stable member id for this invite. */
  sub: string;
}

/** Where a version's pixels are served; the browser adds ?token=. */
export function blobUrl(sha256: string): string {
  return `/blobs/${sha256}`;
}

export function versionLabel(v: Pick<Version, 'number'>): string {
  return `v${String(v.number).padStart(3, '0')}`;
}

// ---------------------------------------------------------------------------------------------
// Synced playback: the presenter drives, the others follow. Server-authoritative, in memory.

export const CompareModes = ['off', 'side-by-side', 'wipe', 'difference', 'ab'] as const;
export type CompareMode = (typeof CompareModes)[number];

/** The channel the viewer shows: all, one of R, G, B, A, or the luminance (Rec.709 weights). */
export const PictureChannels = ['rgb', 'r', 'g', 'b', 'a', 'luma'] as const;
export type PictureChannel = (typeof PictureChannels)[number];

/** Zoom and pan: device pixels per picture pixel (null: fit the viewer) and the picture point (0..1) at the viewer's centre. */
export const PictureViewSchema = z.object({
  scale: z.number().min(Limits.minViewScale).max(Limits.maxViewScale).nullable(),
  x: z.number().min(0).max(1),
  y: z.number().min(0).max(1),
});
export type PictureView = z.infer<typeof PictureViewSchema>;

/**
 * Image controls of the viewer: they change what the room looks at, never the media. The LUT is
 * named by the sha256 of its .cube file (uploaded to /api/luts); its data never travels here.
 */
export const PictureLookSchema = z.object({
  channel: z.enum(PictureChannels),
  /** Viewer exposure in stops (x 2^exposure in linear light). */
  exposure: z.number().min(-10).max(10),
  /** Viewer gamma on the display signal (1: unchanged). */
  gamma: z.number().min(0.1).max(5),
  /** Difference compare: |A - B| x gain. */
  diffGain: z.number().min(1).max(100),
  lut: z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), name: z.string().max(200) }).nullable(),
});
export type PictureLook = z.infer<typeof PictureLookSchema>;

export const PlaybackInputSchema = z.object({
  /** Version on screen (version A when comparing). */
  versionId: id,
  /** Frame on screen when the state was sent (0-based). */
  frame: z.number().int().min(0),
  playing: z.boolean(),
  /** Playback speed, 0.25x to 2x. */
  rate: z.number().min(0.25).max(2),
  /** Loop between in and out points (inclusive), or null. */
  loop: z.object({ in: z.number().int().min(0), out: z.number().int().min(0) }).refine((l) => l.in <= l.out, 'loop in must not be after out').nullable(),
  compare: z.object({
    mode: z.enum(CompareModes),
    /** Version B, shown beside, under the wipe, in the difference or on toggle. */
    versionB: id.nullable(),
    /** Wipe position, 0..1 from the left. */
    wipe: z.number().min(0).max(1),
    /** For 'ab': which of the two is on screen. */
    showing: z.enum(['A', 'B']),
  }),
  /** The presenter's zoom and pan (absent from older clients: the room keeps its own). */
  view: PictureViewSchema.optional(),
  /** The presenter's image controls. */
  look: PictureLookSchema.optional(),
});
export type PlaybackInput = z.infer<typeof PlaybackInputSchema>;

/** The room's playback as the server last accepted it. */
export interface PlaybackState extends PlaybackInput {
  /** Increases with every accepted change; followers ignore anything older than what they have. */
  seq: number;
  /** Server clock (ms since epoch) at which `frame` was on screen. While playing, the frame now is
   *  frame + (serverNow - at) / 1000 * fps * rate (wrapped to the loop). */
  at: number;
  /** Who set it. */
  by: string;
}

export const PlaybackSetSchema = z.object({ room: id, state: PlaybackInputSchema });
export const PresenterSetSchema = z.object({
  room: id,
  /** Member to hand the presentation to; null ends presenting (everyone browses freely). */
  presenterId: id.nullable(),
  control: z.enum(['presenter', 'everyone']).optional(),
});

/** Who drives playback. Only the presenter (or, with control 'everyone', any member) may set it. */
export interface PresentationState {
  presenterId: string | null;
  presenterName: string | null;
  /**
   * The presenter's tab that drives (its `room:join` tab id): their other tabs follow like everyone
   * else. Null when the presenter's client sends no tab id: then any of their connections drives.
   */
  presenterTab: string | null;
  control: 'presenter' | 'everyone';
}

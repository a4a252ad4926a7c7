import { z } from 'zod';
import { Limits } from './limits.js';

/** What computed a fix's pixels: a learned model (a network with trained weights) or an algorithm (code, no trained weights). */
export const ModelKinds = ['learned', 'algorithm'] as const;
export type ModelKind = (typeof ModelKinds)[number];

/**
 * The fixes a member can ask for. Each runs a model of the catalogue (models/) or an algorithm of the
 * inference worker, with its parameters validated by the schema in `FixParams`.
 */
export const FixIds = ['upscale-x2', 'upscale-x4', 'exposure', 'match-grade', 'denoise', 'remove-object', 'deblur', 'low-light', 'retouch', 'dehaze'] as const;
export type FixId = (typeof FixIds)[number];

/** What a model does; the fix picks a model of its task (a studio model of the same task may replace the default). */
export type FixTask = 'upscale' | 'colour' | 'denoise' | 'inpaint' | 'restore';

export interface FixDescription {
  id: FixId;
  label: string;
  task: FixTask;
  /** Model id in the catalogue used unless the parameters name another one of the same task. */
  model: string;
  /** Other built-in models the member may pick (params.model), e.g. a slower, better upscaler. */
  alternatives: string[];
  /** Output pixels per input pixel along each side. */
  scale: number;
  /** The fix needs a drawn mask (region.mask), not only a rectangle. */
  needsMask: boolean;
  summary: string;
  /** Where the fix panel lists it: 'lighting' beside the manual exposure controls, 'background' enhancement. */
  group?: 'lighting' | 'background';
  /**
   * False: listed only when the server is told to (LOUPE_FIXES_ALL=1), because measured on generated
   * fixtures the learned model does not beat the classical way (docs/gpu.md, server/bench/fixes.bench.ts).
   */
  offered?: boolean;
}

export const FixCatalogue: Record<FixId, FixDescription> = {
  'upscale-x2': {
    id: 'upscale-x2',
    label: 'Upscale ×2',
    task: 'upscale',
    model: 'esrgan-slim-x2',
    alternatives: ['esrgan-medium-x2'],
    scale: 2,
    needsMask: false,
    summary: 'Doubles the resolution of the region with a pretrained ESRGAN (RDN) network.',
  },
  'upscale-x4': {
    id: 'upscale-x4',
    label: 'Upscale ×4',
    task: 'upscale',
    model: 'esrgan-slim-x4',
    alternatives: ['esrgan-medium-x4'],
    scale: 4,
    needsMask: false,
    summary: 'Four times the resolution of the region with a pretrained ESRGAN (RDN) network.',
  },
  exposure: {
    id: 'exposure',
    label: 'Exposure & white balance',
    task: 'colour',
    model: 'loupe-colour',
    alternatives: [],
    scale: 1,
    needsMask: false,
    summary: 'Sets exposure, temperature and tint; removes a colour cast when asked (auto, only where the frame shows grey surfaces, or from a neutral point you pick); optionally relights one side.',
  },
  'match-grade': {
    id: 'match-grade',
    label: 'Match grade',
    task: 'colour',
    model: 'loupe-colour',
    alternatives: [],
    scale: 1,
    needsMask: false,
    summary: "Makes the region look like a reference frame: fitted colour transform when the frames show the same scene, colour statistics transfer otherwise.",
  },
  denoise: {
    id: 'denoise',
    label: 'Denoise',
    task: 'denoise',
    model: 'loupe-denoise',
    // --- learned models (MAXIM, branch maxim) ---
    alternatives: ['maxim-denoising'],
    // --- end learned models ---
    scale: 1,
    needsMask: false,
    summary: 'Edge-preserving denoise (guided filter in an opponent colour space, the noise level measured from the picture), or the learned MAXIM denoiser: slower, better on sensor noise.',
  },
  'remove-object': {
    id: 'remove-object',
    label: 'Remove object',
    task: 'inpaint',
    model: 'patchmatch',
    alternatives: ['diffuse'],
    scale: 1,
    needsMask: true,
    summary: "Fills the masked area from the picture around it: PatchMatch for objects, a fast diffusion fill for thin wires, or the studio's inpainting model when one is installed.",
  },
  // --- learned restoration fixes (MAXIM networks, branch maxim): one model each, run tile by tile ---
  deblur: {
    id: 'deblur',
    label: 'Deblur (camera shake, motion)',
    task: 'restore',
    model: 'maxim-deblurring',
    alternatives: [],
    scale: 1,
    needsMask: false,
    summary: 'Removes camera-shake and motion blur with the MAXIM deblurring network (Google Research, trained on GoPro footage). Heavy: seconds per tile on a CPU.',
  },
  'low-light': {
    id: 'low-light',
    label: 'Relight low light',
    task: 'restore',
    model: 'maxim-enhancement',
    alternatives: [],
    scale: 1,
    needsMask: false,
    group: 'lighting',
    summary: 'Brightens an underexposed shot and lifts its shadows with the MAXIM low-light network (Google Research, trained on LOL). Heavy: seconds per tile on a CPU.',
  },
  retouch: {
    id: 'retouch',
    label: 'Auto-retouch',
    task: 'restore',
    model: 'maxim-retouching',
    alternatives: [],
    scale: 1,
    needsMask: false,
    group: 'lighting',
    // Lost to the exposure fix (auto exposure + white balance) on every measured fixture: docs/gpu.md.
    offered: false,
    summary: "Tone and colour as an expert retoucher would set them, by the MAXIM retouching network (Google Research, trained on MIT-Adobe FiveK expert C). Heavy: seconds per tile on a CPU.",
  },
  dehaze: {
    id: 'dehaze',
    label: 'Dehaze background',
    task: 'restore',
    model: 'maxim-dehazing-outdoor',
    alternatives: [],
    scale: 1,
    needsMask: false,
    group: 'background',
    // Lost to the dark-channel prior on every measured fixture: docs/gpu.md.
    offered: false,
    summary: 'Clears haze from distant, hazy backgrounds with the MAXIM dehazing network (Google Research, trained on RESIDE outdoor scenes). Heavy: seconds per tile on a CPU.',
  },
  // --- end learned restoration fixes ---
};

/** A catalogue model id: lower-case letters, digits and dashes (built-in or from the studio's models folder). */
const modelId = z.string().regex(/^[a-z0-9][a-z0-9-]*$/).max(64);

const upscaleParams = z
  .object({
    /** A model of task 'upscale' with this fix's scale; default FixCatalogue[fix].model. */
    model: modelId.optional(),
  })
  .strict();

export const RelightSides = ['left', 'right', 'top', 'bottom'] as const;

export const WhiteBalanceModes = ['none', 'auto', 'neutral'] as const;

/** A point (size 0) or small square on the frame, normalised 0..1 like a region; size is the square's side as a share of the frame's width. */
export const NeutralPickSchema = z
  .object({ x: z.number().min(0).max(1), y: z.number().min(0).max(1), size: z.number().min(0).max(0.25).default(0) })
  .strict();
export type NeutralPick = z.output<typeof NeutralPickSchema>;

export const ExposureParamsSchema = z
  .object({
    /**
     * 'none' (default): the colours are left as they are. 'auto': remove a cast only where the frame
     * shows grey surfaces under a plausible light (a warm or green scene is left alone). 'neutral':
     * make the picked point (`neutral`) grey.
     */
    whiteBalance: z.enum(WhiteBalanceModes).default('none'),
    /** With whiteBalance 'neutral': the point or small square that should be grey (an eyedropper pick on the frame). */
    neutral: NeutralPickSchema.optional(),
    /**
     * Accepted from stored jobs of before whiteBalance (where it defaulted to true): true means
     * whiteBalance 'auto' when whiteBalance is not given. New requests use whiteBalance.
     */
    autoWhiteBalance: z.boolean().optional(),
    /** Lift a frame whose brightest parts are dark; a low-key frame with highlights is left alone. Never more than maxStops. */
    autoExposure: z.boolean().default(false),
    /** The most autoExposure may move the frame, in stops either way. */
    maxStops: z.number().min(0).max(4).default(1.5),
    /** Extra exposure in stops, on top of the automatic one. */
    exposure: z.number().min(-4).max(4).default(0),
    /** Warmer (+) or cooler (-), on top of the white balance; -100..100 ≈ ∓1 stop blue/red. */
    temperature: z.number().min(-100).max(100).default(0),
    /** Magenta (+) or green (-); -100..100 ≈ ∓1 stop of green. */
    tint: z.number().min(-100).max(100).default(0),
    /** Brighten (amount > 0) or darken (< 0) towards one side, in stops at that edge, fading linearly to 0 at the other. */
    relight: z
      .object({ side: z.enum(RelightSides), amount: z.number().min(-3).max(3) })
      .nullable()
      .default(null),
  })
  .strict()
  .transform(({ autoWhiteBalance, ...p }, ctx) => {
    const whiteBalance = autoWhiteBalance === true && p.whiteBalance === 'none' ? 'auto' : p.whiteBalance;
    if (whiteBalance === 'neutral' && !p.neutral) {
      ctx.addIssue({ code: 'custom', path: ['neutral'], message: "white balance 'neutral' needs a neutral point: pick one on the frame" });
      return z.NEVER;
    }
    return { ...p, whiteBalance };
  });
export type ExposureParams = z.output<typeof ExposureParamsSchema>;

export const MatchGradeParamsSchema = z
  .object({
    /** The version the director picked as the reference look (a shot's source or any still). */
    referenceVersionId: z.string().min(1).max(64),
    /** Frame of the reference version (ignored for stills). */
    referenceFrame: z.number().int().min(0).default(0),
    /** 0 = unchanged, 1 = full match. */
    strength: z.number().min(0).max(1).default(1),
    /** 'auto' fits a transform when the frames show the same scene, else transfers colour statistics. */
    method: z.enum(['auto', 'fit', 'statistics']).default('auto'),
  })
  .strict();
export type MatchGradeParams = z.output<typeof MatchGradeParamsSchema>;

export const DenoiseParamsSchema = z
  .object({
    /** 'loupe-denoise' (the fast guided filter, default) or 'maxim-denoising' (learned, heavy); the learned one ignores strength and sigma. */
    model: modelId.optional(),
    /** Multiplies the measured noise level: < 1 keeps more texture, > 1 smooths more. */
    strength: z.number().min(0.25).max(3).default(1),
    /** Noise standard deviation on the 8-bit scale; measured from the picture when absent. */
    sigma: z.number().min(0).max(60).optional(),
  })
  .strict();
export type DenoiseParams = z.output<typeof DenoiseParamsSchema>;

export const RemoveObjectParamsSchema = z
  .object({
    /** 'auto': the studio's inpainting model if one is installed, else diffusion for thin masks, else PatchMatch. */
    method: z.enum(['auto', 'patchmatch', 'diffuse', 'model']).default('auto'),
    /** With method 'model': which inpainting model (default: the first installed). */
    model: modelId.optional(),
    /**
     * Pixels the drawn mask is grown outward before filling: everything inside the drawn line is
     * replaced, and the soft edge lies outside it (so an object's own soft edge leaves no outline).
     */
    grow: z.number().int().min(0).max(Limits.maxRemoveGrow).default(Limits.defaultRemoveGrow),
  })
  .strict();
export type RemoveObjectParams = z.output<typeof RemoveObjectParamsSchema>;

// --- learned restoration fixes (branch maxim) ---
/** Deblur, low light, retouch, dehaze: no settings but the model (a studio's model of task 'restore' may replace it). */
const restoreParams = z.object({ model: modelId.optional() }).strict();
// --- end learned restoration fixes ---

export const FixParams = {
  'upscale-x2': upscaleParams,
  'upscale-x4': upscaleParams,
  exposure: ExposureParamsSchema,
  'match-grade': MatchGradeParamsSchema,
  denoise: DenoiseParamsSchema,
  'remove-object': RemoveObjectParamsSchema,
  // --- learned restoration fixes (branch maxim) ---
  deblur: restoreParams,
  'low-light': restoreParams,
  retouch: restoreParams,
  dehaze: restoreParams,
  // --- end learned restoration fixes ---
} satisfies Record<FixId, z.ZodType>;

/** A model the server can run now, as listed by `fix:catalogue`. */
export interface AvailableModel {
  id: string;
  name: string;
  version: string;
  licence: string;
  task: FixTask;
  scale: number;
  origin: 'builtin' | 'studio';
  /** Measured CPU time per megapixel (learned models; branch maxim): the fix panel's ETA before a run. */
  cpuMsPerMegapixel?: number;
  /** A learned model (trained weights) or an algorithm (code); the UI labels them differently. */
  kind: ModelKind;
  /** Short human name of how it works: "ESRGAN (RDN) network", "guided filter", "PatchMatch". */
  technique: string;
}

/** The algorithms the inference worker runs in JS (no ONNX file), described like models for the room and the provenance. */
export const JsAlgorithms: Record<'patchmatch' | 'diffuse' | 'clean-plate', { name: string; kind: 'algorithm'; technique: string }> = {
  patchmatch: { name: 'Multi-scale PatchMatch fill (Loupe)', kind: 'algorithm', technique: 'PatchMatch' },
  diffuse: { name: 'Diffusion fill for thin masks (Loupe)', kind: 'algorithm', technique: 'diffusion fill' },
  // Remove object on a shot: the mask tracked, the hole filled from the frames that show the background.
  'clean-plate': { name: 'Tracked mask and clean-plate fill (Loupe)', kind: 'algorithm', technique: 'clean plate + PatchMatch' },
};

/** A fix as offered in a room: its description and the models the member may choose between. */
export interface AvailableFix extends FixDescription {
  models: AvailableModel[];
}

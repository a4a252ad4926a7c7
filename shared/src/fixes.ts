import { z } from 'zod';

/** The fixes a member can ask for. Each names the model it runs and its parameters. */
export const FixIds = ['upscale-x2'] as const;
export type FixId = (typeof FixIds)[number];

export interface FixDescription {
  id: FixId;
  label: string;
  /** Model id in the catalogue (models/). */
  model: string;
  /** Output pixels per input pixel along each side. */
  scale: number;
  summary: string;
}

export const FixCatalogue: Record<FixId, FixDescription> = {
  'upscale-x2': {
    id: 'upscale-x2',
    label: 'Upscale ×2',
    model: 'esrgan-slim-x2',
    scale: 2,
    summary: 'Doubles the resolution of the region with a pretrained ESRGAN (RDN) network.',
  },
};

export const FixParams = {
  'upscale-x2': z.object({}).strict(),
} satisfies Record<FixId, z.ZodType>;

import { z } from 'zod';
import { Limits } from './limits.js';

const unit = z.number().finite();

/** A region of the picture, normalised 0..1 from the top-left; mask (optional) is a closed polygon inside it. */
export const RegionSchema = z.object({
  x: unit,
  y: unit,
  width: unit,
  height: unit,
  mask: z.array(z.tuple([unit, unit])).min(3).max(Limits.maxStrokePoints).optional(),
});
export type Region = z.infer<typeof RegionSchema>;

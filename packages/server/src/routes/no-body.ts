import { z } from 'zod';

/**
 * The body of an operation that takes no fields (`POST /v1/runs/:id/retry`, `/v1/sessions`, …): none, or `{}`. A field
 * is refused by name rather than ignored, so a caller who thinks it sends an option learns that it does not.
 */
export const noBody = z.object({}).strict();

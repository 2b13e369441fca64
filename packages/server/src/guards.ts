import type { AuthFailureLimiter } from './auth-failures.js';
import type { BodyLimits } from './body-limits.js';

/** What routes that authenticate on their own (webhooks, `/mcp`) share with the rest: one limiter, one body limit. */
export interface RequestGuards {
  authFailures: AuthFailureLimiter;
  body: BodyLimits;
}

import { RateLimiterMemory } from 'rate-limiter-flexible';
import { TooManyFailuresError } from './errors.js';

/** How many failed authentications a source address may have per window. */
export interface AuthFailureLimits {
  /** 0: no limit. */
  max: number;
  windowSec: number;
}

/**
 * Counts failed authentications (bad or missing bearer token, bad webhook signature) per source address, and refuses
 * a source that has used up its allowance with 429 until its window ends — before its credentials are checked, so
 * guessing tokens or signatures gains nothing, and a flood costs no audit write or token lookup. Loopback addresses
 * count like any other. Behind a reverse proxy every client shares the proxy's address.
 */
export class AuthFailureLimiter {
  readonly #limiter: RateLimiterMemory | undefined;

  constructor(private readonly limits: AuthFailureLimits) {
    this.#limiter =
      limits.max > 0 ? new RateLimiterMemory({ points: limits.max, duration: limits.windowSec }) : undefined;
  }

  /** Throws {@link TooManyFailuresError} when `source` has no failures left in its window. */
  async check(source: string): Promise<void> {
    if (!this.#limiter) return;
    const state = await this.#limiter.get(source);
    if (state && state.consumedPoints >= this.limits.max)
      throw new TooManyFailuresError(Math.max(1, Math.ceil(state.msBeforeNext / 1000)));
  }

  /** Counts one failure of `source`. */
  async fail(source: string): Promise<void> {
    await this.#limiter?.penalty(source, 1);
  }
}

import { SystemError } from '../errors.js';

/** A source of the current time in milliseconds; inject a manual clock in tests. */
export interface Clock {
  now(): number;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** `closed` lets calls through, `open` fails them fast, `half_open` lets one trial call through. */
export type CircuitState = 'closed' | 'open' | 'half_open';

/** Options for {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker; default 5. */
  failureThreshold?: number;
  /** Milliseconds an open breaker waits before letting a trial call through; default 30 000. */
  coolDownMs?: number;
  /** Named in the `circuit_open` error (for example the connector id). */
  name?: string;
  /** Defaults to {@link systemClock}. */
  clock?: Clock;
  /** Decides whether an error counts as an upstream failure; by default every error does. */
  isFailure?: (error: unknown) => boolean;
}

/**
 * Stops calling an upstream that keeps failing. After `failureThreshold` consecutive failures the breaker opens and
 * every call fails fast with a SystemError code `circuit_open`; after `coolDownMs` one trial call is let through
 * (half-open) — success closes the breaker, failure opens it for another cool-down.
 *
 * @example
 * const breaker = new CircuitBreaker({ name: 'crm', failureThreshold: 3, coolDownMs: 10_000 });
 * const result = await breaker.execute(() => connector.callTool('lookup', input, {}));
 */
export class CircuitBreaker {
  readonly #threshold: number;
  readonly #coolDownMs: number;
  readonly #name: string;
  readonly #clock: Clock;
  readonly #isFailure: (error: unknown) => boolean;
  #failures = 0;
  #openedAt: number | undefined;
  #trialInFlight = false;

  constructor(options: CircuitBreakerOptions = {}) {
    this.#threshold = options.failureThreshold ?? 5;
    this.#coolDownMs = options.coolDownMs ?? 30_000;
    if (!Number.isInteger(this.#threshold) || this.#threshold < 1) {
      throw new SystemError('circuit breaker failureThreshold must be a positive integer');
    }
    if (!(this.#coolDownMs >= 0)) throw new SystemError('circuit breaker coolDownMs must not be negative');
    this.#name = options.name ?? 'upstream';
    this.#clock = options.clock ?? systemClock;
    this.#isFailure = options.isFailure ?? (() => true);
  }

  /** The state now (an open breaker whose cool-down has passed reads as `half_open`). */
  get state(): CircuitState {
    if (this.#openedAt === undefined) return 'closed';
    return this.#clock.now() - this.#openedAt >= this.#coolDownMs ? 'half_open' : 'open';
  }

  /** While open: when the breaker lets a trial call through (ms since the epoch); otherwise undefined. */
  get openUntil(): number | undefined {
    return this.#openedAt === undefined ? undefined : this.#openedAt + this.#coolDownMs;
  }

  /** Consecutive failures counted so far. */
  get consecutiveFailures(): number {
    return this.#failures;
  }

  /**
   * Runs `fn` unless the breaker is open; records its outcome.
   * @throws SystemError code `circuit_open` without calling `fn` while open (or while a half-open trial runs).
   */
  async execute<T>(fn: () => Promise<T>): Promise<T> {
    const state = this.state;
    const isTrial = state === 'half_open';
    if (state === 'open' || (isTrial && this.#trialInFlight)) {
      throw new SystemError(
        `circuit for ${this.#name} is open after ${this.#failures} consecutive failures`,
        {
          code: 'circuit_open',
        },
      );
    }
    if (isTrial) this.#trialInFlight = true;
    try {
      const result = await fn();
      this.recordSuccess();
      return result;
    } catch (error) {
      if (this.#isFailure(error)) this.recordFailure();
      else if (isTrial) this.recordSuccess();
      throw error;
    } finally {
      if (isTrial) this.#trialInFlight = false;
    }
  }

  /** Records a success: the breaker closes. */
  recordSuccess(): void {
    this.#failures = 0;
    this.#openedAt = undefined;
  }

  /** Records a failure: opens the breaker at the threshold, and re-opens it when a half-open trial fails. */
  recordFailure(): void {
    this.#failures += 1;
    if (this.#openedAt !== undefined || this.#failures >= this.#threshold) this.#openedAt = this.#clock.now();
  }
}

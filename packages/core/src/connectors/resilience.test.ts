import { describe, expect, it } from 'vitest';

import { SystemError } from '../errors.js';
import { CircuitBreaker, withTimeout } from './index.js';
import type { Clock } from './index.js';

class ManualClock implements Clock {
  time = 1_000;
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

const fail = (): Promise<never> => Promise.reject(new Error('upstream down'));
const succeed = (): Promise<string> => Promise.resolve('ok');

async function caught(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('CircuitBreaker', () => {
  it('opens after the threshold of consecutive failures and then fails fast', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ name: 'crm', failureThreshold: 3, coolDownMs: 1_000, clock });
    for (let i = 0; i < 3; i++) await expect(breaker.execute(fail)).rejects.toThrow('upstream down');
    expect(breaker.state).toBe('open');

    let called = false;
    const error = await caught(
      breaker.execute(() => {
        called = true;
        return succeed();
      }),
    );
    expect(called).toBe(false);
    expect(error).toBeInstanceOf(SystemError);
    expect((error as SystemError).code).toBe('circuit_open');
    expect(error.message).toContain('crm');
  });

  it('resets the failure count on success', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 2, clock: new ManualClock() });
    await expect(breaker.execute(fail)).rejects.toThrow();
    await breaker.execute(succeed);
    await expect(breaker.execute(fail)).rejects.toThrow();
    expect(breaker.state).toBe('closed');
  });

  it('half-opens after the cool-down and closes on a successful trial', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, coolDownMs: 500, clock });
    await expect(breaker.execute(fail)).rejects.toThrow();
    clock.advance(499);
    expect(breaker.state).toBe('open');
    clock.advance(1);
    expect(breaker.state).toBe('half_open');
    expect(await breaker.execute(succeed)).toBe('ok');
    expect(breaker.state).toBe('closed');
  });

  it('re-opens for another cool-down when the trial fails', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, coolDownMs: 500, clock });
    await expect(breaker.execute(fail)).rejects.toThrow();
    clock.advance(500);
    await expect(breaker.execute(fail)).rejects.toThrow('upstream down');
    expect(breaker.state).toBe('open');
    clock.advance(500);
    expect(breaker.state).toBe('half_open');
  });

  it('lets only one trial call through while half-open', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, coolDownMs: 10, clock });
    await expect(breaker.execute(fail)).rejects.toThrow();
    clock.advance(10);
    let release: (value: string) => void = () => undefined;
    const trial = breaker.execute(() => new Promise<string>((resolve) => (release = resolve)));
    expect(((await caught(breaker.execute(succeed))) as SystemError).code).toBe('circuit_open');
    release('done');
    expect(await trial).toBe('done');
    expect(breaker.state).toBe('closed');
  });

  it('ignores errors that isFailure rejects', async () => {
    const breaker = new CircuitBreaker({
      failureThreshold: 1,
      clock: new ManualClock(),
      isFailure: (error) => !(error instanceof RangeError),
    });
    await expect(breaker.execute(() => Promise.reject(new RangeError('bad input')))).rejects.toThrow();
    expect(breaker.state).toBe('closed');
  });
});

describe('withTimeout', () => {
  it('resolves with the value when in time', async () => {
    expect(await withTimeout(() => Promise.resolve(7), { timeoutMs: 1_000 })).toBe(7);
  });

  it('rejects with a timeout error and aborts the signal it handed out', async () => {
    let seen: AbortSignal | undefined;
    const error = await caught(
      withTimeout(
        (signal) => {
          seen = signal;
          return new Promise(() => undefined);
        },
        { timeoutMs: 5, what: 'refund API' },
      ),
    );
    expect((error as SystemError).code).toBe('timeout');
    expect(error.message).toBe('refund API timed out after 5 ms');
    expect(seen?.aborted).toBe(true);
  });

  it('rejects with aborted when the caller cancels', async () => {
    const controller = new AbortController();
    const pending = withTimeout(() => new Promise(() => undefined), { signal: controller.signal });
    controller.abort();
    expect(((await caught(pending)) as SystemError).code).toBe('aborted');
    expect(((await caught(withTimeout(succeed, { signal: controller.signal }))) as SystemError).code).toBe(
      'aborted',
    );
  });

  it('passes through the operation’s own error', async () => {
    await expect(withTimeout(fail, { timeoutMs: 1_000 })).rejects.toThrow('upstream down');
  });
});

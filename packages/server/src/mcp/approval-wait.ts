import { FINAL_STATUSES } from '@autonomy-os/core';
import type { ActionView, Engine } from '@autonomy-os/core';

/** Options for {@link waitForAction}. */
export interface WaitForActionOptions {
  /** Give up after this long and answer the action as it is then. */
  timeoutMs: number;
  /** How often to read the action from the store (another node may approve and run it). */
  pollMs?: number;
  /** Stops waiting early (the client went away or cancelled). */
  signal?: AbortSignal | undefined;
  /** Called on every round with the time waited so far; used for MCP progress notifications. */
  onProgress?: ((waitedMs: number) => Promise<void>) | undefined;
}

/**
 * Waits until a pending action is final (executed, rejected, expired, blocked) or the time is up, and answers the
 * action as stored then. The store is the truth, so an approval given on any node ends the wait; this node's
 * event bus only wakes the loop sooner.
 */
export async function waitForAction(
  engine: Engine,
  actionId: string,
  options: WaitForActionOptions,
): Promise<ActionView> {
  const deadline = Date.now() + options.timeoutMs;
  const started = Date.now();
  const pollMs = options.pollMs ?? 250;
  let wake: (() => void) | undefined;
  const unsubscribe = engine.events.subscribe((e) => {
    if (e.subject === `action:${actionId}`) wake?.();
  });
  const onAbort = () => wake?.();
  options.signal?.addEventListener('abort', onAbort);
  try {
    for (;;) {
      const view = await engine.actions.require(actionId);
      if (FINAL_STATUSES.includes(view.status)) return view;
      const left = deadline - Date.now();
      if (left <= 0 || options.signal?.aborted) return view;
      await options.onProgress?.(Date.now() - started).catch(() => undefined);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(pollMs, left));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    unsubscribe();
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/** Waiting in tests: on a condition with a deadline, never a bare fixed delay. */
import { inspect } from 'node:util';
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface WaitOptions {
  /** The deadline, in ms (default 10 000). */
  withinMs?: number;
  /** The pause between two polls, in ms (default 5). */
  everyMs?: number;
  /** A probe that throws counts as "not yet" (the last error is named at the deadline); by default it fails the wait. */
  retryErrors?: boolean;
}

type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

/**
 * Polls `probe` until it answers a truthy value, and answers that value; fails naming `what`
 * at the deadline. `options` is the deadline in ms, or WaitOptions.
 */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  what: string,
  options: number | WaitOptions = {},
): Promise<Truthy<T>> {
  const {
    withinMs = 10_000,
    everyMs = 5,
    retryErrors = false,
  } = typeof options === 'number' ? { withinMs: options } : options;
  const deadline = Date.now() + withinMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as Truthy<T>;
    } catch (error) {
      if (!retryErrors) throw error;
      last = error;
    }
    if (Date.now() > deadline) {
      const lastError =
        last === undefined ? '' : ` (last error: ${last instanceof Error ? last.message : inspect(last)})`;
      throw new Error(`timed out after ${withinMs} ms waiting for ${what}${lastError}`);
    }
    await sleep(everyMs);
  }
}

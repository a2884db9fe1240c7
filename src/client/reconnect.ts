/**
 * Automatic reconnects: the policy read from the connect options, and the timer that waits
 * minRetryInterval, doubling up to maxRetryInterval (plus up to 25% jitter, so a fleet does
 * not reconnect in step), then runs one attempt.
 */
import { invalidArg } from '../errors';
import { integerIn, optionalBoolean } from './option-checks';
import type { ConnectOptions } from './options';

/** How the client reconnects after a lost connection (or a failed first connect). */
export interface ReconnectPolicy {
  enabled: boolean;
  /** Seconds. */
  minRetryInterval: number;
  maxRetryInterval: number;
  retryFirstConnect: boolean;
  resubscribe: boolean;
}

export function reconnectPolicy(options: ConnectOptions): ReconnectPolicy {
  const reconnect = options.automaticReconnect;
  if (
    reconnect !== undefined &&
    typeof reconnect !== 'boolean' &&
    (reconnect === null || typeof reconnect !== 'object')
  )
    throw invalidArg('automaticReconnect must be a boolean or { minRetryInterval, maxRetryInterval } (seconds)');
  const retry = typeof reconnect === 'object' ? reconnect : {};
  const minRetryInterval = integerIn(retry.minRetryInterval, 1, 1, 86400, 'automaticReconnect.minRetryInterval');
  const maxRetryInterval = integerIn(
    retry.maxRetryInterval,
    60,
    minRetryInterval,
    86400,
    'automaticReconnect.maxRetryInterval',
  );
  const enabled = reconnect !== undefined && reconnect !== false;
  const retryFirstConnect = optionalBoolean(options.retryFirstConnect, 'retryFirstConnect') ?? false;
  if (retryFirstConnect && !enabled) throw invalidArg('retryFirstConnect needs automaticReconnect');
  return {
    enabled,
    minRetryInterval,
    maxRetryInterval,
    retryFirstConnect,
    resubscribe: optionalBoolean(options.resubscribe, 'resubscribe') ?? true,
  };
}

export interface ReconnectHooks<T> {
  /** One connect attempt; rejects when it fails. */
  attempt(): Promise<T>;
  /** A retry is scheduled (after a loss or a failed attempt). */
  scheduled(attempt: number, delayMs: number, error: Error | undefined): void;
  /** Whether the timer may keep the process alive (client.unref()). */
  refed(): boolean;
}

export class Reconnector<T> {
  private timer: NodeJS.Timeout | undefined;
  private attempts = 0;
  private running = false;
  private stopped = false;
  /** connect() calls waiting for a reconnect to succeed. */
  private waiters: { resolve(result: T): void; reject(error: Error): void }[] = [];

  constructor(private readonly hooks: ReconnectHooks<T>) {}

  /** Settles with the next successful connect (or the error given to stop()). */
  waitForSuccess(): Promise<T> {
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** A connect succeeded (a retry, or any other): the waiters get its result. */
  succeeded(result: T): void {
    for (const waiter of this.waiters.splice(0)) waiter.resolve(result);
  }

  /** True while a retry is scheduled or running. */
  get active(): boolean {
    return this.timer !== undefined || this.running;
  }

  /** Schedules the next attempt; every failed attempt schedules another until stop(). */
  schedule(policy: ReconnectPolicy, error?: Error): void {
    if (this.timer !== undefined) return;
    this.attempts += 1;
    const base = Math.min(policy.minRetryInterval * 2 ** Math.min(this.attempts - 1, 30), policy.maxRetryInterval);
    const delayMs = Math.round(Math.min(base * (1 + Math.random() * 0.25), policy.maxRetryInterval) * 1000);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = true;
      this.hooks.attempt().then(
        () => {
          this.running = false;
          this.attempts = 0;
        },
        (failure: unknown) => {
          this.running = false;
          // stop() during the attempt ends the retries.
          if (this.stopped) return;
          this.schedule(policy, failure instanceof Error ? failure : new Error(String(failure)));
        },
      );
    }, delayMs);
    this.stopped = false;
    this.applyRef();
    this.hooks.scheduled(this.attempts, delayMs, error);
  }

  /** Cancels a scheduled retry (an attempt already running finishes, no further one starts); waiters get `reason`. */
  stop(reason: Error): void {
    for (const waiter of this.waiters.splice(0)) waiter.reject(reason);
    this.stopped = true;
    this.attempts = 0;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  applyRef(): void {
    if (this.timer === undefined) return;
    if (this.hooks.refed()) this.timer.ref();
    else this.timer.unref();
  }
}

/**
 * outbox.drainRate: a token bucket in front of the pump's hand-offs, so a fleet reconnecting at
 * once does not flood the broker with its backlogs. It refills at `rate` tokens per second up to
 * a burst of 100 ms worth (at least 1); each message handed to Paho takes one. The bucket is full
 * at the start, so a drain begins with at most one burst, then keeps to the rate.
 */

/** The burst, in seconds of the rate: small enough that a drain of a few seconds stays within 10%. */
export const DRAIN_BURST_SECONDS = 0.1;

export class DrainPacer {
  readonly burst: number;
  private tokens: number;
  private refilledAt: number;

  constructor(
    readonly rate: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.burst = Math.max(1, Math.floor(rate * DRAIN_BURST_SECONDS));
    this.tokens = this.burst;
    this.refilledAt = this.now();
  }

  /** Whole messages that may be handed over now. */
  available(): number {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.rate) / 1000);
    this.refilledAt = now;
    return Math.floor(this.tokens);
  }

  take(count: number): void {
    this.tokens -= count;
  }

  /** Milliseconds until one more message may be handed over (0: now). */
  msUntilNext(): number {
    this.available();
    const missing = 1 - this.tokens;
    return missing <= 0 ? 0 : Math.ceil((missing * 1000) / this.rate);
  }
}

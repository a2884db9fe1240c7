/**
 * The outbox clock (see docs/outbox.md, "Limits"): what enqueue times and expiries are
 * measured on. While the process runs it is the process's monotonic clock
 * (performance.now()), so a wall-clock jump (a gateway without RTC that boots in 1970 until NTP
 * sets it) moves nothing. Across a restart it continues from a checkpoint in the store (written
 * every CHECKPOINT_MS and at close): the time the process was down counts only when both wall
 * clock readings, at the checkpoint and at the start, look set (after WALL_CLOCK_FLOOR) and the
 * later is not before the earlier; otherwise the outbox clock continues from the checkpoint as
 * if no time had passed (time to live is then extended by the downtime, never cut short).
 */
import { performance } from 'node:perf_hooks';
import type { OutboxClockCheckpoint } from '../persistence/client-persistence';

/** A wall clock reading before this (2024-01-01) is taken as unset. */
export const WALL_CLOCK_FLOOR = Date.UTC(2024, 0, 1);
/** How often the clock is checkpointed to the store. */
export const CHECKPOINT_MS = 5000;

/** Where the outbox clock stands at a start, after `saved` was checkpointed. */
export function resumedAt(saved: OutboxClockCheckpoint | undefined, wallNow: number): number {
  if (saved === undefined || !Number.isFinite(saved.outboxMs) || saved.outboxMs < 0) return 0;
  const wallTrusted = saved.wallMs >= WALL_CLOCK_FLOOR && wallNow >= saved.wallMs;
  return saved.outboxMs + (wallTrusted ? wallNow - saved.wallMs : 0);
}

export class OutboxClock {
  private readonly base: number;
  private readonly startedAt: number;

  constructor(saved: OutboxClockCheckpoint | undefined, wallNow = Date.now(), monotonicNow = performance.now()) {
    this.base = resumedAt(saved, wallNow);
    this.startedAt = monotonicNow;
  }

  /** Outbox clock ms now. */
  now(monotonicNow = performance.now()): number {
    return this.base + (monotonicNow - this.startedAt);
  }

  checkpoint(): OutboxClockCheckpoint {
    return { outboxMs: this.now(), wallMs: Date.now() };
  }
}

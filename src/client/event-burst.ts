/**
 * The native client delivers its events in bursts (one call per wake-up of the JS thread, see
 * docs/architecture.md): this walks one burst in order. The frequent plain events come as
 * numbers only; each handler call is guarded on its own, so a throwing listener neither skips
 * the rest of the burst nor unwinds into native code (it surfaces on a later tick).
 */
import type { NativeClientEvent } from '../native';
import { surfaceLater } from './connection';

/** Indexed by the kind code of a burst entry: the order of the addon's clientEventKinds (C++ EventBurst::Kind). */
export const EVENT_KINDS = ['event', 'published', 'deliveryComplete', 'progressed'] as const;

const CODES_PER_ENTRY = 3;
const EVENT = 0;
const PUBLISHED = 1;
const DELIVERY_COMPLETE = 2;
const PROGRESSED = 3;

export interface BurstHandlers {
  /** Any event with an object of its own (results with details, messages, connection events). */
  event(event: NativeClientEvent): void;
  /** A publish succeeded (a result with rc 0 and nothing else). */
  published(request: number, token: number): void;
  /** A delivery completed (sent only while the client wants them). */
  deliveryComplete(token: number): void;
  /** `count` deliveries completed that were not sent as 'deliveryComplete' entries. */
  progressed(count: number): void;
}

export function forEachInBurst(
  codes: Float64Array,
  events: NativeClientEvent[] | undefined,
  handlers: BurstHandlers,
): void {
  let next = 0;
  for (let i = 0; i < codes.length; i += CODES_PER_ENTRY) {
    const kind = codes[i];
    try {
      if (kind === EVENT) handlers.event(events![next++]);
      else if (kind === PUBLISHED) handlers.published(codes[i + 1], codes[i + 2]);
      else if (kind === DELIVERY_COMPLETE) handlers.deliveryComplete(codes[i + 2]);
      else if (kind === PROGRESSED) handlers.progressed(codes[i + 2]);
    } catch (error) {
      surfaceLater(error);
    }
  }
}

/**
 * Paho's trace, forwarded to a JS logger. Paho traces process-wide (every client), so one
 * logger per thread (main or worker) is installed; installing another replaces it.
 */
import { invalidArg } from '../errors';
import { native } from '../native';

export type TraceLevel = 'maximum' | 'medium' | 'minimum' | 'protocol' | 'error' | 'severe' | 'fatal';
export type TraceLogger = (level: TraceLevel, message: string) => void;

const LEVELS: TraceLevel[] = ['maximum', 'medium', 'minimum', 'protocol', 'error', 'severe', 'fatal'];

/** Sends Paho trace lines at `level` and above to `logger`; `setTraceLogger('off')` stops. */
export function setTraceLogger(level: TraceLevel | 'off', logger?: TraceLogger): void {
  if (level === 'off') {
    native.setTrace(0);
    return;
  }
  const index = LEVELS.indexOf(level);
  if (index < 0)
    throw invalidArg(`trace level must be one of ${LEVELS.join(', ')} or 'off', got ${JSON.stringify(level)}`);
  if (typeof logger !== 'function') throw invalidArg('setTraceLogger(level, logger): logger must be a function');
  native.setTrace(index + 1, (n, message) => logger(LEVELS[n - 1] ?? 'maximum', message));
}

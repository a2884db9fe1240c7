/** The two checks every option group uses: an optional boolean, and an integer in a range with a default. */
import { invalidArg } from '../errors';

export function optionalBoolean(value: unknown, what: string): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') throw invalidArg(`${what} must be a boolean`);
  return value;
}

export function integerIn(value: unknown, fallback: number, min: number, max: number, what: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    throw invalidArg(`${what} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value as number;
}

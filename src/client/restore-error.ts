/** The error create() (or a Paho client created again) fails with when restoring from the store failed. */
import { PersistenceError } from '../errors';

export function restoreError(failures: PersistenceError[] | undefined): PersistenceError | undefined {
  const first = failures?.[0];
  if (first === undefined) return undefined;
  // The store's own open failure (e.g. ERR_PERSISTENCE_CONNECTION) and the restore check's errors say it best.
  const asIs = ['ERR_PERSISTENCE_CORRUPT', 'ERR_PERSISTENCE_VERSION', 'ERR_PERSISTENCE_DECRYPT'];
  if (first.op === 'open' || asIs.includes(first.code)) return first;
  const target = first.key ? `${first.op}('${first.key}')` : first.op;
  return new PersistenceError(
    'ERR_PERSISTENCE_RESTORE',
    first.op,
    first.key,
    `create: restoring from the store failed during ${target}, so the client was not created and nothing ` +
      `stored was changed (retry create() when the store answers): ${first.message}`,
    { cause: first },
  );
}

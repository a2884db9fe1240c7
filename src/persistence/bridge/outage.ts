/**
 * A store outage, as the store bridge sees it: a batch of writes timed out, failed with an error
 * the store calls transient (PersistenceError.transient), or failed while the store's probe
 * failed too. The bridge then holds that batch (the operation log keeps everything
 * written after it, in order), tells the native side to stop making Paho threads wait for the
 * store, and retries the batch once the store answers again. Batches are idempotent (puts and
 * removes of whole values) and nothing after the held batch is applied before it, so a retry of
 * a batch that did reach the store (a frozen Redis applies it when it thaws) changes nothing.
 */
import { PersistenceError } from '../../errors';

/** How often an unavailable store is probed. */
export const PROBE_INTERVAL_MS = 250;
/**
 * Retries of a held batch that fail with an error the store does not call transient while its
 * probe answers: then it fails like any refused batch. Transient failures never count.
 */
export const RETRIES_WHILE_ANSWERING = 3;

export interface OutageHooks {
  /** The store's probe, if it has one. */
  probe: (() => unknown) | undefined;
  /** Applies the held batch again (a value or a Promise). */
  retry: () => unknown;
  /** Whether a failure of the retried batch is a timeout (the store still does not answer). */
  timedOut: (error: unknown) => boolean;
  /** Whether the store refused the retried batch only for now: it is held on, whatever the probe says. */
  transient: (error: unknown) => boolean;
  operationTimeoutMs: number;
  /** True once the bridge is closed: recovery stops. */
  closed: () => boolean;
}

/**
 * Failures that hold a batch instead of failing it: the store did not answer, or refused it
 * only for now (PersistenceError.transient). A batch is idempotent, so applying it again, in
 * its place in the log, is safe whether or not the failed attempt reached the store.
 */
export function isHeldFailure(failure: PersistenceError): boolean {
  return failure.code === 'ERR_PERSISTENCE_TIMEOUT' || failure.transient;
}

/** The outage report's message: what the client does meanwhile, and what a crash then costs. */
export function outageMessage(failure: PersistenceError, holdsAcks: boolean): string {
  const acknowledgements = holdsAcks
    ? "acknowledgements are held back until their records are stored (onStoreUnavailable 'disconnect': " +
      'the MQTT connection stays silent, the broker drops it and resumes the exchanges after a reconnect); '
    : 'Paho does not wait for it: acknowledgements leave before their records are stored, so a crash ' +
      'meanwhile can deliver a sent QoS 2 message twice or lose a received one ' +
      "(onStoreUnavailable 'disconnect' holds them back instead); ";
  return (
    `the store is unavailable (${failure.message}): until it answers again, ${acknowledgements}` +
    'writes stay in the log (up to maxQueuedOps / maxQueuedBytes) and are stored once it answers'
  );
}

/** Waits for `value` (a Promise or not) at most `ms`; rejects with ERR_PERSISTENCE_TIMEOUT after that. */
export function within(value: unknown, ms: number, what: string): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new PersistenceError('ERR_PERSISTENCE_TIMEOUT', 'batch', undefined, `${what} did not answer within ${ms} ms`),
        ),
      ms,
    );
  });
  return Promise.race([Promise.resolve(value), deadline]).finally(() => clearTimeout(timer));
}

/** An unref'd pause: probing must not keep the process alive on its own. */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * Probes until the store answers, then retries the held batch. Resolves with undefined once the
 * batch is applied, with the error to fail it with when the store answers but keeps refusing it
 * definitely, and with 'closed' when the bridge closed meanwhile.
 */
export async function recover(hooks: OutageHooks): Promise<unknown> {
  let refusals = 0;
  for (;;) {
    await pause(PROBE_INTERVAL_MS);
    if (hooks.closed()) return 'closed';
    if (hooks.probe !== undefined) {
      try {
        await within(hooks.probe(), hooks.operationTimeoutMs, 'the store (probe)');
      } catch {
        continue; // still unavailable
      }
    }
    let failure: unknown;
    try {
      await within(hooks.retry(), hooks.operationTimeoutMs, 'the store (retried batch)');
      return hooks.closed() ? 'closed' : undefined;
    } catch (error) {
      failure = error ?? new Error('rejected');
    }
    if (hooks.closed()) return 'closed';
    if (hooks.transient(failure)) continue;
    // Without a probe the retry is the probe: a timeout means the store still does not answer.
    if (hooks.probe === undefined ? hooks.timedOut(failure) : ++refusals < RETRIES_WHILE_ANSWERING) continue;
    return failure;
  }
}

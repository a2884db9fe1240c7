/**
 * A batch's MULTI/EXEC sent as plain commands (ioredis' `multi({ pipeline: false })` flow) in one
 * socket write, instead of through ioredis' Pipeline: the same commands reach Redis, for 8-24%
 * fewer instructions per message and a round trip ~20 us shorter (docs/benchmarks.md, "Round 4",
 * and benchmarks-instructions.md). Failures take the shape `multi().exec()` gives them, which
 * connection.ts reads: an EXECABORT carries the queued commands' errors as `previousErrors`, an
 * error inside EXEC's reply is thrown as is, a null EXEC is TRANSACTION_DISCARDED.
 */
import type { Redis } from 'ioredis';
import { TRANSACTION_DISCARDED } from './connection';
import type { AnyClient } from './options';

type Command = readonly (string | Buffer)[];

interface Corkable {
  cork(): void;
  uncork(): void;
}

/**
 * Whether `client` can take a transaction as plain commands. Not a Cluster (MULTI and EXEC
 * name no key, so it would route them anywhere), and not a client with auto-pipelining (it sends
 * MULTI at once but the rest in a later write, with whatever else was called meanwhile).
 */
export function sendsPlainTransactions(client: AnyClient): client is Redis {
  if ((client as { isCluster?: boolean }).isCluster === true) return false;
  const options = (client as { options?: { enableAutoPipelining?: boolean } }).options;
  return options?.enableAutoPipelining !== true;
}

/** Sends MULTI, `commands`, EXEC; resolves once EXEC answered with every command applied. */
export function sendTransaction(redis: Redis, commands: readonly Command[]): Promise<void> {
  // Corked, the commands leave in one write (while not connected they wait in ioredis' queue,
  // in order, and leave together at the reconnect).
  const stream = (redis as { stream?: Partial<Corkable> }).stream;
  const corked = typeof stream?.cork === 'function' && typeof stream.uncork === 'function';
  if (corked) stream.cork!();
  let queued: Promise<unknown>[];
  let exec: ReturnType<Redis['exec']>;
  try {
    queued = [
      redis.multi({ pipeline: false }),
      ...commands.map(([name, ...args]) => redis.call(String(name), ...args)),
    ];
    exec = redis.exec();
  } finally {
    if (corked) stream.uncork!();
  }
  // Each queued command answers QUEUED or its refusal; only EXEC's answer decides.
  const refusals = queued.map((p) =>
    p.then(
      () => undefined,
      (e: unknown) => e,
    ),
  );
  return exec.then(
    (replies) => {
      if (replies === null) throw new Error(TRANSACTION_DISCARDED);
      // ioredis pairs EXEC's replies as [error] or [null, result], as multi().exec() does.
      for (const [error] of replies) if (error) throw error;
    },
    async (e: unknown) => {
      if (e instanceof Error && e.message.startsWith('EXECABORT')) {
        const previousErrors = (await Promise.all(refusals)).filter((r) => r !== undefined);
        Object.assign(e, { previousErrors });
      }
      throw e;
    },
  );
}

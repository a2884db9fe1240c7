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

/**
 * Sends MULTI, `commands`, EXEC; resolves once EXEC answered with every command applied. As plain
 * commands where `client` takes them (sendsPlainTransactions), else through ioredis' Pipeline.
 */
export function sendTransaction(client: AnyClient, commands: readonly Command[]): Promise<void> {
  if (!sendsPlainTransactions(client))
    return client
      .multi(commands as string[][])
      .exec()
      .then(throwOnFailure);
  return sendPlain(client, commands);
}

/** EXEC's replies, paired by ioredis as [error] or [null, result]: the first error, or null's. */
function throwOnFailure(replies: [error: Error | null, result: unknown][] | null): void {
  if (replies === null) throw new Error(TRANSACTION_DISCARDED);
  for (const [error] of replies) if (error) throw error;
}

function sendPlain(redis: Redis, commands: readonly Command[]): Promise<void> {
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
  return exec.then(throwOnFailure, async (e: unknown) => {
    if (e instanceof Error && e.message.startsWith('EXECABORT')) {
      const previousErrors = (await Promise.all(refusals)).filter((r) => r !== undefined);
      Object.assign(e, { previousErrors });
    }
    throw e;
  });
}

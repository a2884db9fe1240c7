/**
 * options.ackReplicas: a write followed by `WAIT replicas timeoutMs` on the same connection.
 */
import type { ChainableCommander } from 'ioredis';
import { PersistenceError } from '../../errors';
import type { AckReplicasOptions, AnyClient } from './options';

/** Queues one write on a client or a pipeline. */
export type WriteCommand = (c: AnyClient | ChainableCommander) => unknown;

/** Bounds a command by the store's operation timeout. */
export type Bound = <T>(p: Promise<T>) => Promise<T>;

/**
 * Runs `cmd` on hash `name`, then WAIT, as one pipeline on one connection - for a Cluster, to
 * the master owning the hash's slot (WAIT itself has no key, so sent alone it would go to a
 * random node). Resolves to the write's reply; too few acknowledgements reject with
 * ERR_PERSISTENCE_STORE, any other failure with the raw error (the caller describes it).
 */
export async function writeAndWait(
  op: string,
  key: string | undefined,
  redis: AnyClient,
  name: string,
  ack: AckReplicasOptions,
  bound: Bound,
  cmd: WriteCommand,
): Promise<unknown> {
  const wait = ['WAIT', String(ack.replicas), String(ack.timeoutMs)] as const;
  const pipeline = redis.pipeline();
  cmd(pipeline);
  pipeline.call(...wait);
  let [[writeErr, reply], [waitErr, acked]] = pipelineReplies(await bound(pipeline.exec()));
  if (writeErr && redis.isCluster && /^(MOVED|ASK) /.test(writeErr.message)) {
    // The slot moved. ioredis only follows a redirection in a pipeline whose other commands
    // are read-only, so send the write alone (ioredis follows MOVED and updates its slot
    // map), then WAIT behind a read of the same hash: same node, same connection.
    reply = await bound(cmd(redis) as Promise<unknown>);
    let pinErr: Error | null;
    // eslint-disable-next-line prefer-const -- waitErr and acked are outer variables
    [[pinErr], [waitErr, acked]] = pipelineReplies(
      await bound(
        redis
          .pipeline()
          .exists(name)
          .call(...wait)
          .exec(),
      ),
    );
    writeErr = pinErr;
  }
  if (writeErr) throw writeErr;
  if (waitErr) throw waitErr;
  if (typeof acked !== 'number' || acked < ack.replicas) {
    const what = key === undefined ? `Redis ${op} on hash '${name}'` : `Redis ${op} of key '${key}' in hash '${name}'`;
    throw new PersistenceError(
      'ERR_PERSISTENCE_STORE',
      op,
      key,
      `${what}: only ${String(acked)} of ${ack.replicas} required replica(s) acknowledged the write within ${ack.timeoutMs} ms (WAIT); ` +
        'the master applied it, but a failover could lose it',
      // Replicas that catch up (or come back) acknowledge the same write applied again.
      { transient: true },
    );
  }
  return reply;
}

type Reply = [Error | null, unknown];

/** The [error, reply] pairs of a two-command pipeline. */
function pipelineReplies(results: Reply[] | null): [Reply, Reply] {
  if (results === null || results.length !== 2) throw new Error('unexpected pipeline reply');
  return [results[0], results[1]];
}

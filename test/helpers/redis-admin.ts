/**
 * What the Cluster and Sentinel test topologies (redis-cluster.ts, redis-sentinel.ts) share:
 * one-off admin commands on a fresh connection, INFO as fields, and the waits for replication.
 * Never touches the shared Redis (:6379).
 */
import Redis from 'ioredis';
import { waitFor, type WaitOptions } from './wait';

/** How a server's state is awaited: polled every 100 ms for up to 15 s, errors (not up yet) retried. */
export const SERVER_STATE: WaitOptions = { withinMs: 15_000, everyMs: 100, retryErrors: true };

export interface HostPort {
  host: string;
  port: number;
}

/** One short-lived command on a fresh connection (never the shared :6379). */
export async function command(port: number, args: (string | number)[]): Promise<unknown> {
  const c = new Redis(port, '127.0.0.1', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableReadyCheck: false,
    connectTimeout: 2000,
    commandTimeout: 3000,
  });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return await c.call(String(args[0]), ...args.slice(1).map(String));
  } finally {
    c.disconnect();
  }
}

export async function info(port: number, section: string): Promise<Record<string, string>> {
  const text = String(await command(port, ['INFO', section]));
  const out: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/**
 * Waits until a write on the master is acknowledged by `replicas` replicas (WAIT). Right after a
 * full sync this can take a moment, and a test's first WAIT would otherwise time out. The probe
 * key (a key this master owns, for a cluster node) is deleted again.
 */
export async function waitReplicasAcked(masterPort: number, replicas: number): Promise<void> {
  const c = new Redis(masterPort, '127.0.0.1', { maxRetriesPerRequest: 0, commandTimeout: 3000 });
  c.on('error', () => undefined);
  try {
    let key = '';
    for (let i = 0; !key; i++) {
      const k = `pmr:probe:${i}`;
      // A cluster node answers MOVED for keys of other nodes' slots.
      if (
        await c.set(k, '1').then(
          () => true,
          (e: Error) => {
            if (/^MOVED/.test(e.message)) return false;
            throw e;
          },
        )
      )
        key = k;
    }
    await waitFor(
      async () => {
        await c.set(key, '1');
        return Number(await c.call('WAIT', String(replicas), '100')) >= replicas;
      },
      `replicas of ${masterPort} acknowledge writes`,
      SERVER_STATE,
    );
    await c.del(key);
  } finally {
    c.disconnect();
  }
}

/** Full syncs start at once (the default waits 5 s for more replicas to share a diskless transfer). */
export const FAST_SYNC = ['--repl-diskless-sync-delay', '0'];

/**
 * A real Redis Cluster for tests, on free 127.0.0.1 ports: data nodes started with startRedis()
 * from servers.ts (tracked there), joined by `redis-cli --cluster create`.
 *
 * Never touches the shared Redis (:6379).
 */
import { execFile } from 'node:child_process';
import { startRedis, freePort, type RedisServer } from './servers';
import { waitFor } from './wait';
import { FAST_SYNC, SERVER_STATE, command, info, waitReplicasAcked, type HostPort } from './redis-admin';

export interface RedisClusterSetup {
  /** Every node, masters first (in `redis-cli --cluster create` order). */
  nodes: HostPort[];
  servers: RedisServer[];
  stop(): Promise<void>;
}

/**
 * A Redis Cluster of `masters` masters (>= 3) and `replicasPerMaster` replicas each, created
 * with `redis-cli --cluster create`; resolves once every node reports cluster_state:ok.
 * Each node gets an explicit --cluster-port (the default port+10000 may exceed 65535).
 */
export async function startRedisCluster(
  opts: { masters?: number; replicasPerMaster?: 0 | 1 } = {},
): Promise<RedisClusterSetup> {
  const masters = opts.masters ?? 3;
  const replicas = opts.replicasPerMaster ?? 0;
  if (masters < 3) throw new Error('startRedisCluster: redis-cli needs at least 3 masters');
  const servers: RedisServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    const count = masters * (1 + replicas);
    const used = new Set<number>();
    for (let i = 0; i < count; i++) {
      // startRedis retries a taken client port, but not a taken bus port: retry that here.
      for (let attempt = 0; ; attempt++) {
        const busPort = await freePort();
        if (used.has(busPort) || servers.some((s) => s.port === busPort)) continue;
        try {
          const node = await startRedis({
            args: [
              '--cluster-enabled',
              'yes',
              '--cluster-config-file',
              'nodes.conf',
              '--cluster-port',
              String(busPort),
              '--cluster-node-timeout',
              '3000',
              '--cluster-require-full-coverage',
              'yes',
              ...FAST_SYNC,
            ],
          });
          used.add(busPort);
          servers.push(node);
          break;
        } catch (err) {
          if (attempt >= 3) throw err;
        }
      }
    }
    const addrs = servers.map((s) => `127.0.0.1:${s.port}`);
    await new Promise<void>((resolve, reject) => {
      execFile(
        'redis-cli',
        ['--cluster', 'create', ...addrs, '--cluster-replicas', String(replicas), '--cluster-yes'],
        { timeout: 30_000 },
        (err, stdout, stderr) => {
          if (err) reject(new Error(`redis-cli --cluster create failed: ${err.message}\n${stdout}\n${stderr}`));
          else resolve();
        },
      );
    });
    await Promise.all(
      servers.map((s) =>
        waitFor(
          async () =>
            /cluster_state:ok/.test(String(await command(s.port, ['CLUSTER', 'INFO']))) &&
            String(await command(s.port, ['CLUSTER', 'NODES']))
              .trim()
              .split('\n').length === count,
          `cluster_state:ok on ${s.port}`,
          SERVER_STATE,
        ),
      ),
    );
    if (replicas > 0) {
      await Promise.all(
        servers.map((s) =>
          waitFor(
            async () => {
              const r = await info(s.port, 'replication');
              return r.role === 'master' || r.master_link_status === 'up';
            },
            `replication on ${s.port}`,
            SERVER_STATE,
          ),
        ),
      );
    }
    // Masters first, as ioredis and the tests expect to find them.
    const roles = await Promise.all(servers.map(async (s) => (await info(s.port, 'replication')).role));
    if (replicas > 0) {
      await Promise.all(
        servers.filter((_, i) => roles[i] === 'master').map((s) => waitReplicasAcked(s.port, replicas)),
      );
    }
    const ordered = servers
      .map((s, i) => ({ s, master: roles[i] === 'master' }))
      .sort((a, b) => Number(b.master) - Number(a.master))
      .map((x) => x.s);
    return { nodes: ordered.map((s) => ({ host: '127.0.0.1', port: s.port })), servers: ordered, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

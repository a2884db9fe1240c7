/**
 * Real Redis topologies for tests, on free 127.0.0.1 ports: a Redis Cluster, and a Sentinel
 * setup (master + replica + sentinels). Data nodes are started with startRedis() from
 * servers.ts (tracked there); sentinels need a config file as first argument, so they are
 * spawned here and tracked by PID the same way (SIGKILLed at process exit if still running).
 *
 * Never touches the shared Redis (:6379).
 */
import { execFile, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import { startRedis, freePort, spawnTracked, type RedisServer } from './servers';
import { waitFor, type WaitOptions } from './wait';

/** How a server's state is awaited: polled every 100 ms for up to 15 s, errors (not up yet) retried. */
const SERVER_STATE: WaitOptions = { withinMs: 15_000, everyMs: 100, retryErrors: true };

export interface HostPort {
  host: string;
  port: number;
}

/** One short-lived command on a fresh connection (never the shared :6379). */
async function command(port: number, args: (string | number)[]): Promise<unknown> {
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

async function info(port: number, section: string): Promise<Record<string, string>> {
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
async function waitReplicasAcked(masterPort: number, replicas: number): Promise<void> {
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
const FAST_SYNC = ['--repl-diskless-sync-delay', '0'];

// ---------------------------------------------------------------------------------------
// Cluster

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

// ---------------------------------------------------------------------------------------
// Sentinel

const trackedSentinels = new Set<ChildProcess>();
const sentinelDirs = new Set<string>();
let hookInstalled = false;

function installExitHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  process.on('exit', () => {
    for (const c of trackedSentinels) {
      if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    if (!process.env.PMR_KEEP_TMP) for (const d of sentinelDirs) fs.rmSync(d, { recursive: true, force: true });
  });
}

/** Sentinel processes started here that are still running. */
export function runningSentinelCount(): number {
  let n = 0;
  for (const c of trackedSentinels) if (c.exitCode === null && c.signalCode === null) n++;
  return n;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    /* gone */
  }
  const t = setTimeout(() => {
    try {
      process.kill(child.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, 3000);
  await exited;
  clearTimeout(t);
}

function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (d: Buffer) => done(d.toString('latin1').startsWith('+PONG')));
    sock.once('error', () => done(false));
  });
}

async function startSentinel(
  name: string,
  masterPort: number,
  quorum: number,
): Promise<{ port: number; child: ChildProcess }> {
  installExitHook();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmr-sentinel-'));
  sentinelDirs.add(dir);
  const logFile = path.join(dir, 'sentinel.log');
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const conf = path.join(dir, 'sentinel.conf');
    fs.writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        'daemonize no',
        'logfile ""',
        `sentinel monitor ${name} 127.0.0.1 ${masterPort} ${quorum}`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 5000`,
        `sentinel parallel-syncs ${name} 1`,
      ].join('\n') + '\n',
    );
    const child = spawnTracked('redis-server', [conf, '--sentinel'], logFile, dir);
    trackedSentinels.add(child);
    child.once('exit', () => trackedSentinels.delete(child));
    child.unref();
    try {
      await waitFor(
        async () => {
          if (child.exitCode !== null)
            throw new Error(`sentinel exited: ${fs.readFileSync(logFile, 'utf8').slice(-800)}`);
          return pingOnce(port);
        },
        `sentinel on ${port}`,
        { ...SERVER_STATE, withinMs: 10_000 },
      );
      return { port, child };
    } catch (err) {
      await stopProcess(child);
      if (attempt < 4 && /already in use/i.test(fs.readFileSync(logFile, 'utf8'))) continue;
      throw err;
    }
  }
}

export interface SentinelSetup {
  /** Port of the current master (updated by failover()). */
  masterPort: number;
  /** Port of the current replica (updated by failover()). */
  replicaPort: number;
  sentinels: HostPort[];
  /** The monitored master's name, for redisOptions.name. */
  name: string;
  servers: RedisServer[];
  /**
   * SENTINEL FAILOVER, then waits until every sentinel reports the replica as the master,
   * the new master says role:master and the old one replicates from it again (and its writes
   * are acknowledged). Takes about 11 s: the sentinels switch within ~1 s, but Sentinel turns
   * the old master into a replica only ~10 s later (until then it still accepts writes).
   */
  failover(): Promise<void>;
  stop(): Promise<void>;
}

/** One master, one replica and `sentinels` sentinels (default 1, quorum 1) monitoring them. */
export async function startSentinelSetup(opts: { sentinels?: number; name?: string } = {}): Promise<SentinelSetup> {
  const name = opts.name ?? 'mymaster';
  const count = opts.sentinels ?? 1;
  const servers: RedisServer[] = [];
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(children.map(stopProcess));
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    const master = await startRedis({ args: FAST_SYNC });
    servers.push(master);
    const replica = await startRedis({ args: [...FAST_SYNC, '--replicaof', '127.0.0.1', String(master.port)] });
    servers.push(replica);
    await waitFor(
      async () => (await info(replica.port, 'replication')).master_link_status === 'up',
      'replica in sync',
      SERVER_STATE,
    );
    await waitReplicasAcked(master.port, 1);
    const sentinels: HostPort[] = [];
    for (let i = 0; i < count; i++) {
      const s = await startSentinel(name, master.port, Math.min(count, Math.floor(count / 2) + 1));
      children.push(s.child);
      sentinels.push({ host: '127.0.0.1', port: s.port });
    }
    // Each sentinel must know the replica (learnt from the master's INFO) before it can fail over.
    await Promise.all(
      sentinels.map((s) =>
        waitFor(
          async () => {
            const list = (await command(s.port, ['SENTINEL', 'REPLICAS', name])) as string[][];
            return list.some((r) => r.includes(String(replica.port)));
          },
          `sentinel ${s.port} sees the replica`,
          SERVER_STATE,
        ),
      ),
    );
    if (count > 1) {
      await Promise.all(
        sentinels.map((s) =>
          waitFor(
            async () => ((await command(s.port, ['SENTINEL', 'SENTINELS', name])) as unknown[]).length === count - 1,
            `sentinel ${s.port} sees its peers`,
            { ...SERVER_STATE, withinMs: 20_000 },
          ),
        ),
      );
    }
    const setup: SentinelSetup = {
      masterPort: master.port,
      replicaPort: replica.port,
      sentinels,
      name,
      servers,
      stop,
      async failover() {
        const oldMaster = setup.masterPort;
        const newMaster = setup.replicaPort;
        // A failover the sentinel abandons (failover-timeout 5 s on a loaded machine) is not tried
        // again by the sentinel: ask again whenever none is in progress and the master is still the
        // old one (one SENTINEL MASTER reply holds both, so no failover can end in between).
        await waitFor(
          async () => {
            const fields = (await command(sentinels[0].port, ['SENTINEL', 'MASTER', name])) as string[];
            const master = new Map<string, string>();
            for (let i = 0; i + 1 < fields.length; i += 2) master.set(fields[i], fields[i + 1]);
            if (master.get('port') === String(newMaster)) return true;
            if (!(master.get('flags') ?? '').includes('failover_in_progress')) {
              // -NOGOODSLAVE until the sentinel knows a suitable replica; -INPROG: an earlier try got through.
              await command(sentinels[0].port, ['SENTINEL', 'FAILOVER', name]).catch((e: Error) => {
                if (!/INPROG|NOGOODSLAVE/.test(e.message)) throw e;
              });
            }
            return false;
          },
          'SENTINEL FAILOVER done',
          { ...SERVER_STATE, withinMs: 45_000, everyMs: 200 },
        );
        await Promise.all(
          sentinels.map((s) =>
            waitFor(
              async () => {
                const addr = (await command(s.port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name])) as string[];
                return addr[1] === String(newMaster);
              },
              `sentinel ${s.port} reports the new master`,
              SERVER_STATE,
            ),
          ),
        );
        await waitFor(async () => (await info(newMaster, 'replication')).role === 'master', 'new master role', {
          withinMs: 15_000,
          everyMs: 100,
          retryErrors: true,
        });
        await waitFor(
          async () => {
            const r = await info(oldMaster, 'replication');
            return r.master_port === String(newMaster) && r.master_link_status === 'up';
          },
          'old master replicates from the new one',
          { ...SERVER_STATE, withinMs: 30_000 },
        );
        await waitReplicasAcked(newMaster, 1);
        setup.masterPort = newMaster;
        setup.replicaPort = oldMaster;
      },
    };
    return setup;
  } catch (err) {
    await stop();
    throw err;
  }
}

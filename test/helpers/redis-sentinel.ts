/**
 * A real Sentinel setup for tests (master + replica + sentinels), on free 127.0.0.1 ports. Data
 * nodes are started with startRedis() from servers.ts (tracked there); sentinels need a config
 * file as first argument, so they are spawned here and tracked by PID the same way (SIGKILLed at
 * process exit if still running).
 *
 * Never touches the shared Redis (:6379).
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { startRedis, freePort, spawnTracked, type RedisServer } from './servers';
import { waitFor } from './wait';
import { FAST_SYNC, SERVER_STATE, command, info, waitReplicasAcked, type HostPort } from './redis-admin';

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

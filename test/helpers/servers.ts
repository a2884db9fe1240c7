/**
 * Test tooling: throw-away redis-server and mosquitto instances on free 127.0.0.1 ports,
 * plus a throw-away CA. Every spawned process is tracked by PID and killed when the test
 * process exits, so a failing test file leaves nothing running.
 *
 * Never touches the shared Redis (:6379) or mosquitto (:1883).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';

const execFileP = promisify(execFile);

export interface TlsFiles {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

export interface RedisServer {
  port: number;
  host: '127.0.0.1';
  /** redis://127.0.0.1:P (rediss:// with tls); includes `:password@` when a password was given. */
  url: string;
  /** PID of the current process (changes after restart()). */
  pid: number;
  /** Temporary directory holding the log file (redis.log) and the working dir. */
  dir: string;
  /** Path of the log file (stdout + stderr of the server). */
  logFile: string;
  /** SIGTERM by PID, wait for exit (SIGKILL after 3 s). Idempotent. */
  stop(): Promise<void>;
  /** Start again on the SAME port with the same args; resolves once PING answers. */
  restart(): Promise<void>;
  /** SIGSTOP: the server keeps its socket but answers nothing. */
  freeze(): void;
  /** SIGCONT. */
  thaw(): void;
}

export interface MosquittoServer {
  port: number;
  /** tcp://127.0.0.1:P, or ssl://127.0.0.1:P with tls. */
  url: string;
  pid: number;
  dir: string;
  logFile: string;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

const START_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 3_000;

// ---------------------------------------------------------------------------------------
// Process tracking

const tracked = new Set<ChildProcess>();
const tmpDirs = new Set<string>();
let exitHookInstalled = false;

/** A fresh tmp dir, removed at process exit (set PMR_KEEP_TMP=1 to keep logs for debugging). */
function makeTmpDir(prefix: string): string {
  stopAllOnExit();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.add(dir);
  return dir;
}

function removeTmpDirs(): void {
  if (process.env.PMR_KEEP_TMP) return;
  for (const dir of tmpDirs) {
    try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* ignore */ }
  }
  tmpDirs.clear();
}

// A native crash (or SIGKILL) skips the exit hooks: a watchdog process, started with the
// first server, kills whatever is listed in the pid file once this process is gone.
let pidFile: string | undefined;
let watchdog: ChildProcess | undefined;

function writePidFile(): void {
  if (!pidFile) return;
  const pids = [...tracked].map((c) => c.pid).filter((p): p is number => p !== undefined);
  try { fs.writeFileSync(pidFile, pids.join(' ')); } catch { /* tmp dir gone at exit */ }
}

function startWatchdog(): void {
  if (watchdog) return;
  pidFile = path.join(os.tmpdir(), `pmr-servers-${process.pid}.pids`);
  fs.writeFileSync(pidFile, '');
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 0.5; done; ` +
    `p=$(cat '${pidFile}' 2>/dev/null); if [ -n "$p" ]; then kill -CONT $p 2>/dev/null; kill -9 $p 2>/dev/null; fi; rm -f '${pidFile}'`;
  watchdog = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
  watchdog.unref();
}

function killAllTracked(): void {
  if (watchdog?.pid !== undefined) {
    try { process.kill(watchdog.pid, 'SIGKILL'); } catch { /* gone */ }
    if (pidFile) fs.rmSync(pidFile, { force: true });
  }
  for (const child of tracked) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  }
  tracked.clear();
}

/**
 * Kills every tracked server by PID when the process exits (or gets SIGINT/SIGTERM/SIGHUP).
 * Called automatically by the start functions; calling it again is harmless.
 */
export function stopAllOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => { killAllTracked(); removeTmpDirs(); });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      killAllTracked();
      removeTmpDirs();
      process.removeListener(sig, handler);
      // Only re-raise if nobody else handles the signal (keeps the default behaviour).
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

/** Number of tracked server processes still running (for tests asserting cleanup). */
export function runningServerCount(): number {
  let n = 0;
  for (const child of tracked) if (child.exitCode === null && child.signalCode === null) n++;
  return n;
}

function isRunning(child: ChildProcess | undefined): child is ChildProcess {
  return child !== undefined && child.exitCode === null && child.signalCode === null;
}

/** Spawns a server process tracked like the others (killed at exit, and by the watchdog). */
export function spawnTracked(cmd: string, args: string[], logFile: string, cwd: string): ChildProcess {
  stopAllOnExit();
  const fd = fs.openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { cwd, stdio: ['ignore', fd, fd] });
  } finally {
    fs.closeSync(fd);
  }
  tracked.add(child);
  startWatchdog();
  writePidFile();
  child.once('exit', () => { tracked.delete(child); writePidFile(); });
  child.once('error', () => tracked.delete(child));
  // A forgotten server must not keep the test process alive; the exit hook kills it.
  child.unref();
  return child;
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!isRunning(child) || child.pid === undefined) return;
  const pid = child.pid;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try { process.kill(pid, 'SIGCONT'); } catch { /* ignore */ } // a frozen process can't handle SIGTERM
  try { process.kill(pid, 'SIGTERM'); } catch { /* ignore */ }
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      try { process.kill(pid, 'SIGKILL'); } catch { /* ignore */ }
      resolve();
    }, STOP_GRACE_MS);
  });
  await Promise.race([exited, killed]);
  clearTimeout(timer);
  await exited;
}

function logTail(logFile: string, lines = 25): string {
  try {
    const text = fs.readFileSync(logFile, 'utf8');
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `probe` until it resolves true; rejects if the child exits or the deadline passes.
 */
async function waitReady(child: ChildProcess, probe: () => Promise<boolean>, what: string, logFile: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let spawnError: Error | undefined;
  child.once('error', (e) => { spawnError = e; });
  for (;;) {
    if (spawnError) throw new Error(`${what}: failed to spawn: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited during start-up (code ${child.exitCode}, signal ${child.signalCode}). Log tail:\n${logTail(logFile)}`);
    }
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) {
      await stopChild(child);
      throw new Error(`${what} did not become ready within ${START_TIMEOUT_MS} ms. Log tail:\n${logTail(logFile)}`);
    }
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------
// Ports and probes

/** Binds 127.0.0.1:0, reads the port, closes. (Racy by nature; the start functions retry.) */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('freePort: no address'));
        return;
      }
      const { port } = addr;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves true when a TCP connection to 127.0.0.1:port succeeds. */
export function canConnect(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => { sock.destroy(); resolve(ok); };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/**
 * Sends PING over a raw (or TLS) socket. Any RESP reply other than -LOADING counts as ready
 * (-NOAUTH means the server is up but wants a password).
 */
function redisPing(port: number, tlsFiles?: TlsFiles, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock: net.Socket = tlsFiles
      ? tls.connect({
        host: '127.0.0.1', port, servername: 'localhost',
        ca: fs.readFileSync(tlsFiles.caCert),
        cert: fs.readFileSync(tlsFiles.clientCert),
        key: fs.readFileSync(tlsFiles.clientKey),
      })
      : net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean): void => { sock.destroy(); resolve(ok); };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once(tlsFiles ? 'secureConnect' : 'connect', () => sock.write('PING\r\n'));
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) done(buf.startsWith('+') || (buf.startsWith('-') && !buf.startsWith('-LOADING')));
    });
    sock.once('error', () => done(false));
  });
}

function isAddrInUse(logFile: string): boolean {
  return /address already in use|EADDRINUSE/i.test(logTail(logFile, 50));
}

// ---------------------------------------------------------------------------------------
// Redis

export interface StartRedisOptions {
  /** Extra redis-server arguments, appended last (they win over ours). */
  args?: string[];
  /** Sets --requirepass. */
  password?: string;
  /** TLS only (plain port disabled): --tls-port P --port 0 with the given files. */
  tls?: TlsFiles;
  /** Sets --aclfile. */
  aclFile?: string;
}

export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  const dir = makeTmpDir('pmr-redis-');
  const logFile = path.join(dir, 'redis.log');
  let lastErr: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const args = redisArgs(port, dir, opts);
    const child = spawnTracked('redis-server', args, logFile, dir);
    try {
      await waitReady(child, () => redisPing(port, opts.tls), `redis-server on port ${port}`, logFile);
    } catch (err) {
      lastErr = err;
      await stopChild(child);
      if (isAddrInUse(logFile)) continue; // lost the port race: try another one
      throw err;
    }
    return makeRedisServer(port, dir, logFile, args, child, opts);
  }
  throw lastErr;
}

function redisArgs(port: number, dir: string, opts: StartRedisOptions): string[] {
  const args = [
    '--bind', '127.0.0.1',
    '--save', '',
    '--appendonly', 'no',
    '--dir', dir,
    '--daemonize', 'no',
    '--logfile', '',
  ];
  if (opts.tls) {
    args.unshift('--port', '0', '--tls-port', String(port));
    args.push(
      '--tls-cert-file', opts.tls.serverCert,
      '--tls-key-file', opts.tls.serverKey,
      '--tls-ca-cert-file', opts.tls.caCert,
    );
  } else {
    args.unshift('--port', String(port));
  }
  if (opts.password !== undefined) args.push('--requirepass', opts.password);
  if (opts.aclFile !== undefined) args.push('--aclfile', opts.aclFile);
  if (opts.args) args.push(...opts.args);
  return args;
}

function makeRedisServer(
  port: number, dir: string, logFile: string, args: string[], first: ChildProcess, opts: StartRedisOptions,
): RedisServer {
  let child = first;
  const scheme = opts.tls ? 'rediss' : 'redis';
  const auth = opts.password !== undefined ? `:${encodeURIComponent(opts.password)}@` : '';
  const server: RedisServer = {
    port,
    host: '127.0.0.1',
    url: `${scheme}://${auth}127.0.0.1:${port}`,
    pid: child.pid ?? -1,
    dir,
    logFile,
    async stop() {
      await stopChild(child);
    },
    async restart() {
      await stopChild(child);
      const deadline = Date.now() + START_TIMEOUT_MS;
      for (;;) {
        child = spawnTracked('redis-server', args, logFile, dir);
        server.pid = child.pid ?? -1;
        try {
          await waitReady(child, () => redisPing(port, opts.tls), `redis-server restart on port ${port}`, logFile);
          return;
        } catch (err) {
          // The old socket may linger briefly; retry while the port is busy.
          if (!isAddrInUse(logFile) || Date.now() > deadline) throw err;
          await sleep(100);
        }
      }
    },
    freeze() {
      if (isRunning(child) && child.pid !== undefined) process.kill(child.pid, 'SIGSTOP');
    },
    thaw() {
      if (isRunning(child) && child.pid !== undefined) process.kill(child.pid, 'SIGCONT');
    },
  };
  return server;
}

// ---------------------------------------------------------------------------------------
// Mosquitto

export interface StartMosquittoOptions {
  /** Adds an ssl listener (url ssl://127.0.0.1:P) instead of plain tcp. */
  tls?: TlsFiles;
  /** Appended to the generated config (after the listener block, so it applies to it). */
  extraConfig?: string;
}

function mosquittoConfig(port: number, opts: StartMosquittoOptions): string {
  const lines = [
    'user root', // mosquitto drops privileges when started as root; keep access to our tmp dir
    'persistence false',
    'log_dest stdout',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
  ];
  if (opts.tls) {
    lines.push(`cafile ${opts.tls.caCert}`, `certfile ${opts.tls.serverCert}`, `keyfile ${opts.tls.serverKey}`);
  }
  if (opts.extraConfig) lines.push(opts.extraConfig);
  return lines.join('\n') + '\n';
}

export async function startMosquitto(opts: StartMosquittoOptions = {}): Promise<MosquittoServer> {
  const dir = makeTmpDir('pmr-mosquitto-');
  const logFile = path.join(dir, 'mosquitto.log');
  const confFile = path.join(dir, 'mosquitto.conf');
  let lastErr: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    fs.writeFileSync(confFile, mosquittoConfig(port, opts));
    const args = ['-c', confFile];
    const child = spawnTracked('mosquitto', args, logFile, dir);
    try {
      await waitReady(child, () => canConnect(port), `mosquitto on port ${port}`, logFile);
    } catch (err) {
      lastErr = err;
      await stopChild(child);
      if (isAddrInUse(logFile)) continue;
      throw err;
    }
    let current = child;
    const server: MosquittoServer = {
      port,
      url: `${opts.tls ? 'ssl' : 'tcp'}://127.0.0.1:${port}`,
      pid: child.pid ?? -1,
      dir,
      logFile,
      async stop() {
        await stopChild(current);
      },
      async restart() {
        await stopChild(current);
        const deadline = Date.now() + START_TIMEOUT_MS;
        for (;;) {
          current = spawnTracked('mosquitto', args, logFile, dir);
          server.pid = current.pid ?? -1;
          try {
            await waitReady(current, () => canConnect(port), `mosquitto restart on port ${port}`, logFile);
            return;
          } catch (err) {
            if (!isAddrInUse(logFile) || Date.now() > deadline) throw err;
            await sleep(100);
          }
        }
      },
    };
    return server;
  }
  throw lastErr;
}

// ---------------------------------------------------------------------------------------
// TLS material

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileP('openssl', args, { cwd });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr ?? e.message}`);
  }
}

/**
 * A CA, a server certificate for CN=localhost with SAN IP:127.0.0.1 + DNS:localhost, and a
 * client certificate (CN=test-client), all signed by the CA, in a fresh tmp dir. Keys are
 * unencrypted RSA 2048; certificates are valid for 2 days.
 */
export async function makeTestCA(): Promise<TlsFiles> {
  const dir = makeTmpDir('pmr-ca-');
  const f = (name: string): string => path.join(dir, name);
  await openssl([
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=paho-mqtt-redis test CA',
    '-keyout', f('ca.key'), '-out', f('ca.crt'),
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ], dir);
  fs.writeFileSync(f('server.ext'), [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ].join('\n') + '\n');
  fs.writeFileSync(f('client.ext'), [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=clientAuth',
  ].join('\n') + '\n');
  for (const [name, cn] of [['server', 'localhost'], ['client', 'test-client']] as const) {
    await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`,
      '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`)], dir);
    await openssl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'),
      '-CAcreateserial', '-days', '2', '-extfile', f(`${name}.ext`), '-out', f(`${name}.crt`)], dir);
  }
  return {
    dir,
    caCert: f('ca.crt'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    clientCert: f('client.crt'),
    clientKey: f('client.key'),
  };
}

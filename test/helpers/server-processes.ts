/**
 * The processes behind the throw-away test servers: every one is tracked by PID and killed when
 * the test process exits (a watchdog covers a crash), and so are their tmp dirs removed.
 * Start-up waits for a probe; a start or restart that loses its port is retried.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from './ports';
import { sleep } from './wait';

const START_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 3_000;

const tracked = new Set<ChildProcess>();
const tmpDirs = new Set<string>();
let exitHookInstalled = false;

/** A fresh tmp dir, removed at process exit (set PMR_KEEP_TMP=1 to keep logs for debugging). */
export function makeTmpDir(prefix: string): string {
  stopAllOnExit();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.add(dir);
  return dir;
}

function removeTmpDirs(): void {
  if (process.env.PMR_KEEP_TMP) return;
  for (const dir of tmpDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      /* ignore */
    }
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
  try {
    fs.writeFileSync(pidFile, pids.join(' '));
  } catch {
    /* tmp dir gone at exit */
  }
}

function startWatchdog(): void {
  if (watchdog) return;
  pidFile = path.join(os.tmpdir(), `pmr-servers-${process.pid}.pids`);
  fs.writeFileSync(pidFile, '');
  const script =
    `while kill -0 ${process.pid} 2>/dev/null; do sleep 0.5; done; ` +
    `p=$(cat '${pidFile}' 2>/dev/null); if [ -n "$p" ]; then kill -CONT $p 2>/dev/null; kill -9 $p 2>/dev/null; fi; rm -f '${pidFile}'`;
  watchdog = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
  watchdog.unref();
}

function killAllTracked(): void {
  if (watchdog?.pid !== undefined) {
    try {
      process.kill(watchdog.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    if (pidFile) fs.rmSync(pidFile, { force: true });
  }
  for (const child of tracked) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
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
  process.on('exit', () => {
    killAllTracked();
    removeTmpDirs();
  });
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

export function isRunning(child: ChildProcess | undefined): child is ChildProcess {
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
  child.once('exit', () => {
    tracked.delete(child);
    writePidFile();
  });
  child.once('error', () => tracked.delete(child));
  // A forgotten server must not keep the test process alive; the exit hook kills it.
  child.unref();
  return child;
}

export async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!isRunning(child) || child.pid === undefined) return;
  const pid = child.pid;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(pid, 'SIGCONT');
  } catch {
    /* ignore */
  } // a frozen process can't handle SIGTERM
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    /* ignore */
  }
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* ignore */
      }
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

/**
 * Polls `probe` until it resolves true; rejects if the child exits or the deadline passes.
 */
async function waitReady(
  child: ChildProcess,
  probe: () => Promise<boolean>,
  what: string,
  logFile: string,
): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let spawnError: Error | undefined;
  child.once('error', (e) => {
    spawnError = e;
  });
  for (;;) {
    if (spawnError) throw new Error(`${what}: failed to spawn: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `${what} exited during start-up (code ${child.exitCode}, signal ${child.signalCode}). Log tail:\n${logTail(logFile)}`,
      );
    }
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) {
      await stopChild(child);
      throw new Error(`${what} did not become ready within ${START_TIMEOUT_MS} ms. Log tail:\n${logTail(logFile)}`);
    }
    await sleep(50);
  }
}

function isAddrInUse(logFile: string): boolean {
  return /address already in use|EADDRINUSE/i.test(logTail(logFile, 50));
}

/** What every throw-away server offers; pid and stop() follow the process across restarts. */
export interface TrackedServer {
  port: number;
  /** PID of the current process (changes after restart()). */
  pid: number;
  /** Temporary directory holding the log file and the working dir. */
  dir: string;
  /** Path of the log file (stdout + stderr of the server). */
  logFile: string;
  /** SIGTERM by PID, wait for exit (SIGKILL after 3 s). Idempotent. */
  stop(): Promise<void>;
  /** Start again on the SAME port with the same args; resolves once the server answers again. */
  restart(): Promise<void>;
}

/**
 * Starts `cmd` on a free port and waits until `ready(port)` answers. A start that lost the
 * port race (another process took the port first) is retried on another port, up to 5 times.
 * `current()` is the server's process at the moment (it changes with restart()).
 */
export async function startOnFreePort(
  cmd: string,
  dir: string,
  logFile: string,
  argsFor: (port: number) => string[],
  ready: (port: number) => Promise<boolean>,
): Promise<{ server: TrackedServer; current: () => ChildProcess }> {
  let lastErr: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const args = argsFor(port);
    const child = spawnTracked(cmd, args, logFile, dir);
    try {
      await waitReady(child, () => ready(port), `${cmd} on port ${port}`, logFile);
    } catch (err) {
      lastErr = err;
      await stopChild(child);
      if (isAddrInUse(logFile)) continue; // lost the port race: try another one
      throw err;
    }
    let current = child;
    const server: TrackedServer = {
      port,
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
          current = spawnTracked(cmd, args, logFile, dir);
          server.pid = current.pid ?? -1;
          try {
            await waitReady(current, () => ready(port), `${cmd} restart on port ${port}`, logFile);
            return;
          } catch (err) {
            // The old socket may linger briefly; retry while the port is busy.
            if (!isAddrInUse(logFile) || Date.now() > deadline) throw err;
            await sleep(100);
          }
        }
      },
    };
    return { server, current: () => current };
  }
  throw lastErr;
}

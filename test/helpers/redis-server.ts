/**
 * Throw-away redis-server instances on free 127.0.0.1 ports (plain, TLS, password, ACL file);
 * ready once PING answers. The log file is redis.log in the server's dir.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { isRunning, makeTmpDir, startOnFreePort, type TrackedServer } from './server-processes';
import type { TlsFiles } from './test-ca';

export interface RedisServer extends TrackedServer {
  host: '127.0.0.1';
  /** redis://127.0.0.1:P (rediss:// with tls); includes `:password@` when a password was given. */
  url: string;
  /** SIGSTOP: the server keeps its socket but answers nothing. */
  freeze(): void;
  /** SIGCONT. */
  thaw(): void;
  /** SIGKILL (no shutdown, no final fsync); resolves once the process is gone. restart() starts it again. */
  kill(): Promise<void>;
}

export interface StartRedisOptions {
  /** Extra redis-server arguments, appended last (they win over ours). */
  args?: string[];
  /** Sets --requirepass. */
  password?: string;
  /** TLS only (plain port disabled): --tls-port P --port 0 with the given files. */
  tls?: TlsFiles;
  /** Sets --aclfile. */
  aclFile?: string;
  /** Append-only file, fsynced on every write (--appendfsync always): data survives kill() + restart(). */
  aof?: boolean;
}

export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  const dir = makeTmpDir('pmr-redis-');
  const logFile = path.join(dir, 'redis.log');
  const { server, current } = await startOnFreePort(
    'redis-server',
    dir,
    logFile,
    (port) => redisArgs(port, dir, opts),
    (port) => redisPing(port, opts.tls),
  );
  const scheme = opts.tls ? 'rediss' : 'redis';
  const auth = opts.password !== undefined ? `:${encodeURIComponent(opts.password)}@` : '';
  return Object.assign(server, {
    host: '127.0.0.1' as const,
    url: `${scheme}://${auth}127.0.0.1:${server.port}`,
    freeze() {
      const child = current();
      if (isRunning(child) && child.pid !== undefined) process.kill(child.pid, 'SIGSTOP');
    },
    thaw() {
      const child = current();
      if (isRunning(child) && child.pid !== undefined) process.kill(child.pid, 'SIGCONT');
    },
    async kill() {
      const child = current();
      if (!isRunning(child) || child.pid === undefined) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      process.kill(child.pid, 'SIGKILL');
      await exited;
    },
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
          host: '127.0.0.1',
          port,
          servername: 'localhost',
          ca: fs.readFileSync(tlsFiles.caCert),
          cert: fs.readFileSync(tlsFiles.clientCert),
          key: fs.readFileSync(tlsFiles.clientKey),
        })
      : net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once(tlsFiles ? 'secureConnect' : 'connect', () => sock.write('PING\r\n'));
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) done(buf.startsWith('+') || (buf.startsWith('-') && !buf.startsWith('-LOADING')));
    });
    sock.once('error', () => done(false));
  });
}

function redisArgs(port: number, dir: string, opts: StartRedisOptions): string[] {
  const args = [
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    opts.aof ? 'yes' : 'no',
    '--appendfsync',
    'always',
    '--dir',
    dir,
    '--daemonize',
    'no',
    '--logfile',
    '',
  ];
  if (opts.tls) {
    args.unshift('--port', '0', '--tls-port', String(port));
    args.push(
      '--tls-cert-file',
      opts.tls.serverCert,
      '--tls-key-file',
      opts.tls.serverKey,
      '--tls-ca-cert-file',
      opts.tls.caCert,
    );
  } else {
    args.unshift('--port', String(port));
  }
  if (opts.password !== undefined) args.push('--requirepass', opts.password);
  if (opts.aclFile !== undefined) args.push('--aclfile', opts.aclFile);
  if (opts.args) args.push(...opts.args);
  return args;
}

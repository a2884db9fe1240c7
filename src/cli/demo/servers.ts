/**
 * Finds the Redis and MQTT broker the demo uses: the URLs given, else the ones answering
 * on a device's usual ports, else throwaway redis-server/mosquitto on free loopback ports.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export interface Endpoint {
  url: string;
  started: boolean;
  stop(): void;
}

export function answers(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function startServer(
  name: string,
  command: string,
  args: (port: number, dir: string) => string[],
  scheme: string,
): Promise<Endpoint> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pmr-demo-${name}-`));
  const port = await freePort();
  let child: ChildProcess;
  try {
    child = spawn(command, args(port, dir), { stdio: 'ignore', detached: false });
  } catch (error) {
    throw new Error(`could not start ${command}: ${(error as Error).message}`, { cause: error });
  }
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (e) =>
      reject(new Error(`could not start ${command} (${e.message}); install it or pass its URL`)),
    );
    child.once('exit', (code) => reject(new Error(`${command} exited with code ${code} at start`)));
  });
  const deadline = Date.now() + 10_000;
  const ready = (async () => {
    while (!(await answers(port))) {
      if (Date.now() > deadline) throw new Error(`${command} did not listen on port ${port} within 10 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  await Promise.race([ready, failed]);
  const stop = () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', stop);
  return { url: `${scheme}://127.0.0.1:${port}`, started: true, stop };
}

export async function findRedis(given: string | undefined): Promise<Endpoint> {
  if (given) return { url: given, started: false, stop: () => undefined };
  if (await answers(6379)) return { url: 'redis://127.0.0.1:6379', started: false, stop: () => undefined };
  return startServer(
    'redis',
    'redis-server',
    (port, dir) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    'redis',
  );
}

export async function findBroker(given: string | undefined): Promise<Endpoint> {
  if (given) return { url: given, started: false, stop: () => undefined };
  if (await answers(1883)) return { url: 'tcp://127.0.0.1:1883', started: false, stop: () => undefined };
  return startServer(
    'mosquitto',
    'mosquitto',
    (port, dir) => {
      const conf = path.join(dir, 'mosquitto.conf');
      fs.writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n`);
      return ['-c', conf];
    },
    'tcp',
  );
}

/** Throw-away mosquitto brokers on free 127.0.0.1 ports (plain tcp or ssl). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { canConnect } from './ports';
import { makeTmpDir, startOnFreePort, type TrackedServer } from './server-processes';
import type { TlsFiles } from './test-ca';

export interface MosquittoServer extends TrackedServer {
  /** tcp://127.0.0.1:P, or ssl://127.0.0.1:P with tls. */
  url: string;
}

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
  const argsFor = (port: number): string[] => {
    fs.writeFileSync(confFile, mosquittoConfig(port, opts));
    return ['-c', confFile];
  };
  const { server } = await startOnFreePort('mosquitto', dir, logFile, argsFor, canConnect);
  return Object.assign(server, { url: `${opts.tls ? 'ssl' : 'tcp'}://127.0.0.1:${server.port}` });
}

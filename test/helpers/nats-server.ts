/**
 * Throw-away NATS servers speaking MQTT 3.1.1 (Debian's nats-server: an `mqtt` block needs
 * JetStream and a server name), the second broker the tests run against. MQTT listens on a
 * free 127.0.0.1 port; NATS's own client port is random (-1), also on 127.0.0.1. Sessions and
 * QoS 1 messages live in JetStream's store under the server's dir, so restart() keeps them.
 * NATS does not take QoS 2: it closes the connection on a QoS 2 PUBLISH.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { canConnect } from './ports';
import { makeTmpDir, startOnFreePort, type TrackedServer } from './server-processes';

export interface NatsServer extends TrackedServer {
  /** tcp://127.0.0.1:P, the MQTT listener. */
  url: string;
}

export async function startNats(): Promise<NatsServer> {
  const dir = makeTmpDir('pmr-nats-');
  const logFile = path.join(dir, 'nats.log');
  const confFile = path.join(dir, 'nats.conf');
  const argsFor = (port: number): string[] => {
    const config = [
      'listen: "127.0.0.1:-1"',
      `server_name: pmr_${port}`,
      `jetstream { store_dir: ${JSON.stringify(path.join(dir, 'jetstream'))} }`,
      `mqtt { listen: "127.0.0.1:${port}" }`,
      // PMR_NATS_TRACE=1: the server logs every protocol message (-DV), to explain a failure.
      ...(process.env.PMR_NATS_TRACE === '1' ? ['debug: true', 'trace: true'] : []),
    ];
    fs.writeFileSync(confFile, config.join('\n') + '\n');
    return ['-c', confFile];
  };
  const { server } = await startOnFreePort('nats-server', dir, logFile, argsFor, canConnect);
  return Object.assign(server, { url: `tcp://127.0.0.1:${server.port}` });
}

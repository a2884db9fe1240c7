/**
 * A TCP proxy on a free 127.0.0.1 port in front of a server, whose connections a test can cut
 * (reset) at will: the client behind it loses its connection while the server and its other
 * clients keep theirs.
 */
import * as net from 'node:net';

export interface CutProxy {
  url: string;
  /** Resets every connection now (the proxy keeps listening: the client reconnects). */
  cut(): void;
  close(): Promise<void>;
}

export async function startCutProxy(targetPort: number): Promise<CutProxy> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  const proxy: CutProxy = {
    url: `tcp://127.0.0.1:${port}`,
    cut() {
      for (const pair of pairs) {
        // A reset, not a FIN: the client's next write fails, as at a lost network.
        pair[0].resetAndDestroy();
        pair[1].destroy();
        pairs.delete(pair);
      }
    },
    close: () =>
      new Promise((resolve) => {
        proxy.cut();
        server.close(() => resolve());
      }),
  };
  return proxy;
}

/**
 * AsyncClient over TLS (ssl://) to mosquitto with a throw-away CA: server verification,
 * client certificates, and refusal without a trusted CA.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncClient, MemoryPersistence, PahoError, type SslOptions } from '../../src';
import { makeTestCA, startMosquitto, type MosquittoServer, type TlsFiles } from '../helpers/servers';
import { Inbox, closeAll, uid } from '../helpers/client-common';

let ca: TlsFiles;
let broker: MosquittoServer;
let mtlsBroker: MosquittoServer;
const clients = new Set<AsyncClient>();

before(async () => {
  ca = await makeTestCA();
  [broker, mtlsBroker] = await Promise.all([
    startMosquitto({ tls: ca }),
    startMosquitto({ tls: ca, extraConfig: 'require_certificate true' }),
  ]);
});
after(async () => {
  await closeAll(clients);
  await Promise.all([broker?.stop(), mtlsBroker?.stop()]);
});

async function tlsClient(server: MosquittoServer): Promise<AsyncClient> {
  const c = await AsyncClient.create({
    serverURI: server.url,
    clientId: uid('tls'),
    persistence: new MemoryPersistence(),
  });
  clients.add(c);
  return c;
}

/** Connects, subscribes to a fresh topic and receives its own QoS 1 and QoS 2 messages. */
async function roundTrip(server: MosquittoServer, ssl: SslOptions): Promise<void> {
  const c = await tlsClient(server);
  const info = await c.connect({ ssl, cleanSession: true });
  assert.equal(info.serverURI.replace(/^ssl:\/\//, ''), `127.0.0.1:${server.port}`);
  const topic = uid('tls-topic');
  const inbox = new Inbox(c);
  await c.subscribe(topic, { qos: 2 });
  await c.publish(topic, Buffer.from([1, 0, 2]), { qos: 1 });
  await c.publish(topic, Buffer.from('secret'), { qos: 2 });
  const got = await inbox.count(2);
  assert.deepEqual(
    got.map((m) => m.payload),
    [Buffer.from([1, 0, 2]), Buffer.from('secret')],
  );
  await c.disconnect({ timeout: 1000 });
  await c.close();
}

/** Expects connect to fail with a PahoError and the client to stay disconnected. */
async function refused(server: MosquittoServer, ssl: SslOptions | undefined): Promise<void> {
  const c = await tlsClient(server);
  await assert.rejects(c.connect({ ssl, connectTimeout: 5 }), (e: unknown) => {
    assert.ok(e instanceof PahoError, `expected a PahoError, got ${String(e)}`);
    assert.match(e.code, /^ERR_PAHO_/);
    return true;
  });
  assert.equal(await c.isConnected(), false);
  await c.close();
}

describe('TLS', () => {
  it('ssl:// with the test CA as trustStore: publish/subscribe round trip', async () => {
    assert.match(broker.url, /^ssl:\/\//);
    await roundTrip(broker, { trustStore: ca.caCert });
  });

  it('a client certificate (keyStore + privateKey) is accepted where mosquitto requires one', async () => {
    await roundTrip(mtlsBroker, { trustStore: ca.caCert, keyStore: ca.clientCert, privateKey: ca.clientKey });
  });

  it('without a client certificate the broker that requires one refuses the connection', async () => {
    await refused(mtlsBroker, { trustStore: ca.caCert });
  });

  it('without trustStore (verification on) the unknown CA is refused', async () => {
    await refused(broker, undefined);
    await refused(broker, { enableServerCertAuth: true });
    // Control: the same broker is reachable once verification is switched off.
    const c = await tlsClient(broker);
    await c.connect({ ssl: { enableServerCertAuth: false } });
    assert.equal(await c.isConnected(), true);
    await c.close();
  });

  it('with a trustStore that did not sign the server certificate, connect is refused', async () => {
    const other = await makeTestCA();
    await refused(broker, { trustStore: other.caCert });
  });
});

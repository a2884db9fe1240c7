/**
 * MQTT 5 reason codes of a publish's acknowledgement, against a mosquitto started for this file
 * whose ACL lets anonymous clients write `ok/#` only. A code of 0x80 or more (0x87, Not
 * authorized, for a topic the ACL denies) rejects the publish with a PahoError carrying it, at
 * once and in a burst of many; a code below 0x80 (0x10, No matching subscribers) is a success,
 * which Paho 1.3 reports without its code: publish() resolves with the token.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AsyncClient, MemoryPersistence, PahoError } from '../../src';
import { uid } from '../helpers/client-common';
import { startMosquitto, type MosquittoServer } from '../helpers/servers';

const NOT_AUTHORIZED = 0x87;
let broker: MosquittoServer;
let tmp: string;
const clients: AsyncClient[] = [];

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pmr-reason-'));
  const acl = path.join(tmp, 'acl');
  fs.writeFileSync(acl, 'topic readwrite ok/#\n');
  broker = await startMosquitto({ extraConfig: `acl_file ${acl}` });
});
after(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await broker?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function connected(mqttVersion: 4 | 5, persistence: 'none' | MemoryPersistence): Promise<AsyncClient> {
  const client = await AsyncClient.create({ serverURI: broker.url, clientId: uid('reason'), mqttVersion, persistence });
  clients.push(client);
  // maxInflight 20: MQTT 5's default (65535) lets Paho refuse a burst of more than 100 as 'buffered'.
  await client.connect({ cleanSession: true, maxInflight: 20 });
  return client;
}

function refusedWith(reasonCode: number): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof PahoError, String(error));
    assert.equal(error.reasonCode, reasonCode, error.message);
    assert.match(error.message, new RegExp(`\\(reason code ${reasonCode}\\)`));
    assert.equal(error.acceptedByPaho, true);
    return true;
  };
}

describe('MQTT 5: the reason code of a publish acknowledgement', () => {
  for (const store of ['none', 'memory'] as const) {
    // Before: a refused publish was taken for one Paho still held, and never settled.
    it(
      `(${store}) 0x87 rejects with the code, one publish or many at once; 0x10 resolves`,
      { timeout: 30_000 },
      async () => {
        const client = await connected(5, store === 'none' ? 'none' : new MemoryPersistence());
        await assert.rejects(
          client.publish(uid('denied/t'), Buffer.from('x'), { qos: 1 }),
          refusedWith(NOT_AUTHORIZED),
        );
        const many = await Promise.allSettled(
          Array.from({ length: 200 }, (_, i) =>
            client.publish(i % 2 === 0 ? uid('denied/m') : uid('ok/m'), Buffer.from(String(i)), { qos: 1 }),
          ),
        );
        many.forEach((outcome, i) => {
          if (i % 2 === 1) assert.equal(outcome.status, 'fulfilled', `ok/m #${i}`);
          else if (outcome.status === 'rejected') refusedWith(NOT_AUTHORIZED)(outcome.reason);
          else assert.fail(`denied/m #${i} resolved`);
        });
        // Nobody subscribes to ok/#: mosquitto answers 0x10, a success.
        const result = await client.publish(uid('ok/nobody'), Buffer.from('x'), { qos: 1 });
        assert.equal(typeof result.token, 'number');
        assert.equal(client.connected, true);
      },
    );
  }

  it('MQTT 3.1.1: a denied publish is acknowledged as usual (no reason codes), and resolves', async () => {
    const client = await connected(4, 'none');
    const result = await client.publish(uid('denied/v4'), Buffer.from('x'), { qos: 1 });
    assert.deepEqual(Object.keys(result), ['token']);
  });
});

/**
 * More QoS 1/2 publishes than MQTT has packet ids (65,535) while offline. Paho gives each
 * queued QoS 1/2 publish its packet id, and looks for a free one by scanning its command list
 * once per candidate id: with all taken, one more publish cost it seconds, and a flush() made
 * after 80,000 publish() calls waited behind hours of them. The client refuses such a publish
 * itself, at once, so flush() settles.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncClient, PahoMqttRedisError } from '../../src';
import { uid } from '../helpers/client-common';

const PACKET_IDS = 65_535;
const EXTRA = 2;
/** A guard against the hang, not a speed target: Paho alone needs seconds per extra publish. */
const FLUSH_DEADLINE_MS = 600_000;

describe('more offline QoS 1 publishes than packet ids', () => {
  it('refuses the publishes beyond 65,535 with ERR_PAHO_NO_MORE_MSGIDS, and flush() resolves', async () => {
    const client = await AsyncClient.create({
      serverURI: 'tcp://127.0.0.1:1', // never connected
      clientId: uid('packet-ids'),
      sendWhileDisconnected: true,
      maxBufferedMessages: PACKET_IDS + 100, // the ids run out first
    });
    try {
      const payload = Buffer.from('x');
      const outcomes = Array.from({ length: PACKET_IDS + EXTRA }, () =>
        client.publish('packet-ids/t', payload, { qos: 1 }).then(
          () => 'delivered',
          (error: unknown) => error,
        ),
      );
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve('flush() still waiting'), FLUSH_DEADLINE_MS);
      });
      const flushed = await Promise.race([client.flush().then(() => 'flushed'), deadline]);
      clearTimeout(timer);
      assert.equal(flushed, 'flushed');

      const refused = await Promise.all(outcomes.slice(PACKET_IDS));
      for (const error of refused) {
        assert.ok(error instanceof PahoMqttRedisError, `refused with a PahoMqttRedisError: ${String(error)}`);
        assert.equal(error.code, 'ERR_PAHO_NO_MORE_MSGIDS');
        assert.match(error.message, /65,535 MQTT packet ids/);
      }
      // The first 65,535 are buffered, still waiting for a connection.
      const first = await Promise.race([outcomes[0], Promise.resolve('pending')]);
      assert.equal(first, 'pending');
      assert.equal((await client.getPendingTokens()).length, PACKET_IDS);
    } finally {
      await client.close();
    }
  });
});

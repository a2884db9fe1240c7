/**
 * The native client's events reach JS in bursts (src/client/event-burst.ts). Driven here through
 * the raw native client: publish successes arrive as 'published' entries, and Paho's delivery
 * completions as 'deliveryComplete' entries only while the client wants them; otherwise they are
 * counted and reported as 'progressed' (what poison detection reads), never lost.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { native, type NativeClientEvent } from '../../src/native';
import { NativeRequests } from '../../src/client/requests';
import { forEachInBurst } from '../../src/client/event-burst';
import { toConnectSpec, toCreateSpec } from '../../src/client/options';
import { startMosquitto, type MosquittoServer } from '../helpers/servers';
import { uid, waitFor } from '../helpers/client-common';

let broker: MosquittoServer;

before(async () => {
  broker = await startMosquitto();
});

after(async () => {
  await broker?.stop();
});

describe('client events in bursts', () => {
  it("delivery completions: counted as 'progressed' while unwanted, sent as 'deliveryComplete' (and not counted) while wanted", async () => {
    const requests = new NativeRequests(
      () => undefined,
      () => undefined,
    );
    let progressed = 0;
    const completed: number[] = [];
    const published: number[] = [];
    const client = new native.MqttClient(
      (codes, events) =>
        forEachInBurst(codes, events, {
          event: (event: NativeClientEvent) => {
            if (event.type === 'result') requests.settle(event);
          },
          published: (request, token) => {
            published.push(token);
            requests.settlePublished(request, token);
          },
          deliveryComplete: (token) => completed.push(token),
          progressed: (count) => (progressed += count),
        }),
      null,
    );
    client.ref(); // the event function starts unref'd (AsyncClient refs it while requests are pending)
    const publishAll = (count: number): Promise<number[]> =>
      Promise.all(
        Array.from({ length: count }, (_, i) =>
          requests
            .send('publish', (id) => client.publish(id, uid('burst'), Buffer.from(`m${i}`), 1, false))
            .then((event) => event.token),
        ),
      );
    // Any later event carries the count of the completions before it.
    const settledCount = async (want: () => boolean, what: string): Promise<void> => {
      await waitFor(async () => {
        await requests.send('isConnected', (id) => client.isConnected(id));
        return want();
      }, what);
    };
    try {
      const options = { serverURI: broker.url, clientId: uid('burst') };
      await requests.send('create', (id) => client.create(id, toCreateSpec(options, 1, undefined)));
      await requests.send('connect', (id) =>
        client.connect(id, toConnectSpec({ cleanSession: true, maxInflight: 100 }, 4, broker.url)),
      );
      const unwanted = await publishAll(50);
      const sorted = (tokens: number[]): number[] => [...tokens].sort((a, b) => a - b);
      assert.deepEqual(sorted(published), sorted(unwanted), "each publish's success is one 'published' entry");
      await settledCount(() => progressed >= 50, '50 completions counted');
      assert.equal(progressed, 50);
      assert.deepEqual(completed, [], "no 'deliveryComplete' entry while unwanted");

      client.wantDeliveryComplete(true);
      const wanted = await publishAll(20);
      await settledCount(() => completed.length >= 20, "20 'deliveryComplete' entries");
      assert.deepEqual(sorted(completed), sorted(wanted));
      assert.equal(progressed, 50, 'completions sent as entries are not counted again');
      await requests.send('disconnect', (id) => client.disconnect(id, { timeout: 1000 }));
      await requests.send('close', (id) => client.destroy(id));
    } finally {
      client.dispose();
    }
  });
});

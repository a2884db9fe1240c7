/** The pieces behind resubscribe and messages({ topicFilter }), and the hash name Paho implies. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SubscriptionRegistry, topicMatches } from '../../src/client/subscriptions';
import { pahoServerURI } from '../../src/persistence/redis/options';

describe('topicMatches (MQTT topic filters)', () => {
  const cases: [string, string, boolean][] = [
    ['a/b', 'a/b', true],
    ['a/b', 'a/c', false],
    ['a/+', 'a/b', true],
    ['a/+', 'a/b/c', false],
    ['a/+/c', 'a//c', true],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['#', 'a/b', true],
    ['+/b', '/b', true],
    ['#', '$SYS/broker', false],
    ['+/broker', '$SYS/broker', false],
    ['$SYS/#', '$SYS/broker', true],
    ['a/b', 'a/b/c', false],
  ];
  for (const [filter, topic, expected] of cases) {
    it(`'${filter}' ${expected ? 'matches' : 'does not match'} '${topic}'`, () => {
      assert.equal(topicMatches(filter, topic), expected);
    });
  }
});

describe('SubscriptionRegistry', () => {
  it('keeps the latest subscription per filter, forgets unsubscribed ones, groups by property set', () => {
    const registry = new SubscriptionRegistry();
    const props = { subscriptionIdentifier: 7 };
    registry.add([{ topic: 'a', qos: 0 }]);
    registry.add([
      { topic: 'b', qos: 1, properties: props },
      { topic: 'c', qos: 2 },
    ]);
    registry.add([{ topic: 'a', qos: 2 }]);
    registry.add([{ topic: 'gone', qos: 1 }]);
    registry.remove(['gone']);
    assert.equal(registry.size, 3);
    const requests = registry.requests();
    assert.deepEqual(
      requests.map((group) => group.map((s) => [s.topic, s.qos])),
      [
        [['a', 2]],
        [
          ['b', 1],
          ['c', 2],
        ],
      ],
    );
    // One SUBSCRIBE carries one property set, on its first entry.
    assert.equal(requests[1][0].properties, props);
    assert.equal(requests[1][1].properties, undefined);
    registry.clear();
    assert.deepEqual(registry.requests(), []);
  });

  it('restore() reports each request: granted, or the error', async () => {
    const registry = new SubscriptionRegistry();
    registry.add([{ topic: 'x', qos: 1 }]);
    registry.add([{ topic: 'y', qos: 1, properties: { subscriptionIdentifier: 1 } }]);
    const reports: unknown[] = [];
    await registry.restore(
      (group) => (group[0].topic === 'x' ? Promise.resolve([1]) : Promise.reject(new Error('refused'))),
      (info) => reports.push(info),
    );
    assert.deepEqual(reports, [
      { topics: ['x'], granted: [1] },
      { topics: ['y'], error: new Error('refused') },
    ]);
  });
});

describe('pahoServerURI', () => {
  it('strips the schemes Paho strips, in lower case only, and keeps the rest', () => {
    assert.equal(pahoServerURI('tcp://127.0.0.1:1883'), '127.0.0.1:1883');
    assert.equal(pahoServerURI('mqtt://h:1'), 'h:1');
    assert.equal(pahoServerURI('ssl://h:8883'), 'h:8883');
    assert.equal(pahoServerURI('mqtts://h:8883'), 'h:8883');
    assert.equal(pahoServerURI('ws://h:80/mqtt'), 'h:80/mqtt');
    assert.equal(pahoServerURI('wss://h:443/mqtt'), 'h:443/mqtt');
    assert.equal(pahoServerURI('127.0.0.1:1883'), '127.0.0.1:1883');
    assert.equal(pahoServerURI('TCP://h:1'), 'TCP://h:1');
  });
});

/**
 * A batch's MULTI/EXEC as plain commands (transaction.ts): the same outcome as ioredis'
 * multi().exec() for every client the store takes, failures included (connection.ts reads their
 * shape), and RedisPersistence using it only where it is safe (not on a Cluster, not with
 * auto-pipelining).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Redis6, { Cluster } from 'ioredis';
import Redis5 from 'ioredis5';
import type { Redis } from 'ioredis';
import { RedisPersistence } from '../../src';
import { sendTransaction, sendsPlainTransactions } from '../../src/persistence/redis/transaction';
import { startRedis, type RedisServer } from '../helpers/servers';
import { uid } from '../helpers/client-common';

let redis: RedisServer;
let admin: Redis;

before(async () => {
  redis = await startRedis();
  admin = new Redis6(redis.port, '127.0.0.1');
  await admin.call('acl', 'setuser', 'hdel-only', 'on', 'nopass', '~*', '+multi', '+exec', '+hdel', '+ping', '+info');
});
after(async () => {
  admin?.disconnect();
  await redis?.stop();
});

type Command = (string | Buffer)[];

/** What a transaction did: its error (message and the queued commands' errors) and the hash after it. */
async function outcome(hash: string, run: () => Promise<unknown>): Promise<Record<string, unknown>> {
  let error: Record<string, unknown> | undefined;
  try {
    await run();
  } catch (e) {
    const err = e as Error & { previousErrors?: Error[] };
    error = { message: err.message, previous: (err.previousErrors ?? []).map((p) => p.message) };
  }
  return { error, hash: await admin.hgetall(hash) };
}

/** ioredis' own way, as the store sent batches before, with the store's reading of the replies. */
async function viaPipeline(client: Redis, commands: Command[]): Promise<void> {
  const replies = await client.multi(commands as string[][]).exec();
  if (replies === null) throw new Error('discarded');
  for (const [error] of replies) if (error) throw error;
}

const cases: { name: string; commands: (hash: string) => Command[]; fails: RegExp | undefined }[] = [
  {
    name: 'applied',
    commands: (h) => [
      ['hset', h, 's-1', Buffer.from([0, 1, 2]), 'c-1', 'x'],
      ['hdel', h, 'c-0'],
    ],
    fails: undefined,
  },
  {
    name: 'an error inside EXEC (WRONGTYPE on the second command; the first stays applied)',
    commands: (h) => [
      ['hset', h, 's-1', 'x'],
      ['hset', `${h}:string`, 'a', 'b'],
    ],
    fails: /^WRONGTYPE/,
  },
  {
    name: 'EXECABORT, the queued refusal in previousErrors (nothing applied)',
    commands: (h) => [
      ['hset', h, 's-1', 'x'],
      ['hset', h],
    ],
    fails: /^EXECABORT/,
  },
];

const clients: { name: string; make: (user?: string) => Redis }[] = [
  { name: 'ioredis 6, RESP3', make: (username) => new Redis6(redis.port, '127.0.0.1', { username }) },
  {
    name: 'ioredis 6, RESP2',
    make: (username) => new Redis6(redis.port, '127.0.0.1', { username, protocol: 2 }),
  },
  {
    name: 'ioredis 5',
    make: (username) => new Redis5(redis.port, '127.0.0.1', { username }) as unknown as Redis,
  },
];

for (const variant of clients) {
  describe(`a transaction as plain commands, ${variant.name}`, () => {
    for (const c of cases) {
      it(`ends as multi().exec() does: ${c.name}`, async () => {
        const client = variant.make();
        try {
          const results = [];
          for (const run of [viaPipeline, sendTransaction]) {
            const hash = uid('tx');
            await admin.set(`${hash}:string`, 'not a hash');
            results.push(await outcome(hash, () => run(client, c.commands(hash))));
          }
          const [expected, actual] = results;
          assert.deepEqual(actual, expected);
          if (c.fails === undefined) assert.equal(actual.error, undefined);
          else assert.match(String((actual.error as { message: string }).message), c.fails);
        } finally {
          client.disconnect();
        }
      });
    }

    it('names an ACL refusal of a queued command as multi().exec() does', async () => {
      const client = variant.make('hdel-only');
      try {
        const results = [];
        for (const run of [viaPipeline, sendTransaction]) {
          const hash = uid('tx');
          results.push(await outcome(hash, () => run(client, [['hset', hash, 's-1', 'x']])));
        }
        assert.deepEqual(results[1], results[0]);
        assert.deepEqual((results[1].error as { previous: string[] }).previous.length, 1);
        assert.match((results[1].error as { previous: string[] }).previous[0], /^NOPERM/);
      } finally {
        client.disconnect();
      }
    });
  });
}

describe('RedisPersistence sends a batch as plain commands only where that is safe', () => {
  it('a plain client: yes; auto-pipelining or a Cluster: no', () => {
    const plain = new Redis6(redis.port, '127.0.0.1', { lazyConnect: true });
    const pipelining = new Redis6(redis.port, '127.0.0.1', { lazyConnect: true, enableAutoPipelining: true });
    const cluster = new Cluster([{ host: '127.0.0.1', port: redis.port }], { lazyConnect: true });
    assert.equal(sendsPlainTransactions(plain), true);
    assert.equal(sendsPlainTransactions(pipelining), false);
    assert.equal(sendsPlainTransactions(cluster), false);
    for (const c of [plain, pipelining, cluster]) c.disconnect();
  });

  for (const autoPipelining of [false, true]) {
    it(`a batch with puts and removes, enableAutoPipelining ${autoPipelining}: ${autoPipelining ? 'Pipeline' : 'plain'}, stored either way`, async () => {
      const client = new Redis6(redis.port, '127.0.0.1', { enableAutoPipelining: autoPipelining });
      const multis: unknown[] = [];
      const multi = client.multi.bind(client) as (...args: unknown[]) => unknown;
      (client as unknown as { multi: (...args: unknown[]) => unknown }).multi = (...args: unknown[]) => {
        multis.push(args[0]);
        return multi(...args);
      };
      const store = new RedisPersistence({ client, lease: false });
      try {
        const clientId = uid('tx-store');
        await store.open(clientId, 'tcp://127.0.0.1:1883');
        multis.length = 0; // open() checks the ACL with a transaction of its own
        await store.batch([
          { key: 's-1', data: Buffer.from('one') },
          { key: 'c-2', data: Buffer.from('two') },
          { key: 'c-1', data: undefined },
        ]);
        await store.batch([
          { key: 'c-2', data: undefined },
          { key: 'sc-1', data: Buffer.from('rel') },
        ]);
        assert.deepEqual((await store.keys()).sort(), ['s-1', 'sc-1']);
        assert.equal(multis.length, 2);
        for (const arg of multis) {
          if (autoPipelining) assert.ok(Array.isArray(arg), 'expected multi(commands) (a Pipeline)');
          else assert.deepEqual(arg, { pipeline: false });
        }
      } finally {
        await store.close();
        client.disconnect();
      }
    });
  }
});

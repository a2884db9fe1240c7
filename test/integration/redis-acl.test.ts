/**
 * The least-rights ACL user of docs/redis-deployments.md, read from that page, end to end: a
 * client publishing QoS 1 and 2, restarting and restoring, a damaged record set aside, the CLI's
 * inspect and clear, ackReplicas; not one command denied (ACL LOG stays empty). And a user that
 * lacks a right learns which one at open().
 */
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import Redis from 'ioredis';
import { AsyncClient, PersistenceError, RedisPersistence } from '../../src';
import { main, type CliIO } from '../../src/cli/main';
import { quarantineHashName } from '../../src/persistence/redis/quarantine';
import { startMosquitto, startRedis, type MosquittoServer, type RedisServer } from '../helpers/servers';
import { Inbox, closeAll, uid, waitFor } from '../helpers/client-common';

const DOC = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'docs', 'redis-deployments.md'), 'utf8');
/** The documented ACL line, as a user copies it. */
const ACL_LINE = /^user mqtt on .*$/m.exec(DOC)?.[0] ?? '';
const PASSWORD = /\s>(\S+)/.exec(ACL_LINE)?.[1] ?? '';
/** The rights of the table row for ackReplicas (its first cell). */
const WAIT_RIGHTS = /^\| `(\+wait[^`]*)` \|.*ackReplicas/m.exec(DOC)?.[1] ?? '';
const PREFIX = 'mqtt:';

/** The documented line for another user name, with rights removed or added. */
function variant(user: string, remove: string[], add = ''): string {
  let line = ACL_LINE.replace(/^user mqtt /, `user ${user} `);
  for (const token of remove) line = line.replace(` ${token}`, '');
  return `${line} ${add}`.trim();
}

let tmp: string;
let redis: RedisServer;
let replica: RedisServer;
let broker: MosquittoServer;
let admin: Redis;
const clients = new Set<AsyncClient>();

const urlOf = (user: string): string => `redis://${user}:${PASSWORD}@127.0.0.1:${redis.port}`;
const storeURI = (): string => broker.url.replace(/^tcp:\/\//, '');
const hashOf = (clientId: string): string => `${PREFIX}${clientId}:${storeURI()}`;
const store = (user = 'mqtt', extra: object = {}): RedisPersistence =>
  new RedisPersistence({ url: urlOf(user), keyPrefix: PREFIX, operationTimeoutMs: 3000, ...extra });

async function create(clientId: string, persistence: RedisPersistence, extra: object = {}): Promise<AsyncClient> {
  const client = await AsyncClient.create({ serverURI: broker.url, clientId, persistence, ...extra });
  clients.add(client);
  return client;
}

async function subscriber(filter: string): Promise<Inbox> {
  const client = await create(uid('acl-sub'), undefined as never);
  const inbox = new Inbox(client);
  await client.connect();
  await client.subscribe(filter, { qos: 2 });
  return inbox;
}

async function aclLog(): Promise<unknown[]> {
  return (await admin.call('ACL', 'LOG')) as unknown[];
}

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const sink = (chunks: string[]): Writable =>
    new Writable({
      write(c, _e, cb) {
        chunks.push(String(c));
        cb();
      },
    });
  const io: CliIO = { stdout: sink(out), stderr: sink(err), stdin: new PassThrough() };
  const code = await main(argv, io);
  return { code, out: out.join(''), err: err.join('') };
}

before(async () => {
  assert.match(ACL_LINE, /^user mqtt on >\S+ /, 'docs/redis-deployments.md has the ACL line');
  assert.equal(WAIT_RIGHTS, '+wait', 'docs/redis-deployments.md names the rights of ackReplicas');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pmr-acl-'));
  const aclFile = path.join(tmp, 'users.acl');
  fs.writeFileSync(
    aclFile,
    [
      'user default on nopass ~* &* +@all',
      ACL_LINE,
      variant('mqttack', [], WAIT_RIGHTS),
      variant('nomulti', ['+multi', '+exec']),
      variant('noeval', ['+eval', '+hgetall']),
      variant('nowait', []),
      variant('noquarantine', ['~{mqtt:*}:quarantine']),
      variant('nolease', ['~{mqtt:*}:lease']),
      variant('noleasecommands', ['+get', '+set', '+pttl']),
      variant('ackonly', ['+multi', '+exec'], WAIT_RIGHTS),
    ].join('\n') + '\n',
  );
  [redis, broker] = await Promise.all([startRedis({ aclFile }), startMosquitto()]);
  replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(redis.port)] });
  admin = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  await admin.call('ACL', 'LOG', 'RESET');
});

after(async () => {
  await closeAll(clients);
  admin?.disconnect();
  await Promise.all([redis?.stop(), replica?.stop(), broker?.stop()]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the documented least-rights ACL user, end to end', () => {
  afterEach(async () => {
    assert.deepEqual(await aclLog(), [], 'no command was denied (ACL LOG)');
  });

  it('publishes QoS 1 and 2: every publish resolves, every message arrives, flush() resolves', async () => {
    const inbox = await subscriber('acl/pub/#');
    const clientId = uid('acl-pub');
    const client = await create(clientId, store());
    const errors: PersistenceError[] = [];
    client.on('persistenceError', (e) => errors.push(e));
    await client.connect();
    const sent = [];
    for (let i = 0; i < 100; i++) {
      sent.push(client.publish(`acl/pub/${i}`, Buffer.from(`m${i}`), { qos: 1 }));
      sent.push(client.publish(`acl/pub/${i}`, Buffer.from(`m${i}`), { qos: 2 }));
    }
    const settled = await Promise.allSettled(sent);
    const rejected = settled.filter((s) => s.status === 'rejected').map((s) => String(s.reason));
    assert.deepEqual(rejected.slice(0, 3), [], `${rejected.length} of ${sent.length} publishes rejected`);
    await client.flush();
    await inbox.count(200, 20_000, 'acl/pub/');
    assert.deepEqual(errors, []);
    await waitFor(async () => (await admin.hlen(hashOf(clientId))) === 0, 'the completed records removed');
  });

  it('restarts and restores what it stored; a damaged record is set aside, not lost', async () => {
    const inbox = await subscriber('acl/restore/#');
    const clientId = uid('acl-restore');
    const offline = await create(clientId, store(), { sendWhileDisconnected: true, cleanSession: false });
    const pending = ['a', 'b', 'c'].map((t) => offline.publish(`acl/restore/${t}`, Buffer.from(t), { qos: 1 }));
    for (const p of pending) p.catch(() => undefined); // rejected by close(): the records stay
    await offline.flush();
    await offline.close();
    assert.equal(await admin.hlen(hashOf(clientId)), 3, 'three commands stored');
    // payload length 0x7fffffff: Paho would read far past the value
    await admin.hset(hashOf(clientId), 'q-1', Buffer.from('ffffff7f0102', 'hex'));

    const restarted = await create(clientId, store(), { cleanSession: false });
    const reports: PersistenceError[] = [];
    restarted.on('persistenceError', (e) => reports.push(e));
    await restarted.connect();
    const received = await inbox.count(3, 10_000, 'acl/restore/');
    assert.deepEqual(received.map((m) => m.payload.toString()).sort(), ['a', 'b', 'c']);
    await waitFor(() => reports.length === 1, 'the damaged record reported');
    assert.deepEqual([reports[0].code, reports[0].key], ['ERR_PERSISTENCE_CORRUPT', 'q-1']);
    const setAside = await admin.hkeys(quarantineHashName(hashOf(clientId)));
    assert.deepEqual(
      setAside.filter((f) => !f.endsWith('#reason')).map((f) => f.split('@')[0]),
      ['q-1'],
    );
  });

  it("the CLI's inspect and clear work as this user", async () => {
    const clientId = uid('acl-cli');
    const offline = await create(clientId, store(), { sendWhileDisconnected: true });
    const pending = ['x', 'y'].map((t) => offline.publish(`acl/cli/${t}`, Buffer.from(t), { qos: 1 }));
    for (const p of pending) p.catch(() => undefined);
    await offline.flush();
    await offline.close();
    await admin.hset(quarantineHashName(hashOf(clientId)), 'q-9@1', 'x', 'q-9@1#reason', 'test');
    const target = [
      '--url',
      urlOf('mqtt'),
      '--key-prefix',
      PREFIX,
      '--client-id',
      clientId,
      '--server-uri',
      broker.url,
    ];

    const inspect = await cli(['inspect', ...target, '--json']);
    assert.equal(inspect.code, 0, inspect.err);
    const rows = JSON.parse(inspect.out) as { key: string; quarantined?: boolean }[];
    assert.deepEqual(
      rows.map((r) => [r.key, r.quarantined === true]),
      [
        ['c-1', false],
        ['c-2', false],
        ['q-9', true],
      ],
    );
    const clear = await cli(['clear', ...target, '--yes']);
    assert.equal(clear.code, 0, clear.err);
    assert.match(clear.out, /removed 2 entries/);
    assert.equal(await admin.exists(hashOf(clientId)), 0);
  });

  it('with ackReplicas (and the rights its row adds), publishes wait for a replica and succeed', async () => {
    const replicaAdmin = new Redis(replica.port, '127.0.0.1');
    try {
      await waitFor(
        async () => /master_link_status:up/.test(await replicaAdmin.info('replication')),
        'replica in sync',
      );
    } finally {
      replicaAdmin.disconnect();
    }
    const inbox = await subscriber('acl/ack/#');
    const client = await create(uid('acl-ack'), store('mqttack', { ackReplicas: { replicas: 1, timeoutMs: 2000 } }));
    const errors: PersistenceError[] = [];
    client.on('persistenceError', (e) => errors.push(e));
    await client.connect();
    const sent = [];
    for (let i = 0; i < 20; i++) {
      sent.push(client.publish(`acl/ack/${i}`, Buffer.from(`m${i}`), { qos: 1 }));
      sent.push(client.publish(`acl/ack/${i}`, Buffer.from(`m${i}`), { qos: 2 }));
    }
    await Promise.all(sent);
    await client.flush();
    await inbox.count(40, 10_000, 'acl/ack/');
    assert.deepEqual(errors, []);
  });
});

describe('a user missing a right learns it at open(), by name', () => {
  after(async () => {
    await admin.call('ACL', 'LOG', 'RESET');
  });

  const cases: [string, object, RegExp][] = [
    ['nomulti', {}, /this Redis ACL user cannot run MULTI\/EXEC: grant \+multi \+exec/],
    ['noeval', {}, /this Redis ACL user cannot run HGETALL, EVAL: grant \+hgetall \+eval/],
    ['nowait', { ackReplicas: { replicas: 1, timeoutMs: 2000 } }, /cannot run WAIT: grant \+wait/],
    [
      'noquarantine',
      {},
      /may not access hash 'mqtt:.*', its quarantine hash '\{mqtt:.*\}:quarantine', its outbox .* or its lease/,
    ],
    ['nolease', {}, /may not access hash 'mqtt:.*', its quarantine hash .* or its lease '\{mqtt:.*\}:lease'/],
    ['noleasecommands', {}, /cannot run GET, SET, PTTL: grant \+get \+set \+pttl/],
  ];
  for (const [user, options, message] of cases) {
    it(`${user}: AsyncClient.create rejects with ERR_PERSISTENCE_CONNECTION naming it; nothing is written`, async () => {
      const clientId = uid(`acl-${user}`);
      await assert.rejects(create(clientId, store(user, options)), (err: PersistenceError) => {
        assert.equal(err.code, 'ERR_PERSISTENCE_CONNECTION');
        assert.match(err.message, message);
        assert.ok(!err.message.includes(PASSWORD) && !JSON.stringify(err).includes(PASSWORD));
        return true;
      });
      assert.equal(await admin.exists(hashOf(clientId), quarantineHashName(hashOf(clientId))), 0);
    });
  }

  it('with ackReplicas (no MULTI/EXEC needed) a user without them is not refused: the check is skipped', async () => {
    await waitFor(
      async () => Number(/connected_slaves:(\d+)/.exec(await admin.info('replication'))?.[1]) >= 1,
      'replica',
    );
    const inbox = await subscriber('acl/ackonly/#');
    const client = await create(
      uid('acl-ackonly'),
      store('ackonly', { ackReplicas: { replicas: 1, timeoutMs: 2000 } }),
    );
    await client.connect();
    await Promise.all(
      [1, 2].map((qos) => client.publish('acl/ackonly/m', Buffer.from(`q${qos}`), { qos: qos as 1 | 2 })),
    );
    await client.flush();
    await inbox.count(2, 10_000, 'acl/ackonly/');
  });

  it('the documented user passes the same check with the documented options', async () => {
    await admin.call('ACL', 'LOG', 'RESET');
    const persistence = store();
    await persistence.open(uid('acl-open'), storeURI());
    await persistence.close();
    assert.deepEqual(await aclLog(), []);
  });
});

/**
 * RedisPersistence against real, throw-away redis-servers configured as deployments are:
 * AUTH (requirepass), an ACL user limited to the store's commands and key prefix, TLS with
 * client certificates, db index and keyspace isolation. Encryption at rest is in
 * redis-encryption.test.ts.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as util from 'node:util';
import Redis from 'ioredis';
import { RedisPersistence } from '../../src/persistence/redis/redis-persistence';
import { PersistenceError } from '../../src/errors';
import { persistenceSuite, assertPersistenceError, uniqueClientId } from '../helpers/persistence-suite';
import { startRedis, makeTestCA, runningServerCount, type RedisServer } from '../helpers/servers';
import { companionKeyName } from '../../src/persistence/redis/options';

const URI = 'tcp://127.0.0.1:1883';

async function openFails(store: RedisPersistence): Promise<PersistenceError> {
  return assertPersistenceError(() => store.open('c', URI), 'ERR_PERSISTENCE_CONNECTION');
}

/** Asserts no secret (raw or URL-encoded) appears anywhere a logger could print the error. */
function assertNoSecret(err: unknown, secrets: string[]): void {
  const e = err as Error;
  const text = [
    e.message,
    String(e.stack),
    JSON.stringify(e),
    util.inspect(e, { depth: Infinity, showHidden: true }),
    util.format('%o', e),
  ].join('\n');
  for (const s of secrets) {
    for (const form of [s, encodeURIComponent(s)])
      assert.ok(!text.includes(form), `secret leaked into the error:\n${text}`);
  }
}

const servers: RedisServer[] = [];
let plain: RedisServer;
let raw: Redis;
let tmp: string;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pmr-security-'));
  plain = await startRedis();
  servers.push(plain);
  raw = new Redis(plain.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
});

after(async () => {
  raw?.disconnect();
  await Promise.all(servers.map((s) => s.stop()));
  fs.rmSync(tmp, { recursive: true, force: true });
  assert.equal(runningServerCount(), 0, 'a redis-server started by this file is still running');
});

describe('AUTH (requirepass)', () => {
  const password = 'p@ss:w/rd%R1ght';
  let secured: RedisServer;
  before(async () => {
    secured = await startRedis({ password });
    servers.push(secured);
  });

  it('redis://:password@host:port works', async () => {
    assert.ok(secured.url.includes(`:${encodeURIComponent(password)}@`));
    const store = new RedisPersistence({ url: secured.url });
    await store.open(uniqueClientId('auth'), URI);
    try {
      await store.put('s-1', Buffer.from('authenticated'));
      assert.equal((await store.get('s-1')).toString(), 'authenticated');
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('a wrong password fails open(); the password appears nowhere in the error or its cause', async () => {
    const wrong = 'Wr0ng-p@ss/w%rd';
    const enc = encodeURIComponent(wrong);
    for (const options of [
      { url: `redis://:${enc}@127.0.0.1:${secured.port}` },
      { url: `redis://default:${enc}@127.0.0.1:${secured.port}/0` },
      { redisOptions: { host: '127.0.0.1', port: secured.port, password: wrong } },
    ]) {
      const err = await openFails(new RedisPersistence({ ...options, operationTimeoutMs: 2000 }));
      assert.match(err.message, /WRONGPASS/);
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${secured.port}`), 'says where it tried to connect');
      assert.ok(err.cause !== undefined, 'keeps a (sanitized) cause');
      assertNoSecret(err, [wrong, password]);
    }
  });

  it('no password fails open() with NOAUTH', async () => {
    const err = await openFails(
      new RedisPersistence({ url: `redis://127.0.0.1:${secured.port}`, operationTimeoutMs: 2000 }),
    );
    assert.match(err.message, /NOAUTH/);
  });
});

describe('ACL user limited to its commands and to ~mqtt:*', () => {
  // The store's commands (its operations, MULTI/EXEC for batches, EVAL and HGETALL for the
  // quarantine hash, EVAL, GET, SET and PTTL for the lease), +info for ioredis' ready check (or set redisOptions.enableReadyCheck:
  // false), +ping only for a user-supplied client. redis-acl.test.ts runs a client as the
  // documented user.
  const STORE =
    '+hset +hget +hdel +hkeys +del +hexists +hgetall +multi +exec +eval +get +set +pttl +xadd +xdel +xrange +xlen +xinfo|stream';
  const KEYS = '~mqtt:* ~{mqtt:*}:quarantine ~{mqtt:*}:lease ~{mqtt:*}:outbox ~{mqtt:*}:outbox-account';
  const pw = 'mqtt-Pa55w0rd';
  let acl: RedisServer;
  let admin: Redis;
  let mqttUrl: string;
  before(async () => {
    const aclFile = path.join(tmp, 'users.acl');
    fs.writeFileSync(
      aclFile,
      [
        'user default on nopass ~* &* +@all',
        `user mqtt on >${pw} resetkeys ${KEYS} resetchannels -@all ${STORE} +info +ping`,
        `user mqttmin on >${pw} resetkeys ${KEYS} resetchannels -@all ${STORE}`,
      ].join('\n') + '\n',
    );
    acl = await startRedis({ aclFile });
    servers.push(acl);
    admin = new Redis(acl.port, '127.0.0.1');
    await admin.call('ACL', 'LOG', 'RESET');
    mqttUrl = `redis://mqtt:${pw}@127.0.0.1:${acl.port}`;
  });
  after(() => {
    admin.disconnect();
  });

  persistenceSuite('RedisPersistence as ACL user mqtt with keyPrefix mqtt:', async () => ({
    store: new RedisPersistence({ url: mqttUrl, keyPrefix: 'mqtt:', operationTimeoutMs: 3000 }),
    cleanup: async () => undefined,
  }));

  it('the suite ran without a single denied command (ACL LOG is empty)', async () => {
    assert.deepEqual(await admin.call('ACL', 'LOG'), []);
  });

  it("the store's commands alone suffice when the ready check is off", async () => {
    const store = new RedisPersistence({
      url: `redis://mqttmin:${pw}@127.0.0.1:${acl.port}`,
      keyPrefix: 'mqtt:',
      redisOptions: { enableReadyCheck: false },
    });
    await store.open(uniqueClientId('min'), URI);
    try {
      await store.put('s-1', Buffer.from('x'));
      assert.equal((await store.get('s-1')).toString(), 'x');
      assert.deepEqual(await store.keys(), ['s-1']);
      assert.equal(await store.containsKey('s-1'), true);
      await store.batch([
        { key: 's-2', data: Buffer.from('y') },
        { key: 's-1', data: undefined },
      ]);
      assert.deepEqual(await store.keys(), ['s-2']);
      await store.quarantine('s-2', 'test');
      assert.deepEqual(
        (await store.quarantined()).map((r) => r.key),
        ['s-2'],
      );
      await store.clear();
    } finally {
      await store.close();
    }
    assert.deepEqual(await admin.call('ACL', 'LOG'), []);
  });

  it('without the prefix (a hash outside ~mqtt:*) open() fails, naming the hash and the key patterns to check', async () => {
    const store = new RedisPersistence({ url: mqttUrl, operationTimeoutMs: 2000 });
    const err = await assertPersistenceError(() => store.open('plain-client', URI), 'ERR_PERSISTENCE_CONNECTION');
    assert.equal(err.op, 'open');
    assert.match(err.message, /ACL user may not access hash 'plain-client:tcp:\/\/127\.0\.0\.1:1883'/);
    assert.match(err.message, /key patterns must match/);
    assertNoSecret(err, [pw]);
    assert.equal(store.isOpen, false);
    await admin.call('ACL', 'LOG', 'RESET');
  });

  it('a hash that stops matching after open() fails each operation with a NOPERM-derived error', async () => {
    const store = new RedisPersistence({ url: mqttUrl, keyPrefix: 'mqtt:', operationTimeoutMs: 2000 });
    const id = uniqueClientId('revoked');
    await store.open(id, URI);
    await admin.call('ACL', 'SETUSER', 'mqtt', 'resetkeys', '~other:*');
    try {
      for (const [op, fn] of [
        ['put', () => store.put('s-1', Buffer.from('x'))],
        ['get', () => store.get('s-1')],
        ['keys', () => store.keys()],
        ['clear', () => store.clear()],
      ] as const) {
        const err = await assertPersistenceError(fn, 'ERR_PERSISTENCE_STORE');
        assert.equal(err.op, op);
        assert.match(err.message, /NOPERM/);
        assert.match(err.message, /ACL user .*keyPrefix/, 'the message says what to check');
        assert.match(err.message, new RegExp(`hash 'mqtt:${id}:tcp://127\\.0\\.0\\.1:1883'`));
        assertNoSecret(err, [pw]);
      }
    } finally {
      await admin.call('ACL', 'SETUSER', 'mqtt', 'resetkeys', ...KEYS.split(' '));
      await store.close();
    }
    await admin.call('ACL', 'LOG', 'RESET');
  });

  it('a db index the user may not SELECT fails open() instead of silently using db 0', async () => {
    const err = await openFails(
      new RedisPersistence({ url: `${mqttUrl}/3`, keyPrefix: 'mqtt:', operationTimeoutMs: 2000 }),
    );
    assert.match(err.message, /cannot select database 3: NOPERM/);
    assertNoSecret(err, [pw]);
  });
});

describe('TLS (server verifies the client certificate)', () => {
  let secure: RedisServer;
  let ca: Buffer;
  let cert: Buffer;
  let key: Buffer;
  before(async () => {
    const files = await makeTestCA();
    [ca, cert, key] = [files.caCert, files.clientCert, files.clientKey].map((f) => fs.readFileSync(f));
    secure = await startRedis({ tls: files });
    servers.push(secure);
  });

  it('rediss:// with tls { ca, cert, key } works', async () => {
    const store = new RedisPersistence({ url: secure.url, redisOptions: { tls: { ca, cert, key } } });
    await store.open(uniqueClientId('tls'), URI);
    try {
      await store.put('s-1', Buffer.from([0, 255, 0]));
      assert.deepEqual(await store.get('s-1'), Buffer.from([0, 255, 0]));
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('without the CA, open() fails: the self-signed chain is not trusted', async () => {
    const err = await openFails(
      new RedisPersistence({ url: secure.url, redisOptions: { tls: { cert, key } }, operationTimeoutMs: 2000 }),
    );
    assert.match(err.message, /self[- ]signed certificate/i);
  });

  it('without a client certificate, open() fails: the server requires one', async () => {
    const err = await openFails(
      new RedisPersistence({ url: secure.url, redisOptions: { tls: { ca } }, operationTimeoutMs: 2000 }),
    );
    assert.match(err.message, /certificate required|ECONNRESET|socket/i);
  });
});

describe('db index and isolation', () => {
  let other: RedisServer;
  before(async () => {
    other = await startRedis();
    servers.push(other);
  });

  for (const [how, options] of [
    ['url /3', () => ({ url: `redis://127.0.0.1:${plain.port}/3` })],
    ['redisOptions.db', () => ({ redisOptions: { host: '127.0.0.1', port: plain.port, db: 3 } })],
  ] as const) {
    it(`${how}: data lands in db 3 and nowhere else`, async () => {
      const id = uniqueClientId('db');
      const store = new RedisPersistence(options());
      await store.open(id, URI);
      const db3 = new Redis(plain.port, '127.0.0.1', { lazyConnect: true });
      try {
        await store.put('s-1', Buffer.from('three'));
        await db3.connect();
        await db3.select(3);
        assert.equal(await db3.hget(`${id}:${URI}`, 's-1'), 'three');
        assert.equal(await raw.exists(`${id}:${URI}`), 0, 'nothing in db 0');
      } finally {
        await store.clear();
        await store.close();
        db3.disconnect();
      }
    });
  }

  it('the same clientId on two servers: two separate hashes', async () => {
    const id = uniqueClientId('twoservers');
    const a = new RedisPersistence({ url: plain.url });
    const b = new RedisPersistence({ url: other.url });
    await a.open(id, URI);
    await b.open(id, URI);
    try {
      await a.put('s-1', Buffer.from('on a'));
      assert.deepEqual(await b.keys(), []);
      await b.put('s-2', Buffer.from('on b'));
      assert.deepEqual(await a.keys(), ['s-1']);
      assert.equal(await a.containsKey('s-2'), false);
      await b.clear();
      assert.equal((await a.get('s-1')).toString(), 'on a');
    } finally {
      for (const s of [a, b]) {
        await s.clear();
        await s.close();
      }
    }
  });

  it('two keyPrefixes on one server, same clientId: never see each other', async () => {
    const id = uniqueClientId('prefixes');
    const a = new RedisPersistence({ url: plain.url, keyPrefix: 'site-a:' });
    const b = new RedisPersistence({ url: plain.url, keyPrefix: 'site-b:' });
    await a.open(id, URI);
    await b.open(id, URI);
    try {
      await a.put('s-1', Buffer.from('a'));
      await b.put('s-1', Buffer.from('b'));
      await b.put('c-9', Buffer.from('b'));
      assert.deepEqual(await a.keys(), ['s-1']);
      assert.equal((await a.get('s-1')).toString(), 'a');
      await b.clear();
      assert.equal((await a.get('s-1')).toString(), 'a');
      // Each store keeps its own lease beside its hash: one per prefix, too.
      assert.deepEqual((await raw.keys(`*${id}*`)).sort(), [
        `site-a:${id}:${URI}`,
        companionKeyName(`site-a:${id}:${URI}`, 'lease'),
        companionKeyName(`site-b:${id}:${URI}`, 'lease'),
      ]);
    } finally {
      for (const s of [a, b]) {
        await s.clear();
        await s.close();
      }
    }
  });
});

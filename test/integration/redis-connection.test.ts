/**
 * RedisPersistence's connection: over TLS, and when it fails (a closed port, a wrong or missing
 * password, Redis stopped, frozen or restarted under an open store). The store contract, layout,
 * options and command counts are in redis-persistence.test.ts.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { RedisPersistence } from '../../src/persistence/redis/redis-persistence';
import { PersistenceError } from '../../src/errors';
import { assertPersistenceError, uniqueClientId } from '../helpers/persistence-suite';
import { startRedis, freePort, makeTestCA, runningServerCount, type RedisServer } from '../helpers/servers';
import { waitFor } from '../helpers/wait';

const URI = 'tcp://127.0.0.1:1883';

/** Retries a store call until Redis answers it (every 100 ms, errors meanwhile expected). */
const UNTIL_REDIS_ANSWERS = { everyMs: 100, retryErrors: true };

/** Runs fn, expects a PersistenceError, answers it with the elapsed time. */
async function failsWithin(fn: () => Promise<unknown>): Promise<{ err: PersistenceError; ms: number }> {
  const t = Date.now();
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof PersistenceError, `expected a PersistenceError, got ${String(err)}`);
    return { err, ms: Date.now() - t };
  }
  assert.fail('expected the operation to fail');
}

after(() => {
  assert.equal(runningServerCount(), 0, 'a redis-server started by this file is still running');
});

describe('RedisPersistence over TLS', () => {
  let secure: RedisServer;
  let tlsOptions: { ca: Buffer; cert: Buffer; key: Buffer };
  before(async () => {
    const ca = await makeTestCA();
    tlsOptions = {
      ca: fs.readFileSync(ca.caCert),
      cert: fs.readFileSync(ca.clientCert),
      key: fs.readFileSync(ca.clientKey),
    };
    secure = await startRedis({ tls: ca });
  });
  after(async () => {
    await secure.stop();
  });

  it('works with a rediss:// url plus redisOptions.tls (CA and client certificate)', async () => {
    assert.match(secure.url, /^rediss:\/\/127\.0\.0\.1:\d+$/);
    const store = new RedisPersistence({ url: secure.url, redisOptions: { tls: tlsOptions } });
    await store.open(uniqueClientId('tls'), URI);
    try {
      await store.put('s-1', Buffer.from([0, 1, 0]));
      assert.deepEqual(await store.get('s-1'), Buffer.from([0, 1, 0]));
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('fails open with ERR_PERSISTENCE_CONNECTION when the CA is not trusted', async () => {
    const store = new RedisPersistence({
      url: secure.url,
      redisOptions: { tls: { cert: tlsOptions.cert, key: tlsOptions.key } },
      operationTimeoutMs: 2000,
    });
    const { err } = await failsWithin(() => store.open('c', URI));
    assert.equal(err.code, 'ERR_PERSISTENCE_CONNECTION');
    assert.match(err.message, /certificate/i);
  });
});

describe('RedisPersistence connection failures', () => {
  it('open against a closed port fails with ERR_PERSISTENCE_CONNECTION quickly', async () => {
    const port = await freePort();
    const store = new RedisPersistence({ url: `redis://127.0.0.1:${port}`, operationTimeoutMs: 2000 });
    const { err, ms } = await failsWithin(() => store.open('c', URI));
    assert.equal(err.code, 'ERR_PERSISTENCE_CONNECTION');
    assert.equal(err.op, 'open');
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.ok(ms < 3000, `open took ${ms} ms`);
    await assertPersistenceError(() => store.keys(), 'ERR_PERSISTENCE_NOT_OPEN');
  });

  describe('with requirepass', () => {
    let secured: RedisServer;
    before(async () => {
      secured = await startRedis({ password: 'right-Pa55' });
    });
    after(async () => {
      await secured.stop();
    });

    it('a wrong password in the url fails open, and the password never appears in the error', async () => {
      const password = 'wr0ng-S3cret/pw';
      const url = `redis://:${encodeURIComponent(password)}@127.0.0.1:${secured.port}/0`;
      const store = new RedisPersistence({ url, operationTimeoutMs: 2000 });
      const { err } = await failsWithin(() => store.open('c', URI));
      assert.equal(err.code, 'ERR_PERSISTENCE_CONNECTION');
      assert.match(err.message, /WRONGPASS|invalid/i);
      const everything = [
        err.message,
        String(err.stack),
        String((err.cause as Error | undefined)?.message),
        JSON.stringify(err),
      ].join('\n');
      for (const s of [password, encodeURIComponent(password)])
        assert.ok(!everything.includes(s), 'password leaked into the error');
    });

    it('a wrong password in redisOptions is not leaked either; the right one works', async () => {
      const store = new RedisPersistence({
        redisOptions: { port: secured.port, password: 'S3cr3t-in-options' },
        operationTimeoutMs: 2000,
      });
      const { err } = await failsWithin(() => store.open('c', URI));
      assert.equal(err.code, 'ERR_PERSISTENCE_CONNECTION');
      assert.ok(!err.message.includes('S3cr3t-in-options'));
      const ok = new RedisPersistence({ url: secured.url });
      await ok.open('c', URI);
      await ok.put('s-1', Buffer.from('authed'));
      assert.equal((await ok.get('s-1')).toString(), 'authed');
      await ok.close();
    });
  });

  describe('outages', () => {
    let flaky: RedisServer;
    before(async () => {
      flaky = await startRedis();
    });
    after(async () => {
      await flaky.stop();
    });

    it('Redis stopped mid-run: ops fail in bounded time, then recover after restart', async () => {
      const timeout = 1500;
      const store = new RedisPersistence({ url: flaky.url, operationTimeoutMs: timeout });
      await store.open(uniqueClientId('stop'), URI);
      try {
        await store.put('s-1', Buffer.from('before'));
        await flaky.stop();
        for (const op of [() => store.put('s-2', Buffer.from('during')), () => store.get('s-1')]) {
          const { err, ms } = await failsWithin(op);
          assert.ok(['ERR_PERSISTENCE_STORE', 'ERR_PERSISTENCE_TIMEOUT'].includes(err.code), err.code);
          assert.ok(err.cause !== undefined, 'the original error is kept as cause');
          assert.ok(ms < timeout + 1000, `failing took ${ms} ms`);
        }
        await flaky.restart();
        await waitFor(
          async () => {
            await store.put('s-3', Buffer.from('after'));
            return true;
          },
          'a put after the restart',
          { ...UNTIL_REDIS_ANSWERS, withinMs: 5000 },
        );
        assert.equal((await store.get('s-3')).toString(), 'after');
        assert.deepEqual(await store.keys(), ['s-3'], '--save "" : data from before the restart is gone');
      } finally {
        await store.close();
      }
    });

    it('a frozen Redis makes ops fail with ERR_PERSISTENCE_TIMEOUT, then recover after thaw', async () => {
      const timeout = 800;
      const store = new RedisPersistence({ url: flaky.url, operationTimeoutMs: timeout });
      await store.open(uniqueClientId('freeze'), URI);
      try {
        await store.put('s-1', Buffer.from('x'));
        flaky.freeze();
        try {
          const { err, ms } = await failsWithin(() => store.get('s-1'));
          assert.equal(err.code, 'ERR_PERSISTENCE_TIMEOUT');
          assert.equal(err.op, 'get');
          assert.equal(err.key, 's-1');
          assert.ok(ms >= timeout - 50 && ms < timeout + 1000, `timed out after ${ms} ms`);
          const put = await failsWithin(() => store.put('s-2', Buffer.from('y')));
          assert.equal(put.err.code, 'ERR_PERSISTENCE_TIMEOUT');
        } finally {
          flaky.thaw();
        }
        const value = await waitFor(() => store.get('s-1'), 'a get after the thaw', {
          ...UNTIL_REDIS_ANSWERS,
          withinMs: 5000,
        });
        assert.equal(value.toString(), 'x');
        await store.put('s-3', Buffer.from('z'));
        assert.equal(await store.containsKey('s-3'), true);
        await store.clear();
      } finally {
        await store.close();
      }
    });

    it('close() does not hang while Redis is down', async () => {
      const store = new RedisPersistence({ url: flaky.url, operationTimeoutMs: 1000 });
      await store.open(uniqueClientId('closedown'), URI);
      await flaky.stop();
      const t = Date.now();
      await store.close();
      assert.ok(Date.now() - t < 2000, 'close took too long');
      await assertPersistenceError(() => store.get('s-1'), 'ERR_PERSISTENCE_NOT_OPEN');
      await flaky.restart();
    });
  });
});

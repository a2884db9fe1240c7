/**
 * `paho-mqtt-redis migrate`: a backlog moves between Paho's file store and Redis. End to end: a
 * file-store client killed -9 with an offline backlog, migrated, then delivered by a Redis client
 * with the outbox option. The same under MQTT 3.1.1 (c- records) and MQTT 5 (c5-); what it
 * refuses is in cli-migrate-refusals.test.ts. Own Redis and mosquitto on free ports.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { AsyncClient, RedisPersistence } from '../../src';
import { ValueEncryptor } from '../../src/persistence/redis/encryption';
import { companionKeyName, pahoServerURI } from '../../src/persistence/redis/options';
import { sealValue } from '../../src/persistence/redis/stored-values';
import { qosOfNumber, type FileStorePublisherConfig } from '../fixtures/file-store-publisher';
import { Inbox, closeAll, runFixture, uid, waitFor } from '../helpers/client-common';
import { startMosquitto, startRedis, type MosquittoServer, type RedisServer } from '../helpers/servers';
import { runCli, type CliRun } from '../helpers/cli-run';
import { command, migrateClient, someRecords, writeFiles, type MigrateClient } from '../helpers/migrate-clients';

const QOS1 = 60;
const QOS2 = 40;
const WINDOW = 20;

let broker: MosquittoServer;
let redisServer: RedisServer;
let admin: Redis;
let tmp: string;
const clients = new Set<AsyncClient>();

before(async () => {
  [broker, redisServer] = await Promise.all([
    startMosquitto({ extraConfig: 'max_inflight_messages 0\nmax_queued_messages 100000' }),
    startRedis(),
  ]);
  admin = new Redis(redisServer.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-migrate-'));
});

after(async () => {
  await closeAll(clients);
  admin?.disconnect();
  await Promise.all([broker?.stop(), redisServer?.stop()]);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const cli = (...argv: string[]): Promise<CliRun> => runCli(argv);
const client = (tag: string): MigrateClient =>
  migrateClient(tag, { tmp, redisUrl: redisServer.url, serverUri: broker.url });

for (const mqttVersion of [4, 5] as const) {
  const v = mqttVersion === 5 ? 'v5' : 'v3';
  const cmd = mqttVersion === 5 ? 'c5-' : 'c-';
  // MQTT 5 keeps the session (and the broker its QoS 2 state) only with a session expiry.
  const keepSession =
    mqttVersion === 5 ? { cleanStart: false, properties: { sessionExpiryInterval: 3600 } } : { cleanSession: false };

  describe(`migrate --from-dir: a file-store backlog into Redis (MQTT ${mqttVersion === 5 ? '5' : '3.1.1'})`, () => {
    it(`a file-store client killed -9 with ${QOS1} QoS 1 + ${QOS2} QoS 2 offline: migrated, a Redis client with the outbox delivers all, QoS 2 once, in order per QoS`, async () => {
      const c = client(`migrate-e2e-${v}`);
      const topic = `migrate/${c.clientId}`;
      const total = QOS1 + QOS2;
      const config: FileStorePublisherConfig = {
        serverURI: c.serverUri,
        clientId: c.clientId,
        dir: c.dir,
        topic,
        qos1: QOS1,
        qos2: QOS2,
        mqttVersion,
      };
      const child = runFixture('file-store-publisher', config);
      await child.line(/^stored$/, 30_000);
      child.kill('SIGKILL');
      assert.equal((await child.exited).signal, 'SIGKILL', child.stderr());
      const files = fs.readdirSync(c.clientDir).sort();
      assert.equal(files.length, total, `Paho's file store holds one record per message: ${files.join(' ')}`);
      assert.ok(
        files.every((file) => file.startsWith(cmd)),
        `and each is a ${cmd} command: ${files.join(' ')}`,
      );

      const dry = await cli('migrate', '--from-dir', c.dir, ...c.args, '--dry-run');
      assert.equal(dry.code, 0, dry.err);
      assert.match(dry.out, new RegExp(`dry run: would copy ${total} entries`));
      assert.match(dry.out, new RegExp(`${cmd}1\\s+command\\s+1\\s+migrate/`));
      assert.equal(await admin.exists(c.hash), 0, 'a dry run writes nothing');

      const migrated = await cli('migrate', '--from-dir', c.dir, ...c.args);
      assert.equal(migrated.code, 0, migrated.err);
      assert.match(migrated.out, new RegExp(`copied ${total} entries from .* into hash`));
      assert.match(migrated.out, /the files stay in/);
      const stored = await admin.hgetallBuffer(c.hash);
      assert.equal(Object.keys(stored).length, total);
      for (const file of files)
        assert.deepEqual(
          stored[file.slice(0, -4)],
          fs.readFileSync(path.join(c.clientDir, file)),
          `${file}: same bytes`,
        );
      assert.equal(await admin.exists(companionKeyName(c.hash, 'lease')), 0, 'the lease is given back');

      // Run again (a crash after the copy, before the files went): done already; then the files go.
      const again = await cli('migrate', '--from-dir', c.dir, ...c.args, '--remove-source');
      assert.equal(again.code, 0, again.err);
      assert.match(again.out, new RegExp(`already copied: hash .* holds the ${total} entries`));
      assert.match(again.out, new RegExp(`removed ${total} file\\(s\\)`));
      assert.equal(fs.existsSync(c.clientDir), false, "the client's directory is removed once empty");
      assert.equal(await admin.hlen(c.hash), total, 'the hash is untouched by the re-run');

      const sub = await AsyncClient.create({ serverURI: broker.url, clientId: uid('migrate-sub') });
      clients.add(sub);
      const inbox = new Inbox(sub);
      await sub.connect();
      await sub.subscribe(topic, { qos: 2 });
      const store = new RedisPersistence({ url: redisServer.url });
      const publisher = await AsyncClient.create({
        serverURI: c.serverUri,
        clientId: c.clientId,
        mqttVersion,
        persistence: store,
        outbox: { window: WINDOW },
        maxBufferedMessages: 100,
      });
      clients.add(publisher);
      assert.equal(
        (await store.outboxStats()).length,
        total - WINDOW,
        'the upgrade moved all but one window into the outbox',
      );
      await publisher.connect(keepSession);
      await inbox.count(total, 30_000, topic);
      // Every flow complete (QoS 2 up to PUBCOMP) and the outbox empty: nothing more is on its way.
      await waitFor(
        async () => (await publisher.getPendingTokens()).length === 0 && (await store.outboxStats()).length === 0,
        'the publisher has nothing left to send',
        10_000,
      );
      const arrived = inbox.on(topic).map((m) => Number(/^#(\d+)#$/.exec(m.payload.toString())![1]));
      const counts = new Map<number, number>();
      for (const n of arrived) counts.set(n, (counts.get(n) ?? 0) + 1);
      assert.deepEqual(
        [...counts.keys()].sort((a, b) => a - b),
        Array.from({ length: total }, (_, i) => i + 1),
        'every message arrives',
      );
      const twice = [...counts].filter(([n, k]) => qosOfNumber(n, QOS1) === 2 && k > 1).map(([n]) => n);
      assert.deepEqual(twice, [], 'no QoS 2 message arrives twice');
      for (const qos of [1, 2]) {
        const firsts = arrived.filter((n, i) => qosOfNumber(n, QOS1) === qos && arrived.indexOf(n) === i);
        assert.deepEqual(
          firsts,
          [...firsts].sort((a, b) => a - b),
          `QoS ${qos} arrives in publish order`,
        );
      }
      await publisher.close();
      clients.delete(publisher);
    });

    it('encrypts with the given key, as RedisPersistence with that encryption option reads it', async () => {
      const c = client(`migrate-enc-${v}`);
      writeFiles(c.clientDir, someRecords(mqttVersion));
      const key = crypto.randomBytes(32);
      const keyFile = path.join(tmp, `${c.clientId}.key`);
      fs.writeFileSync(keyFile, key.toString('hex'));
      // A run killed while it filled the staging hash left it behind: replaced, not merged.
      const staging = companionKeyName(c.hash, 'migrating');
      await admin.hset(staging, `${cmd}99`, 'half a run');
      const r = await cli(
        'migrate',
        '--from-dir',
        c.dir,
        ...c.args,
        '--encryption-key-file',
        keyFile,
        '--key-id',
        'k1',
      );
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /copied 3 entries .*\(encrypted\)/);
      assert.deepEqual((await admin.hkeys(c.hash)).sort(), [`${cmd}1`, `${cmd}2`, `${cmd}3`], 'exactly the files');
      assert.equal(await admin.exists(staging), 0, 'the staging hash is renamed into place');
      const stored = await admin.hgetBuffer(c.hash, `${cmd}2`);
      assert.ok(stored !== null && !stored.equals(someRecords(mqttVersion)[`${cmd}2`]), 'stored encrypted');
      const store = new RedisPersistence({ url: redisServer.url, encryption: { key, keyId: 'k1' } });
      await store.open(c.clientId, pahoServerURI(c.serverUri));
      try {
        const copied = await store.get(`${cmd}2`);
        assert.deepEqual(copied, someRecords(mqttVersion)[`${cmd}2`], 'the store decrypts the copied record');
      } finally {
        await store.close();
      }
    });
  });

  describe(`migrate --to-dir: a Redis hash into a file store (MQTT ${mqttVersion === 5 ? '5' : '3.1.1'})`, () => {
    it('writes the files Paho would have written (decrypted), re-runs safely, removes the hash with --remove-source', async () => {
      const c = client(`migrate-back-${v}`);
      const key = crypto.randomBytes(32);
      const keyFile = path.join(tmp, `${c.clientId}.key`);
      fs.writeFileSync(keyFile, key);
      const encryptor = new ValueEncryptor({ key, keyId: 'k2' });
      const records = someRecords(mqttVersion);
      for (const [field, data] of Object.entries(records))
        await admin.hset(c.hash, field, sealValue(encryptor, c.hash, field, data));
      const withKey = ['--encryption-key-file', keyFile, '--key-id', 'k2'];

      const noKey = await cli('migrate', '--to-dir', c.dir, ...c.args);
      assert.equal(noKey.code, 2);
      assert.match(noKey.err, /holds encrypted values: give --encryption-key-file and --key-id/);

      // A crash in an earlier run left its staging directory: replaced.
      fs.mkdirSync(`${c.clientDir}.migrating`, { recursive: true });
      fs.writeFileSync(path.join(`${c.clientDir}.migrating`, `${cmd}7.msg`), 'half');
      const dry = await cli('migrate', '--to-dir', c.dir, ...c.args, ...withKey, '--dry-run');
      assert.equal(dry.code, 0, dry.err);
      assert.match(
        dry.out,
        new RegExp(`dry run: would copy 3 entries from hash .*\\n.*\\n${cmd}1\\s+command\\s+1\\s+m/a\\s+1\\s+3 B`),
      );
      assert.equal(fs.existsSync(c.clientDir), false, 'a dry run writes nothing');
      const copied = await cli('migrate', '--to-dir', c.dir, ...c.args, ...withKey);
      assert.equal(copied.code, 0, copied.err);
      assert.match(copied.out, /copied 3 entries from hash .* into /);
      assert.deepEqual(fs.readdirSync(c.clientDir).sort(), [`${cmd}1.msg`, `${cmd}2.msg`, `${cmd}3.msg`]);
      for (const [field, data] of Object.entries(records))
        assert.deepEqual(fs.readFileSync(path.join(c.clientDir, `${field}.msg`)), data, `${field}: plaintext bytes`);
      assert.equal(fs.existsSync(`${c.clientDir}.migrating`), false, 'no staging directory is left');
      assert.equal(await admin.hlen(c.hash), 3, 'the hash stays without --remove-source');

      const again = await cli('migrate', '--to-dir', c.dir, ...c.args, ...withKey, '--remove-source');
      assert.equal(again.code, 0, again.err);
      assert.match(again.out, /already copied: .* holds the 3 entries/);
      assert.match(again.out, /removed hash/);
      assert.equal(await admin.exists(c.hash), 0);

      // Other files in the target: refused.
      await admin.hset(c.hash, ...command(mqttVersion, 5, 'm/q', 'five', 1));
      const clash = await cli('migrate', '--to-dir', c.dir, ...c.args);
      assert.equal(clash.code, 1);
      assert.match(clash.err, /holds 3 file\(s\) already: merging two backlogs/);
      await admin.del(c.hash);
    });

    it('the files it writes are restored by a client with persistence: { dir }', async () => {
      const c = client(`migrate-restore-${v}`);
      for (const [field, data] of Object.entries(someRecords(mqttVersion))) await admin.hset(c.hash, field, data);
      const r = await cli('migrate', '--to-dir', c.dir, ...c.args, '--remove-source');
      assert.equal(r.code, 0, r.err);
      // Never connects: only what create() restores from the files matters.
      const same = await AsyncClient.create({
        serverURI: c.serverUri,
        clientId: c.clientId,
        mqttVersion,
        persistence: { dir: c.dir },
      });
      clients.add(same);
      assert.equal((await same.getPendingTokens()).length, 3, 'Paho restored the three queued publishes');
      await same.close();
      clients.delete(same);
    });
  });
}

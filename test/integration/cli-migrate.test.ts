/**
 * `paho-mqtt-redis migrate`: a backlog moves between Paho's file store and Redis. End to end: a
 * file-store client killed -9 with an offline backlog, migrated, then delivered by a Redis client
 * with the outbox option. Own Redis and mosquitto on free ports.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { AsyncClient, RedisPersistence } from '../../src';
import { clientDirName } from '../../src/cli/file-store';
import { ValueEncryptor } from '../../src/persistence/redis/encryption';
import { companionKeyName, hashName, pahoServerURI } from '../../src/persistence/redis/options';
import { sealValue } from '../../src/persistence/redis/stored-values';
import { encodeOutboxEntry } from '../../src/client/outbox-entry';
import { qosOfNumber, type FileStorePublisherConfig } from '../fixtures/file-store-publisher';
import { Inbox, closeAll, runFixture, uid, waitFor } from '../helpers/client-common';
import { startMosquitto, startRedis, type MosquittoServer, type RedisServer } from '../helpers/servers';
import { runCli, type CliRun } from '../helpers/cli-run';

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

/** A client of its own: its id, the URI it connects to, its hash and its directory under `dir`. */
function client(tag: string, dir = path.join(tmp, tag)) {
  const clientId = uid(tag);
  const serverUri = broker.url;
  fs.mkdirSync(dir, { recursive: true });
  return {
    clientId,
    serverUri,
    dir,
    hash: hashName('', clientId, pahoServerURI(serverUri)),
    clientDir: path.join(dir, clientDirName(clientId, serverUri)),
    args: ['--url', redisServer.url, '--client-id', clientId, '--server-uri', serverUri],
  };
}

// Hand-built queued PUBLISH commands (c-N) as Paho 1.3 writes them (v3, little-endian C ints):
// type 3, token, topic NUL, payloadlen, payload, qos, retained.
function command(token: number, topic: string, payload: string, qos: number): Buffer {
  const int = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeInt32LE(n);
    return b;
  };
  const body = Buffer.from(payload);
  return Buffer.concat([int(3), int(token), Buffer.from(`${topic}\0`), int(body.length), body, int(qos), int(0)]);
}

function writeFiles(clientDir: string, records: Record<string, Buffer>): void {
  fs.mkdirSync(clientDir, { recursive: true });
  for (const [key, data] of Object.entries(records)) fs.writeFileSync(path.join(clientDir, `${key}.msg`), data);
}

const someRecords = (): Record<string, Buffer> => ({
  'c-1': command(1, 'm/a', 'one', 1),
  'c-2': command(2, 'm/a', 'two', 2),
  'c-3': command(3, 'm/b', 'three', 1),
});

describe('migrate --from-dir: a file-store backlog into Redis', () => {
  it(`a file-store client killed -9 with ${QOS1} QoS 1 + ${QOS2} QoS 2 offline: migrated, a Redis client with the outbox delivers all, QoS 2 once, in order per QoS`, async () => {
    const c = client('migrate-e2e');
    const topic = `migrate/${c.clientId}`;
    const total = QOS1 + QOS2;
    const config: FileStorePublisherConfig = {
      serverURI: c.serverUri,
      clientId: c.clientId,
      dir: c.dir,
      topic,
      qos1: QOS1,
      qos2: QOS2,
    };
    const child = runFixture('file-store-publisher', config);
    await child.line(/^stored$/, 30_000);
    child.kill('SIGKILL');
    assert.equal((await child.exited).signal, 'SIGKILL', child.stderr());
    const files = fs.readdirSync(c.clientDir).sort();
    assert.equal(files.length, total, `Paho's file store holds one c- file per message: ${files.join(' ')}`);

    const dry = await cli('migrate', '--from-dir', c.dir, ...c.args, '--dry-run');
    assert.equal(dry.code, 0, dry.err);
    assert.match(dry.out, new RegExp(`dry run: would copy ${total} entries`));
    assert.match(dry.out, /c-1\s+command\s+1\s+migrate\//);
    assert.equal(await admin.exists(c.hash), 0, 'a dry run writes nothing');

    const migrated = await cli('migrate', '--from-dir', c.dir, ...c.args);
    assert.equal(migrated.code, 0, migrated.err);
    assert.match(migrated.out, new RegExp(`copied ${total} entries from .* into hash`));
    assert.match(migrated.out, /the files stay in/);
    const stored = await admin.hgetallBuffer(c.hash);
    assert.equal(Object.keys(stored).length, total);
    for (const file of files)
      assert.deepEqual(stored[file.slice(0, -4)], fs.readFileSync(path.join(c.clientDir, file)), `${file}: same bytes`);
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
    await publisher.connect({ cleanSession: false });
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
    const c = client('migrate-enc');
    writeFiles(c.clientDir, someRecords());
    const key = crypto.randomBytes(32);
    const keyFile = path.join(tmp, `${c.clientId}.key`);
    fs.writeFileSync(keyFile, key.toString('hex'));
    // A run killed while it filled the staging hash left it behind: replaced, not merged.
    const staging = companionKeyName(c.hash, 'migrating');
    await admin.hset(staging, 'c-99', 'half a run');
    const r = await cli('migrate', '--from-dir', c.dir, ...c.args, '--encryption-key-file', keyFile, '--key-id', 'k1');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /copied 3 entries .*\(encrypted\)/);
    assert.deepEqual((await admin.hkeys(c.hash)).sort(), ['c-1', 'c-2', 'c-3'], 'exactly the files');
    assert.equal(await admin.exists(staging), 0, 'the staging hash is renamed into place');
    const stored = await admin.hgetBuffer(c.hash, 'c-2');
    assert.ok(stored !== null && !stored.equals(someRecords()['c-2']), 'stored encrypted');
    const store = new RedisPersistence({ url: redisServer.url, encryption: { key, keyId: 'k1' } });
    await store.open(c.clientId, pahoServerURI(c.serverUri));
    try {
      assert.deepEqual(await store.get('c-2'), someRecords()['c-2'], 'the store decrypts the copied record');
    } finally {
      await store.close();
    }
  });

  it('refuses a hash that holds other records, or a queued outbox, and a client that is running', async () => {
    const c = client('migrate-refuse');
    writeFiles(c.clientDir, someRecords());
    await admin.hset(c.hash, 'c-9', command(9, 'm/z', 'other', 1));
    const full = await cli('migrate', '--from-dir', c.dir, ...c.args);
    assert.equal(full.code, 1);
    assert.match(full.err, /refusing: hash .* holds 1 entry: merging two backlogs .* Nothing was copied/);
    assert.equal(await admin.hlen(c.hash), 1);

    await admin.del(c.hash);
    const outbox = companionKeyName(c.hash, 'outbox');
    await admin.xadd(
      outbox,
      '1-0',
      'd',
      encodeOutboxEntry({ topic: 'o', payload: Buffer.from('x'), qos: 1, retained: false }),
    );
    const queued = await cli('migrate', '--from-dir', c.dir, ...c.args);
    assert.equal(queued.code, 1);
    assert.match(queued.err, /refusing: outbox .* holds 1 enqueued message/);
    const toDir = await cli('migrate', '--to-dir', path.join(tmp, 'unused'), ...c.args);
    assert.equal(toDir.code, 2, 'the --to-dir target must exist');
    fs.mkdirSync(path.join(tmp, 'unused'));
    await admin.hset(c.hash, 'c-9', command(9, 'm/z', 'other', 1));
    const outboxToDir = await cli('migrate', '--to-dir', path.join(tmp, 'unused'), ...c.args);
    assert.equal(outboxToDir.code, 1);
    assert.match(outboxToDir.err, /refusing: outbox .* 1 enqueued message\(s\), which are not Paho records/);
    await admin.del(outbox, c.hash);

    // A live holder on another host (its pid cannot be checked from here).
    const holder = JSON.stringify({ host: 'gw-elsewhere', pid: 4242, since: '2026-12-06T10:00:00.000Z', id: 'x' });
    await admin.set(companionKeyName(c.hash, 'lease'), holder, 'PX', 60_000);
    for (const extra of [[], ['--dry-run']]) {
      const running = await cli('migrate', '--from-dir', c.dir, ...c.args, ...extra);
      assert.equal(running.code, 1);
      assert.match(
        running.err,
        /refusing: the client is running \(.*pid 4242 on host 'gw-elsewhere'.*\); stop it first/,
      );
    }
    await admin.del(companionKeyName(c.hash, 'lease'));
    assert.equal(await admin.exists(c.hash), 0, 'nothing was copied');
    assert.equal(fs.readdirSync(c.clientDir).length, 3, 'the files are untouched');
  });

  it('refuses to copy into a client migrated before, whose hash emptied since, unless --force', async () => {
    const c = client('migrate-twice');
    writeFiles(c.clientDir, someRecords());
    const first = await cli('migrate', '--from-dir', c.dir, ...c.args);
    assert.equal(first.code, 0, first.err);
    const marker = JSON.parse((await admin.get(companionKeyName(c.hash, 'migrated')))!) as { records: number };
    assert.equal(marker.records, 3, 'the copy leaves its marker');
    await admin.del(c.hash); // as the Redis client leaves it once everything is delivered
    for (const extra of [[], ['--dry-run']]) {
      const twice = await cli('migrate', '--from-dir', c.dir, ...c.args, ...extra);
      assert.equal(twice.code, 1);
      assert.match(
        twice.err,
        /refusing: this client was migrated to Redis before \(3 record\(s\) from .* at .*\); .* would send them twice\. Pass --force/,
      );
    }
    assert.equal(await admin.exists(c.hash), 0, 'nothing was copied');
    const forced = await cli('migrate', '--from-dir', c.dir, ...c.args, '--force');
    assert.equal(forced.code, 0, forced.err);
    assert.equal(await admin.hlen(c.hash), 3);
  });

  it('says what is wrong with the input: missing directory, wrong client, stray files, bad arguments', async () => {
    const c = client('migrate-input');
    writeFiles(c.clientDir, someRecords());
    const missing = await cli('migrate', '--from-dir', path.join(tmp, 'nowhere'), ...c.args);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /--from-dir .*nowhere does not exist/);

    const wrongId = await cli(
      'migrate',
      '--from-dir',
      c.dir,
      ...c.args.slice(0, 2),
      '--client-id',
      'nobody',
      '--server-uri',
      c.serverUri,
    );
    assert.equal(wrongId.code, 2);
    assert.match(wrongId.err, /no file store for this client: .*nobody-127\.0\.0\.1-\d+ does not exist/);
    assert.ok(wrongId.err.includes(path.basename(c.clientDir)), `names the client directories there: ${wrongId.err}`);

    const clientDirGiven = await cli('migrate', '--from-dir', c.clientDir, ...c.args);
    assert.match(clientDirGiven.err, /itself holds Paho records: it is a client's directory, give its parent/);

    fs.writeFileSync(path.join(c.clientDir, 'notes.txt'), 'x');
    const stray = await cli('migrate', '--from-dir', c.dir, ...c.args);
    assert.equal(stray.code, 2);
    assert.match(stray.err, /holds 1 file\(s\) that are not Paho records .*notes\.txt/);
    fs.rmSync(path.join(c.clientDir, 'notes.txt'));

    for (const [argv, message] of [
      [['migrate', ...c.args], /give --from-dir .* or --to-dir/],
      [['migrate', '--from-dir', c.dir, '--to-dir', c.dir, ...c.args], /give --from-dir .* or --to-dir/],
      [['migrate', '--from-dir', c.dir, '--url', redisServer.url, '--hash', c.hash], /not --hash/],
      [['migrate', '--from-dir', c.dir, ...c.args, '--dry-run', '--remove-source'], /cannot be combined/],
      [['migrate', '--from-dir', c.dir, ...c.args, '--key-id', 'k'], /--encryption-key-file and --key-id go together/],
    ] as const) {
      const r = await cli(...argv);
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
      assert.match(r.err, message);
      assert.match(r.err, /Run 'paho-mqtt-redis migrate --help' for usage/);
    }
    const help = await cli('migrate', '--help');
    assert.equal(help.code, 0);
    assert.match(help.out, /--from-dir DIR/);
    assert.equal(await admin.exists(c.hash), 0, 'nothing was copied');
  });
});

describe('migrate --to-dir: a Redis hash into a file store', () => {
  it('writes the files Paho would have written (decrypted), re-runs safely, removes the hash with --remove-source', async () => {
    const c = client('migrate-back');
    const key = crypto.randomBytes(32);
    const keyFile = path.join(tmp, `${c.clientId}.key`);
    fs.writeFileSync(keyFile, key);
    const encryptor = new ValueEncryptor({ key, keyId: 'k2' });
    const records = someRecords();
    for (const [field, data] of Object.entries(records))
      await admin.hset(c.hash, field, sealValue(encryptor, c.hash, field, data));
    const withKey = ['--encryption-key-file', keyFile, '--key-id', 'k2'];

    const noKey = await cli('migrate', '--to-dir', c.dir, ...c.args);
    assert.equal(noKey.code, 2);
    assert.match(noKey.err, /holds encrypted values: give --encryption-key-file and --key-id/);

    // A crash in an earlier run left its staging directory: replaced.
    fs.mkdirSync(`${c.clientDir}.migrating`, { recursive: true });
    fs.writeFileSync(path.join(`${c.clientDir}.migrating`, 'c-7.msg'), 'half');
    const dry = await cli('migrate', '--to-dir', c.dir, ...c.args, ...withKey, '--dry-run');
    assert.equal(dry.code, 0, dry.err);
    assert.match(dry.out, /dry run: would copy 3 entries from hash .*\n.*\nc-1\s+command\s+1\s+m\/a\s+1\s+3 B/);
    assert.equal(fs.existsSync(c.clientDir), false, 'a dry run writes nothing');
    const copied = await cli('migrate', '--to-dir', c.dir, ...c.args, ...withKey);
    assert.equal(copied.code, 0, copied.err);
    assert.match(copied.out, /copied 3 entries from hash .* into /);
    assert.deepEqual(fs.readdirSync(c.clientDir).sort(), ['c-1.msg', 'c-2.msg', 'c-3.msg']);
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
    await admin.hset(c.hash, 'c-5', command(5, 'm/q', 'five', 1));
    const clash = await cli('migrate', '--to-dir', c.dir, ...c.args);
    assert.equal(clash.code, 1);
    assert.match(clash.err, /holds 3 file\(s\) already: merging two backlogs/);
    await admin.del(c.hash);
  });

  it('the files it writes are restored by a client with persistence: { dir }', async () => {
    const c = client('migrate-restore');
    for (const [field, data] of Object.entries(someRecords())) await admin.hset(c.hash, field, data);
    const r = await cli('migrate', '--to-dir', c.dir, ...c.args, '--remove-source');
    assert.equal(r.code, 0, r.err);
    // Never connects: only what create() restores from the files matters.
    const same = await AsyncClient.create({
      serverURI: c.serverUri,
      clientId: c.clientId,
      persistence: { dir: c.dir },
    });
    clients.add(same);
    assert.equal((await same.getPendingTokens()).length, 3, 'Paho restored the three queued publishes');
    await same.close();
    clients.delete(same);
  });
});

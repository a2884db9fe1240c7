/**
 * `paho-mqtt-redis migrate`: what it refuses (a hash or outbox that holds a backlog, a running
 * client, a client migrated before) and what it says about bad input. Nothing connects to a
 * broker: the server URI only names the client's directory and hash. Own Redis on a free port.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { companionKeyName } from '../../src/persistence/redis/options';
import { encodeOutboxEntry } from '../../src/client/outbox-entry';
import { startRedis, type RedisServer } from '../helpers/servers';
import { runCli, type CliRun } from '../helpers/cli-run';
import { command, migrateClient, someRecords, writeFiles, type MigrateClient } from '../helpers/migrate-clients';

let redisServer: RedisServer;
let admin: Redis;
let tmp: string;

before(async () => {
  redisServer = await startRedis();
  admin = new Redis(redisServer.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-migrate-refusals-'));
});

after(async () => {
  admin?.disconnect();
  await redisServer?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const cli = (...argv: string[]): Promise<CliRun> => runCli(argv);
const client = (tag: string): MigrateClient =>
  migrateClient(tag, { tmp, redisUrl: redisServer.url, serverUri: 'tcp://127.0.0.1:1883' });

describe('migrate: what it refuses', () => {
  it('refuses a hash that holds other records, or a queued outbox, and a client that is running', async () => {
    const c = client('migrate-refuse');
    writeFiles(c.clientDir, someRecords());
    await admin.hset(c.hash, ...command(4, 9, 'm/z', 'other', 1));
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
    await admin.hset(c.hash, ...command(4, 9, 'm/z', 'other', 1));
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

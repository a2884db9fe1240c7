import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { PassThrough } from 'node:stream';
import Redis from 'ioredis';
import { startRedis, type RedisServer } from '../helpers/servers';
import type { InspectRow } from '../../src/cli/inspect';
import { redactUrl } from '../../src/persistence/redis/redaction';
import { ValueEncryptor } from '../../src/persistence/redis/encryption';
import { companionKeyName } from '../../src/persistence/redis/options';
import { encodeOutboxEntry } from '../../src/client/outbox-entry';
import { runCli, type CliRun } from '../helpers/cli-run';

const PASSWORD = 'cli-test-Secret-pw';
const inspectRows = (json: string): InspectRow[] => JSON.parse(json) as InspectRow[];
const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
const CLIENT = 'sensor-1';
/** As an app gives it to AsyncClient; Paho hands the store `127.0.0.1:1883` (PAHO_URI). */
const URI = 'tcp://127.0.0.1:1883';
const PAHO_URI = '127.0.0.1:1883';
const PREFIX = 'clitest:';
const HASH = `${PREFIX}${CLIENT}:${PAHO_URI}`;

let server: RedisServer;
let redis: Redis;
let url: string;

before(async () => {
  server = await startRedis({ password: PASSWORD });
  url = server.url;
  assert.ok(url.includes(PASSWORD));
  redis = new Redis(url);
});
after(async () => {
  redis?.disconnect();
  await server?.stop();
});

async function run(argv: string[], stdin?: PassThrough & { isTTY?: boolean }): Promise<CliRun> {
  const r = await runCli(argv, stdin);
  assert.ok(!r.out.includes(PASSWORD) && !r.err.includes(PASSWORD), 'the Redis password must never be printed');
  return r;
}

const conn = (): string[] => ['--url', url, '--key-prefix', PREFIX, '--client-id', CLIENT, '--server-uri', URI];

// Hand-built records (x64/arm: little-endian C ints), as Paho passes them to pput.
const int = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
};
const cstr = (s: string): Buffer => Buffer.from(`${s}\0`);
const RECORDS: Record<string, Buffer> = {
  // s-: PUBLISH QoS1, topic "a/b", msgid 7, payload "hello"
  's-7': Buffer.from([0x32, 12, 0, 3, 0x61, 0x2f, 0x62, 0, 7, ...Buffer.from('hello')]),
  'sc-2': Buffer.from([0x62, 0x02, 0x00, 0x02]),
  // c-: PUBLISH command: type, token, topic, payloadlen, payload, qos, retained
  'c-10': Buffer.concat([int(3), int(5), cstr('out/t'), int(3), Buffer.from([0, 1, 2]), int(2), int(0)]),
  'c-9': Buffer.concat([int(8), int(4), int(1), cstr('sub/#'), int(1)]),
  // q-: payloadlen, payload, qos, retained, dup, msgid, topic, topicLen
  'q-1': Buffer.concat([int(2), Buffer.from('hi'), int(1), int(1), int(0), int(33), cstr('in/x'), int(4)]),
  junk: Buffer.from('not a record'),
};

async function fill(hash = HASH, records = RECORDS): Promise<void> {
  await redis.del(hash);
  await redis.hset(hash, records);
}

test('--help for every command, and the global help', async () => {
  for (const cmd of ['inspect', 'clear', 'demo']) {
    const r = await run([cmd, '--help']);
    assert.equal(r.code, 0, cmd);
    assert.match(r.out, new RegExp(`^Usage: paho-mqtt-redis ${cmd}`));
    assert.equal(r.err, '');
    const short = await run([cmd, '-h']);
    assert.equal(short.out, r.out);
  }
  const h = await run(['--help']);
  assert.equal(h.code, 0);
  assert.match(h.out, /Commands:\n\s+inspect[\s\S]+clear[\s\S]+demo/);
  assert.match((await run(['help', 'clear'])).out, /--yes/);
  const none = await run([]);
  assert.equal(none.code, 2);
  assert.equal(none.out, '');
  assert.match(none.err, /^paho-mqtt-redis: no command given.*\nRun 'paho-mqtt-redis --help' for usage\.\n$/);
});

test('--version prints the package version on stdout', async () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  for (const flag of ['--version', '-V']) {
    const r = await run([flag]);
    assert.deepEqual(r, { code: 0, out: `${pkg.version}\n`, err: '' });
  }
});

test('unknown command, bad flags and missing targets: exit 2, one message and a pointer to --help on stderr', async () => {
  const unknown = await run(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.equal(unknown.err, "paho-mqtt-redis: unknown command 'frobnicate'\nRun 'paho-mqtt-redis --help' for usage.\n");
  const cases: Array<[string[], RegExp]> = [
    [['inspect', '--bogus'], /Unknown option '--bogus'/],
    [['inspect', '--url', url], /give --client-id and --server-uri, or --hash/],
    [['inspect', '--url', url, '--client-id', 'x'], /give --client-id and --server-uri, or --hash/],
    [['inspect', '--url', url, '--hash', 'h', '--client-id', 'x'], /--hash cannot be combined/],
    [['inspect', '--url', url, '--hash', 'h', 'extra'], /Unexpected argument 'extra'/],
    [['inspect', '--url', url, '--hash', 'h', '--key-id', 'k'], /--encryption-key-file and --key-id go together/],
    [['inspect', '--url', url, '--list', '--hash', 'h'], /--list cannot be combined with --hash/],
    [
      ['inspect', '--url', `http://user:${PASSWORD}@h`, '--hash', 'h'],
      /must be a redis:\/\/ or rediss:\/\/ URL, got http:\/\/.*\*\*\*@h/,
    ],
    [['clear', '--url', url, '--hash', 'h', '--yes', 'no'], /Unexpected argument/],
  ];
  for (const [argv, re] of cases) {
    const r = await run(argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.match(r.err, re);
    // Help is not mixed into the error: the message, then where the help is.
    assert.match(
      r.err,
      new RegExp(`^paho-mqtt-redis ${argv[0]}: [^\n]+\nRun 'paho-mqtt-redis ${argv[0]} --help' for usage\\.\n$`),
    );
    assert.equal(r.out, '');
  }
});

test('inspect --json decodes every hand-built record, sorted by kind then number', async () => {
  await fill();
  const r = await run(['inspect', ...conn(), '--json']);
  assert.equal(r.code, 0, r.err);
  const rows = inspectRows(r.out);
  assert.deepEqual(
    rows.map((x) => x.key),
    ['c-9', 'c-10', 's-7', 'sc-2', 'q-1', 'junk'],
  );
  const byKey: Record<string, InspectRow> = Object.fromEntries(rows.map((x) => [x.key, x]));
  assert.deepEqual(byKey['s-7'], {
    key: 's-7',
    number: 7,
    storedSize: 14,
    kind: 'sentPublish',
    mqtt5: false,
    dup: false,
    qos: 1,
    retained: false,
    topic: 'a/b',
    packetId: 7,
    payloadSize: 5,
  });
  assert.equal(byKey['sc-2'].packetId, 2);
  assert.deepEqual(byKey['c-10'], {
    key: 'c-10',
    number: 10,
    storedSize: RECORDS['c-10'].length,
    kind: 'command',
    mqtt5: false,
    sequence: 10,
    commandType: 'PUBLISH',
    token: 5,
    topic: 'out/t',
    payloadSize: 3,
    qos: 2,
    retained: false,
  });
  assert.deepEqual(byKey['c-9'].topics, ['sub/#']);
  assert.equal(byKey['c-9'].commandType, 'SUBSCRIBE');
  assert.equal(byKey['q-1'].topic, 'in/x');
  assert.equal(byKey['q-1'].packetId, 33);
  assert.equal(byKey.junk.kind, 'unknown');
  assert.match(String(byKey.junk.error), /not a Paho persistence key/);
  // --hash names the same hash directly
  const viaHash = await run(['inspect', '--url', url, '--hash', HASH, '--json']);
  assert.deepEqual(JSON.parse(viaHash.out), rows);
  // without --key-prefix the hash is `${clientId}:${serverURI}`, as RedisPersistence names it by default;
  // --server-uri takes the URI with its scheme (as the app wrote it) or without (as Paho names it)
  await fill(`${CLIENT}:${PAHO_URI}`, { 'sc-2': RECORDS['sc-2'] });
  for (const serverURI of [URI, PAHO_URI]) {
    const noPrefix = await run(['inspect', '--url', url, '--client-id', CLIENT, '--server-uri', serverURI, '--json']);
    assert.deepEqual(
      inspectRows(noPrefix.out).map((x) => x.key),
      ['sc-2'],
    );
  }
});

test('inspect prints a table', async () => {
  await fill();
  const r = await run(['inspect', ...conn()]);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trimEnd().split('\n');
  assert.equal(lines[0], `hash ${HASH}: 6 entries`);
  assert.match(lines[1], /^KEY\s+KIND\s+ID\/SEQ\s+TOPIC\s+QOS\s+PAYLOAD\s+NOTE$/);
  assert.match(lines[2], /^c-9\s+command\s+9\s+sub\/#\s+1\s+-\s+SUBSCRIBE$/);
  assert.match(lines[3], /^c-10\s+command\s+10\s+out\/t\s+2\s+3 B\s+PUBLISH$/);
  assert.match(lines[4], /^s-7\s+sentPublish\s+7\s+a\/b\s+1\s+5 B$/);
  assert.match(lines[7], /^junk\s+unknown\s+-.*error: not a Paho persistence key/);
  const empty = await run(['inspect', '--url', url, '--hash', 'clitest:none:x:1']);
  assert.equal(empty.code, 0);
  assert.match(empty.out, /^hash clitest:none:x:1 does not exist: .*inspect --list/);
});

test('inspect --payload previews payloads: text quoted, binary in hex, long ones cut', async () => {
  await fill();
  const long = 'x'.repeat(40);
  const q = (payload: Buffer): Buffer =>
    Buffer.concat([int(payload.length), payload, int(1), int(0), int(0), int(33), cstr('in/x'), int(4)]);
  await fill(`${PREFIX}payloads:${PAHO_URI}`, { 'q-1': q(Buffer.from(long)), 'q-2': q(Buffer.from([0, 1, 0xff])) });
  const table = await run(['inspect', '--url', url, '--hash', `${PREFIX}payloads:${PAHO_URI}`, '--payload']);
  assert.equal(table.code, 0, table.err);
  assert.match(table.out, new RegExp(`q-1 .* 40 B "${'x'.repeat(32)}"\\.\\.\\.`));
  assert.match(table.out, /q-2 .* 3 B 0x0001ff/);
  const plain = await run(['inspect', ...conn()]);
  assert.match(plain.out, /s-7\s+sentPublish\s+7\s+a\/b\s+1\s+5 B$/m, 'no preview without --payload');
  const json = inspectRows((await run(['inspect', ...conn(), '--json', '--payload'])).out);
  assert.equal((json.find((r) => r.key === 's-7') as { payloadPreview?: string }).payloadPreview, '"hello"');
});

test('inspect with encrypted values: reported as encrypted without a key, decoded with it', async () => {
  const key = crypto.randomBytes(32);
  const encryptor = new ValueEncryptor({ key, keyId: 'k-2024' });
  const encryptedHash = `${PREFIX}encrypted:${PAHO_URI}`;
  await fill(encryptedHash, {
    's-7': encryptor.encrypt(`${encryptedHash}\0s-7`, RECORDS['s-7']),
    'q-1': RECORDS['q-1'],
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmr-cli-'));
  const hexFile = path.join(dir, 'key.hex');
  fs.writeFileSync(hexFile, key.toString('hex') + '\n');
  const rawFile = path.join(dir, 'key.bin');
  fs.writeFileSync(rawFile, key);
  const wrongFile = path.join(dir, 'wrong.b64');
  fs.writeFileSync(wrongFile, crypto.randomBytes(32).toString('base64'));

  const noKey = inspectRows((await run(['inspect', '--url', url, '--hash', encryptedHash, '--json'])).out);
  assert.deepEqual(noKey[0], {
    key: 's-7',
    number: 7,
    storedSize: RECORDS['s-7'].length + 4 + 1 + 1 + 'k-2024'.length + 12 + 16,
    kind: 'sentPublish',
    mqtt5: false,
    encrypted: true,
    encryptedKeyId: 'k-2024',
  });
  assert.equal(noKey[1].topic, 'in/x', 'plain values still decode');
  const table = await run(['inspect', '--url', url, '--hash', encryptedHash]);
  assert.match(table.out, /s-7\s+sentPublish\s+7\s+-\s+-\s+-\s+encrypted \(keyId k-2024\): give --encryption-key-file/);

  for (const file of [hexFile, rawFile]) {
    const r = await run([
      'inspect',
      '--url',
      url,
      '--hash',
      encryptedHash,
      '--json',
      '--encryption-key-file',
      file,
      '--key-id',
      'k-2024',
    ]);
    const rows = inspectRows(r.out);
    assert.equal(rows[0].topic, 'a/b');
    assert.equal(rows[0].payloadSize, 5);
    assert.equal(rows[0].encrypted, true);
    assert.equal(rows[0].error, undefined);
  }
  const wrong = inspectRows(
    (
      await run([
        'inspect',
        '--url',
        url,
        '--hash',
        encryptedHash,
        '--json',
        '--encryption-key-file',
        wrongFile,
        '--key-id',
        'k-2024',
      ])
    ).out,
  );
  assert.match(wrong[0].error ?? '', /keyId "k-2024": authentication failed/);
  const otherId = inspectRows(
    (
      await run([
        'inspect',
        '--url',
        url,
        '--hash',
        encryptedHash,
        '--json',
        '--encryption-key-file',
        hexFile,
        '--key-id',
        'k-2025',
      ])
    ).out,
  );
  assert.match(otherId[0].error ?? '', /encrypted with keyId "k-2024"/);
  const badFile = path.join(dir, 'short');
  fs.writeFileSync(badFile, 'abcd');
  const bad = await run([
    'inspect',
    '--url',
    url,
    '--hash',
    encryptedHash,
    '--encryption-key-file',
    badFile,
    '--key-id',
    'k',
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /not a 32-byte key/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('inspect --list lists the client hashes with entry counts', async () => {
  await fill();
  await fill(`${PREFIX}other:ssl://h:8883`, { 'c-1': RECORDS['c-10'] });
  await redis.set(`${PREFIX}string:key`, 'not a hash');
  await redis.hset('unrelated:a:b', 'x', '1');
  const r = await run(['inspect', '--url', url, '--key-prefix', PREFIX, '--list', '--json']);
  assert.equal(r.code, 0, r.err);
  const listed = JSON.parse(r.out) as Array<{ hash: string; entries: number }>;
  assert.deepEqual(
    listed.find((x) => x.hash === HASH),
    { hash: HASH, entries: 6 },
  );
  assert.deepEqual(
    listed.find((x) => x.hash === `${PREFIX}other:ssl://h:8883`),
    { hash: `${PREFIX}other:ssl://h:8883`, entries: 1 },
  );
  assert.ok(
    listed.every((x) => x.hash.startsWith(PREFIX)),
    'only hashes under the prefix',
  );
  assert.ok(!listed.some((x) => x.hash === `${PREFIX}string:key`), 'only hashes');
  const text = await run(['inspect', '--url', url, '--key-prefix', PREFIX, '--list']);
  assert.match(
    text.out,
    new RegExp(`^HASH\\s+ENTRIES\\n[\\s\\S]*${HASH.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\s+6\\n`),
  );
});

test('clear without --yes and without a terminal refuses (exit 2) and removes nothing', async () => {
  await fill();
  const r = await run(['clear', ...conn()]);
  assert.equal(r.code, 2);
  assert.match(r.out, /holds 6 entries/);
  assert.match(r.err, /stdin is not a terminal; pass --yes/);
  assert.equal(await redis.hlen(HASH), 6);
});

test('clear on a terminal asks: "n" keeps the hash, "y" deletes it', async () => {
  await fill();
  const no = Object.assign(new PassThrough(), { isTTY: true });
  no.end('n\n');
  const r1 = await run(['clear', ...conn()], no);
  assert.equal(r1.code, 1);
  assert.match(r1.out, /Remove all 6 entries\? \[y\/N\] not removed/);
  assert.equal(await redis.hlen(HASH), 6);
  const yes = Object.assign(new PassThrough(), { isTTY: true });
  yes.end('yes\n');
  const r2 = await run(['clear', ...conn()], yes);
  assert.equal(r2.code, 0, r2.err);
  assert.match(r2.out, /removed 6 entries/);
  assert.equal(await redis.exists(HASH), 0);
});

test('clear --yes removes the hash; a second clear has nothing to do', async () => {
  await fill();
  await fill(`${PREFIX}keep:${PAHO_URI}`, { 'c-1': RECORDS['c-10'] });
  const r = await run(['clear', ...conn(), '--yes']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /removed 6 entries \(hash clitest:sensor-1:127\.0\.0\.1:1883 deleted\)/);
  assert.equal(await redis.exists(HASH), 0);
  assert.equal(await redis.hlen(`${PREFIX}keep:${PAHO_URI}`), 1, 'other hashes untouched');
  const again = await run(['clear', ...conn(), '-y']);
  assert.equal(again.code, 0);
  assert.match(again.out, /^nothing to remove: hash clitest:sensor-1:127.0.0.1:1883 does not exist/);
});

test("clear refuses while a running client holds the store's lease; --force clears anyway", async () => {
  await fill();
  const lease = companionKeyName(HASH, 'lease');
  const token = JSON.stringify({ host: 'gateway-b', pid: 4242, since: '2026-01-01T00:00:00.000Z', id: 'x' });
  await redis.set(lease, token, 'PX', 60_000);
  try {
    const refused = await run(['clear', ...conn(), '--yes']);
    assert.equal(refused.code, 2);
    assert.match(refused.err, /the client is running, its lease is held by pid 4242 on host 'gateway-b'.*--force/);
    assert.equal(await redis.hlen(HASH), 6, 'nothing removed');
    const forced = await run(['clear', ...conn(), '--yes', '--force']);
    assert.equal(forced.code, 0, forced.err);
    assert.equal(await redis.exists(HASH), 0);
  } finally {
    await redis.del(lease);
  }
});

test('Redis passwords are never echoed: wrong password, unreachable server', async () => {
  const wrong = url.replace(PASSWORD, `${PASSWORD}-wrong`);
  const r = await run(['inspect', '--url', wrong, '--hash', HASH]);
  assert.equal(r.code, 1);
  assert.match(r.err, /cannot connect to Redis at redis:\/\/\*\*\*@127\.0\.0\.1:\d+.*WRONGPASS|invalid/i);
  const closed = await run(['clear', '--url', `redis://admin:${PASSWORD}@127.0.0.1:1`, '--hash', 'h', '--yes']);
  assert.equal(closed.code, 1);
  assert.match(closed.err, /cannot connect to Redis at .*ECONNREFUSED/);
  assert.equal(redactUrl(`rediss://u:${PASSWORD}@h:1/0`), 'rediss://u:***@h:1/0');
  assert.equal(redactUrl('redis://h:1'), 'redis://h:1');
  assert.equal(redactUrl('redis://token-only@h:1'), 'redis://***@h:1');
  assert.equal(redactUrl('not a url redis://u:pw@h'), 'not a url redis://***@h');
});

test('the bin runs as a process: shebang, help, non-TTY clear refusal', async () => {
  assert.match(fs.readFileSync(CLI, 'utf8'), /^#!\/usr\/bin\/env node\n/);
  const exec = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout, stderr });
      });
    });
  const help = await exec(['inspect', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: paho-mqtt-redis inspect/);
  await fill();
  const clear = await exec(['clear', ...conn()]);
  assert.equal(clear.code, 2);
  assert.ok(!clear.stderr.includes(PASSWORD) && !clear.stdout.includes(PASSWORD));
  assert.equal(await redis.hlen(HASH), 6);
  const bad = await exec(['nope']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown command 'nope'/);
  assert.equal(bad.stdout, '');
  const version = await exec(['--version']);
  assert.match(version.stdout, /^\d+\.\d+\.\d+/);
});

test('inspect shows the outbox depth, the oldest entry age and, with --payload, its first entries; clear deletes the outbox too', async () => {
  await fill();
  const outbox = companionKeyName(HASH, 'outbox');
  await redis.del(outbox);
  const message = (n: number) =>
    encodeOutboxEntry({ topic: `out/${n}`, payload: Buffer.from(`msg ${n}`), qos: 1, retained: false });
  // Appended 1 h 2 min 3 s ago (entry n at oldestAt + n ms), as the `t` field records it.
  const oldestAt = Date.now() - 3_723_001;
  for (let n = 1; n <= 12; n++) await redis.xadd(outbox, `${n}-0`, 'd', message(n), 't', String(oldestAt + n));
  const plain = await run(['inspect', ...conn()]);
  assert.equal(plain.code, 0, plain.err);
  assert.match(plain.out, /outbox \{clitest:sensor-1:127\.0\.0\.1:1883\}:outbox: 12 entries waiting/);
  const oldestIso = new Date(oldestAt + 1).toISOString();
  assert.ok(plain.out.includes(`the oldest appended ${oldestIso} (1 h 2 min ago)`), plain.out);
  assert.doesNotMatch(plain.out, /out\/1\b/, 'entries are listed only with --payload');
  const previews = await run(['inspect', ...conn(), '--payload']);
  assert.match(previews.out, /\b1\s+1\s+out\/1\s+5 B "msg 1"/);
  assert.match(previews.out, /\b10\s+1\s+out\/10\s+6 B "msg 10"/);
  assert.doesNotMatch(previews.out, /out\/11/, 'the first 10 only');
  const json = JSON.parse((await run(['inspect', ...conn(), '--json', '--payload'])).out) as Record<string, unknown>[];
  const row = json.find((r) => r.outbox === true) as {
    entries: number;
    oldestAt: string;
    oldestAgeMs: number;
    first: { id: string; topic: string }[];
  };
  assert.equal(row.entries, 12);
  assert.equal(row.oldestAt, oldestIso);
  assert.ok(row.oldestAgeMs >= 3_723_000 && row.oldestAgeMs < 3_783_000, `age now - t: ${row.oldestAgeMs} ms`);
  assert.deepEqual(
    row.first.map((e) => e.topic),
    Array.from({ length: 10 }, (_, i) => `out/${i + 1}`),
  );

  const cleared = await run(['clear', ...conn(), '--yes']);
  assert.equal(cleared.code, 0, cleared.err);
  assert.match(cleared.out, /removed 6 entries \(hash .*deleted\) and 12 enqueued message\(s\) \(outbox .* deleted\)/);
  assert.equal(await redis.exists(HASH, outbox), 0, 'hash and outbox are gone');

  // An outbox without a hash is still something to clear.
  await redis.xadd(outbox, '13-0', 'd', message(13));
  const onlyOutbox = await run(['clear', ...conn(), '--yes']);
  assert.match(onlyOutbox.out, /and 1 enqueued message\(s\)/);
  assert.equal(await redis.exists(outbox), 0);
});

/**
 * The CLI's inspect command: Paho's records decoded (JSON and table), payload previews,
 * encrypted values, the list of client hashes, and the outbox.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { InspectRow } from '../../src/cli/inspect';
import { ValueEncryptor } from '../../src/persistence/redis/encryption';
import { companionKeyName } from '../../src/persistence/redis/options';
import { encodeOutboxEntry } from '../../src/client/outbox-entry';
import { CLIENT, HASH, PAHO_URI, PREFIX, RECORDS, URI, cstr, int, useCliStore } from '../helpers/cli-store';

const inspectRows = (json: string): InspectRow[] => JSON.parse(json) as InspectRow[];
const cli = useCliStore();
const { run, conn, fill } = cli;

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
  const viaHash = await run(['inspect', '--url', cli.url, '--hash', HASH, '--json']);
  assert.deepEqual(JSON.parse(viaHash.out), rows);
  // without --key-prefix the hash is `${clientId}:${serverURI}`, as RedisPersistence names it by default;
  // --server-uri takes the URI with its scheme (as the app wrote it) or without (as Paho names it)
  await fill(`${CLIENT}:${PAHO_URI}`, { 'sc-2': RECORDS['sc-2'] });
  for (const serverURI of [URI, PAHO_URI]) {
    const noPrefix = await run([
      'inspect',
      '--url',
      cli.url,
      '--client-id',
      CLIENT,
      '--server-uri',
      serverURI,
      '--json',
    ]);
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
  const empty = await run(['inspect', '--url', cli.url, '--hash', 'clitest:none:x:1']);
  assert.equal(empty.code, 0);
  assert.match(empty.out, /^hash clitest:none:x:1 does not exist: .*inspect --list/);
});

test('inspect --payload previews payloads: text quoted, binary in hex, long ones cut', async () => {
  await fill();
  const long = 'x'.repeat(40);
  const q = (payload: Buffer): Buffer =>
    Buffer.concat([int(payload.length), payload, int(1), int(0), int(0), int(33), cstr('in/x'), int(4)]);
  await fill(`${PREFIX}payloads:${PAHO_URI}`, { 'q-1': q(Buffer.from(long)), 'q-2': q(Buffer.from([0, 1, 0xff])) });
  const table = await run(['inspect', '--url', cli.url, '--hash', `${PREFIX}payloads:${PAHO_URI}`, '--payload']);
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
  const target = ['inspect', '--url', cli.url, '--hash', encryptedHash];
  /** inspect of the encrypted hash with a key file and key id, as JSON unless `json` is false. */
  const withKey = (file: string, keyId: string, json = true) =>
    run([...target, ...(json ? ['--json'] : []), '--encryption-key-file', file, '--key-id', keyId]);

  const noKey = inspectRows((await run([...target, '--json'])).out);
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
  const table = await run(target);
  assert.match(table.out, /s-7\s+sentPublish\s+7\s+-\s+-\s+-\s+encrypted \(keyId k-2024\): give --encryption-key-file/);

  for (const file of [hexFile, rawFile]) {
    const rows = inspectRows((await withKey(file, 'k-2024')).out);
    assert.equal(rows[0].topic, 'a/b');
    assert.equal(rows[0].payloadSize, 5);
    assert.equal(rows[0].encrypted, true);
    assert.equal(rows[0].error, undefined);
  }
  const wrong = inspectRows((await withKey(wrongFile, 'k-2024')).out);
  assert.match(wrong[0].error ?? '', /keyId "k-2024": authentication failed/);
  const otherId = inspectRows((await withKey(hexFile, 'k-2025')).out);
  assert.match(otherId[0].error ?? '', /encrypted with keyId "k-2024"/);
  const badFile = path.join(dir, 'short');
  fs.writeFileSync(badFile, 'abcd');
  const bad = await withKey(badFile, 'k', false);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /not a 32-byte key/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('inspect --list lists the client hashes with entry counts', async () => {
  await fill();
  await fill(`${PREFIX}other:ssl://h:8883`, { 'c-1': RECORDS['c-10'] });
  await cli.redis.set(`${PREFIX}string:key`, 'not a hash');
  await cli.redis.hset('unrelated:a:b', 'x', '1');
  const r = await run(['inspect', '--url', cli.url, '--key-prefix', PREFIX, '--list', '--json']);
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
  const text = await run(['inspect', '--url', cli.url, '--key-prefix', PREFIX, '--list']);
  assert.match(
    text.out,
    new RegExp(`^HASH\\s+ENTRIES\\n[\\s\\S]*${HASH.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\s+6\\n`),
  );
});

test('inspect shows the outbox depth, the oldest entry age and, with --payload, its first entries; clear deletes the outbox too', async () => {
  await fill();
  const outbox = companionKeyName(HASH, 'outbox');
  await cli.redis.del(outbox);
  const message = (n: number) =>
    encodeOutboxEntry({ topic: `out/${n}`, payload: Buffer.from(`msg ${n}`), qos: 1, retained: false });
  // Appended 1 h 2 min 3 s ago (entry n at oldestAt + n ms), as the `t` field records it.
  const oldestAt = Date.now() - 3_723_001;
  for (let n = 1; n <= 12; n++) await cli.redis.xadd(outbox, `${n}-0`, 'd', message(n), 't', String(oldestAt + n));
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
  assert.equal(await cli.redis.exists(HASH, outbox), 0, 'hash and outbox are gone');

  // An outbox without a hash is still something to clear.
  await cli.redis.xadd(outbox, '13-0', 'd', message(13));
  const onlyOutbox = await run(['clear', ...conn(), '--yes']);
  assert.match(onlyOutbox.out, /and 1 enqueued message\(s\)/);
  assert.equal(await cli.redis.exists(outbox), 0);
});

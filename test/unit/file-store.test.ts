/** Paho's file store layout as `migrate` computes it, and the outbox age `inspect` prints. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { clientDirName, listClientRecords, readRecords, recordKeyOf, writeClientStore } from '../../src/cli/file-store';
import { formatAge, oldestAgeMs } from '../../src/cli/outbox-summary';

test("a client's directory is named as Paho's pstopen names it: client id, '-', the URI without scheme, ':' as '-'", () => {
  assert.equal(clientDirName('probe-1', 'tcp://127.0.0.1:1883'), 'probe-1-127.0.0.1-1883');
  assert.equal(clientDirName('gw', 'ssl://broker.example:8883'), 'gw-broker.example-8883');
  assert.equal(clientDirName('gw', 'broker:1883'), 'gw-broker-1883', 'a URI as Paho names it');
  assert.equal(clientDirName('gw', 'tcp://[::1]:1883'), 'gw-[--1]-1883', 'every colon');
});

test('record files: <key>.msg with a Paho key; anything else is not a record', () => {
  for (const key of ['c-1', 'c5-999999', 's-7', 'sc-2', 'r-65535', 'q-3', 'q5-1', 's5-1', 'sc5-4', 'r5-9'])
    assert.equal(recordKeyOf(`${key}.msg`), key);
  for (const name of ['c-1', 'c-1.msg.bak', 'x-1.msg', 'c-.msg', 'c-a.msg', '.msg', 'notes.txt', 'c-1.MSG'])
    assert.equal(recordKeyOf(name), undefined, name);
});

test('writeClientStore, then listClientRecords and readRecords give back the same records; a non-empty target is refused', () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'file-store-'));
  try {
    const records = [
      { key: 'c-1', data: Buffer.from([1, 2, 3]) },
      { key: 's-4', data: Buffer.alloc(0) },
    ];
    const dir = writeClientStore(base, 'id', 'tcp://h:1', records);
    assert.equal(dir, path.join(base, 'id-h-1'));
    const keys = listClientRecords(base, 'id', 'tcp://h:1').sort();
    const back = readRecords(dir, keys);
    assert.deepEqual(back, records);
    assert.deepEqual(fs.readdirSync(base), ['id-h-1'], 'no staging directory is left');
    assert.throws(() => writeClientStore(base, 'id', 'tcp://h:1', records), /is not empty/);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test("the outbox's oldest age is now minus the oldest entry's t, never negative, in units people read", () => {
  const summary = { key: 'k', length: 3, oldestAt: 1_000_000, head: [] };
  assert.equal(oldestAgeMs(summary, 1_004_500), 4_500);
  assert.equal(oldestAgeMs(summary, 999_000), 0, 'a clock behind the appender shows 0');
  assert.equal(oldestAgeMs({ ...summary, oldestAt: undefined }, 5), undefined);
  assert.equal(formatAge(999), '0 s');
  assert.equal(formatAge(59_999), '59 s');
  assert.equal(formatAge(60_000), '1 min 0 s');
  assert.equal(formatAge(3_723_000), '1 h 2 min');
  assert.equal(formatAge(2 * 86_400_000 + 4 * 3_600_000 + 5), '2 d 4 h');
});

/**
 * What the CLI tests share: a password-protected Redis of their own, the CLI run in-process with
 * a check that the password is never printed, and a client hash of hand-built Paho records.
 */
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { PassThrough } from 'node:stream';
import Redis from 'ioredis';
import { startRedis, type RedisServer } from './servers';
import { runCli, type CliRun } from './cli-run';

export const PASSWORD = 'cli-test-Secret-pw';
export const CLIENT = 'sensor-1';
/** As an app gives it to AsyncClient; Paho hands the store `127.0.0.1:1883` (PAHO_URI). */
export const URI = 'tcp://127.0.0.1:1883';
export const PAHO_URI = '127.0.0.1:1883';
export const PREFIX = 'clitest:';
export const HASH = `${PREFIX}${CLIENT}:${PAHO_URI}`;

// Hand-built records (x64/arm: little-endian C ints), as Paho passes them to pput.
/** A C int as Paho writes it. */
export const int = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
};
/** A C string, NUL-terminated. */
export const cstr = (s: string): Buffer => Buffer.from(`${s}\0`);
export const RECORDS: Record<string, Buffer> = {
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

export interface CliStore {
  /** The Redis URL, password included. */
  readonly url: string;
  /** A plain connection to that Redis, for the test's own reads and writes. */
  readonly redis: Redis;
  /** Runs the CLI; fails the test if the password appears in its output. */
  run: (argv: string[], stdin?: PassThrough & { isTTY?: boolean }) => Promise<CliRun>;
  /** The flags that name the test client's store. */
  conn: () => string[];
  /** Replaces `hash` with `records`. */
  fill: (hash?: string, records?: Record<string, Buffer>) => Promise<void>;
}

/** Starts the Redis before the file's tests and stops it after them. */
export function useCliStore(): CliStore {
  let server: RedisServer | undefined;
  let redis: Redis | undefined;
  before(async () => {
    server = await startRedis({ password: PASSWORD });
    assert.ok(server.url.includes(PASSWORD));
    redis = new Redis(server.url);
  });
  after(async () => {
    redis?.disconnect();
    await server?.stop();
  });
  const store: CliStore = {
    get url() {
      return server!.url;
    },
    get redis() {
      return redis!;
    },
    run: async (argv, stdin) => {
      const r = await runCli(argv, stdin);
      assert.ok(!r.out.includes(PASSWORD) && !r.err.includes(PASSWORD), 'the Redis password must never be printed');
      return r;
    },
    conn: () => ['--url', store.url, '--key-prefix', PREFIX, '--client-id', CLIENT, '--server-uri', URI],
    fill: async (hash = HASH, records = RECORDS) => {
      await store.redis.del(hash);
      await store.redis.hset(hash, records);
    },
  };
  return store;
}

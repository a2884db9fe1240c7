/** `clear`: deletes one client's hash and its outbox, after confirmation. */
import * as readline from 'node:readline';
import {
  CONNECTION_OPTIONS,
  type CliIO,
  entries,
  missingHashHint,
  parse,
  printable,
  redisUrl,
  targetHash,
  withRedis,
} from './common';
import { CLEAR_HELP } from './help';
import { companionKeyName } from '../persistence/redis/options';
import { outboxKeyName } from '../persistence/redis/outbox-stream';
import { outboxAccountKeyName } from '../persistence/redis/outbox-account';
import { describeLeaseHolder, isStale } from '../persistence/redis/lease';

function ask(io: CliIO, question: string): Promise<string> {
  const rl = readline.createInterface({ input: io.stdin, output: io.stdout as NodeJS.WritableStream, terminal: false });
  return new Promise((resolve) => {
    let answered = false;
    rl.question(question, (answer) => {
      answered = true;
      rl.close();
      resolve(answer);
    });
    rl.once('close', () => {
      if (!answered) resolve('');
    });
  });
}

export async function clearCommand(args: string[], io: CliIO): Promise<number> {
  const v = parse(args, { ...CONNECTION_OPTIONS, yes: { type: 'boolean', short: 'y' }, force: { type: 'boolean' } });
  if (v.help) {
    io.stdout.write(CLEAR_HELP);
    return 0;
  }
  const url = redisUrl(v);
  const hash = targetHash(v);
  return withRedis(url, async (redis) => {
    const outbox = outboxKeyName(hash);
    const [count, queued] = await Promise.all([redis.hlen(hash), redis.xlen(outbox)]);
    if (count === 0 && queued === 0) {
      io.stdout.write(`nothing to remove: ${missingHashHint(hash)}`);
      return 0;
    }
    io.stdout.write(`hash ${printable(hash)} holds ${entries(count)}\n`);
    if (queued > 0) io.stdout.write(`outbox ${printable(outbox)} holds ${queued} enqueued message(s)\n`);
    // A running client holds the store's lease (RedisPersistence option `lease`).
    const lease = companionKeyName(hash, 'lease');
    const holder = await redis.get(lease);
    if (holder !== null && !isStale(holder) && !v.force) {
      const ttl = await redis.pttl(lease);
      io.stderr.write(
        `paho-mqtt-redis clear: refusing: the client is running, its lease is held by ${printable(describeLeaseHolder(holder))}` +
          `${ttl > 0 ? ` (expires in ${Math.ceil(ttl / 1000)} s unless renewed)` : ''}; stop it first, or pass --force\n`,
      );
      return 2;
    }
    if (!v.yes) {
      if (!io.stdin.isTTY) {
        io.stderr.write(
          'paho-mqtt-redis clear: refusing to remove entries without confirmation: stdin is not a terminal; pass --yes\n',
        );
        return 2;
      }
      const what = queued > 0 ? `${count} entries and ${queued} enqueued message(s)` : `${count} entries`;
      const answer = (await ask(io, `Remove all ${what}? [y/N] `)).trim().toLowerCase();
      if (answer !== 'y' && answer !== 'yes') {
        io.stdout.write('not removed\n');
        return 1;
      }
    }
    // One transaction: a client must not find its hash gone and its outbox still there. The
    // outbox's bytes account and clock checkpoint go with them, as RedisPersistence.clear() does.
    const res = await redis.multi().hlen(hash).xlen(outbox).del(hash, outbox, outboxAccountKeyName(hash)).exec();
    const removed = Number(res?.[0]?.[1] ?? 0);
    const dequeued = Number(res?.[1]?.[1] ?? 0);
    io.stdout.write(
      `removed ${entries(removed)} (hash ${printable(hash)} deleted)` +
        (dequeued > 0 ? ` and ${dequeued} enqueued message(s) (outbox ${printable(outbox)} deleted)` : '') +
        '\n',
    );
    return 0;
  });
}

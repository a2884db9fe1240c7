/**
 * The rights check RedisPersistence runs at open(): every command the store will send, queued in
 * a transaction that is then aborted, so a Redis ACL user missing a command or a key pattern is
 * named at open() instead of failing batch after batch later. Nothing is executed.
 */
import { PersistenceError } from '../../errors';
import type { AnyClient } from './options';
import { QUARANTINE_SCRIPT, quarantineHashName } from './quarantine';
import { outboxKeyName } from './outbox-stream';
import { outboxAccountKeyName } from './outbox-account';

/** What the store will run, which depends on its options. */
export interface RightsCheck {
  /** The client's hash. */
  name: string;
  /** The lease key when options.lease is on (its scripts run GET, SET and PTTL on it). */
  lease: string | undefined;
  /** ackReplicas is set: each write is followed by WAIT (and no MULTI/EXEC is needed). */
  ackReplicas: boolean;
  /** Bounds each round trip by the store's operation timeout. */
  bound: <T>(p: Promise<T>) => Promise<T>;
  /** The error kept as `cause`, without secrets. */
  sanitize: (err: unknown) => unknown;
}

/** Also inside "EXECABORT Transaction discarded because of: NOPERM ..." (EXEC refused). */
const NOPERM = /\bNOPERM\b/;
const DENIED_COMMAND = /'([a-z|]+)' command/;

/** The commands denied in NOPERM errors, and whether a key pattern was denied. */
function deniedOf(errors: readonly unknown[]): { commands: Set<string>; keys: boolean; first: unknown } {
  const commands = new Set<string>();
  let keys = false;
  let first: unknown;
  for (const err of errors) {
    const message = err instanceof Error ? err.message : '';
    if (!NOPERM.test(message)) continue;
    first ??= err;
    const command = DENIED_COMMAND.exec(message)?.[1];
    if (command !== undefined) commands.add(command);
    else keys = true;
  }
  return { commands, keys, first };
}

function refused(check: RightsCheck, message: string, cause: unknown): PersistenceError {
  return new PersistenceError(
    'ERR_PERSISTENCE_CONNECTION',
    'open',
    undefined,
    `RedisPersistence: this Redis ACL user ${message} (checked at open() for hash '${check.name}')`,
    { cause: check.sanitize(cause) },
  );
}

/**
 * MULTI/EXEC with one harmless read. Resolves to undefined when Redis ran the transaction or
 * discarded it (EXECABORT: MULTI worked), else to the errors: MULTI or EXEC refused, or no answer.
 */
async function tryTransaction(redis: AnyClient, check: RightsCheck): Promise<unknown[] | undefined> {
  try {
    await check.bound(redis.multi().hexists(check.name, '').exec());
    return undefined;
  } catch (err) {
    const previous = (err as { previousErrors?: unknown[] }).previousErrors ?? [];
    const denied = deniedOf([...previous, err]).commands;
    const discarded = err instanceof Error && err.message.startsWith('EXECABORT');
    return discarded && !denied.has('exec') && !denied.has('multi') ? undefined : [...previous, err];
  }
}

/**
 * Checks that the ACL user may run every command the store sends on `check.name` and its
 * quarantine hash. Rejects with ERR_PERSISTENCE_CONNECTION naming what to grant. The commands
 * are queued in a transaction that always aborts, so nothing is written; where Redis runs no
 * transaction (MULTI or EXEC refused for another reason than the ACL, e.g. by a proxy, or no
 * answer) the check is skipped, and so it is with ackReplicas (which needs no MULTI/EXEC) and a
 * user without them: a missing right then surfaces at the first command that needs it.
 */
export async function checkRights(redis: AnyClient, check: RightsCheck): Promise<void> {
  const { name } = check;
  const transactionErrors = await tryTransaction(redis, check);
  if (transactionErrors !== undefined) {
    const denied = deniedOf(transactionErrors);
    if (check.ackReplicas || !(denied.commands.has('multi') || denied.commands.has('exec'))) return;
    throw refused(check, 'cannot run MULTI/EXEC: grant +multi +exec', denied.first);
  }
  // Each command the store may send, queued and never run: the last one has a wrong number of
  // arguments, which Redis checks before the ACL, so EXEC always aborts the transaction.
  const quarantine = quarantineHashName(name);
  const probe = redis
    .multi()
    .hset(name, 'acl-check', '')
    .hget(name, 'acl-check')
    .hdel(name, 'acl-check')
    .hkeys(name)
    .hexists(name, 'acl-check')
    .del(name)
    .hgetall(quarantine)
    .eval(QUARANTINE_SCRIPT, 2, name, quarantine, 'acl-check', 'acl-check@0', '');
  const outbox = outboxKeyName(name);
  probe
    .xadd(outbox, '1-0', 'd', '')
    .xrange(outbox, '-', '+', 'COUNT', 1)
    .xdel(outbox, '1-0')
    .xlen(outbox)
    .call('xinfo', 'stream', outbox);
  // The outbox's account (outbox-account.ts): its scripts, and the clock's checkpoint.
  const account = outboxAccountKeyName(name);
  probe.eval('return 0', 2, outbox, account).hget(account, 'bytes').hset(account, 'clock', '0').hgetall(account);
  if (check.lease !== undefined) {
    probe.get(check.lease).set(check.lease, 'acl-check', 'PX', 1).pttl(check.lease).eval('return 0', 1, check.lease);
  }
  if (check.ackReplicas) {
    probe.call('wait', '0', '0');
    if (redis.isCluster) probe.exists(name);
  }
  probe.call('hexists', name);
  let errors: unknown[] = [];
  try {
    await check.bound(probe.exec());
  } catch (err) {
    errors = (err as { previousErrors?: unknown[] }).previousErrors ?? [err];
  }
  const denied = deniedOf(errors);
  const problems: string[] = [];
  if (denied.commands.size > 0) {
    const list = [...denied.commands];
    problems.push(`cannot run ${list.join(', ').toUpperCase()}: grant ${list.map((c) => `+${c}`).join(' ')}`);
  }
  if (denied.keys) {
    problems.push(
      `may not access hash '${name}', its quarantine hash '${quarantine}', its outbox '${outbox}'` +
        (check.lease !== undefined ? ` or its lease '${check.lease}'` : '') +
        ": its key patterns must match them all (for keyPrefix 'mqtt:': ~mqtt:* ~{mqtt:*}:quarantine ~{mqtt:*}:outbox ~{mqtt:*}:outbox-account ~{mqtt:*}:lease)",
    );
  }
  if (problems.length > 0) throw refused(check, problems.join('; and it '), denied.first);
}

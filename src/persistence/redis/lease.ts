/**
 * One process at a time per client store. Two instances of an app with the same client id and
 * Redis would write into one hash, restore each other's messages, and make the broker
 * disconnect one for the other in a loop. So open() takes a lease, a Redis string beside the
 * hash holding the holder's token (host, pid, a random id), set with a time to live and
 * renewed while the store is open:
 * - a second holder is refused at open() with ERR_PERSISTENCE_IN_USE, naming the holder;
 * - a lease whose holder died on this host (its pid is gone) is taken over at once, so a
 *   restart after kill -9 does not wait; one whose holder is on another host expires after
 *   ttlMs without renewal;
 * - every write first makes sure the lease is held: confirmed by Redis within the last half
 *   ttlMs, or renewed first. A holder that lost it (paused or cut off from Redis for longer
 *   than ttlMs while another process took over) has every write refused from then on.
 */
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { PersistenceError } from '../../errors';
import type { AnyClient } from './options';

export const DEFAULT_LEASE_TTL_MS = 15_000;

/** Takes a free lease (or the given stale one): {1}; else {0, holder, pttl}. */
const TAKE_SCRIPT = `local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1}
end
return {0, holder, redis.call('PTTL', KEYS[1])}`;

/**
 * Renews a lease this token holds, or takes it again if it vanished (a Redis restart without
 * persistence): {1}. Held by another token: {0, holder, pttl}.
 */
const RENEW_SCRIPT = `local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] or holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1}
end
return {0, holder, redis.call('PTTL', KEYS[1])}`;

const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** Tokens of the leases this process holds now (a holder with our pid but not listed is stale). */
const heldHere = new Set<string>();

interface Holder {
  host: string;
  pid: number;
  since: string;
}

function parseToken(token: string): Holder | undefined {
  try {
    const { host, pid, since } = JSON.parse(token) as Partial<Holder>;
    return typeof host === 'string' && typeof pid === 'number' && typeof since === 'string'
      ? { host, pid, since }
      : undefined;
  } catch {
    return undefined;
  }
}

/** Who holds a lease, from its token: "pid 4242 on host 'gw-7' (since ...)". */
export function describeLeaseHolder(token: string): string {
  const holder = parseToken(token);
  return holder ? `pid ${holder.pid} on host '${holder.host}' (since ${holder.since})` : `'${token}'`;
}

/** A holder known to be dead: on this host, its pid gone, or ours but not held by this process. */
export function isStale(token: string): boolean {
  const holder = parseToken(token);
  if (holder === undefined || holder.host !== os.hostname()) return false;
  if (holder.pid === process.pid) return !heldHere.has(token);
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

type ScriptReply = [number, string?, number?];

export class ClientLease {
  private readonly token: string;
  private confirmedAt = 0;
  private lostTo: string | undefined;
  private renewing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly redis: AnyClient,
    /** The lease's Redis key. */
    readonly key: string,
    private readonly hash: string,
    private readonly ttlMs: number,
    private readonly bound: <T>(p: Promise<T>) => Promise<T>,
  ) {
    this.token = JSON.stringify({
      host: os.hostname(),
      pid: process.pid,
      since: new Date().toISOString(),
      id: randomBytes(8).toString('hex'),
    });
  }

  /** Takes the lease on `key` for the store of hash `hash`, or rejects with ERR_PERSISTENCE_IN_USE. */
  static async take(
    redis: AnyClient,
    key: string,
    hash: string,
    ttlMs: number,
    bound: <T>(p: Promise<T>) => Promise<T>,
  ): Promise<ClientLease> {
    const lease = new ClientLease(redis, key, hash, ttlMs, bound);
    let [taken, holder, pttl] = await lease.run(TAKE_SCRIPT, '');
    if (!taken && holder !== undefined && isStale(holder)) {
      [taken, holder, pttl] = await lease.run(TAKE_SCRIPT, holder);
    }
    if (!taken) throw lease.inUse(holder ?? '?', pttl ?? -1);
    lease.confirmedAt = performance.now();
    heldHere.add(lease.token);
    lease.timer = setInterval(() => void lease.renew().catch(() => undefined), Math.max(1, Math.floor(ttlMs / 3)));
    lease.timer.unref(); // the client keeps the process alive, not its store's lease
    return lease;
  }

  /**
   * Before a write: undefined when the lease was confirmed within half its time to live (the
   * common case, no round trip), else a promise that renews it first. Rejects once it is lost.
   */
  ensureHeld(): Promise<void> | undefined {
    if (this.lostTo !== undefined) return Promise.reject(this.lostError());
    if (performance.now() - this.confirmedAt < this.ttlMs / 2) return undefined;
    return this.renew();
  }

  /** Gives the lease up (only if still ours). */
  async release(): Promise<void> {
    clearInterval(this.timer);
    heldHere.delete(this.token);
    // A renewal under way would set the lease again after the delete.
    await this.renewing?.catch(() => undefined);
    if (this.lostTo === undefined) await this.bound(this.redis.eval(RELEASE_SCRIPT, 1, this.key, this.token));
  }

  private renew(): Promise<void> {
    this.renewing ??= (async () => {
      const started = performance.now();
      try {
        const [held, holder] = await this.run(RENEW_SCRIPT, '');
        if (held) this.confirmedAt = started;
        else {
          this.lostTo = holder ?? '?';
          clearInterval(this.timer);
          heldHere.delete(this.token);
          throw this.lostError();
        }
      } finally {
        this.renewing = undefined;
      }
    })();
    return this.renewing;
  }

  private async run(script: string, stale: string): Promise<ScriptReply> {
    const reply = (await this.bound(this.redis.eval(script, 1, this.key, this.token, String(this.ttlMs), stale))) as (
      number | string | Buffer
    )[];
    const [taken, holder, pttl] = reply;
    return [
      Number(taken),
      holder === undefined ? undefined : String(holder),
      pttl === undefined ? undefined : Number(pttl),
    ];
  }

  private inUse(holder: string, pttl: number): PersistenceError {
    const expiry = pttl > 0 ? `; the lease expires in ${Math.ceil(pttl / 1000)} s unless its holder renews it` : '';
    return new PersistenceError(
      'ERR_PERSISTENCE_IN_USE',
      'open',
      undefined,
      `the store '${this.hash}' is in use by ${describeLeaseHolder(holder)}: one client id can be open in one process at a time${expiry} (lease key '${this.key}')`,
    );
  }

  private lostError(): PersistenceError {
    return new PersistenceError(
      'ERR_PERSISTENCE_IN_USE',
      'lease',
      undefined,
      `the store '${this.hash}' was taken over by ${describeLeaseHolder(this.lostTo ?? '?')} after this process did not renew its lease for ${this.ttlMs} ms; no more writes from this process`,
    );
  }
}

/**
 * What one measured phase cost Redis, from INFO deltas on a Redis that serves only the bench:
 * commands (INFO commandstats `calls`, summed) and round trips (INFO stats `total_reads_processed`:
 * the server's socket read events; a pipeline that arrives in one read counts once).
 * The snapshots' own INFO commands are taken out of the deltas.
 */
import Redis from 'ioredis';

export interface RedisSnapshot {
  commands: number;
  reads: number;
  byCommand: Record<string, number>;
}

export interface RedisCost {
  commands: number;
  roundTrips: number;
  /** Commands by name (lower case), e.g. { hset: 10000, hdel: 9950 }. */
  byCommand: Record<string, number>;
}

function parseInfo(text: string): RedisSnapshot {
  const byCommand: Record<string, number> = {};
  let commands = 0;
  let reads = 0;
  for (const line of text.split('\r\n')) {
    const stat = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (stat) {
      byCommand[stat[1]] = Number(stat[2]);
      commands += Number(stat[2]);
    }
    const read = /^total_reads_processed:(\d+)/.exec(line);
    if (read) reads = Number(read[1]);
  }
  return { commands, reads, byCommand };
}

/** One connection that takes INFO snapshots; quit() it when done. */
export class RedisStats {
  private readonly redis: Redis;

  constructor(url: string) {
    this.redis = new Redis(url, { lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 1 });
  }

  async snapshot(): Promise<RedisSnapshot> {
    if (this.redis.status === 'wait') await this.redis.connect();
    // One INFO for both sections (Redis >= 7), so each snapshot is exactly one command and one read.
    const text = (await this.redis.call('INFO', 'stats', 'commandstats')) as string;
    return parseInfo(text);
  }

  /**
   * `after - before`, less the snapshots' own share: commandstats counts a command after it ran, so
   * the delta holds the `before` INFO; the read counter is bumped before, so it holds the `after` read.
   */
  static cost(before: RedisSnapshot, after: RedisSnapshot): RedisCost {
    const ownInfos = 1;
    const byCommand: Record<string, number> = {};
    for (const [name, calls] of Object.entries(after.byCommand)) {
      const delta = calls - (before.byCommand[name] ?? 0) - (name === 'info' ? ownInfos : 0);
      if (delta > 0) byCommand[name] = delta;
    }
    const commands = Object.values(byCommand).reduce((a, b) => a + b, 0);
    return { commands, roundTrips: Math.max(0, after.reads - before.reads - ownInfos), byCommand };
  }

  async quit(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

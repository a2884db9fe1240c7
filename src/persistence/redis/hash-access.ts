import type { BatchShape, PersistenceWrite } from '../client-persistence';
import { PersistenceError } from '../../errors';
import type { RedisConnection } from './connection';
import type { ValueEncryptor } from './encryption';
import type { AckReplicasOptions, AnyClient } from './options';
import type { ClientLease } from './lease';
import { type WriteCommand, writeAndWait } from './ack-replicas';
import { streamId } from './outbox-stream';
import { sealValue } from './stored-values';
import { batchCommands } from './final-state';
import { removalCommand } from './outbox-account';
import { sendTransaction } from './transaction';

/**
 * One client's hash on one Redis connection, the part of RedisPersistence every operation goes
 * through: reads and writes counted, bounded by operationTimeoutMs and failed as
 * PersistenceErrors; writes behind the lease check, followed by WAIT with ackReplicas; and
 * Paho's batches (the bridge's group commit), sent in call order.
 */
export class RedisHashAccess {
  /** The name of the open client's hash; undefined until open() and after close(). */
  protected name: string | undefined;
  /** The lease once taken, for the checks before each write (see lease.ts). */
  protected lease: ClientLease | undefined;
  /** Commands sent to Redis (MULTI and EXEC included) and round trips, since construction. */
  protected readonly counters = { commands: 0, roundTrips: 0 };
  /** Batches called while an earlier one waits for the lease's renewal: sent after it, in call order. */
  private leaseQueue: (() => void)[] | undefined;

  constructor(
    protected readonly connection: RedisConnection,
    protected readonly encryptor: ValueEncryptor | undefined,
    protected readonly ack: AckReplicasOptions | undefined,
  ) {}

  /**
   * Applies Paho's writes as one MULTI/EXEC (all or nothing) on one connection: the final
   * state of each key, one HSET and one HDEL (see batchCommands). With ackReplicas, runs of
   * puts and removes in order, each command followed by WAIT instead (not atomic).
   */
  batch(writes: readonly PersistenceWrite[], shape?: BatchShape): Promise<void> {
    if (this.leaseQueue !== undefined) {
      const queue = this.leaseQueue;
      return new Promise<void>((resolve) => queue.push(() => resolve(this.batch(writes, shape))));
    }
    const leased = this.leaseCheck('batch', undefined);
    if (leased === undefined) return this.sendBatch(writes, shape);
    // Later batches wait behind this one, so that Redis still gets them in call order.
    const queue: (() => void)[] = [];
    this.leaseQueue = queue;
    const release = (): void => {
      this.leaseQueue = undefined;
      for (const next of queue) next();
    };
    return leased.then(
      () => {
        const sent = this.sendBatch(writes, shape);
        release();
        return sent;
      },
      (e: unknown) => {
        release();
        throw e;
      },
    );
  }

  /** Sends a batch before it returns (without ackReplicas): see batchesInFlight. */
  private sendBatch(writes: readonly PersistenceWrite[], shape?: BatchShape): Promise<void> {
    const redis = this.connection.client;
    if (redis === undefined) return this.notOpen('batch', undefined);
    const name = this.name!;
    let commands: (string | Buffer)[][];
    try {
      commands = this.batchCommands(name, writes, shape?.distinctKeys === true);
    } catch (e) {
      return Promise.reject(this.storeError('batch', undefined, e));
    }
    if (commands.length === 0) return Promise.resolve();
    if (this.ack !== undefined) return this.writeEach(redis, name, commands);
    let sent: Promise<unknown>;
    if (commands.length === 1) {
      const [command, ...args] = commands[0];
      this.count(1);
      sent = this.bound(redis.call(command as string, ...args));
    } else {
      this.count(commands.length + 2);
      sent = this.bound(sendTransaction(redis, commands));
    }
    return sent.then(noop, (e: unknown) => {
      throw this.storeError('batch', undefined, e);
    });
  }

  /** Runs `run` on the open client's hash; rejects with ERR_PERSISTENCE_NOT_OPEN when it is not open. */
  protected withHash<T>(
    op: string,
    key: string | undefined,
    run: (redis: AnyClient, name: string) => Promise<T>,
  ): Promise<T> {
    const redis = this.connection.client;
    if (redis === undefined) return this.notOpen(op, key);
    return run(redis, this.name!);
  }

  /** One read round trip: counted, bounded by operationTimeoutMs, failures as PersistenceErrors. */
  protected read<T>(op: string, key: string | undefined, command: Promise<T>): Promise<T> {
    this.count(1);
    return this.bound(command).catch((e: unknown) => {
      throw this.storeError(op, key, e);
    });
  }

  /**
   * Runs one write on hash `name`. With ackReplicas, the write is followed by WAIT (see
   * writeAndWait) and too few acknowledgements fail the operation.
   */
  protected async write(
    op: string,
    key: string | undefined,
    redis: AnyClient,
    name: string,
    cmd: WriteCommand,
  ): Promise<unknown> {
    await this.leaseCheck(op, key);
    this.count(this.ack === undefined ? 1 : 2);
    try {
      if (this.ack === undefined) return await this.bound(cmd(redis) as Promise<unknown>);
      return await writeAndWait(op, key, redis, name, this.ack, (p) => this.bound(p), cmd);
    } catch (e) {
      throw this.storeError(op, key, e);
    }
  }

  /** A batch as commands (see batchCommands in final-state.ts). */
  private batchCommands(
    name: string,
    writes: readonly PersistenceWrite[],
    distinctKeys: boolean,
  ): (string | Buffer)[][] {
    const encoding = {
      seal: (key: string, data: Buffer) => sealValue(this.encryptor, name, key, data),
      outboxRemoval: (ids: string[]) => removalCommand(name, ids.map(streamId)),
    };
    return batchCommands(name, writes, encoding, this.ack !== undefined, distinctKeys);
  }

  private async writeEach(redis: AnyClient, name: string, commands: (string | Buffer)[][]): Promise<void> {
    for (const [command, ...args] of commands) {
      await this.write('batch', undefined, redis, name, (c) => c.call(command as string, ...args));
    }
  }

  /** Before a write: undefined while the lease is fresh, else its renewal (see lease.ts). */
  protected leaseCheck(op: string, key: string | undefined): Promise<void> | undefined {
    return this.lease?.ensureHeld()?.catch((e: unknown) => {
      throw e instanceof PersistenceError ? e : this.storeError(op, key, e);
    });
  }

  protected count(commands: number): void {
    this.counters.commands += commands;
    this.counters.roundTrips += 1;
  }

  /** Bounds a command when the user-supplied client has no suitable commandTimeout. */
  protected bound<T>(p: Promise<T>): Promise<T> {
    return this.connection.bound(p);
  }

  protected notOpen(op: string, key: string | undefined): Promise<never> {
    return Promise.reject(
      new PersistenceError('ERR_PERSISTENCE_NOT_OPEN', op, key, `RedisPersistence.${op}: the store is not open`),
    );
  }

  protected storeError(op: string, key: string | undefined, err: unknown): PersistenceError {
    return this.connection.storeError(this.name, op, key, err);
  }
}

function noop(): void {
  /* nothing */
}

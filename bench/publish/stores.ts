/**
 * The stores the bench runs AsyncClient with, and what the build at hand supports: the
 * `durability` option of RedisPersistence and `client.flush()` arrived with the group commit;
 * the bench detects them instead of assuming them.
 */
import { AsyncClient, MemoryPersistence, RedisPersistence, type PersistenceChoice } from '../../src';

export type StoreKind = 'none' | 'file' | 'memory' | 'redis' | 'redis-batched' | 'redis-sync';

/** RedisPersistence with `durability`, or as is for 'redis' (the option left out). */
export function redisPersistence(url: string, kind: 'redis' | 'redis-batched' | 'redis-sync'): RedisPersistence {
  if (kind === 'redis') return new RedisPersistence({ url });
  const durability = kind === 'redis-sync' ? 'sync' : 'batched';
  return new RedisPersistence({ url, durability });
}

/** True when RedisPersistence accepts `durability: 'batched' | 'sync'`. Connects nowhere. */
export function supportsDurability(): boolean {
  try {
    redisPersistence('redis://127.0.0.1:1', 'redis-sync');
    redisPersistence('redis://127.0.0.1:1', 'redis-batched');
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_INVALID_ARG') return false;
    throw error;
  }
}

export function makeStore(kind: StoreKind, redisUrl: string, dir: string): PersistenceChoice {
  switch (kind) {
    case 'none':
      return 'none';
    case 'file':
      return { dir };
    case 'memory':
      return new MemoryPersistence();
    default:
      return redisPersistence(redisUrl, kind);
  }
}

/** `client.flush()` (every store op logged so far acknowledged), when the build has it. */
export async function flushIfSupported(client: AsyncClient): Promise<boolean> {
  const flush = (client as unknown as { flush?: () => Promise<unknown> }).flush;
  if (typeof flush !== 'function') return false;
  await flush.call(client);
  return true;
}

/**
 * Calls `publishOne` `count` times, never with more than `window` unsettled; resolves when all
 * settled, rejects with the first failure. A counter and one waiter, not Promise.race over the
 * window: the bench must not cost more than what it measures.
 */
export async function publishWindowed(
  count: number,
  window: number,
  publishOne: () => Promise<unknown>,
  onSettled?: (settled: number) => void,
): Promise<void> {
  let outstanding = 0;
  let settled = 0;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const settle = (): void => {
    outstanding--;
    settled++;
    onSettled?.(settled);
    const w = wake;
    wake = undefined;
    w?.();
  };
  const fail = (error: unknown): void => {
    failure ??= error;
    settle();
  };
  for (let i = 0; i < count && failure === undefined; i++) {
    while (outstanding >= window) await new Promise<void>((resolve) => (wake = resolve));
    outstanding++;
    publishOne().then(settle, fail);
  }
  while (outstanding > 0) await new Promise<void>((resolve) => (wake = resolve));
  if (failure !== undefined) throw failure instanceof Error ? failure : new Error(JSON.stringify(failure));
}

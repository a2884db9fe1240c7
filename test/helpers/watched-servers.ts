/**
 * Test helper (not a test file): the servers of a store-outage test file and the subscriber
 * that watches what the broker delivers. Started before the file's tests; after them Redis is
 * thawed (a test may end with it frozen), the file's clients are closed and the servers stopped.
 */
import { before, after } from 'node:test';
import { AsyncClient } from '../../src';
import {
  startMosquitto,
  startRedis,
  type MosquittoServer,
  type RedisServer,
  type StartMosquittoOptions,
  type StartRedisOptions,
} from './servers';
import { Inbox, closeAll, uid } from './client-common';

export interface WatchedServers {
  /** Set once the file's `before` hook ran. */
  broker: MosquittoServer;
  /** Set once the file's `before` hook ran, unless the file asked for no Redis. */
  redis: RedisServer;
  /** Connected (clean session) to the broker; the test subscribes it to what it watches. */
  subscriber: AsyncClient;
  /** Every message the subscriber received. */
  inbox: Inbox;
  /** Clients the file created: closed after its tests (add each one). */
  clients: Set<AsyncClient>;
}

/** Call at the top level of a test file; `subscriberId` tags the subscriber's client id. */
export function useWatchedServers(options: {
  subscriberId: string;
  mosquitto?: StartMosquittoOptions;
  /** Options of the file's Redis, or false for none. */
  redis?: StartRedisOptions | false;
}): WatchedServers {
  const servers = { clients: new Set<AsyncClient>() } as WatchedServers;
  before(async () => {
    const redis = options.redis === false ? undefined : startRedis(options.redis);
    [servers.broker, servers.redis] = (await Promise.all([startMosquitto(options.mosquitto), redis])) as [
      MosquittoServer,
      RedisServer,
    ];
    servers.subscriber = await AsyncClient.create({
      serverURI: servers.broker.url,
      clientId: uid(options.subscriberId),
    });
    servers.clients.add(servers.subscriber);
    servers.inbox = new Inbox(servers.subscriber);
    await servers.subscriber.connect({ cleanSession: true });
  });
  after(async () => {
    servers.redis?.thaw();
    await closeAll(servers.clients);
    await Promise.all([servers.broker?.stop(), servers.redis?.stop()]);
  });
  return servers;
}

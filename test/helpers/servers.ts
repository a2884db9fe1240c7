/**
 * Test tooling: throw-away redis-server and mosquitto instances on free 127.0.0.1 ports,
 * plus a throw-away CA. Every spawned process is tracked by PID and killed when the test
 * process exits, so a failing test file leaves nothing running.
 *
 * Never touches the shared Redis (:6379) or mosquitto (:1883).
 */
export { freePort, canConnect } from './ports';
export { stopAllOnExit, runningServerCount, spawnTracked } from './server-processes';
export { startRedis, type RedisServer, type StartRedisOptions } from './redis-server';
export { startMosquitto, type MosquittoServer, type StartMosquittoOptions } from './mosquitto-server';
export { startNats, type NatsServer } from './nats-server';
export { makeTestCA, type TlsFiles } from './test-ca';

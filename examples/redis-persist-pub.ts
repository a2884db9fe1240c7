/**
 * Publishes a few QoS 1 messages with Redis persistence: the counterpart of the Rust crate
 * paho-mqtt-redis's example. Run: node out/examples/redis-persist-pub.js [broker] [redis]
 * While it runs, `paho-mqtt-redis inspect --list` shows its hash; when it ends, nothing is
 * left in it: every message was acknowledged and removed from the store.
 */
import { AsyncClient, RedisPersistence } from '../src';

async function main(): Promise<void> {
  const serverURI = process.argv[2] ?? 'tcp://127.0.0.1:1883';
  const url = process.argv[3] ?? 'redis://127.0.0.1:6379';
  const persistence = new RedisPersistence({ url });
  const client = await AsyncClient.create({ serverURI, clientId: 'rust_redis_pub', persistence });
  client.on('persistenceError', (error) => console.error(`persistence: ${error.code} ${error.message}`));
  await client.connect({ cleanSession: false });
  for (let i = 0; i < 5; i++) {
    const { token } = await client.publish('test', Buffer.from(`Hello there #${i}`), { qos: 1 });
    console.log(`message #${i} acknowledged (token ${token}); Redis hash '${persistence.hashName}' held it until then`);
  }
  await client.disconnect({ timeout: 1000 });
  await client.close();
}

main().catch((error: Error & { code?: string }) => {
  console.error(`error: ${error.code ?? ''} ${error.message}`);
  process.exitCode = 1;
});

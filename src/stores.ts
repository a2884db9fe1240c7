export { MemoryPersistence } from './memory-persistence';
export { RedisPersistence, type RedisPersistenceOptions } from './redis-persistence';

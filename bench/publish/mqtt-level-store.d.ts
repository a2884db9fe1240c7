/** The part of mqtt-level-store 3 (no types of its own) that the bench uses. */
declare module 'mqtt-level-store' {
  interface LevelStoreManager {
    incoming: unknown;
    outgoing: unknown;
    close(done: (error?: Error) => void): void;
  }
  function levelStore(path: string): LevelStoreManager;
  export = levelStore;
}

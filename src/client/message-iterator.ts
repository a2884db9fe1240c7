/**
 * `client.messages()`: the client's messages as an async iterator, optionally only those
 * matching a topic filter. It ends when the client closes (or the loop breaks).
 */
import type { EventEmitter } from 'node:events';
import type { ClientEvents, Message } from './events';
import { topicMatches } from './subscriptions';

export interface MessagesOptions {
  /** Only messages whose topic matches this MQTT filter (`+`, `#`). Does not subscribe. */
  topicFilter?: string;
}

/**
 * `open` holds a way back for each open iterator: `client.removeAllListeners()` removes the
 * iterator's listeners too, and the client calls it to put them back (else the loop would never
 * hear another message, nor the close that ends it).
 */
export function messageIterator(
  client: EventEmitter<ClientEvents>,
  isClosed: () => boolean,
  options: MessagesOptions,
  open: Set<() => void>,
): AsyncIterableIterator<Message> {
  const queue: Message[] = [];
  let waiting: ((result: IteratorResult<Message>) => void) | undefined;
  let done = isClosed();
  const filter = options.topicFilter;

  const onMessage = (message: Message): void => {
    if (filter !== undefined && !topicMatches(filter, message.topic)) return;
    if (waiting) {
      const resolve = waiting;
      waiting = undefined;
      resolve({ value: message, done: false });
    } else {
      queue.push(message);
    }
  };
  const finish = (): IteratorResult<Message> => {
    if (!done) {
      done = true;
      client.off('message', onMessage);
      client.off('closed', onClosed);
      open.delete(listen);
    }
    return { value: undefined, done: true };
  };
  const onClosed = (): void => {
    finish();
    if (waiting) {
      const resolve = waiting;
      waiting = undefined;
      // Messages still queued are given out first (next() below); this waiter had none.
      resolve({ value: undefined, done: true });
    }
  };
  const listen = (): void => {
    if (!client.listeners('message').includes(onMessage)) client.on('message', onMessage);
    if (!client.listeners('closed').includes(onClosed)) client.on('closed', onClosed);
  };
  if (!done) {
    listen();
    open.add(listen);
  }

  return {
    next(): Promise<IteratorResult<Message>> {
      const queued = queue.shift();
      if (queued !== undefined) return Promise.resolve({ value: queued, done: false });
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
    return(): Promise<IteratorResult<Message>> {
      queue.length = 0;
      const result = finish();
      if (waiting) {
        waiting(result);
        waiting = undefined;
      }
      return Promise.resolve(result);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

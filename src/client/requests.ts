/**
 * The requests an AsyncClient sends to its native command thread: each gets an id, and the
 * native 'result' event with that id settles it. Failures become PahoError / PersistenceError.
 */
import { PahoError, PahoMqttRedisError, PersistenceError, pahoErrorCode, type PersistenceErrorCode } from '../errors';
import type { NativeClientEvent } from '../native';
import type { StoreBridge } from '../persistence/bridge/store-bridge';
import type { PublishResult } from './events';

export type ResultEvent = Extract<NativeClientEvent, { type: 'result' }>;

interface Pending {
  resolve(event: ResultEvent): void;
  reject(error: Error): void;
}

export class NativeRequests {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  /** `changed` hears every change of `size` (the client refs its native handle while requests are pending). */
  constructor(
    /** The client's bridge now (a new one replaces it when a poison message is set aside). */
    private readonly bridge: () => StoreBridge | undefined,
    private readonly changed: () => void,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  /** Starts a request; `what` names it in error messages ("connect to tcp://...: ..."). */
  send(what: string, start: (id: number) => void): Promise<ResultEvent> {
    const id = this.nextId++;
    const promise = new Promise<ResultEvent>((resolve, reject) => {
      this.pending.set(id, {
        resolve: (event) => (event.rc === 0 ? resolve(event) : reject(this.failureOf(what, event))),
        reject,
      });
    });
    this.changed();
    start(id);
    return promise;
  }

  settle(event: ResultEvent): void {
    const pending = this.pending.get(event.request);
    if (!pending) return;
    this.pending.delete(event.request);
    this.changed();
    pending.resolve(event);
  }

  /**
   * A publish: resolves with its token, and tells `done` how it ended (true: delivered). Its
   * plain 'published' entry settles it without an event object.
   */
  sendPublish(start: (id: number) => void, done: (ok: boolean) => void): Promise<PublishResult> {
    const id = this.nextId++;
    const promise = new Promise<PublishResult>((resolve, reject) => {
      this.pending.set(id, new PendingPublish(this, resolve, reject, done));
    });
    this.changed();
    start(id);
    return promise;
  }

  /** A publish succeeded: the addon sends only its request and token. */
  settlePublished(request: number, token: number): void {
    const pending = this.pending.get(request);
    if (pending === undefined) return;
    this.pending.delete(request);
    this.changed();
    if (pending instanceof PendingPublish) pending.published(token);
    else pending.resolve({ type: 'result', request, rc: 0, token, list: [], persistenceFailures: [] });
  }

  rejectAll(error: Error): void {
    for (const [, pending] of this.pending) pending.reject(error);
    this.pending.clear();
    this.changed();
  }

  /** The error a request `what` fails with. */
  failureOf(what: string, event: ResultEvent): Error {
    const failure = event.persistenceFailures[0];
    if (failure) {
      const claimed = this.bridge()?.takeClaimed(failure);
      const target = failure.key ? `${failure.op}('${failure.key}')` : failure.op;
      const message = `${what}: the store failed during ${target}: ${claimed?.message ?? failure.message}`;
      return new PersistenceError(
        (claimed?.code ?? failure.code) as PersistenceErrorCode,
        failure.op,
        failure.key,
        message,
        { cause: claimed?.cause ?? claimed },
      );
    }
    if (event.code !== undefined) return new PahoMqttRedisError(event.code, `${what}: ${event.message ?? 'refused'}`);
    const detail = event.message ? `: ${event.message}` : '';
    const reasonCode = event.reasonCode !== undefined && event.reasonCode > 0 ? event.reasonCode : undefined;
    const reason = reasonCode !== undefined ? ` (reason code ${reasonCode})` : '';
    const accepted = event.acceptedByPaho === true ? ' after Paho accepted it' : '';
    return new PahoError(
      pahoErrorCode(event.rc),
      event.rc,
      `${what} failed${accepted}${detail}${reason} [rc ${event.rc}]`,
      { acceptedByPaho: event.acceptedByPaho === true, reasonCode },
    );
  }
}

/** A pending publish: one object, no closures of its own. */
class PendingPublish implements Pending {
  constructor(
    private readonly requests: NativeRequests,
    private readonly resolveWith: (result: PublishResult) => void,
    private readonly rejectWith: (error: Error) => void,
    private readonly done: (ok: boolean) => void,
  ) {}

  published(token: number): void {
    this.done(true);
    this.resolveWith({ token });
  }

  resolve(event: ResultEvent): void {
    if (event.rc === 0) this.published(event.token);
    else this.reject(this.requests.failureOf('publish', event));
  }

  reject(error: Error): void {
    this.done(false);
    this.rejectWith(error);
  }
}

/**
 * Every error this package raises carries a stable `code` (a string users can switch on)
 * and, where Paho produced it, Paho's numeric return code in `pahoCode`.
 */
export type PahoErrorCode =
  | 'ERR_PAHO_FAILURE'
  | 'ERR_PAHO_PERSISTENCE'
  | 'ERR_PAHO_DISCONNECTED'
  | 'ERR_PAHO_MAX_MESSAGES_INFLIGHT'
  | 'ERR_PAHO_BAD_UTF8_STRING'
  | 'ERR_PAHO_NULL_PARAMETER'
  | 'ERR_PAHO_TOPICNAME_TRUNCATED'
  | 'ERR_PAHO_BAD_STRUCTURE'
  | 'ERR_PAHO_BAD_QOS'
  | 'ERR_PAHO_NO_MORE_MSGIDS'
  | 'ERR_PAHO_OPERATION_INCOMPLETE'
  | 'ERR_PAHO_MAX_BUFFERED_MESSAGES'
  | 'ERR_PAHO_SSL_NOT_SUPPORTED'
  | 'ERR_PAHO_BAD_PROTOCOL'
  | 'ERR_PAHO_BAD_MQTT_OPTION'
  | 'ERR_PAHO_WRONG_MQTT_VERSION'
  | 'ERR_PAHO_0_LEN_WILL_TOPIC'
  | 'ERR_PAHO_COMMAND_IGNORED'
  | 'ERR_PAHO_MAX_BUFFERED'
  | 'ERR_PAHO_CONNECT_REFUSED'
  | 'ERR_PAHO_UNKNOWN';

export type PersistenceErrorCode =
  /** The store threw, rejected, or a Redis command failed. */
  | 'ERR_PERSISTENCE_STORE'
  /** The store did not answer within operationTimeoutMs. */
  | 'ERR_PERSISTENCE_TIMEOUT'
  /**
   * The store does not answer (it timed out or is unreachable): until it does, no Paho thread
   * waits for it, and a write that needed the store now failed at once (it stays logged, and
   * is stored once the store answers, unless the log was full).
   */
  | 'ERR_PERSISTENCE_UNAVAILABLE'
  /** The store answered with a value of the wrong type. */
  | 'ERR_PERSISTENCE_BAD_RESULT'
  /** `get` of a key that is not stored. */
  | 'ERR_PERSISTENCE_NO_SUCH_KEY'
  /** The Node environment is shutting down; the call was refused. */
  | 'ERR_PERSISTENCE_CLOSING'
  /** A Paho callback arrived on the JS thread, where waiting would deadlock. */
  | 'ERR_PERSISTENCE_JS_THREAD'
  /** The store was used before open() or after close(). */
  | 'ERR_PERSISTENCE_NOT_OPEN'
  /** Stored data could not be decrypted (wrong key or tampered value). */
  | 'ERR_PERSISTENCE_DECRYPT'
  /** Redis refused the credentials or the connection. */
  | 'ERR_PERSISTENCE_CONNECTION'
  /** A stored record Paho would misread; it was set aside (quarantined) at restore, or could not be. */
  | 'ERR_PERSISTENCE_CORRUPT'
  /** The store holds MQTT 5 records but the client uses MQTT 3 (Paho cannot restore them). */
  | 'ERR_PERSISTENCE_VERSION'
  /** Restoring the stored messages failed; create() was refused and nothing was overwritten. */
  | 'ERR_PERSISTENCE_RESTORE'
  /** Another process holds this client's store (one client id in two processes): see RedisPersistenceOptions.lease. */
  | 'ERR_PERSISTENCE_IN_USE'
  /** Redis evicts keys under memory pressure (maxmemory-policy allkeys-*): the store would lose data silently. */
  | 'ERR_PERSISTENCE_EVICTION'
  /** Redis is at its memory limit (OOM): the write was refused. */
  | 'ERR_PERSISTENCE_OOM';

export type ErrorCode =
  | PahoErrorCode
  | PersistenceErrorCode
  | 'ERR_INVALID_ARG'
  | 'ERR_CLIENT_CLOSED'
  /** publish() refused a message the broker said it does not take (MQTT 5 CONNACK: Maximum QoS, Maximum Packet Size, Retain Available). */
  | 'ERR_BROKER_LIMIT'
  /** A connect() waiting for an automatic reconnect was ended by disconnect(). */
  | 'ERR_CONNECT_ABORTED'
  /** enqueue() on a client without an outbox: no user store, or one without the outbox methods. */
  | 'ERR_OUTBOX_UNSUPPORTED'
  /** enqueue() at a cap of the outbox (maxMessages, maxBytes) with onFull 'rejectNew': the message was not stored. */
  | 'ERR_OUTBOX_FULL'
  /** No prebuild or local build of the native addon loads in this process (the message says why for each). */
  | 'ERR_ADDON_NOT_LOADED';

/** Base class: `code` is stable across releases; `message` is for humans. */
export class PahoMqttRedisError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PahoMqttRedisError';
    this.code = code;
  }
}

/** An error returned by a Paho C call, with Paho's numeric return code. */
export class PahoError extends PahoMqttRedisError {
  readonly pahoCode: number;
  /**
   * A publish that failed after Paho had accepted it (MQTTAsync_sendMessage succeeded: the
   * message was Paho's, and Paho no longer sends it in this process), as opposed to one Paho
   * refused outright (false: the message never entered Paho).
   */
  readonly acceptedByPaho: boolean;
  /**
   * MQTT 5: the reason code the broker answered with (0x80 or more), e.g. 0x87 (Not authorized)
   * in the PUBACK of a refused publish, or 0x97 (Quota exceeded); absent otherwise.
   */
  readonly reasonCode?: number;
  constructor(
    code: PahoErrorCode,
    pahoCode: number,
    message: string,
    options?: { cause?: unknown; acceptedByPaho?: boolean; reasonCode?: number },
  ) {
    super(code, message, options);
    this.name = 'PahoError';
    this.pahoCode = pahoCode;
    this.acceptedByPaho = options?.acceptedByPaho === true;
    if (options?.reasonCode !== undefined) this.reasonCode = options.reasonCode;
  }
}

/** A failed persistence operation: which op, which key, and why. */
export class PersistenceError extends PahoMqttRedisError {
  readonly op: string;
  readonly key: string | undefined;
  /**
   * True when the store could not apply the operation now but may later, unchanged (Redis
   * failing over, loading its data, out of memory, the connection lost mid-command): the store
   * bridge holds a batch that failed so and applies it again, instead of failing it.
   */
  readonly transient: boolean;
  constructor(
    code: PersistenceErrorCode,
    op: string,
    key: string | undefined,
    message: string,
    options?: { cause?: unknown; transient?: boolean },
  ) {
    super(code, message, options);
    this.name = 'PersistenceError';
    this.op = op;
    this.key = key;
    this.transient = options?.transient === true;
  }
}

const PAHO_CODES: Record<number, PahoErrorCode> = {
  [-1]: 'ERR_PAHO_FAILURE',
  [-2]: 'ERR_PAHO_PERSISTENCE',
  [-3]: 'ERR_PAHO_DISCONNECTED',
  [-4]: 'ERR_PAHO_MAX_MESSAGES_INFLIGHT',
  [-5]: 'ERR_PAHO_BAD_UTF8_STRING',
  [-6]: 'ERR_PAHO_NULL_PARAMETER',
  [-7]: 'ERR_PAHO_TOPICNAME_TRUNCATED',
  [-8]: 'ERR_PAHO_BAD_STRUCTURE',
  [-9]: 'ERR_PAHO_BAD_QOS',
  [-10]: 'ERR_PAHO_NO_MORE_MSGIDS',
  [-11]: 'ERR_PAHO_OPERATION_INCOMPLETE',
  [-12]: 'ERR_PAHO_MAX_BUFFERED_MESSAGES',
  [-13]: 'ERR_PAHO_SSL_NOT_SUPPORTED',
  [-14]: 'ERR_PAHO_BAD_PROTOCOL',
  [-15]: 'ERR_PAHO_BAD_MQTT_OPTION',
  [-16]: 'ERR_PAHO_WRONG_MQTT_VERSION',
  [-17]: 'ERR_PAHO_0_LEN_WILL_TOPIC',
  [-18]: 'ERR_PAHO_COMMAND_IGNORED',
  [-19]: 'ERR_PAHO_MAX_BUFFERED',
};

/** Maps a Paho return code (MQTTASYNC_*, or a positive CONNACK refusal) to its stable code. */
export function pahoErrorCode(rc: number): PahoErrorCode {
  if (rc > 0) return 'ERR_PAHO_CONNECT_REFUSED';
  return PAHO_CODES[rc] ?? 'ERR_PAHO_UNKNOWN';
}

export function invalidArg(message: string): PahoMqttRedisError {
  return new PahoMqttRedisError('ERR_INVALID_ARG', message);
}

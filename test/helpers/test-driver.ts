/**
 * The native test driver: calls a bridge's MQTTClient_persistence exactly as Paho does, from
 * native threads. It lives only in the test build of the addon (paho_mqtt_redis_test.node,
 * `npm run build:native:test`), which `npm test` loads through PAHO_MQTT_REDIS_ADDON.
 */
import { native, type NativeStoreBridge } from '../../src/native';

export interface DriverStepSpec {
  /** A persistence call, or 'delivered': the listeners of a received message returned (the client's receive thread then stores what it held). */
  op: 'open' | 'close' | 'put' | 'get' | 'remove' | 'keys' | 'clear' | 'containsKey' | 'delivered';
  key?: string;
  buffers?: Buffer[];
  clientId?: string;
  serverURI?: string;
}
export interface DriverStepResult {
  op: string;
  rc: number;
  data?: Buffer;
  keys?: string[];
}
export interface StressResult {
  calls: number;
  failures: number;
  problems: string[];
  medianUs: number;
  p99Us: number;
  maxUs: number;
}

export interface NativeTestDriver {
  runScript(bridge: NativeStoreBridge, steps: DriverStepSpec[]): Promise<DriverStepResult[]>;
  runStress(
    bridge: NativeStoreBridge,
    options: { threads: number; iterations: number; clientId: string; serverURI: string },
  ): Promise<StressResult>;
  callOnJsThread(bridge: NativeStoreBridge, op: Exclude<DriverStepSpec['op'], 'delivered'>, key?: string): number;
  /** Native MQTT clients alive in this process, in every thread's environment. */
  liveClients(): number;
  /** Client command threads a stop left detached, still inside Paho past their deadline. */
  detachedCommandThreads(): number;
  /** native/client/sent_publish: a sent PUBLISH record read back, or null. */
  parseSentPublish(
    key: string,
    bytes: Buffer,
  ): {
    msgid: number;
    topic: string;
    payload: Buffer;
    qos: number;
    retained: boolean;
    properties: { id: number; value: unknown }[];
  } | null;
  /** native/client/sent_publish: packet ids in the order Paho assigned them (they wrap after 65535). */
  sendOrder(ids: number[]): number[];
  /** Loses `bytes` bytes of native memory on purpose (the leak check's proof that it sees a leak). */
  leakForTest(bytes: number): void;
}

function load(): NativeTestDriver {
  const driver = (native as unknown as { testDriver?: NativeTestDriver }).testDriver;
  if (driver === undefined) {
    throw new Error(
      'the loaded addon has no test driver: run `npm run build:native:test` and set ' +
        'PAHO_MQTT_REDIS_ADDON=build/Release/paho_mqtt_redis_test.node (npm test does both)',
    );
  }
  return driver;
}

export const testDriver: NativeTestDriver = load();

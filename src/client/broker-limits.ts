/**
 * What an MQTT 5 broker announced in its CONNACK about the PUBLISH packets it takes: Maximum
 * QoS, Maximum Packet Size, Retain Available. A publish beyond them would make the broker
 * close the connection (MQTT 5 3.3.4), and once stored it would be sent again after every
 * reconnect, closing each one. So publish() refuses it before Paho (and so the store) sees it,
 * against the limits of the last CONNACK (they hold while offline too, until the next one).
 */
import { PahoMqttRedisError } from '../errors';
import type { NativeProperty } from '../native';
import type { MqttProperties } from './properties';

export interface BrokerLimits {
  maximumQos?: number;
  maximumPacketSize?: number;
  retainAvailable?: number;
}

export function brokerLimits(connack: MqttProperties | undefined): BrokerLimits {
  return {
    maximumQos: connack?.maximumQos,
    maximumPacketSize: connack?.maximumPacketSize,
    retainAvailable: connack?.retainAvailable,
  };
}

const varintBytes = (n: number): number => (n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4);

/** Bytes of one encoded property: its identifier (one byte: every id is below 128) and value. */
function propertyBytes({ value }: NativeProperty, kind: string): number {
  if (Array.isArray(value)) return 1 + 4 + Buffer.byteLength(value[0]) + Buffer.byteLength(value[1]);
  if (typeof value === 'string') return 1 + 2 + Buffer.byteLength(value);
  if (Buffer.isBuffer(value)) return 1 + 2 + value.length;
  const sizes: Record<string, number> = { byte: 1, int2: 2, int4: 4 };
  return 1 + (sizes[kind] ?? varintBytes(value));
}

/** The size of the MQTT 5 PUBLISH packet (fixed header included); `kindOf` names each property's type. */
export function publishPacketBytes(
  spec: { topic: string; payload: Buffer; qos: number; properties?: NativeProperty[] },
  kindOf: (id: number) => string,
): number {
  const properties = (spec.properties ?? []).reduce((sum, p) => sum + propertyBytes(p, kindOf(p.id)), 0);
  const remaining =
    2 +
    Buffer.byteLength(spec.topic) +
    (spec.qos > 0 ? 2 : 0) +
    varintBytes(properties) +
    properties +
    spec.payload.length;
  return 1 + varintBytes(remaining) + remaining;
}

/** Throws ERR_BROKER_LIMIT for a publish the broker said it does not take. */
export function checkBrokerLimits(
  limits: BrokerLimits,
  spec: { topic: string; payload: Buffer; qos: number; retained: boolean; properties?: NativeProperty[] },
  kindOf: (id: number) => string,
): void {
  const refuse = (what: string): never => {
    throw new PahoMqttRedisError(
      'ERR_BROKER_LIMIT',
      `publish to '${spec.topic}' refused before it was stored: ${what} (the broker would close the connection)`,
    );
  };
  if (limits.maximumQos !== undefined && spec.qos > limits.maximumQos)
    refuse(`the broker takes QoS ${limits.maximumQos} at most (its CONNACK's Maximum QoS), this is QoS ${spec.qos}`);
  if (limits.retainAvailable === 0 && spec.retained)
    refuse("the broker does not take retained messages (its CONNACK's Retain Available is 0)");
  if (limits.maximumPacketSize !== undefined) {
    const bytes = publishPacketBytes(spec, kindOf);
    if (bytes > limits.maximumPacketSize)
      refuse(
        `the PUBLISH packet would be ${bytes} bytes, the broker takes ${limits.maximumPacketSize} at most (its CONNACK's Maximum Packet Size)`,
      );
  }
}

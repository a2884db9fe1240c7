/**
 * MQTT v5 properties: a friendly object in the public API, a list of { id, value } on
 * the native side. Ids and value kinds are those of the MQTT 5 specification (2.2.2.2).
 */
import { invalidArg } from '../errors';
import type { NativeProperty } from '../native';

export interface MqttProperties {
  payloadFormatIndicator?: number;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  subscriptionIdentifier?: number;
  sessionExpiryInterval?: number;
  assignedClientIdentifier?: string;
  serverKeepAlive?: number;
  authenticationMethod?: string;
  authenticationData?: Buffer;
  requestProblemInformation?: number;
  willDelayInterval?: number;
  requestResponseInformation?: number;
  responseInformation?: string;
  serverReference?: string;
  reasonString?: string;
  receiveMaximum?: number;
  topicAliasMaximum?: number;
  topicAlias?: number;
  maximumQos?: number;
  retainAvailable?: number;
  /** Name/value pairs; names may repeat. */
  userProperties?: [string, string][];
  maximumPacketSize?: number;
  wildcardSubscriptionAvailable?: number;
  subscriptionIdentifiersAvailable?: number;
  sharedSubscriptionAvailable?: number;
}

type Kind = 'byte' | 'int2' | 'int4' | 'varint' | 'string' | 'binary' | 'pair';

const PROPERTIES: [keyof MqttProperties, number, Kind][] = [
  ['payloadFormatIndicator', 1, 'byte'],
  ['messageExpiryInterval', 2, 'int4'],
  ['contentType', 3, 'string'],
  ['responseTopic', 8, 'string'],
  ['correlationData', 9, 'binary'],
  ['subscriptionIdentifier', 11, 'varint'],
  ['sessionExpiryInterval', 17, 'int4'],
  ['assignedClientIdentifier', 18, 'string'],
  ['serverKeepAlive', 19, 'int2'],
  ['authenticationMethod', 21, 'string'],
  ['authenticationData', 22, 'binary'],
  ['requestProblemInformation', 23, 'byte'],
  ['willDelayInterval', 24, 'int4'],
  ['requestResponseInformation', 25, 'byte'],
  ['responseInformation', 26, 'string'],
  ['serverReference', 28, 'string'],
  ['reasonString', 31, 'string'],
  ['receiveMaximum', 33, 'int2'],
  ['topicAliasMaximum', 34, 'int2'],
  ['topicAlias', 35, 'int2'],
  ['maximumQos', 36, 'byte'],
  ['retainAvailable', 37, 'byte'],
  ['userProperties', 38, 'pair'],
  ['maximumPacketSize', 39, 'int4'],
  ['wildcardSubscriptionAvailable', 40, 'byte'],
  ['subscriptionIdentifiersAvailable', 41, 'byte'],
  ['sharedSubscriptionAvailable', 42, 'byte'],
];
const BY_NAME = new Map(PROPERTIES.map(([name, id, kind]) => [name, { id, kind }]));
const BY_ID = new Map(PROPERTIES.map(([name, id, kind]) => [id, { name, kind }]));
const MAX: Record<string, number> = { byte: 0xff, int2: 0xffff, int4: 0xffffffff, varint: 268_435_455 };

export function toNativeProperties(properties: MqttProperties | undefined, what: string): NativeProperty[] | undefined {
  if (properties === undefined) return undefined;
  if (properties === null || typeof properties !== 'object')
    throw invalidArg(`${what} must be an object of MQTT v5 properties`);
  const list: NativeProperty[] = [];
  for (const [name, value] of Object.entries(properties)) {
    if (value === undefined) continue;
    const spec = BY_NAME.get(name as keyof MqttProperties);
    if (!spec) throw invalidArg(`${what}: unknown MQTT v5 property '${name}'`);
    const { id, kind } = spec;
    if (kind === 'pair') {
      if (
        !Array.isArray(value) ||
        !value.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && typeof p[1] === 'string')
      ) {
        throw invalidArg(`${what}.userProperties must be an array of [name, value] string pairs`);
      }
      for (const pair of value as [string, string][]) list.push({ id, value: [pair[0], pair[1]] });
    } else if (kind === 'string') {
      if (typeof value !== 'string') throw invalidArg(`${what}.${name} must be a string`);
      list.push({ id, value });
    } else if (kind === 'binary') {
      if (!Buffer.isBuffer(value)) throw invalidArg(`${what}.${name} must be a Buffer`);
      list.push({ id, value });
    } else {
      if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > MAX[kind]) {
        throw invalidArg(`${what}.${name} must be an integer from 0 to ${MAX[kind]}`);
      }
      list.push({ id, value: value as number });
    }
  }
  return list;
}

/** The value type of property `id` ('byte', 'int2', 'int4', 'varint', 'string', 'binary', 'pair'). */
export function propertyKind(id: number): string {
  return BY_ID.get(id)?.kind ?? 'varint';
}

export function fromNativeProperties(list: NativeProperty[] | undefined): MqttProperties | undefined {
  if (!list || list.length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const { id, value } of list) {
    const spec = BY_ID.get(id);
    if (!spec) continue;
    if (spec.kind === 'pair') {
      ((out.userProperties ??= []) as [string, string][]).push(value as [string, string]);
    } else {
      out[spec.name] = value;
    }
  }
  return out;
}

/**
 * The subscriptions made through one client, kept to subscribe again after a reconnect that
 * found no session, and the MQTT topic filter match used by `messages({ topicFilter })`.
 */
import type { MqttProperties } from './properties';
import type { QoS } from './options';

export interface SubscriptionEntry {
  topic: string;
  qos?: QoS;
  noLocal?: boolean;
  retainAsPublished?: boolean;
  retainHandling?: 0 | 1 | 2;
  properties?: MqttProperties;
}

export class SubscriptionRegistry {
  /** Topic filter -> its latest subscription (a later subscribe to the same filter replaces it, as on the broker). */
  private readonly entries = new Map<string, SubscriptionEntry>();

  add(subscriptions: SubscriptionEntry[]): void {
    const [first] = subscriptions;
    // One SUBSCRIBE carries one property set (on the first entry); each filter keeps a copy.
    for (const s of subscriptions) this.entries.set(s.topic, { ...s, properties: first.properties });
  }

  remove(topics: string[]): void {
    for (const t of topics) this.entries.delete(t);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  /** The requests that restore every subscription: one per distinct property set (SUBSCRIBE carries one). */
  requests(): SubscriptionEntry[][] {
    const groups = new Map<MqttProperties | undefined, SubscriptionEntry[]>();
    for (const entry of this.entries.values()) {
      const group = groups.get(entry.properties) ?? [];
      group.push({ ...entry, properties: group.length === 0 ? entry.properties : undefined });
      groups.set(entry.properties, group);
    }
    return [...groups.values()];
  }

  /** Subscribes again to every entry, one request per group; `report` hears each request's outcome. */
  async restore(
    subscribe: (group: SubscriptionEntry[]) => Promise<number[]>,
    report: (info: { topics: string[]; granted?: number[]; error?: Error }) => void,
  ): Promise<void> {
    for (const group of this.requests()) {
      const topics = group.map((s) => s.topic);
      let outcome: { topics: string[]; granted?: number[]; error?: Error };
      try {
        outcome = { topics, granted: await subscribe(group) };
      } catch (error) {
        outcome = { topics, error: error instanceof Error ? error : new Error(String(error)) };
      }
      report(outcome);
    }
  }
}

/** MQTT 3.1.1 section 4.7: `+` one level, `#` the rest; wildcards at the first level skip `$` topics. */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

// The broker's state behind the request handlers: configuration (static
// plus the dynamic broker configs, persisted in gregor-broker-configs.json),
// the log manager with one Log per partition, topic metadata, and the
// wake-ups that long-polling fetches wait on.
import { readFile } from 'node:fs/promises';
import { withDynamicLayers, type BrokerConfig } from '../config/broker-config.js';
import { LOG_CONFIG_KEYS, type LogConfigInput } from '../log/config.js';
import type { Log } from '../log/log.js';
import type { LogManager } from '../log/log-manager.js';
import { PARTITION_METADATA_FILE, formatPartitionMetadata, topicNameError, type TopicRecord, type TopicStore } from '../cluster/topic-store.js';
import { join } from 'node:path';
import { FetchSessionCache } from './fetch-sessions.js';
import type { GroupCoordinator } from '../groups/group-coordinator.js';

/** Kafka caps partitions per CreateTopics/CreatePartitions request at this. */
export const PARTITIONS_PER_TOPIC_MAX = 100_000;

/** Where the dynamic broker configs are kept, in the log directory. */
export const DYNAMIC_CONFIGS_FILE = 'gregor-broker-configs.json';

/** The BROKER resources that hold dynamic configs: this node ("0") or the cluster-wide default (""). */
export type DynamicScope = 'broker' | 'default';

export class BrokerState {
  readonly clusterId: string;
  readonly fetchSessions = new FetchSessionCache();
  /** The group coordinator (set by startBroker once the state exists). */
  groups!: GroupCoordinator;
  #waiters = new Set<() => void>();
  #partitions = new Map<string, Log[]>();
  /** server.properties and overrides, as the broker started with them. */
  readonly #staticConfig: BrokerConfig;
  #config: BrokerConfig;
  #dynamic: Record<DynamicScope, Readonly<Record<string, string>>> = { broker: {}, default: {} };

  constructor(
    config: BrokerConfig,
    readonly logs: LogManager,
    readonly topics: TopicStore,
    clusterId: string,
    readonly writeFileAtomic: (path: string, contents: Buffer) => Promise<void>,
  ) {
    this.#staticConfig = config;
    this.#config = config;
    this.clusterId = clusterId;
  }

  /** The effective configuration: static with the dynamic layers over it. */
  get config(): BrokerConfig {
    return this.#config;
  }

  /** The dynamic configs of one BROKER resource (a copy). */
  dynamicConfigs(scope: DynamicScope): Record<string, string> {
    return { ...this.#dynamic[scope] };
  }

  /** The configuration `scope`'s dynamic set would give; throws BrokerConfigError. */
  previewDynamicConfigs(scope: DynamicScope, configs: Record<string, string>): BrokerConfig {
    const layers = { ...this.#dynamic, [scope]: configs };
    return withDynamicLayers(this.#staticConfig, new Map(Object.entries(layers.default)), new Map(Object.entries(layers.broker)));
  }

  /**
   * Reads the persisted dynamic configs (at start, before openAll). A file
   * that cannot be applied stops the broker with a message naming it.
   */
  async loadDynamicConfigs(): Promise<void> {
    const path = join(this.logs.dir, DYNAMIC_CONFIGS_FILE);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    try {
      const stored = JSON.parse(text) as { broker?: Record<string, string>; clusterDefault?: Record<string, string> };
      const dynamic = { broker: { ...stored.broker }, default: { ...stored.clusterDefault } };
      this.#config = withDynamicLayers(this.#staticConfig, new Map(Object.entries(dynamic.default)), new Map(Object.entries(dynamic.broker)));
      this.#dynamic = dynamic;
    } catch (error) {
      throw new Error(`${path}: ${(error as Error).message}`);
    }
  }

  /**
   * Replaces `scope`'s dynamic set with what `change` returns (undefined:
   * leave it), validated by the caller: persists it, then applies the new
   * topic defaults to every open partition log (topic overrides still win).
   * Runs with the topic changes, one at a time, so `change` sees the latest set.
   */
  setDynamicConfigs(scope: DynamicScope, change: (current: Readonly<Record<string, string>>) => Record<string, string> | undefined): Promise<void> {
    return this.#serialized(async () => {
      const next = change(this.#dynamic[scope]);
      if (next === undefined) return;
      const config = this.previewDynamicConfigs(scope, next);
      const dynamic = { ...this.#dynamic, [scope]: { ...next } };
      const file = { version: 1, broker: dynamic.broker, clusterDefault: dynamic.default };
      await this.writeFileAtomic(join(this.logs.dir, DYNAMIC_CONFIGS_FILE), Buffer.from(`${JSON.stringify(file, null, 2)}\n`));
      this.#dynamic = dynamic;
      this.#config = config;
      for (const topic of this.topics.all()) {
        for (const log of this.partitionsOf(topic.name)) {
          if (!log.closed) await log.setConfig(this.logConfigOf(topic));
        }
      }
    });
  }

  get nodeId(): number {
    return this.config.nodeId;
  }

  /** Opens the logs of every known topic (at start). */
  async openAll(): Promise<void> {
    for (const topic of this.topics.all()) await this.#openPartitions(topic, 0);
  }

  log(topic: string, partition: number): Log | undefined {
    return this.#partitions.get(topic)?.[partition];
  }

  partitionsOf(topic: string): readonly Log[] {
    return this.#partitions.get(topic) ?? [];
  }

  /** The engine-level settings of a topic: broker defaults plus the topic's overrides. */
  logConfigOf(topic: TopicRecord): LogConfigInput {
    const input: LogConfigInput = { ...this.config.topicDefaults };
    for (const key of LOG_CONFIG_KEYS) {
      const value = topic.configs[key];
      if (value !== undefined) input[key] = value;
    }
    return input;
  }

  async #openPartitions(topic: TopicRecord, from: number): Promise<void> {
    const logs = this.#partitions.get(topic.name) ?? [];
    const config = this.logConfigOf(topic);
    const metadata = formatPartitionMetadata(topic.id);
    for (let p = from; p < topic.partitions; p++) {
      const log = await this.logs.openLog({ topic: topic.name, partition: p }, config);
      // Written once (two fsyncs); at later starts only if missing or different.
      const path = join(log.dir, PARTITION_METADATA_FILE);
      const existing = await readFile(path).catch(() => undefined);
      if (existing === undefined || !existing.equals(metadata)) await this.writeFileAtomic(path, metadata);
      logs[p] = log;
    }
    this.#partitions.set(topic.name, logs);
  }

  async #createTopicLocked(name: string, partitions: number, replicationFactor: number, configs: Record<string, string>): Promise<TopicRecord> {
    const invalid = topicNameError(name);
    if (invalid) throw new Error(invalid);
    const topic = await this.topics.create({ name, partitions, replicationFactor, configs });
    await this.#openPartitions(topic, 0);
    return topic;
  }

  async #addPartitionsLocked(name: string, count: number): Promise<void> {
    const topic = this.topics.get(name);
    if (!topic) throw new Error(`Topic '${name}' does not exist.`);
    const from = topic.partitions;
    await this.topics.update(name, { partitions: count });
    await this.#openPartitions(topic, from);
  }

  /**
   * Replaces a topic's whole override set with what `change` returns
   * (undefined: leave it), validated by the caller: persists it, then
   * applies the engine keys to every open partition. `change` runs inside
   * the topic changes, one at a time, so it sees the latest set. Resolves
   * once both are done, so the change can be acknowledged.
   */
  async #setTopicConfigsLocked(name: string, change: (topic: TopicRecord) => Record<string, string> | undefined): Promise<TopicRecord> {
    const current = this.topics.get(name);
    if (!current) throw Object.assign(new Error(`Topic '${name}' does not exist.`), { code: 'UNKNOWN_TOPIC_OR_PARTITION' });
    const configs = change(current);
    if (configs === undefined) return current;
    const topic = await this.topics.update(name, { configs: { ...configs } });
    const config = this.logConfigOf(topic);
    await Promise.all(this.partitionsOf(name).filter((log) => !log.closed).map((log) => log.setConfig(config)));
    return topic;
  }

  async #deleteTopicLocked(name: string): Promise<TopicRecord | undefined> {
    const topic = await this.topics.delete(name);
    if (!topic) return undefined;
    const logs = this.#partitions.get(name) ?? [];
    this.#partitions.delete(name);
    for (let p = 0; p < logs.length; p++) await this.logs.deleteLog({ topic: name, partition: p });
    this.wakeFetchers();
    // Not awaited: its writes to __consumer_offsets must not wait behind this topic change.
    void this.groups?.onTopicDeleted(name);
    return topic;
  }

  // Topic changes run one at a time: a create racing a delete of the same
  // name must not leave a log open in a deleted directory.
  #topicChain: Promise<unknown> = Promise.resolve();
  #serialized<T>(change: () => Promise<T>): Promise<T> {
    const run = this.#topicChain.then(change);
    this.#topicChain = run.catch(() => undefined);
    return run;
  }

  /** Resolves once the topic changes queued so far are done (their logs open or removed). */
  async topicChangesSettled(): Promise<void> {
    await this.#topicChain;
  }

  createTopic(name: string, partitions: number, replicationFactor: number, configs: Record<string, string>): Promise<TopicRecord> {
    return this.#serialized(() => this.#createTopicLocked(name, partitions, replicationFactor, configs));
  }

  addPartitions(name: string, count: number): Promise<void> {
    return this.#serialized(() => this.#addPartitionsLocked(name, count));
  }

  setTopicConfigs(name: string, change: (topic: TopicRecord) => Record<string, string> | undefined): Promise<TopicRecord> {
    return this.#serialized(() => this.#setTopicConfigsLocked(name, change));
  }

  deleteTopic(name: string): Promise<TopicRecord | undefined> {
    return this.#serialized(() => this.#deleteTopicLocked(name));
  }

  /** Called after appends: long-polling fetches re-check their partitions. */
  wakeFetchers(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  /** Resolves on the next append (or topic change), or after `timeoutMs`. */
  waitForData(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      this.#waiters.add(done);
    });
  }
}

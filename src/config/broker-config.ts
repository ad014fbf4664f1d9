// The broker's configuration: Kafka's key names and defaults, read from a
// server.properties file plus `--override key=value`, as kafka-server-start
// takes them. An invalid value stops the broker at start with a message that
// names the key; an unknown key gets a warning and is otherwise ignored.
import { readFile } from 'node:fs/promises';

import { NEVER, type LogConfigInput } from '../log/config.js';
import { parseProperties } from './properties.js';

type Kind = 'int' | 'long' | 'boolean' | 'string' | 'list' | 'enum';

interface KeySpec {
  kind: Kind;
  /** undefined: no default (the key is optional or derived from another). */
  default?: string;
  min?: number;
  max?: number;
  values?: readonly string[];
  /** Extra rule beyond kind/min/max: why `value` is invalid, or undefined. */
  check?: (value: string) => string | undefined;
  doc: string;
}

const INT_MAX = 2 ** 31 - 1;
const LONG_MAX = '9223372036854775807';

/** Every broker key Gregor reads, with Kafka's defaults (listeners excepted: loopback). */
export const BROKER_KEYS: Record<string, KeySpec> = {
  'listeners': { kind: 'list', default: 'PLAINTEXT://127.0.0.1:9092', doc: 'Addresses to listen on (Gregor binds to loopback by default)' },
  'advertised.listeners': { kind: 'list', doc: 'Addresses clients are told to use (default: listeners)' },
  'node.id': { kind: 'int', min: 0, doc: 'This broker\'s id (alias: broker.id)' },
  'broker.id': { kind: 'int', default: '0', min: 0, doc: 'This broker\'s id' },
  'log.dirs': { kind: 'list', doc: 'Directories for partition logs (default: log.dir)' },
  'log.dir': { kind: 'string', default: './data', doc: 'Directory for partition logs when log.dirs is not set' },
  'num.network.threads': { kind: 'int', default: '3', min: 1, max: 256, doc: 'Native network threads' },
  'num.io.threads': { kind: 'int', default: '8', min: 1, max: 256, doc: 'Native io threads (log appends, reads, fsync)' },
  'socket.send.buffer.bytes': { kind: 'int', default: '102400', min: -1, doc: 'SO_SNDBUF; -1 keeps the OS default' },
  'socket.receive.buffer.bytes': { kind: 'int', default: '102400', min: -1, doc: 'SO_RCVBUF; -1 keeps the OS default' },
  'socket.request.max.bytes': { kind: 'int', default: '104857600', min: 1, doc: 'Largest request frame accepted' },
  'queued.max.requests': { kind: 'int', default: '500', min: 1, doc: 'Requests queued for the request handler before the network threads stop reading' },
  'connections.max.idle.ms': { kind: 'long', default: '600000', min: 1, doc: 'Idle connections close after this long' },
  'num.partitions': { kind: 'int', default: '1', min: 1, doc: 'Partitions of auto-created topics' },
  'default.replication.factor': { kind: 'int', default: '1', min: 1, doc: 'Replication factor of auto-created topics' },
  'auto.create.topics.enable': { kind: 'boolean', default: 'true', doc: 'Create unknown topics on Metadata requests that allow it' },
  'message.max.bytes': { kind: 'int', default: '1048588', min: 0, doc: 'Largest record batch (topic: max.message.bytes)' },
  'log.segment.bytes': { kind: 'int', default: '1073741824', min: 14, doc: 'Segment size (topic: segment.bytes)' },
  'log.roll.ms': { kind: 'long', min: 1, doc: 'Segment age before rolling (topic: segment.ms; default: log.roll.hours)' },
  'log.roll.hours': { kind: 'int', default: '168', min: 1, doc: 'Segment age in hours before rolling' },
  'log.index.interval.bytes': { kind: 'int', default: '4096', min: 0, doc: 'Bytes between offset index entries (topic: index.interval.bytes)' },
  'log.index.size.max.bytes': { kind: 'int', default: '10485760', min: 4, doc: 'Index file size (topic: segment.index.bytes)' },
  'log.flush.interval.messages': { kind: 'long', default: LONG_MAX, min: 1, doc: 'fsync after this many messages (topic: flush.messages)' },
  'log.flush.interval.ms': { kind: 'long', min: 0, doc: 'fsync interval (topic: flush.ms; default: log.flush.scheduler.interval.ms)' },
  'log.flush.scheduler.interval.ms': { kind: 'long', default: LONG_MAX, min: 0, doc: 'How often logs are checked for flush.ms' },
  'log.flush.offset.checkpoint.interval.ms': { kind: 'int', default: '60000', min: 0, doc: 'How often the recovery point checkpoint is written' },
  'log.message.timestamp.type': { kind: 'enum', default: 'CreateTime', values: ['CreateTime', 'LogAppendTime'], doc: 'Topic default for message.timestamp.type' },
  'compression.type': { kind: 'enum', default: 'producer', values: ['producer', 'uncompressed', 'gzip', 'snappy', 'lz4', 'zstd'], doc: 'Topic default for compression.type: producer keeps each batch\'s codec, the others recompress on append' },
  'compression.gzip.level': { kind: 'int', default: '-1', min: -1, max: 9, check: (v) => (v.trim() === '0' ? 'must be -1 or between 1 and 9' : undefined), doc: 'gzip level when the broker compresses (-1: zlib\'s default)' },
  'compression.lz4.level': { kind: 'int', default: '9', min: 1, max: 17, doc: 'lz4 level when the broker compresses (stored; lz4-napi has a single level)' },
  'compression.zstd.level': { kind: 'int', default: '3', min: -131072, max: 22, doc: 'zstd level when the broker compresses' },
  'gregor.log.record.validation': { kind: 'enum', default: 'shallow', values: ['shallow', 'full'], doc: 'Topic default for gregor.record.validation: full decompresses every compressed batch to check its records' },
  'log.retention.hours': { kind: 'int', default: '168', min: -1, doc: 'Retention by time in hours' },
  'log.retention.minutes': { kind: 'int', min: -1, doc: 'Retention by time in minutes' },
  'log.retention.ms': { kind: 'long', min: -1, doc: 'Retention by time in ms (-1: forever)' },
  'log.retention.bytes': { kind: 'long', default: '-1', min: -1, doc: 'Retention by size per partition (-1: unlimited)' },
  'log.retention.check.interval.ms': { kind: 'long', default: '300000', min: 1, doc: 'How often retention runs' },
  'log.cleaner.enable': { kind: 'boolean', default: 'true', doc: 'Run the log cleaner (compaction of cleanup.policy=compact topics)' },
  'log.cleaner.threads': { kind: 'int', default: '1', min: 1, max: 256, doc: 'Native threads rewriting compacted logs' },
  'log.cleaner.backoff.ms': { kind: 'long', default: '15000', min: 1, doc: 'How often the cleaner looks for a log to clean' },
  'log.cleaner.min.cleanable.ratio': { kind: 'string', default: '0.5', check: (v) => (/^\d*\.?\d+$/.test(v.trim()) && Number(v) <= 1 ? undefined : 'must be a number between 0 and 1'), doc: 'Topic default for min.cleanable.dirty.ratio' },
  'log.cleaner.min.compaction.lag.ms': { kind: 'long', default: '0', min: 0, doc: 'Topic default for min.compaction.lag.ms' },
  'log.cleaner.max.compaction.lag.ms': { kind: 'long', default: LONG_MAX, min: 1, doc: 'Topic default for max.compaction.lag.ms' },
  'log.cleaner.delete.retention.ms': { kind: 'long', default: '86400000', min: 0, doc: 'Topic default for delete.retention.ms' },
  'log.cleanup.policy': { kind: 'list', default: 'delete', values: ['delete', 'compact'], doc: 'Topic default for cleanup.policy: retention deletes segments only under delete' },
  'log.segment.delete.delay.ms': { kind: 'long', default: '60000', min: 0, doc: 'Topic default for file.delete.delay.ms: how long deleted segment files stay (renamed .deleted)' },
  'offsets.topic.num.partitions': { kind: 'int', default: '50', min: 1, doc: 'Partitions of __consumer_offsets (fixed once the topic exists)' },
  'offsets.topic.replication.factor': { kind: 'int', default: '3', min: 1, doc: 'Replication factor of __consumer_offsets (one node: created with 1)' },
  'offsets.topic.segment.bytes': { kind: 'int', default: '104857600', min: 1, doc: 'Segment size of __consumer_offsets' },
  'offsets.retention.minutes': { kind: 'int', default: '10080', min: 1, doc: 'Committed offsets of an empty group expire after this long' },
  'offsets.retention.check.interval.ms': { kind: 'long', default: '600000', min: 1, doc: 'How often expired offsets are removed' },
  'offset.metadata.max.bytes': { kind: 'int', default: '4096', min: 0, doc: 'Longest metadata string an offset commit may carry' },
  'group.min.session.timeout.ms': { kind: 'int', default: '6000', min: 0, doc: 'Smallest session timeout a member may ask for' },
  'group.max.session.timeout.ms': { kind: 'int', default: '1800000', min: 0, doc: 'Largest session timeout a member may ask for' },
  'group.initial.rebalance.delay.ms': { kind: 'int', default: '3000', min: 0, doc: 'How long the first rebalance of an empty group waits for more members' },
  'group.max.size': { kind: 'int', default: String(INT_MAX), min: 1, doc: 'Most members a group may have' },
};

/**
 * Keys AlterConfigs/IncrementalAlterConfigs may change on a BROKER resource
 * (dynamic broker configs): the ones that are topic-config defaults.
 */
export const DYNAMIC_BROKER_KEYS: readonly string[] = [
  'log.segment.bytes',
  'log.roll.ms',
  'log.roll.hours',
  'log.index.interval.bytes',
  'log.index.size.max.bytes',
  'log.flush.interval.messages',
  'log.flush.interval.ms',
  'message.max.bytes',
  'log.message.timestamp.type',
  'log.cleanup.policy',
  'log.segment.delete.delay.ms',
  'log.cleaner.min.cleanable.ratio',
  'log.cleaner.min.compaction.lag.ms',
  'log.cleaner.max.compaction.lag.ms',
  'log.cleaner.delete.retention.ms',
  'log.retention.ms',
  'log.retention.minutes',
  'log.retention.hours',
  'log.retention.bytes',
  'compression.type',
  'compression.gzip.level',
  'compression.lz4.level',
  'compression.zstd.level',
  'gregor.log.record.validation',
];

/** DescribeConfigs sources of the layers a broker key can be set in (Kafka's ConfigSource ids). */
export const LayerSource = {
  DYNAMIC_BROKER_CONFIG: 2,
  DYNAMIC_DEFAULT_BROKER_CONFIG: 3,
  STATIC_BROKER_CONFIG: 4,
} as const;

export interface ConfigLayer {
  readonly source: number;
  readonly values: ReadonlyMap<string, string>;
}

export interface BrokerConfig {
  /** Every key with its effective string value (set or default). */
  readonly values: ReadonlyMap<string, string>;
  /** The keys set explicitly (file, override or dynamic), for DescribeConfigs sources. */
  readonly explicit: ReadonlySet<string>;
  /**
   * Where explicit values come from, highest priority first: the per-broker
   * dynamic configs, the cluster-wide dynamic defaults, then the static
   * ones (server.properties and overrides). Without dynamic configs, only
   * the static layer.
   */
  readonly layers: readonly ConfigLayer[];
  readonly nodeId: number;
  readonly listeners: Listener[];
  readonly advertisedListeners: Listener[];
  readonly logDirs: string[];
  readonly networkThreads: number;
  readonly ioThreads: number;
  readonly socketSendBufferBytes: number;
  readonly socketReceiveBufferBytes: number;
  readonly socketRequestMaxBytes: number;
  readonly queuedMaxRequests: number;
  readonly connectionsMaxIdleMs: number;
  readonly numPartitions: number;
  readonly defaultReplicationFactor: number;
  readonly autoCreateTopics: boolean;
  readonly checkpointIntervalMs: number;
  /** log.retention.check.interval.ms */
  readonly retentionCheckIntervalMs: number;
  /** log.cleaner.enable, log.cleaner.threads, log.cleaner.backoff.ms */
  readonly cleaner: { readonly enable: boolean; readonly threads: number; readonly backoffMs: number };
  /** The group coordinator's settings (group.* and offsets.* keys). */
  readonly groups: GroupCoordinatorConfig;
  /** Topic config defaults derived from the broker's log.* keys. */
  readonly topicDefaults: LogConfigInput;
  readonly warnings: string[];
}

export interface GroupCoordinatorConfig {
  readonly offsetsTopicPartitions: number;
  readonly offsetsTopicSegmentBytes: number;
  readonly offsetsRetentionMs: number;
  readonly offsetsRetentionCheckIntervalMs: number;
  readonly offsetMetadataMaxBytes: number;
  readonly minSessionTimeoutMs: number;
  readonly maxSessionTimeoutMs: number;
  readonly initialRebalanceDelayMs: number;
  readonly maxSize: number;
}

export interface Listener {
  name: string;
  host: string;
  port: number;
}

export class BrokerConfigError extends Error {
  override readonly name = 'BrokerConfigError';
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
  }
}

/** Throws BrokerConfigError naming `key` when `value` is not valid for it (the key must be known). */
export function checkBrokerValue(key: string, value: string): void {
  const spec = BROKER_KEYS[key];
  if (!spec) throw new BrokerConfigError(key, `Unknown configuration ${key}`);
  checkValue(key, value.trim(), spec);
}

function checkValue(key: string, value: string, spec: KeySpec): void {
  const fail = (why: string): never => {
    throw new BrokerConfigError(key, `Invalid value ${JSON.stringify(value)} for configuration ${key}: ${why}`);
  };
  switch (spec.kind) {
    case 'int':
    case 'long': {
      if (!/^-?\d+$/.test(value)) fail('not an integer');
      const n = BigInt(value);
      const limit = spec.kind === 'int' ? BigInt(INT_MAX) : BigInt(LONG_MAX);
      if (n > limit || n < -limit - 1n) fail(`out of range for a ${spec.kind}`);
      if (spec.min !== undefined && n < BigInt(spec.min)) fail(`must be at least ${spec.min}`);
      if (spec.max !== undefined && n > BigInt(spec.max)) fail(`must be at most ${spec.max}`);
      break;
    }
    case 'boolean':
      if (value !== 'true' && value !== 'false') fail('must be true or false');
      break;
    case 'enum':
      if (!spec.values!.includes(value)) fail(`must be one of ${spec.values!.join(', ')}`);
      break;
    case 'list':
      if (spec.values && !value.split(',').every((item) => spec.values!.includes(item.trim()))) fail(`must be a comma-separated list of ${spec.values.join(', ')}`);
      break;
    default:
      break;
  }
  const why = spec.check?.(value);
  if (why) fail(why);
}

export function parseListeners(key: string, value: string): Listener[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((entry) => {
      const match = /^([A-Za-z0-9_]+):\/\/(\[[^\]]*\]|[^:]*):(\d+)$/.exec(entry);
      if (!match) {
        throw new BrokerConfigError(key, `Invalid value ${JSON.stringify(entry)} for configuration ${key}: expected NAME://host:port`);
      }
      const port = Number(match[3]);
      if (port > 65535) throw new BrokerConfigError(key, `Invalid port ${port} in ${key}`);
      const rawHost = match[2]!.replace(/^\[|\]$/g, '');
      return { name: match[1]!.toUpperCase(), host: rawHost === '' ? '0.0.0.0' : rawHost, port };
    });
}

function toNumber(value: string): number {
  const n = BigInt(value);
  return n > BigInt(NEVER) ? NEVER : Number(n);
}

/** Builds the configuration from properties (later sources win). */
export function resolveBrokerConfig(...sources: ReadonlyMap<string, string>[]): BrokerConfig {
  const warnings: string[] = [];
  const explicit = new Map<string, string>();
  for (const source of sources) {
    for (const [key, value] of source) {
      const spec = BROKER_KEYS[key];
      if (!spec) {
        warnings.push(`Unknown configuration key ${key} is ignored`);
        continue;
      }
      checkValue(key, value.trim(), spec);
      explicit.set(key, value.trim());
    }
  }
  const values = new Map<string, string>();
  for (const [key, spec] of Object.entries(BROKER_KEYS)) {
    const value = explicit.get(key) ?? spec.default;
    if (value !== undefined) values.set(key, value);
  }
  const get = (key: string): string => values.get(key)!;
  const num = (key: string): number => toNumber(get(key));

  if (explicit.has('node.id') && explicit.has('broker.id') && explicit.get('node.id') !== explicit.get('broker.id')) {
    throw new BrokerConfigError('node.id', `node.id (${explicit.get('node.id')}) and broker.id (${explicit.get('broker.id')}) disagree`);
  }
  const nodeId = toNumber(explicit.get('node.id') ?? get('broker.id'));
  const listeners = parseListeners('listeners', get('listeners'));
  if (listeners.length === 0) throw new BrokerConfigError('listeners', 'listeners must name at least one address');
  const advertisedListeners = values.has('advertised.listeners')
    ? parseListeners('advertised.listeners', get('advertised.listeners'))
    : listeners.map((l) => ({ ...l, host: l.host === '0.0.0.0' || l.host === '::' ? '127.0.0.1' : l.host }));
  const logDirs = (values.get('log.dirs') ?? get('log.dir'))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (logDirs.length !== 1) {
    throw new BrokerConfigError('log.dirs', `log.dirs must name exactly one directory for now (got ${logDirs.length})`);
  }

  const rollMs = values.has('log.roll.ms') ? num('log.roll.ms') : num('log.roll.hours') * 3_600_000;
  const flushMs = values.has('log.flush.interval.ms') ? num('log.flush.interval.ms') : num('log.flush.scheduler.interval.ms');
  // log.retention.ms wins over .minutes, which wins over .hours; any negative value keeps forever.
  const retentionMs = values.has('log.retention.ms')
    ? num('log.retention.ms')
    : values.has('log.retention.minutes')
      ? num('log.retention.minutes') * 60_000
      : num('log.retention.hours') * 3_600_000;
  const topicDefaults: LogConfigInput = {
    'segment.bytes': num('log.segment.bytes'),
    'segment.ms': rollMs,
    'segment.index.bytes': num('log.index.size.max.bytes'),
    'index.interval.bytes': num('log.index.interval.bytes'),
    'flush.messages': num('log.flush.interval.messages'),
    'flush.ms': flushMs,
    'retention.ms': retentionMs < 0 ? -1 : retentionMs,
    'retention.bytes': num('log.retention.bytes'),
    'cleanup.policy': get('log.cleanup.policy'),
    'file.delete.delay.ms': num('log.segment.delete.delay.ms'),
    'delete.retention.ms': num('log.cleaner.delete.retention.ms'),
    'min.compaction.lag.ms': num('log.cleaner.min.compaction.lag.ms'),
    'max.compaction.lag.ms': num('log.cleaner.max.compaction.lag.ms'),
    'min.cleanable.dirty.ratio': Number(get('log.cleaner.min.cleanable.ratio')),
    'max.message.bytes': num('message.max.bytes'),
    'message.timestamp.type': get('log.message.timestamp.type'),
    'compression.type': get('compression.type'),
    'compression.gzip.level': num('compression.gzip.level'),
    'compression.lz4.level': num('compression.lz4.level'),
    'compression.zstd.level': num('compression.zstd.level'),
    'gregor.record.validation': get('gregor.log.record.validation'),
  };
  return {
    values,
    explicit: new Set(explicit.keys()),
    layers: [{ source: LayerSource.STATIC_BROKER_CONFIG, values: explicit }],
    nodeId,
    listeners,
    advertisedListeners,
    logDirs,
    networkThreads: num('num.network.threads'),
    ioThreads: num('num.io.threads'),
    socketSendBufferBytes: num('socket.send.buffer.bytes'),
    socketReceiveBufferBytes: num('socket.receive.buffer.bytes'),
    socketRequestMaxBytes: num('socket.request.max.bytes'),
    queuedMaxRequests: num('queued.max.requests'),
    connectionsMaxIdleMs: num('connections.max.idle.ms'),
    numPartitions: num('num.partitions'),
    defaultReplicationFactor: num('default.replication.factor'),
    autoCreateTopics: get('auto.create.topics.enable') === 'true',
    checkpointIntervalMs: Math.max(1, num('log.flush.offset.checkpoint.interval.ms')),
    retentionCheckIntervalMs: num('log.retention.check.interval.ms'),
    cleaner: {
      enable: get('log.cleaner.enable') === 'true',
      threads: num('log.cleaner.threads'),
      backoffMs: num('log.cleaner.backoff.ms'),
    },
    groups: {
      offsetsTopicPartitions: num('offsets.topic.num.partitions'),
      offsetsTopicSegmentBytes: num('offsets.topic.segment.bytes'),
      offsetsRetentionMs: num('offsets.retention.minutes') * 60_000,
      offsetsRetentionCheckIntervalMs: num('offsets.retention.check.interval.ms'),
      offsetMetadataMaxBytes: num('offset.metadata.max.bytes'),
      minSessionTimeoutMs: num('group.min.session.timeout.ms'),
      maxSessionTimeoutMs: num('group.max.session.timeout.ms'),
      initialRebalanceDelayMs: num('group.initial.rebalance.delay.ms'),
      maxSize: num('group.max.size'),
    },
    topicDefaults,
    warnings,
  };
}

/**
 * The configuration with dynamic layers over `staticConfig`'s static one:
 * per-broker dynamic configs win over the cluster-wide dynamic defaults,
 * which win over the static values. Throws BrokerConfigError like
 * resolveBrokerConfig.
 */
export function withDynamicLayers(
  staticConfig: BrokerConfig,
  dynamicDefault: ReadonlyMap<string, string>,
  dynamicBroker: ReadonlyMap<string, string>,
): BrokerConfig {
  const staticLayer = staticConfig.layers.find((l) => l.source === LayerSource.STATIC_BROKER_CONFIG)?.values ?? new Map<string, string>();
  const resolved = resolveBrokerConfig(staticLayer, dynamicDefault, dynamicBroker);
  const trimmed = (m: ReadonlyMap<string, string>) => new Map([...m].map(([k, v]) => [k, v.trim()]));
  const layers: ConfigLayer[] = [];
  if (dynamicBroker.size > 0) layers.push({ source: LayerSource.DYNAMIC_BROKER_CONFIG, values: trimmed(dynamicBroker) });
  if (dynamicDefault.size > 0) layers.push({ source: LayerSource.DYNAMIC_DEFAULT_BROKER_CONFIG, values: trimmed(dynamicDefault) });
  layers.push({ source: LayerSource.STATIC_BROKER_CONFIG, values: staticLayer });
  // Only the dynamic keys can differ: everything else (listeners, whose
  // advertised port is filled in once bound, threads, ...) stays as started.
  return { ...staticConfig, values: resolved.values, explicit: resolved.explicit, topicDefaults: resolved.topicDefaults, layers };
}

/** The source of `key`'s effective value: the first layer that sets it, else DEFAULT_CONFIG (5). */
export function sourceOf(config: BrokerConfig, key: string): number {
  return config.layers.find((l) => l.values.has(key))?.source ?? 5;
}

/** Reads server.properties (if given) and applies `key=value` overrides. */
export async function loadBrokerConfig(options: { configFile?: string; overrides?: Record<string, string | number | boolean> } = {}): Promise<BrokerConfig> {
  const sources: Map<string, string>[] = [];
  if (options.configFile) sources.push(parseProperties(await readFile(options.configFile, 'utf8')));
  sources.push(new Map(Object.entries(options.overrides ?? {}).map(([k, v]) => [k, String(v)])));
  return resolveBrokerConfig(...sources);
}

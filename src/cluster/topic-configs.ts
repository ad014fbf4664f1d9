// Topic configuration keys the broker accepts (Kafka's names), each with the
// broker key its default comes from. The storage-engine keys (including the
// compression keys, which Log.append applies) are validated by
// src/log/config.ts; the others are validated here and stored, and take
// effect when their feature lands.
import { BROKER_KEYS, sourceOf, type BrokerConfig } from '../config/broker-config.js';
import { ConfigError, LOG_CONFIG_KEYS, NEVER, resolveLogConfig, type LogConfigInput } from '../log/config.js';

const LONG_MAX = '9223372036854775807';

/** DescribeConfigs sources (Kafka's ConfigSource ids). */
export const ConfigSource = {
  TOPIC_CONFIG: 1,
  DYNAMIC_BROKER_CONFIG: 2,
  DYNAMIC_DEFAULT_BROKER_CONFIG: 3,
  STATIC_BROKER_CONFIG: 4,
  DEFAULT_CONFIG: 5,
} as const;

interface TopicKey {
  /** The broker key that supplies the default, if any. */
  brokerKey?: string;
  default?: string;
  validate?: (value: string) => string | undefined;
}

const integer = (min: number) => (value: string) =>
  /^-?\d+$/.test(value) && BigInt(value) >= BigInt(min) ? undefined : `must be an integer >= ${min}`;
const oneOf = (...values: string[]) => (value: string) =>
  values.includes(value) ? undefined : `must be one of ${values.join(', ')}`;

const ENGINE_BROKER_KEYS: Record<string, string> = {
  'segment.bytes': 'log.segment.bytes',
  'segment.ms': 'log.roll.ms',
  'segment.index.bytes': 'log.index.size.max.bytes',
  'index.interval.bytes': 'log.index.interval.bytes',
  'retention.ms': 'log.retention.ms',
  'retention.bytes': 'log.retention.bytes',
  'cleanup.policy': 'log.cleanup.policy',
  'file.delete.delay.ms': 'log.segment.delete.delay.ms',
  'delete.retention.ms': 'log.cleaner.delete.retention.ms',
  'min.compaction.lag.ms': 'log.cleaner.min.compaction.lag.ms',
  'max.compaction.lag.ms': 'log.cleaner.max.compaction.lag.ms',
  'min.cleanable.dirty.ratio': 'log.cleaner.min.cleanable.ratio',
  'flush.messages': 'log.flush.interval.messages',
  'flush.ms': 'log.flush.interval.ms',
  'max.message.bytes': 'message.max.bytes',
  'message.timestamp.type': 'log.message.timestamp.type',
  'compression.type': 'compression.type',
  'compression.gzip.level': 'compression.gzip.level',
  'compression.lz4.level': 'compression.lz4.level',
  'compression.zstd.level': 'compression.zstd.level',
  'gregor.record.validation': 'gregor.log.record.validation',
};

const OTHER_KEYS: Record<string, TopicKey> = {
  'min.insync.replicas': { default: '1', validate: integer(1) },
  'unclean.leader.election.enable': { default: 'false', validate: oneOf('true', 'false') },
  'preallocate': { default: 'false', validate: oneOf('true', 'false') },
  'segment.jitter.ms': { default: '0', validate: integer(0) },
};

export const TOPIC_CONFIG_KEYS = [...LOG_CONFIG_KEYS, ...Object.keys(OTHER_KEYS)].sort();

/**
 * The source of the broker-level value of a topic key: that of the first
 * broker synonym set in some layer (dynamic per-broker, dynamic default,
 * static), else DEFAULT_CONFIG.
 */
function inheritedSource(key: string, config: BrokerConfig): number {
  for (const brokerKey of BROKER_SYNONYMS[key] ?? []) {
    const source = sourceOf(config, brokerKey);
    if (source !== ConfigSource.DEFAULT_CONFIG) return source;
  }
  return ConfigSource.DEFAULT_CONFIG;
}

/** The broker-level value that a topic inherits for `key`. */
function brokerDefault(key: string, config: BrokerConfig): { value: string; source: number } {
  if (key in ENGINE_BROKER_KEYS) {
    const raw = config.topicDefaults[key as keyof LogConfigInput];
    // The engine holds "never" as NEVER; Kafka shows it as Long.MAX_VALUE.
    const value = typeof raw === 'number' && raw >= NEVER ? LONG_MAX : String(raw);
    return { value, source: inheritedSource(key, config) };
  }
  const spec = OTHER_KEYS[key]!;
  if (spec.brokerKey) {
    return {
      value: config.values.get(spec.brokerKey) ?? spec.default ?? '',
      source: sourceOf(config, spec.brokerKey),
    };
  }
  return { value: spec.default ?? '', source: ConfigSource.DEFAULT_CONFIG };
}

/** Why `configs` cannot be a topic's overrides, or undefined if they can. */
export function validateTopicConfigs(configs: Record<string, string>, config: BrokerConfig): string | undefined {
  const engine: LogConfigInput = {};
  for (const [key, value] of Object.entries(configs)) {
    if ((LOG_CONFIG_KEYS as string[]).includes(key)) {
      engine[key as keyof LogConfigInput] = value;
      continue;
    }
    const spec = OTHER_KEYS[key];
    if (!spec) return `Unknown topic config name: ${key}`;
    const why = spec.validate?.(value);
    if (why) return `Invalid value ${value} for configuration ${key}: ${why}`;
  }
  try {
    resolveLogConfig(engine, resolveLogConfig(config.topicDefaults));
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  return undefined;
}

export interface DescribedConfig {
  name: string;
  value: string;
  source: number;
  /** Where the value would come from without the topic override. */
  default: { value: string; source: number };
}

/** DescribeConfigs v3+ configType ids (Kafka's ConfigType). */
export const ConfigType = {
  UNKNOWN: 0,
  BOOLEAN: 1,
  STRING: 2,
  INT: 3,
  SHORT: 4,
  LONG: 5,
  DOUBLE: 6,
  LIST: 7,
  CLASS: 8,
  PASSWORD: 9,
} as const;

/** Type and one-line documentation of every topic key (DescribeConfigs v3+). */
const TOPIC_CONFIG_INFO: Record<string, { type: number; doc: string }> = {
  'segment.bytes': { type: ConfigType.INT, doc: 'Roll a new segment once the active one would exceed this many bytes' },
  'segment.ms': { type: ConfigType.LONG, doc: 'Roll a new segment once the active one spans this many milliseconds' },
  'segment.index.bytes': { type: ConfigType.INT, doc: 'Maximum size of each segment\'s offset and time index' },
  'index.interval.bytes': { type: ConfigType.INT, doc: 'Bytes of log between two offset-index entries' },
  'flush.messages': { type: ConfigType.LONG, doc: 'fsync after this many messages' },
  'flush.ms': { type: ConfigType.LONG, doc: 'fsync when the oldest unflushed message is this old' },
  'max.message.bytes': { type: ConfigType.INT, doc: 'Largest record batch accepted' },
  'message.timestamp.type': { type: ConfigType.STRING, doc: 'CreateTime keeps producer timestamps; LogAppendTime stamps each batch at append' },
  'retention.ms': { type: ConfigType.LONG, doc: 'Retention by time (-1: forever)' },
  'retention.bytes': { type: ConfigType.LONG, doc: 'Retention by size per partition (-1: unlimited)' },
  'cleanup.policy': { type: ConfigType.LIST, doc: 'delete, compact or both: retention deletes segments under delete, the log cleaner compacts under compact' },
  'compression.type': { type: ConfigType.STRING, doc: 'Codec of stored batches: producer keeps each batch as produced; uncompressed, gzip, snappy, lz4, zstd recompress other codecs on append' },
  'compression.gzip.level': { type: ConfigType.INT, doc: 'gzip level when the broker compresses: 1-9, -1 for zlib\'s default' },
  'compression.lz4.level': { type: ConfigType.INT, doc: 'lz4 level (1-17); stored, lz4-napi has a single level' },
  'compression.zstd.level': { type: ConfigType.INT, doc: 'zstd level when the broker compresses (-131072 to 22)' },
  'gregor.record.validation': { type: ConfigType.STRING, doc: 'shallow: compressed batches are checked by header and CRC; full: decompressed and every record checked, as Kafka does' },
  'min.insync.replicas': { type: ConfigType.INT, doc: 'Replicas that must acknowledge acks=all (one node: always met)' },
  'delete.retention.ms': { type: ConfigType.LONG, doc: 'How long compaction keeps delete tombstones' },
  'file.delete.delay.ms': { type: ConfigType.LONG, doc: 'Delay before a deleted segment file is removed' },
  'min.compaction.lag.ms': { type: ConfigType.LONG, doc: 'Minimum age of a record before compaction' },
  'max.compaction.lag.ms': { type: ConfigType.LONG, doc: 'Maximum age of a record before it is compacted' },
  'min.cleanable.dirty.ratio': { type: ConfigType.DOUBLE, doc: 'Dirty ratio above which the log is compacted' },
  'unclean.leader.election.enable': { type: ConfigType.BOOLEAN, doc: 'Allow out-of-sync replicas to become leader' },
  'preallocate': { type: ConfigType.BOOLEAN, doc: 'Preallocate segment files' },
  'segment.jitter.ms': { type: ConfigType.LONG, doc: 'Random jitter subtracted from segment.ms' },
};

export function topicConfigInfo(name: string): { type: number; doc: string } {
  return TOPIC_CONFIG_INFO[name] ?? { type: ConfigType.UNKNOWN, doc: '' };
}

/** Keys whose value is a comma-separated list (IncrementalAlterConfigs APPEND/SUBTRACT). */
export function isListTopicConfig(name: string): boolean {
  return TOPIC_CONFIG_INFO[name]?.type === ConfigType.LIST;
}

/**
 * The broker keys a topic key falls back to, highest priority first
 * (segment.ms: log.roll.ms, then log.roll.hours).
 */
const BROKER_SYNONYMS: Record<string, readonly string[]> = {
  'segment.bytes': ['log.segment.bytes'],
  'segment.ms': ['log.roll.ms', 'log.roll.hours'],
  'segment.index.bytes': ['log.index.size.max.bytes'],
  'index.interval.bytes': ['log.index.interval.bytes'],
  'flush.messages': ['log.flush.interval.messages'],
  'flush.ms': ['log.flush.interval.ms', 'log.flush.scheduler.interval.ms'],
  'max.message.bytes': ['message.max.bytes'],
  'message.timestamp.type': ['log.message.timestamp.type'],
  'compression.type': ['compression.type'],
  'compression.gzip.level': ['compression.gzip.level'],
  'compression.lz4.level': ['compression.lz4.level'],
  'compression.zstd.level': ['compression.zstd.level'],
  'gregor.record.validation': ['gregor.log.record.validation'],
  'retention.ms': ['log.retention.ms', 'log.retention.minutes', 'log.retention.hours'],
  'retention.bytes': ['log.retention.bytes'],
  'cleanup.policy': ['log.cleanup.policy'],
  'file.delete.delay.ms': ['log.segment.delete.delay.ms'],
  'delete.retention.ms': ['log.cleaner.delete.retention.ms'],
  'min.compaction.lag.ms': ['log.cleaner.min.compaction.lag.ms'],
  'max.compaction.lag.ms': ['log.cleaner.max.compaction.lag.ms'],
  'min.cleanable.dirty.ratio': ['log.cleaner.min.cleanable.ratio'],
};
for (const [key, brokerKey] of Object.entries(ENGINE_BROKER_KEYS)) {
  if (BROKER_SYNONYMS[key]?.[0] !== brokerKey) throw new Error(`topic-configs: synonyms of ${key} must start with ${brokerKey}`);
}

export interface ConfigSynonym {
  name: string;
  value: string;
  source: number;
}

/** `key` in every layer that sets it, highest priority first (dynamic per-broker, dynamic default, static). */
export function layerSynonyms(key: string, config: BrokerConfig): ConfigSynonym[] {
  const synonyms: ConfigSynonym[] = [];
  for (const layer of config.layers) {
    const value = layer.values.get(key);
    if (value !== undefined) synonyms.push({ name: key, value, source: layer.source });
  }
  return synonyms;
}

/**
 * Where a topic key's value can come from, in priority order: the topic
 * override, each broker key set in the broker's configuration (in each of
 * its layers: dynamic per-broker, dynamic default, static), then the
 * default (under the broker key's name when there is one).
 */
export function topicConfigSynonyms(name: string, overrides: Record<string, string>, config: BrokerConfig): ConfigSynonym[] {
  const synonyms: ConfigSynonym[] = [];
  const override = overrides[name];
  if (override !== undefined) synonyms.push({ name, value: override, source: ConfigSource.TOPIC_CONFIG });
  const brokerKeys = BROKER_SYNONYMS[name] ?? [];
  for (const key of brokerKeys) synonyms.push(...layerSynonyms(key, config));
  const withDefault = brokerKeys.find((key) => BROKER_KEYS[key]?.default !== undefined);
  if (withDefault !== undefined) {
    synonyms.push({ name: withDefault, value: BROKER_KEYS[withDefault]!.default!, source: ConfigSource.DEFAULT_CONFIG });
  } else if (brokerKeys.length === 0 && OTHER_KEYS[name]?.default !== undefined) {
    synonyms.push({ name, value: OTHER_KEYS[name]!.default!, source: ConfigSource.DEFAULT_CONFIG });
  }
  return synonyms;
}

/** Every topic config with its effective value and source. */
export function describeTopicConfigs(overrides: Record<string, string>, config: BrokerConfig): DescribedConfig[] {
  return TOPIC_CONFIG_KEYS.map((name) => {
    const inherited = brokerDefault(name, config);
    const override = overrides[name];
    return override !== undefined
      ? { name, value: override, source: ConfigSource.TOPIC_CONFIG, default: inherited }
      : { name, value: inherited.value, source: inherited.source, default: inherited };
  });
}

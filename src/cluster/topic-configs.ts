// Topic configuration keys the broker accepts (Kafka's names), each with the
// broker key its default comes from. The storage-engine keys are validated by
// src/log/config.ts; the others are validated here and stored, and take
// effect when their feature lands (retention, compaction, compression).
import type { BrokerConfig } from '../config/broker-config.js';
import { ConfigError, LOG_CONFIG_KEYS, resolveLogConfig, type LogConfigInput } from '../log/config.js';

/** DescribeConfigs sources (Kafka's ConfigSource ids). */
export const ConfigSource = {
  TOPIC_CONFIG: 1,
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
  'flush.messages': 'log.flush.interval.messages',
  'flush.ms': 'log.flush.interval.ms',
  'max.message.bytes': 'message.max.bytes',
  'message.timestamp.type': 'log.message.timestamp.type',
};

const OTHER_KEYS: Record<string, TopicKey> = {
  'retention.ms': { brokerKey: 'log.retention.ms', validate: integer(-1) },
  'retention.bytes': { brokerKey: 'log.retention.bytes', validate: integer(-1) },
  'cleanup.policy': { default: 'delete', validate: (v) => (v.split(',').every((p) => ['delete', 'compact'].includes(p.trim())) ? undefined : 'must be delete, compact or both') },
  'compression.type': { default: 'producer', validate: oneOf('producer', 'uncompressed', 'gzip', 'snappy', 'lz4', 'zstd') },
  'min.insync.replicas': { default: '1', validate: integer(1) },
  'delete.retention.ms': { default: '86400000', validate: integer(0) },
  'file.delete.delay.ms': { default: '60000', validate: integer(0) },
  'min.compaction.lag.ms': { default: '0', validate: integer(0) },
  'max.compaction.lag.ms': { default: '9223372036854775807', validate: integer(1) },
  'min.cleanable.dirty.ratio': { default: '0.5', validate: (v) => (/^\d*\.?\d+$/.test(v) && Number(v) <= 1 ? undefined : 'must be between 0 and 1') },
  'unclean.leader.election.enable': { default: 'false', validate: oneOf('true', 'false') },
  'preallocate': { default: 'false', validate: oneOf('true', 'false') },
  'segment.jitter.ms': { default: '0', validate: integer(0) },
};

export const TOPIC_CONFIG_KEYS = [...LOG_CONFIG_KEYS, ...Object.keys(OTHER_KEYS)].sort();

/** The broker-level value that a topic inherits for `key`. */
function brokerDefault(key: string, config: BrokerConfig): { value: string; source: number } {
  if (key in ENGINE_BROKER_KEYS) {
    const value = String(config.topicDefaults[key as keyof LogConfigInput]);
    const source = config.explicit.has(ENGINE_BROKER_KEYS[key]!) ? ConfigSource.STATIC_BROKER_CONFIG : ConfigSource.DEFAULT_CONFIG;
    return { value, source };
  }
  const spec = OTHER_KEYS[key]!;
  if (key === 'retention.ms') {
    const ms = config.values.get('log.retention.ms') ?? (config.values.has('log.retention.minutes') ? String(Number(config.values.get('log.retention.minutes')) * 60_000) : String(Number(config.values.get('log.retention.hours')) * 3_600_000));
    const explicit = ['log.retention.ms', 'log.retention.minutes', 'log.retention.hours'].some((k) => config.explicit.has(k));
    return { value: ms, source: explicit ? ConfigSource.STATIC_BROKER_CONFIG : ConfigSource.DEFAULT_CONFIG };
  }
  if (spec.brokerKey) {
    return {
      value: config.values.get(spec.brokerKey) ?? spec.default ?? '',
      source: config.explicit.has(spec.brokerKey) ? ConfigSource.STATIC_BROKER_CONFIG : ConfigSource.DEFAULT_CONFIG,
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

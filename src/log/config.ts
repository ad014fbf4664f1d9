// Topic-level log settings, by Kafka's names, with Kafka's defaults and
// bounds. Validation happens here, before anything reaches the addon, and
// each error names the key, the value and the rule it broke.
import type { NativeLogConfig } from '../native.js';

/** Kafka's Long.MAX_VALUE ("never") in the JavaScript range. */
export const NEVER = Number.MAX_SAFE_INTEGER;

/** The topic configuration keys the storage engine understands. */
export interface LogConfig {
  /** Roll a new segment once the active one would exceed this many bytes. */
  'segment.bytes': number;
  /** Roll once the active segment's records span this many milliseconds. */
  'segment.ms': number;
  /** Maximum size of each segment's .index and .timeindex; a full index rolls the segment. */
  'segment.index.bytes': number;
  /** Bytes of log between two offset-index entries. */
  'index.interval.bytes': number;
  /** fsync after this many messages (NEVER: leave it to the OS, Kafka's default). */
  'flush.messages': number;
  /** fsync when the oldest unflushed message is this old (NEVER by default). */
  'flush.ms': number;
  /**
   * Retention by time: a segment goes once its newest record is this old.
   * -1 keeps forever, the default of an embedded log; a broker's topics
   * default to log.retention.hours (7 days), as in Kafka. Applies when
   * cleanup.policy includes delete.
   */
  'retention.ms': number;
  /** Retention by size: the oldest segments go while the rest hold at least this many bytes (-1: no limit). */
  'retention.bytes': number;
  /** `delete`, `compact` or both (comma-separated): retention applies only with delete. */
  'cleanup.policy': string;
  /** Compaction: how long a delete tombstone (null value) survives once it has been cleaned. */
  'delete.retention.ms': number;
  /** Compaction: records younger than this are not cleaned. */
  'min.compaction.lag.ms': number;
  /** Compaction: a log whose oldest dirty record is older than this is cleaned whatever its dirty ratio. */
  'max.compaction.lag.ms': number;
  /** Compaction: clean once dirty bytes / (clean + dirty bytes) of the non-active segments reach this. */
  'min.cleanable.dirty.ratio': number;
  /** How long a deleted segment's files stay (renamed `.deleted`) before they are unlinked. */
  'file.delete.delay.ms': number;
  /** Largest record batch accepted, including its 12-byte log overhead. */
  'max.message.bytes': number;
  /** CreateTime keeps producer timestamps; LogAppendTime stamps each batch at append. */
  'message.timestamp.type': 'CreateTime' | 'LogAppendTime';
  /**
   * Codec of stored batches: `producer` keeps each batch's own codec;
   * `uncompressed`, `gzip`, `snappy`, `lz4`, `zstd` recompress batches in
   * another codec on append (src/log/batch-compression.ts).
   */
  'compression.type': CompressionType;
  /** gzip level when the log compresses (KIP-390): 1-9, or -1 for zlib's default (6). */
  'compression.gzip.level': number;
  /** lz4 level (1-17): validated and stored; lz4-napi has a single level, so it does not change the bytes. */
  'compression.lz4.level': number;
  /** zstd level when the log compresses: -131072..22. */
  'compression.zstd.level': number;
  /**
   * Gregor's own key. `shallow`: a compressed batch is checked by its header
   * and outer CRC, and its records only where it is decompressed anyway
   * (recompression, compacted topics). `full`: every compressed batch is
   * decompressed and its records checked, as Kafka does.
   */
  'gregor.record.validation': 'shallow' | 'full';
}

export type CompressionType = 'producer' | 'uncompressed' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
export const COMPRESSION_TYPES: readonly CompressionType[] = ['producer', 'uncompressed', 'gzip', 'snappy', 'lz4', 'zstd'];

export type LogConfigInput = Partial<Record<keyof LogConfig, number | string>>;

interface NumberKey {
  kind: 'number';
  default: number;
  min: number;
  max: number;
  /** Values accepted outside [min, max] (gzip's -1). */
  also?: readonly number[];
  /** A decimal number rather than an integer (min.cleanable.dirty.ratio). */
  fraction?: boolean;
}
interface EnumKey {
  kind: 'enum';
  default: string;
  values: readonly string[];
}

const INT_MAX = 2 ** 31 - 1;

/** A comma-separated list whose items come from `values` (at least one). */
interface ListKey {
  kind: 'list';
  default: string;
  values: readonly string[];
}

const KEYS: Record<keyof LogConfig, NumberKey | EnumKey | ListKey> = {
  'segment.bytes': { kind: 'number', default: 1073741824, min: 14, max: INT_MAX },
  'segment.ms': { kind: 'number', default: 604800000, min: 1, max: NEVER },
  'segment.index.bytes': { kind: 'number', default: 10485760, min: 4, max: INT_MAX },
  'index.interval.bytes': { kind: 'number', default: 4096, min: 0, max: INT_MAX },
  'flush.messages': { kind: 'number', default: NEVER, min: 1, max: NEVER },
  'flush.ms': { kind: 'number', default: NEVER, min: 0, max: NEVER },
  // Kafka's topic default is 7 days; a broker applies it (log.retention.hours). An embedded log keeps everything unless told.
  'retention.ms': { kind: 'number', default: -1, min: -1, max: NEVER },
  'retention.bytes': { kind: 'number', default: -1, min: -1, max: NEVER },
  'cleanup.policy': { kind: 'list', default: 'delete', values: ['delete', 'compact'] },
  'file.delete.delay.ms': { kind: 'number', default: 60000, min: 0, max: NEVER },
  'delete.retention.ms': { kind: 'number', default: 86400000, min: 0, max: NEVER },
  'min.compaction.lag.ms': { kind: 'number', default: 0, min: 0, max: NEVER },
  'max.compaction.lag.ms': { kind: 'number', default: NEVER, min: 1, max: NEVER },
  'min.cleanable.dirty.ratio': { kind: 'number', default: 0.5, min: 0, max: 1, fraction: true },
  'max.message.bytes': { kind: 'number', default: 1048588, min: 0, max: INT_MAX },
  'message.timestamp.type': { kind: 'enum', default: 'CreateTime', values: ['CreateTime', 'LogAppendTime'] },
  'compression.type': { kind: 'enum', default: 'producer', values: COMPRESSION_TYPES },
  'compression.gzip.level': { kind: 'number', default: -1, min: 1, max: 9, also: [-1] },
  'compression.lz4.level': { kind: 'number', default: 9, min: 1, max: 17 },
  'compression.zstd.level': { kind: 'number', default: 3, min: -131072, max: 22 },
  'gregor.record.validation': { kind: 'enum', default: 'shallow', values: ['shallow', 'full'] },
};

export const LOG_CONFIG_KEYS = Object.keys(KEYS) as (keyof LogConfig)[];

export const DEFAULT_LOG_CONFIG: Readonly<LogConfig> = Object.freeze(
  Object.fromEntries(LOG_CONFIG_KEYS.map((key) => [key, KEYS[key].default])) as unknown as LogConfig,
);

/** Thrown for a configuration value the engine cannot accept. */
export class ConfigError extends RangeError {
  override readonly name = 'ConfigError';
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
  }
}

function parseNumber(key: string, raw: number | string, rule: NumberKey): number {
  let value: number;
  if (typeof raw === 'number') {
    value = raw;
  } else if (rule.fraction === true && typeof raw === 'string' && /^\d*\.?\d+$/.test(raw.trim())) {
    value = Number(raw.trim());
  } else if (typeof raw === 'string' && /^-?\d+$/.test(raw.trim())) {
    // Kafka's "never" is Long.MAX_VALUE (9223372036854775807); it maps to NEVER.
    const big = BigInt(raw.trim());
    value = big > BigInt(NEVER) ? NEVER : Number(big);
  } else {
    throw new ConfigError(key, `Invalid value ${JSON.stringify(raw)} for configuration ${key}: not a number`);
  }
  if (rule.fraction === true ? !Number.isFinite(value) : !Number.isInteger(value)) {
    throw new ConfigError(key, `Invalid value ${value} for configuration ${key}: must be an integer`);
  }
  if (value > NEVER && rule.max === NEVER) value = NEVER;
  if ((value < rule.min || value > rule.max) && !rule.also?.includes(value)) {
    const range = (rule.max === NEVER ? `at least ${rule.min}` : `between ${rule.min} and ${rule.max}`) + (rule.also ? ` or ${rule.also.join(', ')}` : '');
    throw new ConfigError(key, `Invalid value ${value} for configuration ${key}: must be ${range}`);
  }
  return value;
}

/** Merges `input` over `base` (defaults if omitted), validating every key. */
export function resolveLogConfig(input: LogConfigInput = {}, base: Readonly<LogConfig> = DEFAULT_LOG_CONFIG): LogConfig {
  if (input === null || typeof input !== 'object') {
    throw new TypeError('log config must be an object of Kafka topic config keys');
  }
  const config = { ...base } as Record<string, number | string>;
  for (const [key, raw] of Object.entries(input)) {
    if (raw === undefined) continue;
    const rule = KEYS[key as keyof LogConfig];
    if (rule === undefined) {
      throw new ConfigError(key, `Unknown log configuration ${key}; supported keys: ${LOG_CONFIG_KEYS.join(', ')}`);
    }
    if (rule.kind === 'number') {
      config[key] = parseNumber(key, raw, rule);
    } else if (rule.kind === 'list') {
      const items = typeof raw === 'string' ? raw.split(',').map((item) => item.trim()) : [];
      if (items.length === 0 || !items.every((item) => rule.values.includes(item))) {
        throw new ConfigError(key, `Invalid value ${JSON.stringify(raw)} for configuration ${key}: must be a comma-separated list of ${rule.values.join(', ')}`);
      }
      config[key] = [...new Set(items)].join(',');
    } else {
      if (typeof raw !== 'string' || !rule.values.includes(raw)) {
        throw new ConfigError(key, `Invalid value ${JSON.stringify(raw)} for configuration ${key}: must be one of ${rule.values.join(', ')}`);
      }
      config[key] = raw;
    }
  }
  return config as unknown as LogConfig;
}

/** The addon's view of a validated config. */
export function toNativeConfig(config: LogConfig): NativeLogConfig {
  return {
    segmentBytes: config['segment.bytes'],
    segmentMs: config['segment.ms'],
    segmentIndexBytes: config['segment.index.bytes'],
    indexIntervalBytes: config['index.interval.bytes'],
    // NEVER crosses as a double above 9.2e18 so C++ reads it as INT64_MAX.
    flushMessages: config['flush.messages'] >= NEVER ? 2 ** 63 : config['flush.messages'],
    maxMessageBytes: config['max.message.bytes'],
    logAppendTime: config['message.timestamp.type'] === 'LogAppendTime' ? 1 : 0,
    retentionMs: config['retention.ms'] >= NEVER ? 2 ** 63 : config['retention.ms'],
    retentionBytes: config['retention.bytes'] >= NEVER ? 2 ** 63 : config['retention.bytes'],
    deletePolicy: config['cleanup.policy'].split(',').includes('delete') ? 1 : 0,
    fileDeleteDelayMs: config['file.delete.delay.ms'] >= NEVER ? 2 ** 63 : config['file.delete.delay.ms'],
  };
}

// Gregor's public API. The storage engine is usable on its own: openLog()
// for one partition, LogManager for many, and the record-batch helpers to
// produce and read Kafka's RecordBatch v2 bytes.
export { openLog, type OpenLogOptions } from './log/open-log.js';
export { LogManager, type LogManagerOptions } from './log/log-manager.js';
export {
  Log,
  EARLIEST_TIMESTAMP,
  LATEST_TIMESTAMP,
  MAX_TIMESTAMP,
  type AppendOptions,
  type AppendResult,
  type FileRegion,
  type RetentionResult,
  type SegmentInfo,
  type TimestampOffset,
} from './log/log.js';
export {
  DEFAULT_LOG_CONFIG,
  LOG_CONFIG_KEYS,
  NEVER,
  ConfigError,
  resolveLogConfig,
  type LogConfig,
  type LogConfigInput,
} from './log/config.js';
export {
  encodeRecordBatch,
  decodeRecordBatches,
  type DecodedBatch,
  type DecodedRecord,
  type EncodeOptions,
  type RecordHeader,
  type RecordInput,
} from './protocol/record-batch.js';
export type { CompressionName } from './protocol/compression.js';
export { LogError, StorageErrorCodes, type StorageErrorName } from './errors.js';

import { native } from './native.js';
/** CRC-32C (Castagnoli) of `bytes`, as Kafka's RecordBatch v2 uses it. */
export function crc32c(bytes: Uint8Array): number {
  return native.crc32c(bytes);
}

export { startBroker, type StartBrokerOptions, type RunningBroker } from './server/broker.js';

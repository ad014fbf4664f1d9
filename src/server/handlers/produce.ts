// Produce (key 0), versions 0-11; records must be RecordBatch v2.
//
// Versions 0-2 are advertised although they carry the old MessageSet
// formats (magic 0/1), which Gregor does not convert: such a partition gets
// INVALID_RECORD. No client we support sends them (each picks v3+ for
// RecordBatch v2), but librdkafka before 2.11.1 compresses with gzip, snappy
// or lz4 only when the broker's Produce range includes v0
// (rdkafka_msgset_writer.c; fixed by librdkafka #5130): without v0 it logs
// "Broker does not support compression type" and sends them uncompressed.
//
// acks 0 sends no response; 1 and -1 answer once the batch is written (on a
// single node the leader's write is the whole ISR). Each partition's records
// must be exactly one RecordBatch v2 (Kafka's rule for v3+): otherwise
// INVALID_RECORD. The storage engine validates the batch (CRC, lengths,
// record framing, max.message.bytes) and its error code goes back per
// partition, with the message in errorMessage (v8+).
// Clients cannot write to __consumer_offsets (INVALID_TOPIC_EXCEPTION).
// Compression (KIP-110): a zstd batch needs Produce v7+, else
// UNSUPPORTED_COMPRESSION_TYPE. Batches are stored as produced unless the
// topic's compression.type or gregor.record.validation asks for more (Log.append,
// src/log/batch-compression.ts); on a compacted topic (cleanup.policy
// containing compact) every record must have a key (INVALID_RECORD).
// Omitted for now: idempotence/transaction checks (producer id and sequence
// numbers are stored but not verified), throttling.
import { ProduceApi, type ProduceResponsePartitionProduceResponse, type ProduceResponseTopicProduceResponse } from '../../protocol/generated/index.js';
import { ErrorCode, errorCodeOf } from '../../protocol/error-codes.js';
import type { Init } from '../../protocol/wire.js';
import { OFFSETS_TOPIC } from '../../groups/offsets-topic.js';
import { NO_RESPONSE, defineHandler } from './types.js';

const BATCH_HEADER_BYTES = 61;
const CODEC_ZSTD = 4;
/** The first Produce version that may carry zstd batches (KIP-110). */
const ZSTD_PRODUCE_VERSION_MIN = 7;

/** Why `records` is not exactly one RecordBatch v2, or undefined if it is. */
function singleBatchError(records: Buffer): string | undefined {
  if (records.length < BATCH_HEADER_BYTES) return `records of ${records.length} bytes are shorter than a batch header`;
  const magic = records.readInt8(16);
  if (magic !== 2) return `record batch magic ${magic} is not supported: Gregor stores RecordBatch v2 (magic 2) only and does not convert older message sets`;
  const size = 12 + records.readInt32BE(8);
  if (size !== records.length) return 'Produce v3+ must carry exactly one record batch per partition';
  return undefined;
}

export const produceHandler = defineHandler({
  api: ProduceApi,
  minVersion: 0,
  maxVersion: 11,
  async handle(request, { broker, version }) {
    const acks = request.acks;
    const invalidAcks = acks !== 0 && acks !== 1 && acks !== -1;
    const results = await Promise.all(
      request.topicData.map(async (topic): Promise<Init<ProduceResponseTopicProduceResponse>> => {
        const partitionResponses = await Promise.all(
          topic.partitionData.map(async (partition): Promise<Init<ProduceResponsePartitionProduceResponse>> => {
            const fail = (errorCode: number, errorMessage: string | null = null) => ({
              index: partition.index,
              errorCode,
              baseOffset: -1n,
              errorMessage,
            });
            if (invalidAcks) return fail(ErrorCode.INVALID_REQUIRED_ACKS);
            if (topic.name === OFFSETS_TOPIC) return fail(ErrorCode.INVALID_TOPIC_EXCEPTION, `Cannot append to internal topic ${OFFSETS_TOPIC}`);
            const log = broker.log(topic.name, partition.index);
            if (!log) return fail(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
            const records = partition.records;
            if (records === null || records.length === 0) {
              return { index: partition.index, errorCode: ErrorCode.NONE, baseOffset: -1n, logStartOffset: BigInt(log.logStartOffset) };
            }
            const invalid = singleBatchError(records);
            if (invalid) return fail(ErrorCode.INVALID_RECORD, invalid);
            if (version < ZSTD_PRODUCE_VERSION_MIN && (records.readInt16BE(21) & 0x07) === CODEC_ZSTD) {
              return fail(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, `zstd batches need Produce v${ZSTD_PRODUCE_VERSION_MIN} or later (this request is v${version})`);
            }
            // cleanup.policy holds only 'delete' and 'compact' (validated): a substring test suffices.
            const requireKeys = log.config['cleanup.policy'].includes('compact');
            try {
              const result = await log.append(records, requireKeys ? { requireKeys } : undefined);
              return {
                index: partition.index,
                errorCode: ErrorCode.NONE,
                baseOffset: BigInt(result.baseOffset),
                logAppendTimeMs: BigInt(result.logAppendTime),
                logStartOffset: BigInt(log.logStartOffset),
              };
            } catch (error) {
              return fail(errorCodeOf(error), (error as Error).message);
            }
          }),
        );
        return { name: topic.name, partitionResponses };
      }),
    );
    broker.wakeFetchers();
    if (acks === 0) return NO_RESPONSE;
    return { responses: results, throttleTimeMs: 0 };
  },
});

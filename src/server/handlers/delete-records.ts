// DeleteRecords (key 21), versions 0-2 (v2 flexible). kafkajs
// (deleteTopicRecords) and librdkafka 2.0.2 send v0-1; kafka-python 2.0.2
// does not send it.
//
// Per partition, moves the log start offset (the low watermark) up to
// `offset` and deletes the segments wholly below it (Log.deleteRecordsBefore);
// offset -1 means the high watermark, which on one node is the log end
// offset. An offset at or below the current start changes nothing. The
// answer is the low watermark after the call. Errors per partition:
//   UNKNOWN_TOPIC_OR_PARTITION   no such topic or partition
//   OFFSET_OUT_OF_RANGE          an offset above the log end, or negative
//                                other than -1
// The new start offsets are checkpointed (log-start-offset-checkpoint)
// before the response, so an acknowledged deletion survives a crash.
// Omitted: timeoutMs (the deletion is complete when answered), throttling.
import { DeleteRecordsApi } from '../../protocol/generated/index.js';
import { ErrorCode, errorCodeOf } from '../../protocol/error-codes.js';
import { defineHandler } from './types.js';

/** DeleteRecords' "up to the high watermark". */
const HIGH_WATERMARK = -1n;

export const deleteRecordsHandler = defineHandler({
  api: DeleteRecordsApi,
  minVersion: 0,
  maxVersion: 2,
  async handle(request, { broker }) {
    const moved: { errorCode: number }[] = [];
    const topics = [];
    for (const topic of request.topics) {
      const partitions: { partitionIndex: number; lowWatermark: bigint; errorCode: number }[] = [];
      for (const p of topic.partitions) {
        const result = (errorCode: number, lowWatermark: bigint) => {
          const entry = { partitionIndex: p.partitionIndex, lowWatermark, errorCode };
          partitions.push(entry);
          return entry;
        };
        const log = broker.log(topic.name, p.partitionIndex);
        if (!log) {
          result(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1n);
          continue;
        }
        const end = BigInt(log.logEndOffset);
        const target = p.offset === HIGH_WATERMARK ? end : p.offset;
        if (target < 0n || target > end) {
          result(ErrorCode.OFFSET_OUT_OF_RANGE, BigInt(log.logStartOffset));
          continue;
        }
        try {
          const before = log.logStartOffset;
          await log.deleteRecordsBefore(Number(target));
          const entry = result(ErrorCode.NONE, BigInt(log.logStartOffset));
          if (log.logStartOffset !== before) moved.push(entry);
        } catch (error) {
          result(errorCodeOf(error), BigInt(log.closed ? -1 : log.logStartOffset));
        }
      }
      topics.push({ name: topic.name, partitions });
    }
    if (moved.length > 0) {
      try {
        await broker.logs.checkpoint();
      } catch {
        // The deletion happened but may not survive a crash: do not acknowledge it.
        for (const entry of moved) entry.errorCode = ErrorCode.KAFKA_STORAGE_ERROR;
      }
    }
    return { throttleTimeMs: 0, topics };
  },
});

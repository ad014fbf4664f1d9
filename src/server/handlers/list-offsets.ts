// ListOffsets (key 2), versions 1-8.
//
// Per partition: timestamp -2 earliest (log start offset), -1 latest (log
// end offset; on one node the high watermark and the last stable offset are
// the same), -3 the record with the largest timestamp (v7+), otherwise the
// earliest record whose timestamp is >= the given one (offset -1 and
// timestamp -1 when there is none).
// Omitted: v0 (old-style offset lists; no client we support sends it).
import { ListOffsetsApi } from '../../protocol/generated/index.js';
import { ErrorCode, errorCodeOf } from '../../protocol/error-codes.js';
import { defineHandler } from './types.js';

export const listOffsetsHandler = defineHandler({
  api: ListOffsetsApi,
  minVersion: 1,
  maxVersion: 8,
  async handle(request, { broker, version }) {
    const topics = await Promise.all(
      request.topics.map(async (topic) => ({
        name: topic.name,
        partitions: await Promise.all(
          topic.partitions.map(async (p) => {
            const log = broker.log(topic.name, p.partitionIndex);
            if (!log) return { partitionIndex: p.partitionIndex, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
            try {
              const found = await log.offsetForTimestamp(Number(p.timestamp));
              return {
                partitionIndex: p.partitionIndex,
                errorCode: ErrorCode.NONE,
                timestamp: BigInt(found?.timestamp ?? -1),
                offset: BigInt(found?.offset ?? -1),
                // The epoch exists from v4 (one node: never re-elected, always 0).
                ...(version >= 4 ? { leaderEpoch: 0 } : {}),
              };
            } catch (error) {
              return { partitionIndex: p.partitionIndex, errorCode: errorCodeOf(error) };
            }
          }),
        ),
      })),
    );
    return { throttleTimeMs: 0, topics };
  },
});

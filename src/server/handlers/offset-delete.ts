// OffsetDelete (key 47), version 0: removes committed offsets of partitions
// the group does not consume (GROUP_SUBSCRIBED_TO_TOPIC for topics its
// active members subscribe to).
import { OffsetDeleteApi } from '../../protocol/generated/index.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import { defineHandler } from './types.js';

export const offsetDeleteHandler = defineHandler({
  api: OffsetDeleteApi,
  minVersion: 0,
  maxVersion: 0,
  async handle(request, { broker }) {
    const result = await broker.groups.deleteOffsets(
      request.groupId,
      request.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => p.partitionIndex) })),
    );
    if (result.errorCode !== ErrorCode.NONE) return { errorCode: result.errorCode, throttleTimeMs: 0, topics: [] };
    return {
      errorCode: ErrorCode.NONE,
      throttleTimeMs: 0,
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: result.topics.get(t.name)!.get(p.partitionIndex)! })),
      })),
    };
  },
});

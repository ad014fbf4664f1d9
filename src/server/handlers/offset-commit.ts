// OffsetCommit (key 8), versions 0-9.
//
// v0 commits without generation or member (groups that do not use group
// management); v1 adds them and a per-partition commit time; v2-v4 a
// retention time (then the offset expires that long after the commit);
// v6 the leader epoch; v7 the group instance id. v9 (KIP-848's member
// epoch) means the generation for the classic groups this broker runs.
// Answered once the offsets are written to __consumer_offsets.
import { OffsetCommitApi } from '../../protocol/generated/index.js';
import { defineHandler } from './types.js';

export const offsetCommitHandler = defineHandler({
  api: OffsetCommitApi,
  minVersion: 0,
  maxVersion: 9,
  async handle(request, { broker, version }) {
    const results = await broker.groups.commitOffsets({
      groupId: request.groupId,
      generationId: version >= 1 ? request.generationIdOrMemberEpoch : -1,
      memberId: version >= 1 ? request.memberId : '',
      groupInstanceId: version >= 7 ? request.groupInstanceId : null,
      retentionTimeMs: version >= 2 && version <= 4 ? Number(request.retentionTimeMs) : -1,
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          partition: p.partitionIndex,
          offset: Number(p.committedOffset),
          leaderEpoch: version >= 6 ? p.committedLeaderEpoch : -1,
          metadata: p.committedMetadata,
          commitTimestamp: version === 1 ? Number(p.commitTimestamp) : -1,
        })),
      })),
    });
    return {
      throttleTimeMs: 0,
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: results.get(t.name)!.get(p.partitionIndex)! })),
      })),
    };
  },
});

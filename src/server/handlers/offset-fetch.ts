// OffsetFetch (key 9), versions 0-9.
//
// Partitions without a committed offset answer -1 with no error. A null
// topic list (v2+) asks for every offset the group committed. v2 adds the
// top-level error, v5 the leader epoch, v7 require_stable (no transactions
// yet, so nothing is ever pending), v8 several groups per request; v9's
// member id and epoch belong to KIP-848 groups and are not checked here.
import { OffsetFetchApi } from '../../protocol/generated/index.js';
import type { FetchedOffset } from '../../groups/group-coordinator.js';
import { defineHandler } from './types.js';

function partitionsOut(partitions: FetchedOffset[]) {
  return partitions.map((p) => ({
    partitionIndex: p.partition,
    committedOffset: BigInt(p.offset),
    committedLeaderEpoch: p.leaderEpoch,
    metadata: p.metadata,
    errorCode: p.errorCode,
  }));
}

export const offsetFetchHandler = defineHandler({
  api: OffsetFetchApi,
  minVersion: 0,
  maxVersion: 9,
  handle(request, { broker, version }) {
    const fetch = (groupId: string, topics: { name: string; partitionIndexes: number[] }[] | null) =>
      broker.groups.fetchOffsets(groupId, topics === null ? null : topics.map((t) => ({ name: t.name, partitions: t.partitionIndexes })));
    if (version >= 8) {
      return {
        throttleTimeMs: 0,
        groups: request.groups.map((g) => {
          const r = fetch(g.groupId, g.topics);
          return { groupId: g.groupId, errorCode: r.errorCode, topics: r.topics.map((t) => ({ name: t.name, partitions: partitionsOut(t.partitions) })) };
        }),
      };
    }
    // v0-v1 cannot ask for all topics (an empty list means none).
    const requested = version < 2 ? (request.topics ?? []) : request.topics;
    const r = fetch(request.groupId, requested);
    if (version < 2 && r.errorCode !== 0) {
      // No top-level error before v2: an unavailable coordinator is reported per partition.
      return {
        throttleTimeMs: 0,
        topics: (requested ?? []).map((t) => ({
          name: t.name,
          partitions: t.partitionIndexes.map((p) => ({ partitionIndex: p, committedOffset: -1n, metadata: '', errorCode: r.errorCode })),
        })),
      };
    }
    const topics = r.topics.map((t) => ({ name: t.name, partitions: partitionsOut(t.partitions) }));
    if (version < 2) return { throttleTimeMs: 0, topics };
    return { throttleTimeMs: 0, errorCode: r.errorCode, topics };
  },
});

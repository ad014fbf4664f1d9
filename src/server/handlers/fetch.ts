// Fetch (key 1), versions 4-16.
//
// Whole batches from the one holding the fetch offset, at most
// partitionMaxBytes per partition and maxBytes per response, except that the
// first partition with data always gets its first batch whole (KIP-74), so a
// consumer can never stall on a batch larger than its limits. Record data is
// not read into memory: each partition's bytes go out with sendfile(2) from
// the segment file (see RequestContext.fileRegions).
// Long poll: while fewer than minBytes are available the request waits for
// an append, up to maxWaitMs.
// On one node the high watermark is the log end offset and the last stable
// offset equals it (read_committed is accepted and behaves like
// read_uncommitted until transactions exist). Topics are named up to v12 and
// identified by topic id from v13.
// Fetch sessions (KIP-227): the broker answers every request in full with
// session id 0, which tells the client that no session was created; clients
// then keep sending full fetch requests. Incremental sessions are not done yet.
// Omitted: replica fetches (no replication yet), preferred read replicas (-1).
import { FetchApi, type FetchResponsePartitionData } from '../../protocol/generated/index.js';
import { ErrorCode, errorCodeOf } from '../../protocol/error-codes.js';
import { ALWAYS_REFERENCED, ZERO_UUID, type Init } from '../../protocol/wire.js';
import type { Log } from '../../log/log.js';
import type { TopicRecord } from '../../cluster/topic-store.js';
import { defineHandler, type RequestContext } from './types.js';

// Placeholders are views of one zeroed allocation that is never touched, so
// they cost no memory; regions larger than this are read into memory instead.
const PLACEHOLDER_BYTES_MAX = 128 * 1024 * 1024;
let placeholderPool: Buffer | undefined;
// librdkafka rejects a null records field; Kafka always sends an empty one.
const EMPTY = Buffer.alloc(0);

function fileRegionPlaceholder(length: number): Buffer | undefined {
  if (length > PLACEHOLDER_BYTES_MAX) return undefined;
  placeholderPool ??= Buffer.alloc(PLACEHOLDER_BYTES_MAX);
  const view = placeholderPool.subarray(0, length);
  ALWAYS_REFERENCED.add(view);
  return view;
}

interface Target {
  topicKey: string;
  topic: TopicRecord | undefined;
  partition: number;
  fetchOffset: number;
  partitionMaxBytes: number;
}

async function readPartition(
  log: Log,
  target: Target,
  budgetBytes: number,
  context: RequestContext,
): Promise<{ data: Init<FetchResponsePartitionData>; bytes: number }> {
  const base = {
    partitionIndex: target.partition,
    highWatermark: BigInt(log.logEndOffset),
    lastStableOffset: BigInt(log.logEndOffset),
    logStartOffset: BigInt(log.logStartOffset),
    abortedTransactions: null,
    preferredReadReplica: -1,
  };
  const maxBytes = Math.max(0, Math.min(target.partitionMaxBytes, budgetBytes));
  try {
    // A zero budget still reads: the first batch of the response comes whole.
    const region = await log.readRegion(target.fetchOffset, maxBytes);
    if (region === null) return { data: { ...base, errorCode: ErrorCode.NONE, records: EMPTY }, bytes: 0 };
    const placeholder = fileRegionPlaceholder(region.length);
    if (placeholder === undefined) {
      region.release();
      const bytes = await log.read(target.fetchOffset, maxBytes);
      return { data: { ...base, errorCode: ErrorCode.NONE, records: bytes }, bytes: bytes.length };
    }
    context.fileRegions.set(placeholder, region);
    return { data: { ...base, errorCode: ErrorCode.NONE, records: placeholder }, bytes: region.length };
  } catch (error) {
    return { data: { ...base, errorCode: errorCodeOf(error), records: EMPTY }, bytes: 0 };
  }
}

export const fetchHandler = defineHandler({
  api: FetchApi,
  minVersion: 4,
  maxVersion: 16,
  async handle(request, context) {
    const { broker, version } = context;
    const byId = version >= 13;
    const targets: Target[] = [];
    for (const t of request.topics) {
      const topic = byId ? broker.topics.getById(Buffer.from(t.topicId, 'base64url')) : broker.topics.get(t.topic);
      for (const p of t.partitions) {
        targets.push({
          topicKey: byId ? t.topicId : t.topic,
          topic,
          partition: p.partition,
          fetchOffset: Number(p.fetchOffset),
          partitionMaxBytes: p.partitionMaxBytes,
        });
      }
    }
    const deadline = Date.now() + Math.max(0, request.maxWaitMs);
    const minBytes = Math.max(1, request.minBytes);

    for (;;) {
      let budget = request.maxBytes;
      let total = 0;
      let erred = false;
      const partitions: Init<FetchResponsePartitionData>[] = [];
      for (const target of targets) {
        const log = target.topic ? broker.log(target.topic.name, target.partition) : undefined;
        if (!log) {
          const errorCode = byId && !target.topic ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
          partitions.push({ partitionIndex: target.partition, errorCode, highWatermark: -1n, records: EMPTY });
          erred = true;
          continue;
        }
        const { data, bytes } = await readPartition(log, target, total === 0 ? Math.max(budget, 1) : budget, context);
        if (data.errorCode !== ErrorCode.NONE) erred = true;
        partitions.push(data);
        total += bytes;
        budget -= bytes;
      }
      const remainingMs = deadline - Date.now();
      if (total >= minBytes || erred || remainingMs <= 0) {
        return respond(request.topics.length, targets, partitions, byId);
      }
      // Not enough yet: give back the regions and wait for an append.
      for (const region of context.fileRegions.values()) region.release();
      context.fileRegions.clear();
      await broker.waitForData(remainingMs);
    }
  },
});

function respond(_topicCount: number, targets: Target[], partitions: Init<FetchResponsePartitionData>[], byId: boolean) {
  // Group partitions back under their topics, in request order.
  const responses: { topic: string; topicId: string; partitions: Init<FetchResponsePartitionData>[] }[] = [];
  let current: (typeof responses)[number] | undefined;
  targets.forEach((target, i) => {
    if (!current || current.topic !== (byId ? '' : target.topicKey) || (byId && current.topicId !== target.topicKey)) {
      current = byId ? { topic: '', topicId: target.topicKey, partitions: [] } : { topic: target.topicKey, topicId: ZERO_UUID, partitions: [] };
      responses.push(current);
    }
    current.partitions.push(partitions[i]!);
  });
  return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, sessionId: 0, responses };
}

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
// Fetch sessions (KIP-227, v7+): see src/server/fetch-sessions.ts. Partitions
// left out of an incremental response have their file regions released
// unsent (the router releases every region of the request).
// Compression: batches go out as stored, whatever their codec. As Kafka
// (KIP-110), a topic whose compression.type is zstd answers Fetch v0-v9 with
// UNSUPPORTED_COMPRESSION_TYPE; zstd batches a producer stored under another
// setting are served to any version (Kafka does not down-convert them either).
// Omitted: replica fetches (no replication yet), preferred read replicas (-1).
import { FetchApi, type FetchResponsePartitionData } from '../../protocol/generated/index.js';
import { ErrorCode, errorCodeOf } from '../../protocol/error-codes.js';
import { ALWAYS_REFERENCED, ZERO_UUID, type Init } from '../../protocol/wire.js';
import type { Log } from '../../log/log.js';
import type { TopicRecord } from '../../cluster/topic-store.js';
import { defineHandler, type RequestContext } from './types.js';
import { sessionKey, type FetchSession, type SessionPartition } from '../fetch-sessions.js';

// Placeholders are views of one zeroed allocation that is never touched, so
// they cost no memory; regions larger than this are read into memory instead.
const PLACEHOLDER_BYTES_MAX = 128 * 1024 * 1024;
let placeholderPool: Buffer | undefined;
/** The first Fetch version a topic with compression.type=zstd is served to (KIP-110). */
const ZSTD_FETCH_VERSION_MIN = 10;
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
  // At the log end there is nothing to read: no round trip to the io thread
  // (a waiting fetch re-checks every partition on each append anywhere).
  if (target.fetchOffset === log.logEndOffset) return { data: { ...base, errorCode: ErrorCode.NONE, records: EMPTY }, bytes: 0 };
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
    const sessions = broker.fetchSessions;

    // KIP-227: pick (or create, or close) the session this request belongs to.
    let session: FetchSession | undefined;
    let incremental = false;
    if (version >= 7) {
      const { sessionId, sessionEpoch } = request;
      if (sessionId === 0) {
        if (sessionEpoch === 0) session = sessions.create();
        else if (sessionEpoch !== -1) return sessionError(ErrorCode.INVALID_FETCH_SESSION_EPOCH);
      } else if (sessionEpoch === -1) {
        sessions.remove(sessionId);
      } else {
        session = sessions.get(sessionId);
        if (!session) return sessionError(ErrorCode.FETCH_SESSION_ID_NOT_FOUND);
        if (sessionEpoch !== session.nextEpoch) return sessionError(ErrorCode.INVALID_FETCH_SESSION_EPOCH);
        incremental = true;
      }
    }

    const requested: SessionPartition[] = [];
    for (const t of request.topics) {
      const topicKey = byId ? t.topicId : t.topic;
      for (const p of t.partitions) {
        requested.push({
          topicKey,
          partition: p.partition,
          fetchOffset: Number(p.fetchOffset),
          partitionMaxBytes: p.partitionMaxBytes,
          sentHighWatermark: -1,
          sentLogStartOffset: -1,
        });
      }
    }
    let wanted: SessionPartition[] = requested;
    if (session) {
      for (const p of requested) {
        const key = sessionKey(p.topicKey, p.partition);
        const known = session.partitions.get(key);
        if (known) {
          known.fetchOffset = p.fetchOffset;
          known.partitionMaxBytes = p.partitionMaxBytes;
        } else {
          session.partitions.set(key, p);
        }
      }
      for (const f of request.forgottenTopicsData) {
        const topicKey = byId ? f.topicId : f.topic;
        for (const partition of f.partitions) session.partitions.delete(sessionKey(topicKey, partition));
      }
      wanted = [...session.partitions.values()];
    }
    const targets: Target[] = wanted.map((p) => ({
      topicKey: p.topicKey,
      topic: byId ? broker.topics.getById(Buffer.from(p.topicKey, 'base64url')) : broker.topics.get(p.topicKey),
      partition: p.partition,
      fetchOffset: p.fetchOffset,
      partitionMaxBytes: p.partitionMaxBytes,
    }));
    const deadline = Date.now() + Math.max(0, request.maxWaitMs);
    const minBytes = Math.max(1, request.minBytes);

    for (;;) {
      let budget = request.maxBytes;
      let total = 0;
      let erred = false;
      const partitions: Init<FetchResponsePartitionData>[] = [];
      const sizes: number[] = [];
      for (const target of targets) {
        const log = target.topic ? broker.log(target.topic.name, target.partition) : undefined;
        if (!log) {
          const errorCode = byId && !target.topic ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
          partitions.push({ partitionIndex: target.partition, errorCode, highWatermark: -1n, records: EMPTY });
          sizes.push(0);
          erred = true;
          continue;
        }
        if (version < ZSTD_FETCH_VERSION_MIN && log.config['compression.type'] === 'zstd') {
          partitions.push({ partitionIndex: target.partition, errorCode: ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, highWatermark: -1n, records: EMPTY });
          sizes.push(0);
          erred = true;
          continue;
        }
        const { data, bytes } = await readPartition(log, target, total === 0 ? Math.max(budget, 1) : budget, context);
        if (data.errorCode !== ErrorCode.NONE) erred = true;
        partitions.push(data);
        sizes.push(bytes);
        total += bytes;
        budget -= bytes;
      }
      const remainingMs = deadline - Date.now();
      if (total >= minBytes || erred || remainingMs <= 0) {
        // An incremental response carries only partitions with something new.
        const keep = partitions.map((data, i) => {
          if (!incremental) return true;
          const sent = wanted[i]!;
          return (
            sizes[i]! > 0 ||
            data.errorCode !== ErrorCode.NONE ||
            Number(data.highWatermark) !== sent.sentHighWatermark ||
            Number(data.logStartOffset ?? -1n) !== sent.sentLogStartOffset
          );
        });
        if (session) {
          partitions.forEach((data, i) => {
            if (!keep[i]) return;
            wanted[i]!.sentHighWatermark = Number(data.highWatermark);
            wanted[i]!.sentLogStartOffset = Number(data.logStartOffset ?? -1n);
          });
          // A new session expects epoch 1 next; each incremental request moves it on.
          if (incremental) session.nextEpoch = session.nextEpoch >= 2 ** 31 - 1 ? 1 : session.nextEpoch + 1;
        }
        const kept = targets.filter((_, i) => keep[i]);
        const keptPartitions = partitions.filter((_, i) => keep[i]);
        // Regions of partitions left out of an incremental response are not sent.
        return respond(kept, keptPartitions, byId, session?.id ?? 0);
      }
      // Not enough yet: give back the regions and wait for an append.
      for (const region of context.fileRegions.values()) region.release();
      context.fileRegions.clear();
      context.park();
      await broker.waitForData(remainingMs);
    }
  },
});

function sessionError(errorCode: number) {
  return { throttleTimeMs: 0, errorCode, sessionId: 0, responses: [] };
}

function respond(targets: Target[], partitions: Init<FetchResponsePartitionData>[], byId: boolean, sessionId: number) {
  // Group partitions back under their topics, in request order.
  const responses: { topic: string; topicId: string; partitions: Init<FetchResponsePartitionData>[] }[] = [];
  let current: (typeof responses)[number] | undefined;
  targets.forEach((target, i) => {
    const matches = current !== undefined && (byId ? current.topicId === target.topicKey : current.topic === target.topicKey);
    if (!matches) {
      current = byId ? { topic: '', topicId: target.topicKey, partitions: [] } : { topic: target.topicKey, topicId: ZERO_UUID, partitions: [] };
      responses.push(current);
    }
    current!.partitions.push(partitions[i]!);
  });
  return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, sessionId, responses };
}

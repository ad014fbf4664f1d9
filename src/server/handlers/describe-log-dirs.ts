// DescribeLogDirs (key 35), versions 0-4 (v2+ flexible). None of kafkajs
// 2.2.4, librdkafka 2.0.2 or kafka-python 2.0.2 sends it; the Java admin
// client 3.x does (kafka-log-dirs.sh).
//
// One result: the broker's single log directory (absolute path), with every
// requested partition that exists: its size on disk (all segment files,
// Log.sizeBytes), offsetLag 0 (no replica movement between directories) and
// isFutureKey false. A null topic list means every partition; requested
// topics or partitions that do not exist are left out, as Kafka does.
// v3+: a top-level errorCode (always NONE). v4+: totalBytes and usableBytes
// of the directory's file system (statfs; -1 if that fails).
// Omitted: KAFKA_STORAGE_ERROR for an offline directory (the broker stops
// instead), future (moving) replicas, authorization.
import { statfs } from 'node:fs/promises';
import { DescribeLogDirsApi, type DescribeLogDirsResponseTopic } from '../../protocol/generated/index.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import type { Init } from '../../protocol/wire.js';
import type { Log } from '../../log/log.js';
import { defineHandler } from './types.js';

function describePartitions(logs: readonly (Log | undefined)[], partitions: Iterable<number>) {
  const out = [];
  for (const p of partitions) {
    const log = logs[p];
    if (!log || log.closed) continue;
    out.push({ partitionIndex: p, partitionSize: BigInt(log.sizeBytes), offsetLag: 0n, isFutureKey: false });
  }
  return out;
}

export const describeLogDirsHandler = defineHandler({
  api: DescribeLogDirsApi,
  minVersion: 0,
  maxVersion: 4,
  async handle(request, { broker, version }) {
    const topics: Init<DescribeLogDirsResponseTopic>[] = [];
    if (request.topics === null) {
      for (const topic of broker.topics.all()) {
        const logs = broker.partitionsOf(topic.name);
        const partitions = describePartitions(logs, logs.keys());
        if (partitions.length > 0) topics.push({ name: topic.name, partitions });
      }
    } else {
      // A topic may be named more than once: merge its partitions, each once.
      const wanted = new Map<string, Set<number>>();
      for (const t of request.topics) {
        const set = wanted.get(t.topic) ?? new Set<number>();
        for (const p of t.partitions) set.add(p);
        wanted.set(t.topic, set);
      }
      for (const [name, set] of wanted) {
        if (!broker.topics.get(name)) continue;
        const partitions = describePartitions(broker.partitionsOf(name), [...set].sort((a, b) => a - b));
        if (partitions.length > 0) topics.push({ name, partitions });
      }
    }
    let space: { totalBytes: bigint; usableBytes: bigint } = { totalBytes: -1n, usableBytes: -1n };
    if (version >= 4) {
      try {
        const fs = await statfs(broker.logs.dir, { bigint: true });
        space = { totalBytes: fs.blocks * fs.bsize, usableBytes: fs.bavail * fs.bsize };
      } catch {
        // Leave -1 (unknown), as the schema's default says.
      }
    }
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      results: [{ errorCode: ErrorCode.NONE, logDir: broker.logs.dir, topics, ...space }],
    };
  },
});

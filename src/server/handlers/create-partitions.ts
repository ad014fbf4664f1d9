// CreatePartitions (key 37), versions 0-3 (v2+ flexible; v3 changes nothing
// on the wire). kafkajs sends v1, librdkafka 2.0.2 v0, kafka-python up to v1.
//
// Raises a topic's partition count to `count`; the new partitions get their
// logs at once (BrokerState.addPartitions persists the count first) and
// inherit the topic's configs. Errors per topic:
//   INVALID_REQUEST              the topic is named twice in the request
//   UNKNOWN_TOPIC_OR_PARTITION   no such topic
//   INVALID_PARTITIONS           count not above the current one (partitions
//                                can never be removed), or above
//                                PARTITIONS_PER_TOPIC_MAX
//   INVALID_REPLICA_ASSIGNMENT   assignments not one per new partition, or
//                                naming any broker but this one (each must be
//                                exactly [this node]: replication factor 1)
// validate_only runs every check and changes nothing.
// Omitted: rack-aware or multi-broker placement (there is one broker), and
// throttling (throttleTimeMs is always 0); timeoutMs is ignored because the
// change is complete when the response is sent.
import { CreatePartitionsApi, type CreatePartitionsResponseTopicResult } from '../../protocol/generated/index.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import type { Init } from '../../protocol/wire.js';
import { PARTITIONS_PER_TOPIC_MAX } from '../broker-state.js';
import { defineHandler } from './types.js';

export const createPartitionsHandler = defineHandler({
  api: CreatePartitionsApi,
  minVersion: 0,
  maxVersion: 3,
  async handle(request, { broker }) {
    const seen = new Map<string, number>();
    for (const t of request.topics) seen.set(t.name, (seen.get(t.name) ?? 0) + 1);
    const results: Init<CreatePartitionsResponseTopicResult>[] = [];
    for (const t of request.topics) {
      const fail = (errorCode: number, errorMessage: string) => results.push({ name: t.name, errorCode, errorMessage });
      if ((seen.get(t.name) ?? 0) > 1) {
        fail(ErrorCode.INVALID_REQUEST, `Duplicate topic ${t.name} in the CreatePartitions request`);
        continue;
      }
      const topic = broker.topics.get(t.name);
      if (!topic) {
        fail(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `The topic '${t.name}' does not exist.`);
        continue;
      }
      const current = topic.partitions;
      if (t.count < current) {
        fail(ErrorCode.INVALID_PARTITIONS, `Topic currently has ${current} partitions, which is higher than the requested ${t.count}.`);
        continue;
      }
      if (t.count === current) {
        fail(ErrorCode.INVALID_PARTITIONS, `Topic already has ${current} partitions.`);
        continue;
      }
      if (t.count > PARTITIONS_PER_TOPIC_MAX) {
        fail(ErrorCode.INVALID_PARTITIONS, `Number of partitions must be at most ${PARTITIONS_PER_TOPIC_MAX}, got ${t.count}.`);
        continue;
      }
      if (t.assignments !== null) {
        const added = t.count - current;
        if (t.assignments.length !== added) {
          fail(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `Increasing the number of partitions by ${added} but ${t.assignments.length} assignments provided.`);
          continue;
        }
        const bad = t.assignments.find((a) => a.brokerIds.length !== 1 || a.brokerIds[0] !== broker.nodeId);
        if (bad) {
          fail(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `Replica assignment [${bad.brokerIds.join(', ')}] is invalid: each new partition must be assigned to exactly broker ${broker.nodeId}.`);
          continue;
        }
      }
      if (!request.validateOnly) {
        try {
          await broker.addPartitions(t.name, t.count);
        } catch (error) {
          fail(ErrorCode.UNKNOWN_SERVER_ERROR, (error as Error).message);
          continue;
        }
      }
      results.push({ name: t.name, errorCode: ErrorCode.NONE, errorMessage: null });
    }
    return { throttleTimeMs: 0, results };
  },
});

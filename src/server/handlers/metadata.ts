// Metadata (key 3), versions 0-12.
//
// One broker: this node is every partition's leader, sole replica and ISR.
// Topics: all of them for a null list (v1+) or an empty list in v0; named
// topics that do not exist are created when auto.create.topics.enable is on
// and the request allows it (v4+; always allowed before v4, as in Kafka),
// with num.partitions and default.replication.factor. Topic ids are returned
// from v10; lookup by id (v10+) answers UNKNOWN_TOPIC_ID for unknown ids.
// Omitted on purpose: authorized-operation bitfields (no ACLs yet: -2^31).
import { MetadataApi, type MetadataResponseTopic } from '../../protocol/generated/index.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import type { Init } from '../../protocol/wire.js';
import type { TopicRecord } from '../../cluster/topic-store.js';
import { topicNameError } from '../../cluster/topic-store.js';
import { ZERO_UUID } from '../../protocol/wire.js';
import { OFFSETS_TOPIC } from '../../groups/offsets-topic.js';
import { defineHandler } from './types.js';

function describe(topic: TopicRecord, nodeId: number): Init<MetadataResponseTopic> {
  return {
    errorCode: ErrorCode.NONE,
    name: topic.name,
    topicId: topic.id.toString('base64url'),
    isInternal: topic.name === OFFSETS_TOPIC || topic.name === '__transaction_state',
    partitions: Array.from({ length: topic.partitions }, (_, p) => ({
      errorCode: ErrorCode.NONE,
      partitionIndex: p,
      leaderId: nodeId,
      leaderEpoch: 0,
      replicaNodes: [nodeId],
      isrNodes: [nodeId],
      offlineReplicas: [],
    })),
  };
}

export const metadataHandler = defineHandler({
  api: MetadataApi,
  minVersion: 0,
  maxVersion: 12,
  async handle(request, { broker, version }) {
    const nodeId = broker.nodeId;
    const listener = broker.config.advertisedListeners[0]!;
    const topics: Init<MetadataResponseTopic>[] = [];
    const all = request.topics === null || (version === 0 && request.topics.length === 0);
    if (all) {
      for (const topic of broker.topics.all()) topics.push(describe(topic, nodeId));
    } else {
      const allowCreate = broker.config.autoCreateTopics && (version < 4 || request.allowAutoTopicCreation);
      for (const wanted of request.topics ?? []) {
        let topic: TopicRecord | undefined;
        if (wanted.name === null || wanted.name === undefined) {
          topic = broker.topics.getById(Buffer.from(wanted.topicId, 'base64url'));
          if (!topic) {
            topics.push({ errorCode: ErrorCode.UNKNOWN_TOPIC_ID, name: null, topicId: wanted.topicId, partitions: [] });
            continue;
          }
        } else {
          topic = broker.topics.get(wanted.name);
          if (!topic) {
            const invalid = topicNameError(wanted.name);
            if (invalid !== undefined) {
              topics.push({ errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, name: wanted.name, topicId: ZERO_UUID, partitions: [] });
              continue;
            }
            if (allowCreate) {
              try {
                if (wanted.name === OFFSETS_TOPIC) {
                  // Created as the group coordinator needs it, compacted, with offsets.topic.num.partitions.
                  await broker.groups.ensureOffsetsTopic();
                  topic = broker.topics.get(OFFSETS_TOPIC);
                } else {
                  topic = await broker.createTopic(wanted.name, broker.config.numPartitions, broker.config.defaultReplicationFactor, {});
                }
              } catch {
                topic = broker.topics.get(wanted.name); // created concurrently by another request
              }
            }
            if (!topic) {
              topics.push({ errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name: wanted.name, topicId: ZERO_UUID, partitions: [] });
              continue;
            }
          }
        }
        topics.push(describe(topic, nodeId));
      }
    }
    return {
      throttleTimeMs: 0,
      brokers: [{ nodeId, host: listener.host, port: listener.port, rack: null }],
      clusterId: broker.clusterId,
      controllerId: nodeId,
      topics,
    };
  },
});

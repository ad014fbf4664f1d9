// CreateTopics (key 19), versions 0-7.
//
// Partitions -1 means num.partitions and replication factor -1 means
// default.replication.factor (v4+). Errors per topic: INVALID_TOPIC_EXCEPTION
// for a bad name, TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS (< 1 or too many),
// INVALID_REPLICATION_FACTOR (above the one broker there is),
// INVALID_CONFIG for an unknown or invalid topic config, INVALID_REQUEST for
// a topic named twice. validate_only checks everything and creates nothing.
// From v5 the response carries the topic's partitions, replication factor
// and configs; from v7 its id.
// Omitted: manual replica assignments other than this broker (INVALID_REPLICA_ASSIGNMENT).
import { CreateTopicsApi, type CreateTopicsResponseCreatableTopicResult } from '../../protocol/generated/index.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import { ZERO_UUID, type Init } from '../../protocol/wire.js';
import { topicNameError } from '../../cluster/topic-store.js';
import { validateTopicConfigs, describeTopicConfigs } from '../../cluster/topic-configs.js';
import { PARTITIONS_PER_TOPIC_MAX } from '../broker-state.js';
import { defineHandler } from './types.js';

export const createTopicsHandler = defineHandler({
  api: CreateTopicsApi,
  minVersion: 0,
  maxVersion: 7,
  async handle(request, { broker }) {
    const seen = new Map<string, number>();
    for (const t of request.topics) seen.set(t.name, (seen.get(t.name) ?? 0) + 1);
    const topics: Init<CreateTopicsResponseCreatableTopicResult>[] = [];
    for (const t of request.topics) {
      const fail = (errorCode: number, errorMessage: string) => {
        topics.push({ name: t.name, topicId: ZERO_UUID, errorCode, errorMessage, numPartitions: -1, replicationFactor: -1, configs: null });
      };
      if ((seen.get(t.name) ?? 0) > 1) {
        fail(ErrorCode.INVALID_REQUEST, `Create topics request from client contains multiple entries for topic ${t.name}`);
        continue;
      }
      const nameError = topicNameError(t.name);
      if (nameError) {
        fail(ErrorCode.INVALID_TOPIC_EXCEPTION, nameError);
        continue;
      }
      if (broker.topics.get(t.name)) {
        fail(ErrorCode.TOPIC_ALREADY_EXISTS, `Topic '${t.name}' already exists.`);
        continue;
      }
      const assigned = t.assignments.length > 0;
      const partitions = assigned ? t.assignments.length : t.numPartitions === -1 ? broker.config.numPartitions : t.numPartitions;
      const replicationFactor = assigned
        ? (t.assignments[0]?.brokerIds.length ?? 0)
        : t.replicationFactor === -1
          ? broker.config.defaultReplicationFactor
          : t.replicationFactor;
      if (partitions < 1 || partitions > PARTITIONS_PER_TOPIC_MAX) {
        fail(ErrorCode.INVALID_PARTITIONS, `Number of partitions must be between 1 and ${PARTITIONS_PER_TOPIC_MAX}, got ${partitions}.`);
        continue;
      }
      if (replicationFactor < 1) {
        fail(ErrorCode.INVALID_REPLICATION_FACTOR, 'Replication factor must be larger than 0, or -1 to use the default value.');
        continue;
      }
      if (replicationFactor > 1) {
        fail(ErrorCode.INVALID_REPLICATION_FACTOR, `Replication factor: ${replicationFactor} larger than available brokers: 1.`);
        continue;
      }
      if (assigned && t.assignments.some((a) => a.brokerIds.some((id) => id !== broker.nodeId))) {
        fail(ErrorCode.INVALID_REQUEST, `Replica assignments may only name broker ${broker.nodeId}`);
        continue;
      }
      const configs: Record<string, string> = {};
      for (const c of t.configs) if (c.value !== null) configs[c.name] = c.value;
      const configError = validateTopicConfigs(configs, broker.config);
      if (configError) {
        fail(ErrorCode.INVALID_CONFIG, configError);
        continue;
      }
      let topicId = ZERO_UUID;
      if (!request.validateOnly) {
        try {
          const topic = await broker.createTopic(t.name, partitions, replicationFactor, configs);
          topicId = topic.id.toString('base64url');
        } catch (error) {
          // Another request created it between the check above and now.
          const exists = broker.topics.get(t.name) !== undefined;
          fail(exists ? ErrorCode.TOPIC_ALREADY_EXISTS : ErrorCode.UNKNOWN_SERVER_ERROR, (error as Error).message);
          continue;
        }
      }
      topics.push({
        name: t.name,
        topicId,
        errorCode: ErrorCode.NONE,
        errorMessage: null,
        numPartitions: partitions,
        replicationFactor,
        configs: describeTopicConfigs(configs, broker.config).map((c) => ({
          name: c.name,
          value: c.value,
          readOnly: false,
          configSource: c.source,
          isSensitive: false,
        })),
      });
    }
    return { throttleTimeMs: 0, topics };
  },
});

// DeleteTopics (key 20), versions 0-6.
//
// By name (all versions) or by topic id (v6+). The topic's partition logs
// and their directories are removed; its name can be reused at once.
// UNKNOWN_TOPIC_OR_PARTITION / UNKNOWN_TOPIC_ID for topics that do not exist;
// __consumer_offsets (the group coordinator's state) cannot be deleted.
// Offsets groups committed for a deleted topic are removed with it.
import { DeleteTopicsApi } from '../../protocol/generated/index.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import { ZERO_UUID } from '../../protocol/wire.js';
import { OFFSETS_TOPIC } from '../../groups/offsets-topic.js';
import { defineHandler } from './types.js';

export const deleteTopicsHandler = defineHandler({
  api: DeleteTopicsApi,
  minVersion: 0,
  maxVersion: 6,
  async handle(request, { broker, version }) {
    const wanted = version >= 6 ? request.topics : request.topicNames.map((name) => ({ name, topicId: ZERO_UUID }));
    const responses = [];
    for (const w of wanted) {
      const byId = w.name === null || w.name === undefined;
      const topic = byId ? broker.topics.getById(Buffer.from(w.topicId, 'base64url')) : broker.topics.get(w.name!);
      if (!topic) {
        responses.push({
          name: w.name ?? null,
          topicId: w.topicId,
          errorCode: byId ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
          errorMessage: byId ? 'This server does not host this topic ID.' : 'This server does not host this topic-partition.',
        });
        continue;
      }
      if (topic.name === OFFSETS_TOPIC) {
        responses.push({
          name: topic.name,
          topicId: topic.id.toString('base64url'),
          errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION,
          errorMessage: `${OFFSETS_TOPIC} holds the consumer groups' state and cannot be deleted`,
        });
        continue;
      }
      await broker.deleteTopic(topic.name);
      responses.push({ name: topic.name, topicId: topic.id.toString('base64url'), errorCode: ErrorCode.NONE, errorMessage: null });
    }
    return { throttleTimeMs: 0, responses };
  },
});

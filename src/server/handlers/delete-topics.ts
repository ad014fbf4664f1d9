// DeleteTopics (key 20), versions 0-6.
//
// By name (all versions) or by topic id (v6+). The topic's partition logs
// and their directories are removed; its name can be reused at once.
// UNKNOWN_TOPIC_OR_PARTITION / UNKNOWN_TOPIC_ID for topics that do not exist.
import { DeleteTopicsApi } from '../../protocol/generated/index.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import { ZERO_UUID } from '../../protocol/wire.js';
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
      await broker.deleteTopic(topic.name);
      responses.push({ name: topic.name, topicId: topic.id.toString('base64url'), errorCode: ErrorCode.NONE, errorMessage: null });
    }
    return { throttleTimeMs: 0, responses };
  },
});

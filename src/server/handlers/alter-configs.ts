// AlterConfigs (key 33), versions 0-2 (v2 flexible). kafkajs sends v1,
// librdkafka 2.0.2 v0, kafka-python up to v1.
//
// Kafka's legacy semantics: the request's configs replace a topic's WHOLE
// override set; keys not named fall back to the broker's values, and a null
// value means "no override". The new set is validated as CreateTopics
// validates it (validateTopicConfigs: unknown keys and bad values give
// INVALID_CONFIG, with the key in the message), then persisted
// (TopicStore, via BrokerState.setTopicConfigs) and the storage-engine keys
// (segment.bytes, segment.ms, max.message.bytes, ...) applied to every
// partition's open log before the response goes out. validate_only checks
// and changes nothing. Errors per resource:
//   INVALID_REQUEST              the resource is named twice, a key is named
//                                twice, a BROKER resource (dynamic broker
//                                configs are not supported yet), or any other
//                                resource type
//   UNKNOWN_TOPIC_OR_PARTITION   no such topic
//   INVALID_TOPIC_EXCEPTION      illegal topic name
//   INVALID_CONFIG               unknown key or invalid value
// Omitted: dynamic broker configs (type 4) and broker loggers (type 8),
// alter-config policies, authorization.
import { AlterConfigsApi, type AlterConfigsResponseResourceResponse } from '../../protocol/generated/index.js';
import { ErrorCode, errorCodeOf } from '../../protocol/error-codes.js';
import type { Init } from '../../protocol/wire.js';
import { topicNameError, type TopicRecord } from '../../cluster/topic-store.js';
import { validateTopicConfigs } from '../../cluster/topic-configs.js';
import type { BrokerState } from '../broker-state.js';
import { ResourceType } from './describe-configs.js';
import { defineHandler } from './types.js';

export const DYNAMIC_BROKER_CONFIGS_UNSUPPORTED = 'dynamic broker configs are not supported yet';

export interface ResourceResult {
  errorCode: number;
  errorMessage: string | null;
}

const OK: ResourceResult = { errorCode: ErrorCode.NONE, errorMessage: null };

/** How often each (type, name) resource appears in a request. */
export function countResources(resources: readonly { resourceType: number; resourceName: string }[]): (r: { resourceType: number; resourceName: string }) => number {
  const counts = new Map<string, number>();
  const key = (r: { resourceType: number; resourceName: string }) => `${r.resourceType}\0${r.resourceName}`;
  for (const r of resources) counts.set(key(r), (counts.get(key(r)) ?? 0) + 1);
  return (r) => counts.get(key(r)) ?? 0;
}

/**
 * The checks every config-altering request makes on a resource before
 * looking at its configs: the topic it names, or the error to answer with.
 */
export function resolveAlterTarget(
  broker: BrokerState,
  resource: { resourceType: number; resourceName: string; configs: readonly { name: string }[] },
  timesNamed: number,
): TopicRecord | ResourceResult {
  if (timesNamed > 1) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Duplicate resource ${resource.resourceName} (type ${resource.resourceType}) in the request` };
  if (resource.resourceType === ResourceType.BROKER) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: DYNAMIC_BROKER_CONFIGS_UNSUPPORTED };
  if (resource.resourceType !== ResourceType.TOPIC) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unsupported resource type ${resource.resourceType}` };
  const names = new Set<string>();
  for (const c of resource.configs) {
    if (names.has(c.name)) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Config ${c.name} is named more than once for ${resource.resourceName}` };
    names.add(c.name);
  }
  const invalid = topicNameError(resource.resourceName);
  if (invalid) return { errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, errorMessage: invalid };
  const topic = broker.topics.get(resource.resourceName);
  if (!topic) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `Topic '${resource.resourceName}' does not exist.` };
  return topic;
}

/**
 * Validates `next` as the topic's whole override set and, unless
 * validateOnly, persists and applies it. Must be called without an await
 * between reading the topic's current configs and this call, so that the new
 * set is built from the latest one.
 */
export async function commitTopicConfigs(broker: BrokerState, topic: TopicRecord, next: Record<string, string>, validateOnly: boolean): Promise<ResourceResult> {
  const invalid = validateTopicConfigs(next, broker.config);
  if (invalid) return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: invalid };
  if (validateOnly) return OK;
  try {
    await broker.setTopicConfigs(topic.name, next);
  } catch (error) {
    return { errorCode: errorCodeOf(error), errorMessage: (error as Error).message };
  }
  return OK;
}

export const alterConfigsHandler = defineHandler({
  api: AlterConfigsApi,
  minVersion: 0,
  maxVersion: 2,
  async handle(request, { broker }) {
    const timesNamed = countResources(request.resources);
    const responses: Init<AlterConfigsResponseResourceResponse>[] = [];
    for (const resource of request.resources) {
      const target = resolveAlterTarget(broker, resource, timesNamed(resource));
      let result: ResourceResult;
      if ('errorCode' in target) {
        result = target;
      } else {
        const next: Record<string, string> = {};
        for (const c of resource.configs) if (c.value !== null) next[c.name] = c.value;
        result = await commitTopicConfigs(broker, target, next, request.validateOnly);
      }
      responses.push({ ...result, resourceType: resource.resourceType, resourceName: resource.resourceName });
    }
    return { throttleTimeMs: 0, responses };
  },
});

// AlterConfigs (key 33), versions 0-2 (v2 flexible). kafkajs sends v1,
// librdkafka 2.0.2 v0, kafka-python up to v1.
//
// Kafka's legacy semantics: the request's configs replace a resource's WHOLE
// set; keys not named fall back, and a null value means "not set".
//
// TOPIC resources: the set is the topic's overrides. It is validated as
// CreateTopics validates it (validateTopicConfigs: unknown keys and bad
// values give INVALID_CONFIG, with the key in the message), then persisted
// (TopicStore, via BrokerState.setTopicConfigs) and the storage-engine keys
// (segment.bytes, segment.ms, max.message.bytes, ...) applied to every
// partition's open log before the response goes out.
//
// BROKER resources (dynamic broker configs): "0" (this node.id) is the
// per-broker set, "" the cluster-wide default set; the per-broker value wins
// over the default, which wins over server.properties/--override. Only the
// keys that are topic defaults can change (DYNAMIC_BROKER_KEYS: log.segment.bytes,
// log.roll.*, log.index.*, log.flush.interval.*, message.max.bytes,
// log.message.timestamp.type, log.retention.*); values are checked as at
// start (checkBrokerValue). The set is persisted in
// <log dir>/gregor-broker-configs.json (loaded at start), the topic defaults
// are recomputed and applied to every open partition log (a topic's own
// overrides still win), all before the response goes out.
//
// validate_only checks and changes nothing. Errors per resource:
//   INVALID_REQUEST              the resource is named twice, a key is named
//                                twice, another broker id, a broker key that
//                                cannot be updated dynamically ("Cannot
//                                update these configs dynamically: Set(k)"),
//                                or any other resource type
//   UNKNOWN_TOPIC_OR_PARTITION   no such topic
//   INVALID_TOPIC_EXCEPTION      illegal topic name
//   INVALID_CONFIG               unknown key or invalid value
// Omitted: the other dynamic broker keys (listeners, threads, quotas, ...),
// broker loggers (type 8), alter-config policies, authorization.
import { AlterConfigsApi, type AlterConfigsResponseResourceResponse } from '../../protocol/generated/index.js';
import { ErrorCode, errorCodeOf } from '../../protocol/error-codes.js';
import type { Init } from '../../protocol/wire.js';
import { topicNameError, type TopicRecord } from '../../cluster/topic-store.js';
import { validateTopicConfigs } from '../../cluster/topic-configs.js';
import { BROKER_KEYS, BrokerConfigError, DYNAMIC_BROKER_KEYS, checkBrokerValue } from '../../config/broker-config.js';
import { ConfigError, resolveLogConfig } from '../../log/config.js';
import type { BrokerState, DynamicScope } from '../broker-state.js';
import { ResourceType } from './describe-configs.js';
import { defineHandler } from './types.js';

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

/** A BROKER resource: which dynamic set it names. */
export interface BrokerTarget {
  scope: DynamicScope;
}

/**
 * The checks every config-altering request makes on a resource before
 * looking at its configs: the topic or broker set it names, or the error to
 * answer with.
 */
export function resolveAlterTarget(
  broker: BrokerState,
  resource: { resourceType: number; resourceName: string; configs: readonly { name: string }[] },
  timesNamed: number,
): TopicRecord | BrokerTarget | ResourceResult {
  if (timesNamed > 1) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Duplicate resource ${resource.resourceName} (type ${resource.resourceType}) in the request` };
  if (resource.resourceType !== ResourceType.TOPIC && resource.resourceType !== ResourceType.BROKER) {
    return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unsupported resource type ${resource.resourceType}` };
  }
  const names = new Set<string>();
  for (const c of resource.configs) {
    if (names.has(c.name)) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Config ${c.name} is named more than once for ${resource.resourceName}` };
    names.add(c.name);
  }
  if (resource.resourceType === ResourceType.BROKER) {
    if (resource.resourceName === '') return { scope: 'default' };
    if (/^\d+$/.test(resource.resourceName) && Number(resource.resourceName) === broker.nodeId) return { scope: 'broker' };
    return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unexpected broker id, expected ${broker.nodeId} or empty string, but received ${resource.resourceName}` };
  }
  const invalid = topicNameError(resource.resourceName);
  if (invalid) return { errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, errorMessage: invalid };
  const topic = broker.topics.get(resource.resourceName);
  if (!topic) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `Topic '${resource.resourceName}' does not exist.` };
  return topic;
}

/**
 * Builds the topic's new override set from its latest one (inside the
 * broker's change queue, so concurrent changes do not overwrite each
 * other), validates it and, unless validateOnly, persists and applies it.
 */
export async function commitTopicConfigs(
  broker: BrokerState,
  topic: TopicRecord,
  build: (current: TopicRecord) => { configs: Record<string, string> } | { error: ResourceResult },
  validateOnly: boolean,
): Promise<ResourceResult> {
  let result: ResourceResult = OK;
  try {
    await broker.setTopicConfigs(topic.name, (current) => {
      const next = build(current);
      const invalid = 'error' in next ? undefined : validateTopicConfigs(next.configs, broker.config);
      if ('error' in next) result = next.error;
      else if (invalid) result = { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: invalid };
      if (result !== OK || validateOnly || !('configs' in next)) return undefined;
      return next.configs;
    });
  } catch (error) {
    return { errorCode: errorCodeOf(error), errorMessage: (error as Error).message };
  }
  return result;
}

/** Unknown or not dynamically updatable broker keys among `names`, as the error to answer with. */
export function brokerKeyError(names: Iterable<string>): ResourceResult | undefined {
  const list = [...names];
  const unknown = list.filter((name) => !(name in BROKER_KEYS));
  if (unknown.length > 0) return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: `Unknown broker config name: ${unknown.join(', ')}` };
  const fixed = list.filter((name) => !DYNAMIC_BROKER_KEYS.includes(name));
  if (fixed.length > 0) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Cannot update these configs dynamically: Set(${fixed.join(', ')})` };
  return undefined;
}

/** Why `configs` cannot be `scope`'s dynamic set, or undefined if it can. */
function validateBrokerConfigs(broker: BrokerState, scope: DynamicScope, configs: Record<string, string>): ResourceResult | undefined {
  const keyError = brokerKeyError(Object.keys(configs));
  if (keyError) return keyError;
  try {
    for (const [key, value] of Object.entries(configs)) checkBrokerValue(key, value);
    // The resulting topic defaults must suit the storage engine too.
    resolveLogConfig(broker.previewDynamicConfigs(scope, configs).topicDefaults);
  } catch (error) {
    if (error instanceof BrokerConfigError || error instanceof ConfigError) return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: error.message };
    throw error;
  }
  return undefined;
}

/**
 * Builds `scope`'s new dynamic set from the current one (`build`, which may
 * refuse), validates it and, unless validateOnly, persists and applies it.
 */
export async function commitBrokerConfigs(
  broker: BrokerState,
  scope: DynamicScope,
  build: (current: Readonly<Record<string, string>>) => { configs: Record<string, string> } | { error: ResourceResult },
  validateOnly: boolean,
): Promise<ResourceResult> {
  let result: ResourceResult = OK;
  try {
    await broker.setDynamicConfigs(scope, (current) => {
      const next = build(current);
      const refused = 'error' in next ? next.error : validateBrokerConfigs(broker, scope, next.configs);
      if (refused) {
        result = refused;
        return undefined;
      }
      return validateOnly || !('configs' in next) ? undefined : next.configs;
    });
  } catch (error) {
    return { errorCode: errorCodeOf(error), errorMessage: (error as Error).message };
  }
  return result;
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
        result = 'scope' in target ? await commitBrokerConfigs(broker, target.scope, () => ({ configs: next }), request.validateOnly) : await commitTopicConfigs(broker, target, () => ({ configs: next }), request.validateOnly);
      }
      responses.push({ ...result, resourceType: resource.resourceType, resourceName: resource.resourceName });
    }
    return { throttleTimeMs: 0, responses };
  },
});

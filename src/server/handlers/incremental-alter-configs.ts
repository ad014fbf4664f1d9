// IncrementalAlterConfigs (key 44), versions 0-1 (v1 flexible). None of
// kafkajs 2.2.4, librdkafka 2.0.2 or kafka-python 2.0.2 sends it; the Java
// admin client (3.x), librdkafka 2.2+ and `gregor configs --alter` do.
//
// Changes a resource's set key by key, in request order:
//   SET (0)       sets the key (a null value: INVALID_REQUEST)
//   DELETE (1)    removes it (the next source applies again)
//   APPEND (2)    list keys only (cleanup.policy): adds the value's items
//                 that are missing to the current list (the override, else
//                 the inherited value)
//   SUBTRACT (3)  list keys only: removes the value's items
// TOPIC resources change the topic's overrides; BROKER resources ("0": this
// node, "": the cluster-wide default) change the dynamic broker configs,
// whose keys are never lists. APPEND/SUBTRACT on a non-list key and any
// unknown key give INVALID_CONFIG; a broker key that cannot be updated
// dynamically gives INVALID_REQUEST; an unknown operation gives
// INVALID_REQUEST. The resulting set is validated, persisted and applied
// exactly as AlterConfigs does (see alter-configs.ts, which also lists the
// per-resource errors), and validate_only checks without changing anything.
// Omitted: broker loggers, client metrics resources, alter-config policies,
// authorization.
import { IncrementalAlterConfigsApi, type IncrementalAlterConfigsResponseAlterConfigsResourceResponse } from '../../protocol/generated/index.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import type { Init } from '../../protocol/wire.js';
import type { TopicRecord } from '../../cluster/topic-store.js';
import { TOPIC_CONFIG_KEYS, describeTopicConfigs, isListTopicConfig } from '../../cluster/topic-configs.js';
import type { BrokerState } from '../broker-state.js';
import { brokerKeyError, commitBrokerConfigs, commitTopicConfigs, countResources, resolveAlterTarget, type ResourceResult } from './alter-configs.js';
import { defineHandler } from './types.js';

/** Kafka's AlterConfigOp.OpType ids. */
export const ConfigOperation = {
  SET: 0,
  DELETE: 1,
  APPEND: 2,
  SUBTRACT: 3,
} as const;

const listItems = (value: string): string[] =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

/** The override set after `ops`, or the error that stops them. */
function applyOperations(
  broker: BrokerState,
  topic: TopicRecord,
  ops: readonly { name: string; configOperation: number; value: string | null }[],
): { configs: Record<string, string> } | { error: ResourceResult } {
  const next: Record<string, string> = { ...topic.configs };
  for (const op of ops) {
    if (!TOPIC_CONFIG_KEYS.includes(op.name)) return { error: { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: `Unknown topic config name: ${op.name}` } };
    switch (op.configOperation) {
      case ConfigOperation.SET:
        if (op.value === null) return { error: { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Null value not supported for SET of ${op.name}` } };
        next[op.name] = op.value;
        break;
      case ConfigOperation.DELETE:
        delete next[op.name];
        break;
      case ConfigOperation.APPEND:
      case ConfigOperation.SUBTRACT: {
        const verb = op.configOperation === ConfigOperation.APPEND ? 'append' : 'subtract';
        if (!isListTopicConfig(op.name)) return { error: { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: `Config value ${verb} is not allowed for config key: ${op.name}` } };
        if (op.value === null) return { error: { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Null value not supported for ${verb} of ${op.name}` } };
        const current = next[op.name] ?? describeTopicConfigs({}, broker.config).find((c) => c.name === op.name)?.value ?? '';
        let items = listItems(current);
        const change = listItems(op.value);
        items = op.configOperation === ConfigOperation.APPEND ? [...items, ...change.filter((i) => !items.includes(i))] : items.filter((i) => !change.includes(i));
        next[op.name] = items.join(',');
        break;
      }
      default:
        return { error: { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unknown config operation ${op.configOperation} for ${op.name}` } };
    }
  }
  return { configs: next };
}

/** A broker resource's dynamic set after `ops` (SET and DELETE only), or the error that stops them. */
function applyBrokerOperations(
  current: Readonly<Record<string, string>>,
  ops: readonly { name: string; configOperation: number; value: string | null }[],
): { configs: Record<string, string> } | { error: ResourceResult } {
  const keyError = brokerKeyError(ops.map((op) => op.name));
  if (keyError) return { error: keyError };
  const next: Record<string, string> = { ...current };
  for (const op of ops) {
    switch (op.configOperation) {
      case ConfigOperation.SET:
        if (op.value === null) return { error: { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Null value not supported for SET of ${op.name}` } };
        next[op.name] = op.value;
        break;
      case ConfigOperation.DELETE:
        delete next[op.name];
        break;
      case ConfigOperation.APPEND:
      case ConfigOperation.SUBTRACT: {
        const verb = op.configOperation === ConfigOperation.APPEND ? 'append' : 'subtract';
        return { error: { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: `Config value ${verb} is not allowed for config key: ${op.name}` } };
      }
      default:
        return { error: { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unknown config operation ${op.configOperation} for ${op.name}` } };
    }
  }
  return { configs: next };
}

export const incrementalAlterConfigsHandler = defineHandler({
  api: IncrementalAlterConfigsApi,
  minVersion: 0,
  maxVersion: 1,
  async handle(request, { broker }) {
    const timesNamed = countResources(request.resources);
    const responses: Init<IncrementalAlterConfigsResponseAlterConfigsResourceResponse>[] = [];
    for (const resource of request.resources) {
      const target = resolveAlterTarget(broker, resource, timesNamed(resource));
      let result: ResourceResult;
      if ('errorCode' in target) {
        result = target;
      } else if ('scope' in target) {
        // The operations run on the latest set, inside the broker's change queue.
        result = await commitBrokerConfigs(broker, target.scope, (current) => applyBrokerOperations(current, resource.configs), request.validateOnly);
      } else {
        // The operations run on the latest overrides, inside the broker's change queue.
        result = await commitTopicConfigs(broker, target, (current) => applyOperations(broker, current, resource.configs), request.validateOnly);
      }
      responses.push({ ...result, resourceType: resource.resourceType, resourceName: resource.resourceName });
    }
    return { throttleTimeMs: 0, responses };
  },
});

// DescribeConfigs (key 32), versions 0-4 (v4 flexible). kafkajs sends v2,
// librdkafka 2.0.2 v1, kafka-python up to v2.
//
// Resource types:
//   2 TOPIC   every topic key (TOPIC_CONFIG_KEYS) with its effective value:
//             the topic override (source TOPIC_CONFIG), else the broker key
//             it inherits (DYNAMIC_BROKER_CONFIG / DYNAMIC_DEFAULT_BROKER_CONFIG
//             when set by AlterConfigs on the broker, STATIC_BROKER_CONFIG
//             when set in server.properties or an override, DEFAULT_CONFIG
//             otherwise). readOnly false.
//             UNKNOWN_TOPIC_OR_PARTITION for a missing topic,
//             INVALID_TOPIC_EXCEPTION for an illegal name.
//   4 BROKER  by this node's id: every broker key Gregor reads (BROKER_KEYS),
//             value null when neither set nor defaulted (log.roll.ms; node.id
//             and log.dirs show broker.id's and log.dir's instead), source
//             DYNAMIC_BROKER_CONFIG, DYNAMIC_DEFAULT_BROKER_CONFIG,
//             STATIC_BROKER_CONFIG or DEFAULT_CONFIG (highest first), readOnly
//             false only for the dynamically alterable keys
//             (DYNAMIC_BROKER_KEYS). The empty name (cluster-wide dynamic
//             defaults) lists only the keys set there, with source
//             DYNAMIC_DEFAULT_BROKER_CONFIG. Another id or a non-numeric
//             name: INVALID_REQUEST.
//   other     INVALID_REQUEST (BROKER_LOGGER, CLIENT_METRICS, ... are not
//             supported).
// configurationKeys filters by name (null: all; unknown names are skipped).
// isSensitive is always false (no password-type keys).
// Version notes: v0 has isDefault (true when the source is DEFAULT_CONFIG)
// instead of configSource; v1+ add configSource and, when includeSynonyms is
// set, synonyms in priority order (topic override, then for each broker key
// its dynamic per-broker, dynamic default and static values, then the
// default under the broker key's name); v3+ add configType and, when
// includeDocumentation is set, a one-line documentation.
// Omitted: DYNAMIC_BROKER_LOGGER_CONFIG and other sources, authorization.
import { DescribeConfigsApi, type DescribeConfigsResponseResourceResult, type DescribeConfigsResponseResult } from '../../protocol/generated/index.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import type { Init } from '../../protocol/wire.js';
import { BROKER_KEYS, DYNAMIC_BROKER_KEYS, LayerSource, sourceOf, type BrokerConfig } from '../../config/broker-config.js';
import { topicNameError } from '../../cluster/topic-store.js';
import { ConfigSource, ConfigType, describeTopicConfigs, layerSynonyms, topicConfigInfo, topicConfigSynonyms, type ConfigSynonym } from '../../cluster/topic-configs.js';
import type { BrokerState } from '../broker-state.js';
import { defineHandler } from './types.js';

/** Kafka's ConfigResource.Type ids. */
export const ResourceType = {
  TOPIC: 2,
  BROKER: 4,
  BROKER_LOGGER: 8,
} as const;

const BROKER_KIND_TYPES: Record<string, number> = {
  int: ConfigType.INT,
  long: ConfigType.LONG,
  boolean: ConfigType.BOOLEAN,
  string: ConfigType.STRING,
  enum: ConfigType.STRING,
  list: ConfigType.LIST,
};

/** Broker keys that fall back to others, highest priority first (the key itself first). */
const BROKER_KEY_SYNONYMS: Record<string, readonly string[]> = {
  'node.id': ['node.id', 'broker.id'],
  'log.dirs': ['log.dirs', 'log.dir'],
  'log.roll.ms': ['log.roll.ms', 'log.roll.hours'],
  'log.flush.interval.ms': ['log.flush.interval.ms', 'log.flush.scheduler.interval.ms'],
  'log.retention.ms': ['log.retention.ms', 'log.retention.minutes', 'log.retention.hours'],
  'log.retention.minutes': ['log.retention.minutes', 'log.retention.hours'],
};

function brokerKeySynonyms(key: string, config: BrokerConfig): ConfigSynonym[] {
  const chain = BROKER_KEY_SYNONYMS[key] ?? [key];
  const synonyms: ConfigSynonym[] = [];
  for (const name of chain) synonyms.push(...layerSynonyms(name, config));
  const withDefault = chain.find((name) => BROKER_KEYS[name]?.default !== undefined);
  if (withDefault !== undefined) synonyms.push({ name: withDefault, value: BROKER_KEYS[withDefault]!.default!, source: ConfigSource.DEFAULT_CONFIG });
  return synonyms;
}

interface Entry {
  name: string;
  value: string | null;
  source: number;
  readOnly: boolean;
  type: number;
  doc: string;
  synonyms: () => ConfigSynonym[];
}

function topicEntries(broker: BrokerState, overrides: Record<string, string>): Entry[] {
  return describeTopicConfigs(overrides, broker.config).map((c) => {
    const info = topicConfigInfo(c.name);
    return {
      name: c.name,
      value: c.value,
      source: c.source,
      readOnly: false,
      type: info.type,
      doc: info.doc,
      synonyms: () => topicConfigSynonyms(c.name, overrides, broker.config),
    };
  });
}

/** Keys whose synonyms carry the same value in the same unit: unset, they show the synonym's. */
const SAME_UNIT_SYNONYMS = new Set(['node.id', 'log.dirs']);

/** The cluster-wide dynamic defaults (the BROKER resource named ""): only the keys set there. */
function clusterDefaultEntries(config: BrokerConfig): Entry[] {
  const layer = config.layers.find((l) => l.source === LayerSource.DYNAMIC_DEFAULT_BROKER_CONFIG);
  return [...(layer?.values ?? [])]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => {
      const spec = BROKER_KEYS[name]!;
      return {
        name,
        value,
        source: LayerSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
        readOnly: false,
        type: BROKER_KIND_TYPES[spec.kind] ?? ConfigType.UNKNOWN,
        doc: spec.doc,
        synonyms: () => [{ name, value, source: LayerSource.DYNAMIC_DEFAULT_BROKER_CONFIG }],
      };
    });
}

function brokerEntries(config: BrokerConfig): Entry[] {
  return Object.keys(BROKER_KEYS)
    .sort()
    .map((name) => {
      const spec = BROKER_KEYS[name]!;
      const own = config.values.get(name);
      const inherited = own === undefined && SAME_UNIT_SYNONYMS.has(name) ? brokerKeySynonyms(name, config)[0] : undefined;
      return {
        name,
        value: own ?? inherited?.value ?? null,
        source: config.explicit.has(name) ? sourceOf(config, name) : (inherited?.source ?? ConfigSource.DEFAULT_CONFIG),
        readOnly: !DYNAMIC_BROKER_KEYS.includes(name),
        type: BROKER_KIND_TYPES[spec.kind] ?? ConfigType.UNKNOWN,
        doc: spec.doc,
        synonyms: () => brokerKeySynonyms(name, config),
      };
    });
}

export const describeConfigsHandler = defineHandler({
  api: DescribeConfigsApi,
  minVersion: 0,
  maxVersion: 4,
  handle(request, { broker, version }) {
    const results: Init<DescribeConfigsResponseResult>[] = request.resources.map((resource) => {
      const { resourceType, resourceName } = resource;
      const fail = (errorCode: number, errorMessage: string): Init<DescribeConfigsResponseResult> => ({
        errorCode,
        errorMessage,
        resourceType,
        resourceName,
        configs: [],
      });
      let entries: Entry[];
      if (resourceType === ResourceType.TOPIC) {
        const invalid = topicNameError(resourceName);
        if (invalid) return fail(ErrorCode.INVALID_TOPIC_EXCEPTION, invalid);
        const topic = broker.topics.get(resourceName);
        if (!topic) return fail(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${resourceName}' does not exist.`);
        entries = topicEntries(broker, topic.configs);
      } else if (resourceType === ResourceType.BROKER) {
        if (resourceName === '') {
          entries = clusterDefaultEntries(broker.config);
        } else if (/^\d+$/.test(resourceName) && Number(resourceName) === broker.nodeId) {
          entries = brokerEntries(broker.config);
        } else {
          return fail(ErrorCode.INVALID_REQUEST, `Unexpected broker id, expected ${broker.nodeId} or empty string, but received ${resourceName}`);
        }
      } else {
        return fail(ErrorCode.INVALID_REQUEST, `Unsupported resource type ${resourceType}`);
      }
      const wanted = resource.configurationKeys === null ? null : new Set(resource.configurationKeys);
      const configs = entries
        .filter((e) => wanted === null || wanted.has(e.name))
        .map(
          (e): Init<DescribeConfigsResponseResourceResult> => ({
            name: e.name,
            value: e.value,
            readOnly: e.readOnly,
            // isDefault exists only in v0; configSource, synonyms, configType and documentation are ignorable.
            ...(version === 0 ? { isDefault: e.source === ConfigSource.DEFAULT_CONFIG } : {}),
            configSource: e.source,
            isSensitive: false,
            synonyms: request.includeSynonyms ? e.synonyms() : [],
            configType: e.type,
            documentation: request.includeDocumentation ? e.doc : null,
          }),
        );
      return { errorCode: ErrorCode.NONE, errorMessage: null, resourceType, resourceName, configs };
    });
    return { throttleTimeMs: 0, results };
  },
});

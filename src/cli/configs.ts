// gregor configs: Kafka's kafka-configs.sh for topics and brokers.
//
//   --bootstrap-server host:port (required)
//   --entity-type topics|brokers --entity-name NAME (or --topic T / --broker ID)
//   --describe [--all]              overrides only, or every config with its source
//   --alter --add-config k=v[,k=v] --delete-config k[,k]   (IncrementalAlterConfigs)
import { WireClient } from '../client/wire-client.js';
import { DescribeConfigsApi, IncrementalAlterConfigsApi } from '../protocol/generated/index.js';
import { UsageError, parseArgs, parseConfigPairs } from './args.js';
import { errorName } from './error-names.js';

const RESOURCE_TYPES: Record<string, number> = { topics: 2, brokers: 4 };
const SOURCE_NAMES: Record<number, string> = {
  1: 'DYNAMIC_TOPIC_CONFIG',
  2: 'DYNAMIC_BROKER_CONFIG',
  3: 'DYNAMIC_DEFAULT_BROKER_CONFIG',
  4: 'STATIC_BROKER_CONFIG',
  5: 'DEFAULT_CONFIG',
  6: 'DYNAMIC_BROKER_LOGGER_CONFIG',
};
const SET = 0;
const DELETE = 1;

export async function configsCommand(argv: string[], out: (line: string) => void): Promise<void> {
  const args = parseArgs(argv, ['describe', 'alter', 'all'], [
    'bootstrap-server',
    'entity-type',
    'entity-name',
    'topic',
    'broker',
    'add-config',
    'delete-config',
  ]);
  const entityType = args.has('topic') ? 'topics' : args.has('broker') ? 'brokers' : args.require('entity-type');
  const resourceType = RESOURCE_TYPES[entityType];
  if (resourceType === undefined) throw new UsageError(`--entity-type must be topics or brokers, got ${JSON.stringify(entityType)}`);
  const name = args.get('topic') ?? args.get('broker') ?? args.require('entity-name');
  if (args.has('describe') === args.has('alter')) throw new UsageError('exactly one of --describe and --alter is required');
  const client = await WireClient.connect(args.require('bootstrap-server'));
  try {
    if (args.has('describe')) {
      const version = client.negotiate(DescribeConfigsApi, 2);
      const response = await client.request(DescribeConfigsApi, version, {
        resources: [{ resourceType, resourceName: name, configurationKeys: null }],
        includeSynonyms: false,
      });
      const result = response.results[0]!;
      if (result.errorCode !== 0) throw new Error(`${errorName(result.errorCode)}: ${result.errorMessage ?? name}`);
      const shown = args.has('all') ? result.configs : result.configs.filter((c) => c.configSource === 1 || c.configSource === 2);
      out(`${args.has('all') ? 'All' : 'Dynamic'} configs for ${entityType === 'topics' ? 'topic' : 'broker'} ${name} are:`);
      for (const c of shown) {
        out(`  ${c.name}=${c.isSensitive ? 'null' : (c.value ?? 'null')} ${args.has('all') ? `source=${SOURCE_NAMES[c.configSource] ?? c.configSource}` : ''}`.trimEnd());
      }
      return;
    }
    const add = parseConfigPairs(args.all('add-config'));
    const remove = args.all('delete-config').flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
    if (Object.keys(add).length === 0 && remove.length === 0) throw new UsageError('--alter needs --add-config or --delete-config');
    const response = await client.request(IncrementalAlterConfigsApi, client.negotiate(IncrementalAlterConfigsApi, 1), {
      resources: [
        {
          resourceType,
          resourceName: name,
          configs: [
            ...Object.entries(add).map(([key, value]) => ({ name: key, configOperation: SET, value })),
            ...remove.map((key) => ({ name: key, configOperation: DELETE, value: null })),
          ],
        },
      ],
      validateOnly: false,
    });
    const result = response.responses[0]!;
    if (result.errorCode !== 0) throw new Error(`${errorName(result.errorCode)}: ${result.errorMessage ?? 'configs not changed'}`);
    out(`Completed updating config for ${entityType === 'topics' ? 'topic' : 'broker'} ${name}.`);
  } finally {
    client.close();
  }
}

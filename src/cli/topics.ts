// gregor topics: Kafka's kafka-topics.sh for a Gregor (or any Kafka) broker.
//
//   --bootstrap-server host:port (required)
//   --create --topic T [--partitions N] [--replication-factor R] [--config k=v ...] [--if-not-exists]
//   --list
//   --describe [--topic T]
//   --alter --topic T --partitions N
//   --delete --topic T [--if-exists]
import { WireClient } from '../client/wire-client.js';
import { CreatePartitionsApi, CreateTopicsApi, DeleteTopicsApi, DescribeConfigsApi, MetadataApi } from '../protocol/generated/index.js';
import { UsageError, parseArgs, parseConfigPairs } from './args.js';
import { errorName } from './error-names.js';

const TOPIC_CONFIG_SOURCE = 1;

export async function topicsCommand(argv: string[], out: (line: string) => void): Promise<void> {
  const args = parseArgs(argv, ['create', 'list', 'describe', 'alter', 'delete', 'if-not-exists', 'if-exists'], [
    'bootstrap-server',
    'topic',
    'partitions',
    'replication-factor',
    'config',
  ]);
  const actions = ['create', 'list', 'describe', 'alter', 'delete'].filter((a) => args.has(a));
  if (actions.length !== 1) throw new UsageError('exactly one of --create, --list, --describe, --alter, --delete is required');
  const client = await WireClient.connect(args.require('bootstrap-server'));
  try {
    switch (actions[0]) {
      case 'create': {
        const topic = args.require('topic');
        const version = client.negotiate(CreateTopicsApi, 5);
        const configs = parseConfigPairs(args.all('config'));
        const response = await client.request(CreateTopicsApi, version, {
          topics: [
            {
              name: topic,
              numPartitions: args.has('partitions') ? integer(args.get('partitions')!, '--partitions') : -1,
              replicationFactor: args.has('replication-factor') ? integer(args.get('replication-factor')!, '--replication-factor') : -1,
              assignments: [],
              configs: Object.entries(configs).map(([name, value]) => ({ name, value })),
            },
          ],
          timeoutMs: 30_000,
        });
        const result = response.topics[0]!;
        if (result.errorCode === 36 && args.has('if-not-exists')) return;
        if (result.errorCode !== 0) throw new Error(`${errorName(result.errorCode)}: ${result.errorMessage ?? 'topic not created'}`);
        out(`Created topic ${topic}.`);
        return;
      }
      case 'list': {
        const metadata = await client.request(MetadataApi, client.negotiate(MetadataApi, 9), { topics: null });
        for (const t of [...metadata.topics].sort((a, b) => ((a.name ?? '') < (b.name ?? '') ? -1 : 1))) out(t.name ?? '');
        return;
      }
      case 'describe': {
        const topic = args.get('topic');
        const metadata = await client.request(MetadataApi, client.negotiate(MetadataApi, 10), {
          topics: topic ? [{ name: topic }] : null,
          allowAutoTopicCreation: false,
        });
        for (const t of metadata.topics) {
          if (t.errorCode !== 0) throw new Error(`${errorName(t.errorCode)}: topic ${t.name ?? t.topicId}`);
          let overrides = '';
          if (client.brokerVersions.has(DescribeConfigsApi.apiKey)) {
            const described = await client.request(DescribeConfigsApi, client.negotiate(DescribeConfigsApi, 2), {
              resources: [{ resourceType: 2, resourceName: t.name!, configurationKeys: null }],
            });
            overrides = (described.results[0]?.configs ?? [])
              .filter((c) => c.configSource === TOPIC_CONFIG_SOURCE)
              .map((c) => `${c.name}=${c.value}`)
              .join(',');
          }
          const rf = t.partitions[0]?.replicaNodes.length ?? 0;
          out(`Topic: ${t.name}\tTopicId: ${t.topicId}\tPartitionCount: ${t.partitions.length}\tReplicationFactor: ${rf}\tConfigs: ${overrides}`);
          for (const p of [...t.partitions].sort((a, b) => a.partitionIndex - b.partitionIndex)) {
            out(`\tTopic: ${t.name}\tPartition: ${p.partitionIndex}\tLeader: ${p.leaderId}\tReplicas: ${p.replicaNodes.join(',')}\tIsr: ${p.isrNodes.join(',')}`);
          }
        }
        return;
      }
      case 'alter': {
        const topic = args.require('topic');
        const count = integer(args.require('partitions'), '--partitions');
        const response = await client.request(CreatePartitionsApi, client.negotiate(CreatePartitionsApi, 1), {
          topics: [{ name: topic, count, assignments: null }],
          timeoutMs: 30_000,
          validateOnly: false,
        });
        const result = response.results[0]!;
        if (result.errorCode !== 0) throw new Error(`${errorName(result.errorCode)}: ${result.errorMessage ?? 'partitions not added'}`);
        out(`Topic ${topic} now has ${count} partitions.`);
        return;
      }
      case 'delete': {
        const topic = args.require('topic');
        const response = await client.request(DeleteTopicsApi, client.negotiate(DeleteTopicsApi, 4), { topicNames: [topic], timeoutMs: 30_000 });
        const result = response.responses[0]!;
        if (result.errorCode === 3 && args.has('if-exists')) return;
        if (result.errorCode !== 0) throw new Error(`${errorName(result.errorCode)}: topic ${topic} not deleted`);
        out(`Deleted topic ${topic}.`);
        return;
      }
    }
  } finally {
    client.close();
  }
}

function integer(value: string, flag: string): number {
  if (!/^-?\d+$/.test(value)) throw new UsageError(`${flag} must be an integer, got ${JSON.stringify(value)}`);
  return Number(value);
}

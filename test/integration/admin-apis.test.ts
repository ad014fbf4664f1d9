// The admin APIs (CreatePartitions, DescribeConfigs, AlterConfigs,
// IncrementalAlterConfigs, DescribeCluster, DescribeLogDirs, DeleteRecords)
// driven by real clients — kafkajs, confluent-kafka-python (librdkafka),
// kafka-python and kcat — and, for the APIs or versions none of them sends,
// by a raw client over the generated codecs. One broker serves the file; the
// last test restarts it on the same directory.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConfigResourceTypes, Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startBroker, type RunningBroker } from '../../src/index.js';
import { WireClient } from '../../src/client/wire-client.js';
import { TOPIC_CONFIG_KEYS } from '../../src/cluster/topic-configs.js';
import {
  AlterConfigsApi,
  ApiVersionsApi,
  DeleteRecordsApi,
  DescribeClusterApi,
  DescribeConfigsApi,
  DescribeLogDirsApi,
  IncrementalAlterConfigsApi,
  CreatePartitionsApi,
  CreateTopicsApi,
  DeleteTopicsApi,
  MetadataApi,
} from '../../src/protocol/generated/index.js';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import type { ApiSpec } from '../../src/protocol/schema.js';
import { type Init } from '../../src/protocol/wire.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const TOPIC = 2;
const BROKER = 4;
const TOPIC_CONFIG = 1;
const STATIC_BROKER_CONFIG = 4;
const DYNAMIC_BROKER_CONFIG = 2;
const DYNAMIC_DEFAULT_BROKER_CONFIG = 3;
const DEFAULT_CONFIG = 5;
const INVALID_CONFIG = 40;
const INVALID_REQUEST = 42;

/** One request on a fresh connection, through Gregor's own wire client. */
async function requestOnce<Req, Res>(bootstrap: string, api: ApiSpec<Req, Res>, version: number, body: Init<Req>): Promise<Res> {
  const client = await WireClient.connect(bootstrap, 'admin-apis-test');
  try {
    return await client.request(api, version, body);
  } finally {
    client.close();
  }
}

describe('admin APIs against one broker', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gregor-admin-'));
  const overrides = {
    'log.dirs': dir,
    'listeners': 'PLAINTEXT://127.0.0.1:0',
    'num.io.threads': 2,
    'num.network.threads': 2,
  };
  let broker: RunningBroker;

  beforeAll(async () => {
    broker = await startBroker({ overrides });
  });
  afterAll(async () => {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const raw = <Req, Res>(api: ApiSpec<Req, Res>, version: number, body: Init<Req>) => requestOnce(broker.bootstrapServers, api, version, body);

  async function withAdmin<T>(fn: (admin: Admin, kafka: Kafka) => Promise<T>): Promise<T> {
    const kafka = new Kafka({ clientId: 'admin-apis-test', brokers: [broker.bootstrapServers], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
    const admin = kafka.admin();
    await admin.connect();
    try {
      return await fn(admin, kafka);
    } finally {
      await admin.disconnect();
    }
  }

  /** The Kafka error name a kafkajs call failed with. */
  async function kafkajsError(promise: Promise<unknown>): Promise<string | undefined> {
    try {
      await promise;
    } catch (error) {
      type Failure = { type?: string; name?: string; partitions?: { error: { type?: string } }[]; cause?: Failure };
      // The retrier wraps what the broker said in a KafkaJSNonRetriableError (cause).
      let e = error as Failure;
      while (e.type === undefined && e.partitions === undefined && e.cause !== undefined && e.cause !== e) e = e.cause;
      return e.type ?? e.partitions?.[0]?.error.type ?? e.name;
    }
    return 'no error';
  }

  async function produce(kafka: Kafka, topic: string, count: number, valueBytes: number, partition = 0): Promise<void> {
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    try {
      for (let i = 0; i < count; i++) {
        await producer.send({ topic, acks: 1, messages: [{ partition, key: `k${i}`, value: 'v'.repeat(valueBytes) }] });
      }
    } finally {
      await producer.disconnect();
    }
  }

  async function python(script: string, ...args: string[]): Promise<any> {
    const { stdout } = await run(PYTHON, ['-c', script, broker.bootstrapServers, ...args], { timeout: 60_000 });
    return JSON.parse(stdout);
  }

  const segmentFiles = (topic: string, partition = 0) => readdirSync(join(dir, `${topic}-${partition}`)).filter((f) => f.endsWith('.log'));
  const segmentBytes = (topic: string, partition = 0) => segmentFiles(topic, partition).reduce((sum, f) => sum + statSync(join(dir, `${topic}-${partition}`, f)).size, 0);

  async function describeTopic(topic: string, names?: string[]) {
    const response = await raw(DescribeConfigsApi, 4, {
      resources: [{ resourceType: TOPIC, resourceName: topic, configurationKeys: names ?? null }],
      includeSynonyms: true,
    });
    const result = response.results[0]!;
    expect(result.errorCode).toBe(0);
    return new Map(result.configs.map((c) => [c.name, c]));
  }

  it('ApiVersions advertises every admin API with the range its handler implements', async () => {
    // The ranges are derived from the handlers; this pins them.
    const response = await raw(ApiVersionsApi, 3, { clientSoftwareName: 'admin-apis-test', clientSoftwareVersion: '1' });
    const ranges = new Map(response.apiKeys.map((a) => [a.apiKey, [a.minVersion, a.maxVersion]]));
    expect(ranges.get(21)).toEqual([0, 2]); // DeleteRecords
    expect(ranges.get(32)).toEqual([0, 4]); // DescribeConfigs
    expect(ranges.get(33)).toEqual([0, 2]); // AlterConfigs
    expect(ranges.get(35)).toEqual([0, 4]); // DescribeLogDirs
    expect(ranges.get(37)).toEqual([0, 3]); // CreatePartitions
    expect(ranges.get(44)).toEqual([0, 1]); // IncrementalAlterConfigs
    expect(ranges.get(60)).toEqual([0, 1]); // DescribeCluster
  });

  it('kafkajs createPartitions grows a topic, refuses decreases, unknown topics and foreign replicas, and kcat produces to the new partition', async () => {
    // Partition growth is real: metadata, the log directory and produce/consume on the new partition all see it.
    await withAdmin(async (admin) => {
      await admin.createTopics({ topics: [{ topic: 'grow', numPartitions: 1 }] });
      const partitionCount = async () => (await admin.fetchTopicMetadata({ topics: ['grow'] })).topics[0]!.partitions.length;

      await admin.createPartitions({ validateOnly: true, topicPartitions: [{ topic: 'grow', count: 3 }] });
      expect(await partitionCount()).toBe(1);
      await admin.createPartitions({ topicPartitions: [{ topic: 'grow', count: 3 }] });
      expect(await partitionCount()).toBe(3);

      expect(await kafkajsError(admin.createPartitions({ topicPartitions: [{ topic: 'grow', count: 2 }] }))).toBe('INVALID_PARTITIONS');
      expect(await kafkajsError(admin.createPartitions({ topicPartitions: [{ topic: 'grow', count: 3 }] }))).toBe('INVALID_PARTITIONS');
      expect(await kafkajsError(admin.createPartitions({ topicPartitions: [{ topic: 'no-such-topic', count: 3 }] }))).toBe('UNKNOWN_TOPIC_OR_PARTITION');
      expect(await kafkajsError(admin.createPartitions({ topicPartitions: [{ topic: 'grow', count: 4, assignments: [[1]] }] }))).toBe('INVALID_REPLICA_ASSIGNMENT');
      expect(await kafkajsError(admin.createPartitions({ topicPartitions: [{ topic: 'grow', count: 5, assignments: [[0]] }] }))).toBe('INVALID_REPLICA_ASSIGNMENT');
      expect(await partitionCount()).toBe(3);
      await admin.createPartitions({ topicPartitions: [{ topic: 'grow', count: 4, assignments: [[0]] }] });
      expect(await partitionCount()).toBe(4);
    });

    // The flexible versions answer the same way.
    const v3 = await raw(CreatePartitionsApi, 3, { topics: [{ name: 'grow', count: 1, assignments: null }], timeoutMs: 1000, validateOnly: false });
    expect(v3.results).toEqual([{ name: 'grow', errorCode: 37, errorMessage: 'Topic currently has 4 partitions, which is higher than the requested 1.' }]);

    const { stdout: metadata } = await run('kcat', ['-b', broker.bootstrapServers, '-L', '-t', 'grow', '-J'], { timeout: 30_000 });
    const topic = (JSON.parse(metadata) as { topics: { topic: string; partitions: { partition: number; leader: number }[] }[] }).topics[0]!;
    expect(topic.partitions.map((p) => [p.partition, p.leader])).toEqual([[0, 0], [1, 0], [2, 0], [3, 0]]);

    const producer = spawn('kcat', ['-b', broker.bootstrapServers, '-P', '-t', 'grow', '-p', '3', '-K:', '-X', 'acks=all'], { stdio: ['pipe', 'ignore', 'pipe'] });
    producer.stdin.end('a:first on 3\nb:second on 3\n');
    expect(await new Promise((r) => producer.on('exit', r))).toBe(0);
    const { stdout } = await run('kcat', ['-b', broker.bootstrapServers, '-C', '-t', 'grow', '-p', '3', '-o', 'beginning', '-e', '-J', '-q'], { timeout: 30_000 });
    const messages = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { partition: number; offset: number; key: string; payload: string });
    expect(messages.map((m) => [m.partition, m.offset, m.key, m.payload])).toEqual([
      [3, 0, 'a', 'first on 3'],
      [3, 1, 'b', 'second on 3'],
    ]);
    expect(segmentFiles('grow', 3)).toHaveLength(1);
  });

  it('kafkajs describeConfigs reports every topic key with value and source, filters by name, lists synonyms and describes this broker', async () => {
    // DescribeConfigs v2 (kafkajs) for topics and the broker; unknown topics are named as such.
    await withAdmin(async (admin) => {
      await admin.createTopics({ topics: [{ topic: 'describe-me', configEntries: [{ name: 'retention.ms', value: '1000' }] }] });
      const all = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: 'describe-me' }] });
      const entries = new Map(all.resources[0]!.configEntries.map((e) => [e.configName, e]));
      expect([...entries.keys()].sort()).toEqual([...TOPIC_CONFIG_KEYS].sort());
      expect(entries.get('retention.ms')).toMatchObject({ configValue: '1000', configSource: TOPIC_CONFIG, readOnly: false, isSensitive: false, isDefault: false });
      expect(entries.get('segment.bytes')).toMatchObject({ configValue: '1073741824', configSource: DEFAULT_CONFIG });
      expect(entries.get('flush.messages')).toMatchObject({ configValue: '9223372036854775807', configSource: DEFAULT_CONFIG });
      expect(entries.get('cleanup.policy')).toMatchObject({ configValue: 'delete', configSource: DEFAULT_CONFIG });

      const filtered = await admin.describeConfigs({
        includeSynonyms: true,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: 'describe-me', configNames: ['retention.ms', 'segment.ms'] }],
      });
      const byName = new Map(filtered.resources[0]!.configEntries.map((e) => [e.configName, e]));
      expect([...byName.keys()].sort()).toEqual(['retention.ms', 'segment.ms']);
      expect(byName.get('retention.ms')!.configSynonyms).toEqual([
        { configName: 'retention.ms', configValue: '1000', configSource: TOPIC_CONFIG },
        { configName: 'log.retention.hours', configValue: '168', configSource: DEFAULT_CONFIG },
      ]);
      expect(byName.get('segment.ms')).toMatchObject({ configValue: '604800000', configSource: DEFAULT_CONFIG });

      const brokerConfigs = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.BROKER, name: '0' }] });
      const brokerEntries = new Map(brokerConfigs.resources[0]!.configEntries.map((e) => [e.configName, e]));
      expect(brokerEntries.get('log.dirs')).toMatchObject({ configValue: dir, configSource: STATIC_BROKER_CONFIG, readOnly: true });
      expect(brokerEntries.get('num.partitions')).toMatchObject({ configValue: '1', configSource: DEFAULT_CONFIG, readOnly: true });
      expect(brokerEntries.get('node.id')).toMatchObject({ configValue: '0', configSource: DEFAULT_CONFIG });

      expect(await kafkajsError(admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: 'no-such-topic' }] }))).toBe('UNKNOWN_TOPIC_OR_PARTITION');
    });

    // v0 has isDefault instead of a source; v3+ carry types and, on request, documentation.
    const v0 = await raw(DescribeConfigsApi, 0, { resources: [{ resourceType: TOPIC, resourceName: 'describe-me', configurationKeys: ['retention.ms', 'segment.bytes'] }] });
    expect(v0.results[0]!.configs.map((c) => [c.name, c.value, c.isDefault])).toEqual([
      ['retention.ms', '1000', false],
      ['segment.bytes', '1073741824', true],
    ]);
    const v3 = await raw(DescribeConfigsApi, 3, {
      resources: [{ resourceType: TOPIC, resourceName: 'describe-me', configurationKeys: ['segment.bytes', 'cleanup.policy'] }],
      includeDocumentation: true,
    });
    const types = new Map(v3.results[0]!.configs.map((c) => [c.name, [c.configType, c.documentation]]));
    expect(types.get('segment.bytes')).toEqual([3, expect.stringContaining('segment')]); // INT
    expect(types.get('cleanup.policy')).toEqual([7, expect.stringContaining('compact')]); // LIST

    // Broker resources: this node, "" (no dynamic defaults), anything else refused.
    const brokers = await raw(DescribeConfigsApi, 4, {
      resources: [
        { resourceType: BROKER, resourceName: '', configurationKeys: null },
        { resourceType: BROKER, resourceName: '7', configurationKeys: null },
        { resourceType: 8, resourceName: '0', configurationKeys: null },
        { resourceType: BROKER, resourceName: '0', configurationKeys: ['log.roll.ms'] },
      ],
      includeSynonyms: true,
    });
    expect(brokers.results.map((r) => [r.errorCode, r.configs.length])).toEqual([
      [0, 0],
      [INVALID_REQUEST, 0],
      [INVALID_REQUEST, 0],
      [0, 1],
    ]);
    expect(brokers.results[1]!.errorMessage).toContain('Unexpected broker id');
    expect(brokers.results[3]!.configs[0]).toMatchObject({ name: 'log.roll.ms', value: null, configSource: DEFAULT_CONFIG, readOnly: false }); // dynamically alterable
    expect(brokers.results[3]!.configs[0]!.synonyms).toEqual([{ name: 'log.roll.hours', value: '168', source: DEFAULT_CONFIG }]);
  });

  it('kafkajs alterConfigs replaces the whole override set, validate_only changes nothing, and bad values are INVALID_CONFIG naming the key', async () => {
    // Kafka's legacy AlterConfigs semantics: keys left out of the request lose their override.
    await withAdmin(async (admin) => {
      await admin.createTopics({ topics: [{ topic: 'alter-me' }] });
      const alter = (configEntries: { name: string; value: string }[], validateOnly = false) =>
        admin.alterConfigs({ validateOnly, resources: [{ type: ConfigResourceTypes.TOPIC, name: 'alter-me', configEntries }] });

      await alter([
        { name: 'retention.ms', value: '3600000' },
        { name: 'cleanup.policy', value: 'compact' },
      ]);
      let configs = await describeTopic('alter-me');
      expect(configs.get('retention.ms')).toMatchObject({ value: '3600000', configSource: TOPIC_CONFIG });
      expect(configs.get('cleanup.policy')).toMatchObject({ value: 'compact', configSource: TOPIC_CONFIG });

      await alter([{ name: 'segment.bytes', value: '2048' }], true);
      configs = await describeTopic('alter-me');
      expect(configs.get('segment.bytes')).toMatchObject({ value: '1073741824', configSource: DEFAULT_CONFIG });
      expect(configs.get('retention.ms')).toMatchObject({ value: '3600000', configSource: TOPIC_CONFIG });

      await alter([{ name: 'segment.bytes', value: '2048' }]);
      configs = await describeTopic('alter-me');
      expect(configs.get('segment.bytes')).toMatchObject({ value: '2048', configSource: TOPIC_CONFIG });
      expect(configs.get('retention.ms')).toMatchObject({ value: '604800000', configSource: DEFAULT_CONFIG });
      expect(configs.get('cleanup.policy')).toMatchObject({ value: 'delete', configSource: DEFAULT_CONFIG });

      expect(await kafkajsError(alter([{ name: 'segment.bytes', value: 'lots' }]))).toBe('INVALID_CONFIG');
    });

    // The error messages (kafkajs drops them; the raw answer keeps them), in the flexible v2.
    const refused = await raw(AlterConfigsApi, 2, {
      resources: [
        { resourceType: TOPIC, resourceName: 'alter-me', configs: [{ name: 'segment.bytes', value: 'lots' }] },
        { resourceType: TOPIC, resourceName: 'alter-me', configs: [{ name: 'segment.bytes', value: '10' }] },
        { resourceType: TOPIC, resourceName: 'alter-me', configs: [{ name: 'no.such.key', value: '1' }] },
        { resourceType: TOPIC, resourceName: 'no-such-topic', configs: [] },
        { resourceType: BROKER, resourceName: '0', configs: [{ name: 'num.partitions', value: '3' }] },
      ],
      validateOnly: false,
    });
    expect(refused.responses.map((r) => [r.resourceName, r.errorCode])).toEqual([
      ['alter-me', INVALID_REQUEST],
      ['alter-me', INVALID_REQUEST],
      ['alter-me', INVALID_REQUEST],
      ['no-such-topic', 3],
      ['0', INVALID_REQUEST],
    ]);
    expect(refused.responses[0]!.errorMessage).toContain('Duplicate resource');
    expect(refused.responses[4]!.errorMessage).toBe('Cannot update these configs dynamically: Set(num.partitions)');
    for (const [value, why] of [
      ['lots', 'segment.bytes'],
      ['10', 'segment.bytes'],
    ] as const) {
      const one = await raw(AlterConfigsApi, 1, { resources: [{ resourceType: TOPIC, resourceName: 'alter-me', configs: [{ name: 'segment.bytes', value }] }], validateOnly: false });
      expect(one.responses[0]).toMatchObject({ errorCode: INVALID_CONFIG, errorMessage: expect.stringContaining(why) });
    }
    const unknown = await raw(AlterConfigsApi, 0, { resources: [{ resourceType: TOPIC, resourceName: 'alter-me', configs: [{ name: 'no.such.key', value: '1' }] }], validateOnly: false });
    expect(unknown.responses[0]).toMatchObject({ errorCode: INVALID_CONFIG, errorMessage: expect.stringContaining('no.such.key') });
    // Nothing refused was applied.
    expect((await describeTopic('alter-me')).get('segment.bytes')).toMatchObject({ value: '2048', configSource: TOPIC_CONFIG });
  });

  it('confluent-kafka-python (librdkafka) creates partitions and alters and describes configs, with errors named and explained', async () => {
    // librdkafka sends CreatePartitions v0, AlterConfigs v0 and DescribeConfigs v1.
    const script = `
import json, sys
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic, NewPartitions, ConfigResource
bootstrap, T = sys.argv[1], sys.argv[2]
a = AdminClient({'bootstrap.servers': bootstrap})
a.create_topics([NewTopic(T, num_partitions=1, replication_factor=1)])[T].result(10)
out = {}
def error(f):
    try:
        f.result(10)
        return None
    except KafkaException as e:
        return [e.args[0].name(), e.args[0].str()]
out['grow'] = error(a.create_partitions([NewPartitions(T, 4)])[T])
out['shrink'] = error(a.create_partitions([NewPartitions(T, 2)])[T])
res = ConfigResource('topic', T, set_config={'retention.ms': '3600000', 'max.message.bytes': '2000000'})
out['alter'] = error(a.alter_configs([res])[res])
bad = ConfigResource('topic', T, set_config={'message.timestamp.type': 'Sometime'})
out['bad'] = error(a.alter_configs([bad])[bad])
r = ConfigResource('topic', T)
configs = a.describe_configs([r])[r].result(10)
out['configs'] = {k: [v.value, int(v.source), v.is_read_only] for k, v in configs.items()}
b = ConfigResource('broker', '0')
out['broker'] = {k: [v.value, int(v.source), v.is_read_only] for k, v in a.describe_configs([b])[b].result(10).items()}
md = a.list_topics(T, timeout=10)
out['partitions'] = len(md.topics[T].partitions)
print(json.dumps(out))
`;
    const out = await python(script, 'ck-admin');
    expect(out.grow).toBeNull();
    expect(out.shrink).toEqual(['INVALID_PARTITIONS', 'Topic currently has 4 partitions, which is higher than the requested 2.']);
    expect(out.alter).toBeNull();
    expect(out.bad[0]).toBe('INVALID_CONFIG');
    expect(out.bad[1]).toContain('message.timestamp.type');
    expect(out.partitions).toBe(4);
    expect(out.configs['retention.ms']).toEqual(['3600000', TOPIC_CONFIG, false]);
    expect(out.configs['max.message.bytes']).toEqual(['2000000', TOPIC_CONFIG, false]);
    expect(out.configs['message.timestamp.type']).toEqual(['CreateTime', DEFAULT_CONFIG, false]);
    expect(Object.keys(out.configs).sort()).toEqual([...TOPIC_CONFIG_KEYS].sort());
    expect(out.broker['num.io.threads']).toEqual(['2', STATIC_BROKER_CONFIG, true]);
    expect(out.broker['log.segment.bytes']).toEqual(['1073741824', DEFAULT_CONFIG, false]); // dynamically alterable
  });

  it('kafka-python admin creates partitions and alters and describes configs', async () => {
    // kafka-python negotiates CreatePartitions v1, AlterConfigs v1 and DescribeConfigs v2.
    const script = `
import json, sys
from kafka.admin import KafkaAdminClient, NewTopic, NewPartitions, ConfigResource, ConfigResourceType
bootstrap, T = sys.argv[1], sys.argv[2]
a = KafkaAdminClient(bootstrap_servers=bootstrap)
a.create_topics([NewTopic(T, 1, 1)])
out = {}
r = a.create_partitions({T: NewPartitions(total_count=3)})
out['grow'] = [r.API_VERSION, [list(e) for e in r.topic_errors]]
r = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, T, configs={'segment.bytes': '2048'})])
out['alter'] = [r.API_VERSION, [list(x) for x in r.resources]]
rs = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, T, configs={'segment.bytes': None, 'retention.ms': None})], include_synonyms=True)
out['describe'] = [rs[0].API_VERSION, [[list(x[:4]), sorted([list(e[:5]) for e in x[4]])] for resp in rs for x in resp.resources]]
a.close()
print(json.dumps(out))
`;
    const out = await python(script, 'kp-admin');
    expect(out.grow).toEqual([1, [['kp-admin', 0, null]]]);
    expect(out.alter).toEqual([1, [[0, null, TOPIC, 'kp-admin']]]);
    expect(out.describe).toEqual([
      2,
      [
        [
          [0, null, TOPIC, 'kp-admin'],
          [
            ['retention.ms', '604800000', false, DEFAULT_CONFIG, false],
            ['segment.bytes', '2048', false, TOPIC_CONFIG, false],
          ],
        ],
      ],
    ]);
  });

  it('IncrementalAlterConfigs sets, deletes, appends and subtracts key by key, and refuses APPEND on a non-list key', async () => {
    // No client we test sends key 44, so the raw client drives v0 and the flexible v1.
    await withAdmin((admin) => admin.createTopics({ topics: [{ topic: 'incr', configEntries: [{ name: 'retention.ms', value: '5000' }] }] }));
    const incr = (version: number, configs: { name: string; configOperation: number; value: string | null }[], validateOnly = false, resourceType = TOPIC, resourceName = 'incr') =>
      raw(IncrementalAlterConfigsApi, version, { resources: [{ resourceType, resourceName, configs }], validateOnly }).then((r) => r.responses[0]!);

    expect(await incr(1, [{ name: 'segment.bytes', configOperation: 0, value: '4096' }, { name: 'cleanup.policy', configOperation: 2, value: 'compact' }])).toMatchObject({ errorCode: 0 });
    let configs = await describeTopic('incr');
    expect(configs.get('segment.bytes')).toMatchObject({ value: '4096', configSource: TOPIC_CONFIG });
    expect(configs.get('cleanup.policy')).toMatchObject({ value: 'delete,compact', configSource: TOPIC_CONFIG });
    expect(configs.get('retention.ms')).toMatchObject({ value: '5000', configSource: TOPIC_CONFIG }); // untouched, not replaced

    expect(await incr(0, [{ name: 'cleanup.policy', configOperation: 3, value: 'delete' }, { name: 'retention.ms', configOperation: 1, value: null }])).toMatchObject({ errorCode: 0 });
    configs = await describeTopic('incr');
    expect(configs.get('cleanup.policy')).toMatchObject({ value: 'compact', configSource: TOPIC_CONFIG });
    expect(configs.get('retention.ms')).toMatchObject({ value: '604800000', configSource: DEFAULT_CONFIG });

    expect(await incr(1, [{ name: 'segment.bytes', configOperation: 2, value: '1' }])).toMatchObject({ errorCode: INVALID_CONFIG, errorMessage: expect.stringContaining('segment.bytes') });
    expect(await incr(1, [{ name: 'segment.bytes', configOperation: 0, value: 'x' }])).toMatchObject({ errorCode: INVALID_CONFIG, errorMessage: expect.stringContaining('segment.bytes') });
    expect(await incr(1, [{ name: 'no.such.key', configOperation: 1, value: null }])).toMatchObject({ errorCode: INVALID_CONFIG, errorMessage: expect.stringContaining('no.such.key') });
    expect(await incr(1, [{ name: 'segment.bytes', configOperation: 9, value: '1' }])).toMatchObject({ errorCode: INVALID_REQUEST });
    expect(await incr(1, [{ name: 'segment.bytes', configOperation: 0, value: '8192' }], true)).toMatchObject({ errorCode: 0 });
    expect(await incr(1, [{ name: 'num.partitions', configOperation: 0, value: '2' }], false, BROKER, '0')).toMatchObject({
      errorCode: INVALID_REQUEST,
      errorMessage: 'Cannot update these configs dynamically: Set(num.partitions)',
    });
    expect(await incr(1, [], false, TOPIC, 'no-such-topic')).toMatchObject({ errorCode: 3 });
    // Neither the refused nor the validate-only changes were applied.
    configs = await describeTopic('incr');
    expect(configs.get('segment.bytes')).toMatchObject({ value: '4096', configSource: TOPIC_CONFIG });
    expect(configs.get('cleanup.policy')).toMatchObject({ value: 'compact', configSource: TOPIC_CONFIG });
  });

  it('a segment.bytes change takes effect at once: appends roll small segments, DescribeLogDirs counts their bytes, and removing the override stops the rolling', async () => {
    // Engine keys reach every open partition log through Log.setConfig before AlterConfigs answers.
    await withAdmin(async (admin, kafka) => {
      await admin.createTopics({ topics: [{ topic: 'roll' }] });
      await produce(kafka, 'roll', 5, 200);
      expect(segmentFiles('roll')).toHaveLength(1);

      await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: 'roll', configEntries: [{ name: 'segment.bytes', value: '1024' }] }] });
      await produce(kafka, 'roll', 30, 200);
      const rolled = segmentFiles('roll').length;
      expect(rolled).toBeGreaterThanOrEqual(5);

      const dirs = await raw(DescribeLogDirsApi, 4, { topics: [{ topic: 'roll', partitions: [0] }] });
      expect(dirs.errorCode).toBe(0);
      expect(dirs.results).toHaveLength(1);
      const result = dirs.results[0]!;
      expect(result.logDir).toBe(dir);
      expect(result.topics).toEqual([{ name: 'roll', partitions: [{ partitionIndex: 0, partitionSize: BigInt(segmentBytes('roll')), offsetLag: 0n, isFutureKey: false }] }]);
      expect(result.totalBytes).toBeGreaterThan(0n);
      expect(result.usableBytes).toBeGreaterThan(0n);
      expect(result.usableBytes).toBeLessThanOrEqual(result.totalBytes);

      // AlterConfigs without the key drops the override: back to 1 GiB segments.
      await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: 'roll', configEntries: [] }] });
      await produce(kafka, 'roll', 20, 200);
      expect(segmentFiles('roll')).toHaveLength(rolled);
    });
  });

  it('DescribeLogDirs lists every partition for a null topic list and only the requested existing ones otherwise, in every version', async () => {
    // Missing topics and partitions are left out, as Kafka does; sizes are in every version, disk totals from v4.
    for (let version = 0; version <= 4; version++) {
      const all = await raw(DescribeLogDirsApi, version, { topics: null });
      const topics = new Map(all.results[0]!.topics.map((t) => [t.name, t.partitions.map((p) => p.partitionIndex)]));
      expect(topics.get('grow')).toEqual([0, 1, 2, 3]);
      expect(topics.get('roll')).toEqual([0]);
      const some = await raw(DescribeLogDirsApi, version, {
        topics: [
          { topic: 'grow', partitions: [3, 99] },
          { topic: 'no-such-topic', partitions: [0] },
        ],
      });
      expect(some.results[0]!.topics.map((t) => [t.name, t.partitions.map((p) => [p.partitionIndex, p.partitionSize > 0n])])).toEqual([['grow', [[3, true]]]]);
      expect(some.results[0]!.totalBytes > 0n).toBe(version >= 4);
    }
  });

  it('DescribeCluster names this broker as the only broker and the controller, with the cluster id kafkajs sees', async () => {
    // kafkajs' describeCluster reads Metadata; DescribeCluster v0-1 must agree with it.
    const viaMetadata = await withAdmin((admin) => admin.describeCluster());
    for (const version of [0, 1]) {
      const response = await raw(DescribeClusterApi, version, { includeClusterAuthorizedOperations: false });
      expect(response).toMatchObject({
        errorCode: 0,
        clusterId: viaMetadata.clusterId,
        controllerId: 0,
        brokers: [{ brokerId: 0, host: broker.host, port: broker.port, rack: null }],
        endpointType: 1,
      });
    }
    expect(viaMetadata.controller).toBe(0);
    const controllers = await raw(DescribeClusterApi, 1, { includeClusterAuthorizedOperations: false, endpointType: 2 });
    expect(controllers.errorCode).toBe(114); // MISMATCHED_ENDPOINT_TYPE
  });

  it('kafkajs deleteTopicRecords moves the low watermark and drops whole segments; -1 means the high watermark; offsets past the end are OFFSET_OUT_OF_RANGE', async () => {
    // DeleteRecords v1 (kafkajs) and v2 (raw), checked with ListOffsets earliest (fetchTopicOffsets 'low') and kcat.
    await withAdmin(async (admin, kafka) => {
      await admin.createTopics({ topics: [{ topic: 'trim', configEntries: [{ name: 'segment.bytes', value: '1024' }] }] });
      await produce(kafka, 'trim', 20, 200);
      const segmentsBefore = segmentFiles('trim').length;
      expect(segmentsBefore).toBeGreaterThan(3);
      // kafkajs looks the leader up in its cached metadata, which does not know the new topic yet.
      await admin.fetchTopicMetadata({ topics: ['trim'] });

      await admin.deleteTopicRecords({ topic: 'trim', partitions: [{ partition: 0, offset: '12' }] });
      expect(await admin.fetchTopicOffsets('trim')).toEqual([{ partition: 0, offset: '20', high: '20', low: '12' }]);
      expect(segmentFiles('trim').length).toBeLessThan(segmentsBefore);
      const { stdout } = await run('kcat', ['-b', broker.bootstrapServers, '-C', '-t', 'trim', '-o', 'beginning', '-e', '-J', '-q'], { timeout: 30_000 });
      const offsets = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { offset: number }).offset);
      expect(offsets).toEqual([12, 13, 14, 15, 16, 17, 18, 19]);

      expect(await kafkajsError(admin.deleteTopicRecords({ topic: 'trim', partitions: [{ partition: 0, offset: '21' }] }))).toBe('OFFSET_OUT_OF_RANGE');
      await admin.deleteTopicRecords({ topic: 'trim', partitions: [{ partition: 0, offset: '5' }] }); // below the start: nothing changes
      expect((await admin.fetchTopicOffsets('trim'))[0]!.low).toBe('12');

      await admin.deleteTopicRecords({ topic: 'trim', partitions: [{ partition: 0, offset: '-1' }] });
      expect(await admin.fetchTopicOffsets('trim')).toEqual([{ partition: 0, offset: '20', high: '20', low: '20' }]);
    });

    const v2 = await raw(DeleteRecordsApi, 2, {
      topics: [
        { name: 'trim', partitions: [{ partitionIndex: 0, offset: -1n }, { partitionIndex: 5, offset: 0n }] },
        { name: 'no-such-topic', partitions: [{ partitionIndex: 0, offset: 0n }] },
        { name: 'roll', partitions: [{ partitionIndex: 0, offset: -2n }] },
      ],
      timeoutMs: 1000,
    });
    expect(v2.topics).toEqual([
      { name: 'trim', partitions: [{ partitionIndex: 0, lowWatermark: 20n, errorCode: 0 }, { partitionIndex: 5, lowWatermark: -1n, errorCode: 3 }] },
      { name: 'no-such-topic', partitions: [{ partitionIndex: 0, lowWatermark: -1n, errorCode: 3 }] },
      { name: 'roll', partitions: [{ partitionIndex: 0, lowWatermark: 0n, errorCode: 1 }] },
    ]);
    const v0 = await raw(DeleteRecordsApi, 0, { topics: [{ name: 'trim', partitions: [{ partitionIndex: 0, offset: 20n }] }], timeoutMs: 1000 });
    expect(v0.topics).toEqual([{ name: 'trim', partitions: [{ partitionIndex: 0, lowWatermark: 20n, errorCode: 0 }] }]);
  });

  it('config overrides, added partitions and deleted records survive a broker restart, and the override still applies to new appends', async () => {
    // Everything acknowledged was persisted (TopicStore, log-start checkpoint) before the answer.
    await withAdmin(async (admin, kafka) => {
      await admin.createTopics({ topics: [{ topic: 'durable-cfg' }] });
      await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: 'durable-cfg', configEntries: [{ name: 'segment.bytes', value: '1024' }, { name: 'retention.bytes', value: '1000000' }] }] });
      await produce(kafka, 'durable-cfg', 10, 200);
      await admin.deleteTopicRecords({ topic: 'durable-cfg', partitions: [{ partition: 0, offset: '6' }] });
    });
    await broker.stop();
    broker = await startBroker({ overrides });

    const configs = await describeTopic('durable-cfg');
    expect(configs.get('segment.bytes')).toMatchObject({ value: '1024', configSource: TOPIC_CONFIG });
    expect(configs.get('retention.bytes')).toMatchObject({ value: '1000000', configSource: TOPIC_CONFIG });
    await withAdmin(async (admin, kafka) => {
      expect(await admin.fetchTopicOffsets('durable-cfg')).toEqual([{ partition: 0, offset: '10', high: '10', low: '6' }]);
      expect((await admin.fetchTopicMetadata({ topics: ['grow'] })).topics[0]!.partitions).toHaveLength(4);
      const before = segmentFiles('durable-cfg').length;
      await produce(kafka, 'durable-cfg', 20, 200);
      expect(segmentFiles('durable-cfg').length).toBeGreaterThanOrEqual(before + 3);
    });
  });
});

describe('concurrent topic changes', () => {
  it('keeps topic metadata and partition directories consistent when creates and deletes race', async () => {
    // Two connections create and delete the same topic at once, many times.
    const dir = mkdtempSync(join(tmpdir(), 'gregor-race-'));
    const broker = await startBroker({ overrides: { 'log.dirs': dir, listeners: 'PLAINTEXT://127.0.0.1:0', 'num.io.threads': 1 } });
    try {
      const a = await WireClient.connect(broker.bootstrapServers, 'race-a');
      const b = await WireClient.connect(broker.bootstrapServers, 'race-b');
      const outcomes = { created: 0, alreadyExisted: 0, deleted: 0, wasMissing: 0 };
      for (let round = 0; round < 15; round++) {
        const [create, remove] = await Promise.all([
          a.request(CreateTopicsApi, 5, { topics: [{ name: 'race', numPartitions: 2, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 10_000 }),
          b.request(DeleteTopicsApi, 4, { topicNames: ['race'], timeoutMs: 10_000 }),
        ]);
        // Each side either succeeds or loses the race with Kafka's error for it.
        const created = create.topics[0]!.errorCode;
        expect([ErrorCode.NONE, ErrorCode.TOPIC_ALREADY_EXISTS]).toContain(created);
        if (created === ErrorCode.NONE) outcomes.created++;
        else outcomes.alreadyExisted++;
        const deleted = remove.responses[0]!.errorCode;
        expect([ErrorCode.NONE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]).toContain(deleted);
        if (deleted === ErrorCode.NONE) outcomes.deleted++;
        else outcomes.wasMissing++;
      }
      // Both operations really ran, not only failed.
      expect(outcomes.created).toBeGreaterThan(0);
      expect(outcomes.deleted).toBeGreaterThan(0);
      const metadata = await a.request(MetadataApi, 9, { topics: null, allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
      const listed = metadata.topics.some((t) => t.name === 'race');
      const onDisk = readdirSync(dir).filter((name) => name.startsWith('race-'));
      expect(onDisk.length).toBe(listed ? 2 : 0);
      a.close();
      b.close();
    } finally {
      await broker.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('dynamic broker configs', () => {
  // AlterConfigs / IncrementalAlterConfigs on BROKER resources "0" and "":
  // topic defaults change at once, persist across restarts, and topic
  // overrides still win.
  const dir = mkdtempSync(join(tmpdir(), 'gregor-dynamic-'));
  const overrides = { 'log.dirs': dir, 'listeners': 'PLAINTEXT://127.0.0.1:0', 'num.io.threads': 1 };
  let broker: RunningBroker;

  beforeAll(async () => {
    broker = await startBroker({ overrides });
  });
  afterAll(async () => {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function withAdmin<T>(fn: (admin: Admin, kafka: Kafka) => Promise<T>): Promise<T> {
    const kafka = new Kafka({ clientId: 'dynamic-configs-test', brokers: [broker.bootstrapServers], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
    const admin = kafka.admin();
    await admin.connect();
    try {
      return await fn(admin, kafka);
    } finally {
      await admin.disconnect();
    }
  }

  const raw = <Req, Res>(api: ApiSpec<Req, Res>, version: number, body: Init<Req>) => requestOnce(broker.bootstrapServers, api, version, body);

  async function describeConfigs(resourceType: number, resourceName: string) {
    const response = await raw(DescribeConfigsApi, 4, { resources: [{ resourceType, resourceName, configurationKeys: null }], includeSynonyms: true });
    const result = response.results[0]!;
    expect(result.errorCode).toBe(0);
    return new Map(result.configs.map((c) => [c.name, c]));
  }

  async function produce(kafka: Kafka, topic: string, count: number, valueBytes: number): Promise<void> {
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    try {
      for (let i = 0; i < count; i++) await producer.send({ topic, acks: 1, messages: [{ key: `k${i}`, value: 'v'.repeat(valueBytes) }] });
    } finally {
      await producer.disconnect();
    }
  }

  const segmentFiles = (topic: string) => readdirSync(join(dir, `${topic}-0`)).filter((f) => f.endsWith('.log'));

  it('a per-broker log.segment.bytes applies to topics without their own segment.bytes, shows as DYNAMIC_BROKER_CONFIG and is persisted', async () => {
    await withAdmin(async (admin, kafka) => {
      await admin.createTopics({ topics: [{ topic: 'inherits' }, { topic: 'own', configEntries: [{ name: 'segment.bytes', value: '1073741824' }] }] });
      await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.BROKER, name: '0', configEntries: [{ name: 'log.segment.bytes', value: '2048' }] }] });

      const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.BROKER, name: '0', configNames: ['log.segment.bytes', 'num.io.threads'] }] });
      const entries = new Map(described.resources[0]!.configEntries.map((e) => [e.configName, e]));
      expect(entries.get('log.segment.bytes')).toMatchObject({ configValue: '2048', configSource: DYNAMIC_BROKER_CONFIG, readOnly: false });
      expect(entries.get('num.io.threads')).toMatchObject({ configValue: '1', configSource: STATIC_BROKER_CONFIG, readOnly: true });

      const brokerSynonyms = (await describeConfigs(BROKER, '0')).get('log.segment.bytes')!.synonyms;
      expect(brokerSynonyms.map((s) => [s.value, s.source])).toEqual([
        ['2048', DYNAMIC_BROKER_CONFIG],
        ['1073741824', DEFAULT_CONFIG],
      ]);
      expect((await describeConfigs(TOPIC, 'inherits')).get('segment.bytes')).toMatchObject({ value: '2048', configSource: DYNAMIC_BROKER_CONFIG });
      expect((await describeConfigs(TOPIC, 'own')).get('segment.bytes')).toMatchObject({ value: '1073741824', configSource: TOPIC_CONFIG });

      await produce(kafka, 'inherits', 20, 200);
      await produce(kafka, 'own', 20, 200);
      expect(segmentFiles('inherits').length).toBeGreaterThanOrEqual(3);
      expect(segmentFiles('own')).toHaveLength(1);
    });
    const stored = JSON.parse(readFileSync(join(dir, 'gregor-broker-configs.json'), 'utf8'));
    expect(stored.broker).toEqual({ 'log.segment.bytes': '2048' });
  });

  it('refuses keys that are not dynamic, invalid values and other broker ids, and validate_only changes nothing', async () => {
    await withAdmin(async (admin) => {
      const alter = (name: string, value: string, validateOnly = false) =>
        admin.alterConfigs({ validateOnly, resources: [{ type: ConfigResourceTypes.BROKER, name: '0', configEntries: [{ name, value }] }] }).then(
          () => 'no error',
          (error: unknown) => {
            // The retrier may wrap what the broker said (cause).
            let e = error as { type?: string; cause?: unknown };
            while (e.type === undefined && e.cause !== undefined && e.cause !== e) e = e.cause as typeof e;
            return e.type;
          },
        );
      expect(await alter('num.io.threads', '4')).toBe('INVALID_REQUEST');
      expect(await alter('log.segment.bytes', '5')).toBe('INVALID_CONFIG');
      expect(await alter('log.segment.bytes', '4096', true)).toBe('no error');
    });
    const answer = await raw(AlterConfigsApi, 2, {
      resources: [
        { resourceType: BROKER, resourceName: '0', configs: [{ name: 'num.io.threads', value: '4' }, { name: 'log.segment.bytes', value: '4096' }] },
        { resourceType: BROKER, resourceName: '', configs: [{ name: 'message.max.bytes', value: 'lots' }] },
        { resourceType: BROKER, resourceName: '7', configs: [{ name: 'message.max.bytes', value: '2000' }] },
        { resourceType: TOPIC, resourceName: 'inherits', configs: [{ name: 'no.such.key', value: '1' }] },
      ],
      validateOnly: false,
    });
    expect(answer.responses.map((r) => [r.errorCode, r.errorMessage])).toEqual([
      [INVALID_REQUEST, 'Cannot update these configs dynamically: Set(num.io.threads)'],
      [INVALID_CONFIG, expect.stringContaining('message.max.bytes')],
      [INVALID_REQUEST, expect.stringContaining('Unexpected broker id')],
      [INVALID_CONFIG, expect.stringContaining('no.such.key')],
    ]);
    const unknown = await raw(IncrementalAlterConfigsApi, 1, { resources: [{ resourceType: BROKER, resourceName: '0', configs: [{ name: 'no.such.key', configOperation: 0, value: '1' }] }], validateOnly: false });
    expect(unknown.responses[0]).toMatchObject({ errorCode: INVALID_CONFIG, errorMessage: expect.stringContaining('no.such.key') });
    const append = await raw(IncrementalAlterConfigsApi, 1, { resources: [{ resourceType: BROKER, resourceName: '0', configs: [{ name: 'log.segment.bytes', configOperation: 2, value: '1' }] }], validateOnly: false });
    expect(append.responses[0]).toMatchObject({ errorCode: INVALID_CONFIG });
    expect((await describeConfigs(BROKER, '0')).get('log.segment.bytes')).toMatchObject({ value: '2048', configSource: DYNAMIC_BROKER_CONFIG });
  });

  it('the cluster-wide default ("") applies under the per-broker value, through IncrementalAlterConfigs', async () => {
    const incr = (resourceName: string, configs: { name: string; configOperation: number; value: string | null }[]) =>
      raw(IncrementalAlterConfigsApi, 1, { resources: [{ resourceType: BROKER, resourceName, configs }], validateOnly: false }).then((r) => r.responses[0]!);
    expect(await incr('', [{ name: 'log.segment.bytes', configOperation: 0, value: '8192' }, { name: 'log.roll.hours', configOperation: 0, value: '2' }])).toMatchObject({ errorCode: 0 });

    const clusterDefault = await describeConfigs(BROKER, '');
    expect([...clusterDefault.values()].map((c) => [c.name, c.value, c.configSource])).toEqual([
      ['log.roll.hours', '2', DYNAMIC_DEFAULT_BROKER_CONFIG],
      ['log.segment.bytes', '8192', DYNAMIC_DEFAULT_BROKER_CONFIG],
    ]);
    let configs = await describeConfigs(BROKER, '0');
    expect(configs.get('log.segment.bytes')).toMatchObject({ value: '2048', configSource: DYNAMIC_BROKER_CONFIG });
    expect(configs.get('log.segment.bytes')!.synonyms.map((s) => [s.value, s.source])).toEqual([
      ['2048', DYNAMIC_BROKER_CONFIG],
      ['8192', DYNAMIC_DEFAULT_BROKER_CONFIG],
      ['1073741824', DEFAULT_CONFIG],
    ]);
    expect(configs.get('log.roll.hours')).toMatchObject({ value: '2', configSource: DYNAMIC_DEFAULT_BROKER_CONFIG });
    let topic = await describeConfigs(TOPIC, 'inherits');
    expect(topic.get('segment.bytes')).toMatchObject({ value: '2048', configSource: DYNAMIC_BROKER_CONFIG });
    expect(topic.get('segment.ms')).toMatchObject({ value: '7200000', configSource: DYNAMIC_DEFAULT_BROKER_CONFIG });

    // Removing the per-broker value lets the cluster default through.
    expect(await incr('0', [{ name: 'log.segment.bytes', configOperation: 1, value: null }])).toMatchObject({ errorCode: 0 });
    configs = await describeConfigs(BROKER, '0');
    expect(configs.get('log.segment.bytes')).toMatchObject({ value: '8192', configSource: DYNAMIC_DEFAULT_BROKER_CONFIG });
    topic = await describeConfigs(TOPIC, 'inherits');
    expect(topic.get('segment.bytes')).toMatchObject({ value: '8192', configSource: DYNAMIC_DEFAULT_BROKER_CONFIG });
    // Back to the per-broker value for the restart test.
    expect(await incr('0', [{ name: 'log.segment.bytes', configOperation: 0, value: '2048' }])).toMatchObject({ errorCode: 0 });
  });

  it('gregor configs --entity-type brokers alters and describes the per-broker configs', async () => {
    const cli = join(import.meta.dirname, '../../dist/cli/main.js');
    expect(existsSync(cli)).toBe(true); // npm run build first
    const bs = ['--bootstrap-server', broker.bootstrapServers, '--entity-type', 'brokers', '--entity-name', '0'];
    const altered = await run(process.execPath, [cli, 'configs', ...bs, '--alter', '--add-config', 'message.max.bytes=2000000'], { timeout: 30_000 });
    expect(altered.stdout).toContain('Completed updating config for broker 0.');
    const described = await run(process.execPath, [cli, 'configs', ...bs, '--describe'], { timeout: 30_000 });
    expect(described.stdout).toContain('message.max.bytes=2000000');
    expect(described.stdout).toContain('log.segment.bytes=2048');
    expect((await describeConfigs(TOPIC, 'inherits')).get('max.message.bytes')).toMatchObject({ value: '2000000', configSource: DYNAMIC_BROKER_CONFIG });
    const refused = await run(process.execPath, [cli, 'configs', ...bs, '--alter', '--add-config', 'num.io.threads=4'], { timeout: 30_000 }).catch((e: { stderr: string }) => e);
    expect(refused.stderr).toContain('Cannot update these configs dynamically');
  });

  it('the dynamic configs survive a restart on the same directory and keep applying', async () => {
    await broker.stop();
    broker = await startBroker({ overrides });
    expect(broker.config.values.get('log.segment.bytes')).toBe('2048');
    const configs = await describeConfigs(BROKER, '0');
    expect(configs.get('log.segment.bytes')).toMatchObject({ value: '2048', configSource: DYNAMIC_BROKER_CONFIG });
    expect(configs.get('message.max.bytes')).toMatchObject({ value: '2000000', configSource: DYNAMIC_BROKER_CONFIG });
    expect((await describeConfigs(BROKER, '')).get('log.roll.hours')).toMatchObject({ value: '2', configSource: DYNAMIC_DEFAULT_BROKER_CONFIG });
    await withAdmin(async (_admin, kafka) => {
      const before = segmentFiles('inherits').length;
      const ownBefore = segmentFiles('own').length;
      await produce(kafka, 'inherits', 20, 200);
      await produce(kafka, 'own', 20, 200);
      expect(segmentFiles('inherits').length).toBeGreaterThanOrEqual(before + 3);
      expect(segmentFiles('own')).toHaveLength(ownBefore);
    });
  });
});

// Cross-checks the generated codecs against an independent implementation:
// kafkajs 2.2.4 (a devDependency, one of the clients Gregor must serve).
// kafkajs encodes requests that our decoders must read, and decodes
// responses that our encoders write. This pins wire compatibility for the
// versions kafkajs sends (docs: ../shared/kafka-protocol/CLIENTS.md §1.1).
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

import {
  decodeFetchRequest,
  decodeHeartbeatRequest,
  decodeJoinGroupRequest,
  decodeMetadataRequest,
  decodeOffsetCommitRequest,
  decodeProduceRequest,
  decodeSyncGroupRequest,
  encodeApiVersionsResponse,
  encodeFetchResponse,
  encodeFindCoordinatorResponse,
  encodeJoinGroupResponse,
  encodeListOffsetsResponse,
  encodeMetadataResponse,
  encodeProduceResponse,
  encodeSyncGroupResponse,
} from '../../src/protocol/generated/index.js';

const require = createRequire(import.meta.url);

interface KafkajsRequest {
  apiKey: number;
  apiVersion: number;
  encode(): Promise<{ buffer: Buffer }>;
}
type RequestFactory = (args: Record<string, unknown>) => KafkajsRequest;
interface ResponseModule {
  decode(data: Buffer): Promise<Record<string, unknown>>;
}

const kafkajsRequest = (api: string, version: number): RequestFactory =>
  require(`kafkajs/src/protocol/requests/${api}/v${version}/request.js`) as RequestFactory;
const kafkajsResponse = (api: string, version: number): ResponseModule =>
  require(`kafkajs/src/protocol/requests/${api}/v${version}/response.js`) as ResponseModule;

async function encodeWithKafkajs(api: string, version: number, args: Record<string, unknown>): Promise<Buffer> {
  const request = kafkajsRequest(api, version)(args);
  expect(request.apiVersion).toBe(version);
  return (await request.encode()).buffer;
}

/** A record batch as kafkajs produces it (taken out of its Produce v3 request). */
async function kafkajsRecordBatch(): Promise<Buffer> {
  const bytes = await encodeWithKafkajs('produce', 3, {
    acks: 1,
    timeout: 1000,
    topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [{ key: 'k1', value: 'v1', timestamp: 1_700_000_000_000 }, { key: null, value: 'v2', timestamp: 1_700_000_000_001 }] }] }],
  });
  const records = decodeProduceRequest(bytes, 3).topicData[0]?.partitionData[0]?.records;
  if (!records) throw new Error('no records');
  return Buffer.from(records);
}

describe('kafkajs requests decode with the generated decoders', () => {
  it('Produce v3 and v7: topic data and the record batch blob', async () => {
    // Proves classic Produce requests from a real client decode, records arriving intact as a RecordBatch v2 blob.
    for (const version of [3, 7]) {
      const bytes = await encodeWithKafkajs('produce', version, {
        acks: -1,
        timeout: 30000,
        transactionalId: version === 7 ? 'txn-1' : null,
        topicData: [{ topic: 'orders', partitions: [{ partition: 4, messages: [{ key: 'k', value: 'hello', timestamp: 1_700_000_000_000 }] }] }],
      });
      const decoded = decodeProduceRequest(bytes, version);
      expect(decoded).toMatchObject({ transactionalId: version === 7 ? 'txn-1' : null, acks: -1, timeoutMs: 30000 });
      const partition = decoded.topicData[0]?.partitionData[0];
      expect(decoded.topicData[0]?.name).toBe('orders');
      expect(partition?.index).toBe(4);
      const records = partition?.records;
      expect(records?.readInt8(16), 'RecordBatch magic').toBe(2);
      expect(records?.readInt32BE(8), 'batch length covers the blob').toBe((records?.length ?? 0) - 12);
    }
  });

  it('Fetch v4 and v11', async () => {
    // Proves Fetch requests decode field by field, including v11's rack id and forgotten topics.
    for (const version of [4, 11]) {
      const bytes = await encodeWithKafkajs('fetch', version, {
        replicaId: -1,
        maxWaitTime: 500,
        minBytes: 1,
        maxBytes: 10_485_760,
        isolationLevel: 1,
        topics: [{ topic: 'orders', partitions: [{ partition: 2, fetchOffset: '42', maxBytes: 1_048_576 }] }],
        rackId: 'rack-a',
        forgottenTopics: [{ topic: 'old', partitions: [1, 2] }],
      });
      const decoded = decodeFetchRequest(bytes, version);
      expect(decoded).toMatchObject({ replicaId: -1, maxWaitMs: 500, minBytes: 1, maxBytes: 10_485_760, isolationLevel: 1 });
      expect(decoded.topics[0]?.topic).toBe('orders');
      expect(decoded.topics[0]?.partitions[0]).toMatchObject({ partition: 2, fetchOffset: 42n, partitionMaxBytes: 1_048_576 });
      if (version === 11) {
        expect(decoded.rackId).toBe('rack-a');
        expect(decoded.forgottenTopicsData).toEqual([{ topic: 'old', topicId: 'AAAAAAAAAAAAAAAAAAAAAA', partitions: [1, 2] }]);
        expect(decoded.topics[0]?.partitions[0]).toMatchObject({ currentLeaderEpoch: -1, logStartOffset: -1n });
      }
    }
  });

  it('Metadata v0-v6', async () => {
    // Proves Metadata requests decode across the classic versions, including null topics (all topics) from v1.
    for (let version = 0; version <= 6; version++) {
      const bytes = await encodeWithKafkajs('metadata', version, { topics: ['a', 'bc'], allowAutoTopicCreation: false });
      const decoded = decodeMetadataRequest(bytes, version);
      expect(decoded.topics?.map((t) => t.name)).toEqual(['a', 'bc']);
      expect(decoded.allowAutoTopicCreation).toBe(version >= 4 ? false : true);
    }
  });

  it('JoinGroup v5, SyncGroup v3, OffsetCommit v5, Heartbeat v3', async () => {
    // Proves the consumer-group requests kafkajs sends decode, including bytes metadata and nullable group instance ids.
    const join = decodeJoinGroupRequest(
      await encodeWithKafkajs('joinGroup', 5, {
        groupId: 'g',
        sessionTimeout: 30000,
        rebalanceTimeout: 60000,
        memberId: '',
        protocolType: 'consumer',
        groupProtocols: [{ name: 'RoundRobinAssigner', metadata: Buffer.from([0, 1, 2]) }],
      }),
      5,
    );
    expect(join).toMatchObject({ groupId: 'g', sessionTimeoutMs: 30000, rebalanceTimeoutMs: 60000, memberId: '', groupInstanceId: null, protocolType: 'consumer' });
    expect(join.protocols[0]?.name).toBe('RoundRobinAssigner');
    expect(join.protocols[0]?.metadata).toEqual(Buffer.from([0, 1, 2]));

    const sync = decodeSyncGroupRequest(
      await encodeWithKafkajs('syncGroup', 3, { groupId: 'g', generationId: 3, memberId: 'm-1', groupAssignment: [{ memberId: 'm-1', memberAssignment: Buffer.from([9]) }] }),
      3,
    );
    expect(sync).toMatchObject({ groupId: 'g', generationId: 3, memberId: 'm-1', groupInstanceId: null });
    expect(sync.assignments[0]?.assignment).toEqual(Buffer.from([9]));

    const commit = decodeOffsetCommitRequest(
      await encodeWithKafkajs('offsetCommit', 5, { groupId: 'g', groupGenerationId: 3, memberId: 'm-1', topics: [{ topic: 't', partitions: [{ partition: 0, offset: '17' }] }] }),
      5,
    );
    expect(commit).toMatchObject({ groupId: 'g', generationIdOrMemberEpoch: 3, memberId: 'm-1' });
    expect(commit.topics[0]?.partitions[0]).toMatchObject({ partitionIndex: 0, committedOffset: 17n, committedMetadata: null });

    const heartbeat = decodeHeartbeatRequest(await encodeWithKafkajs('heartbeat', 3, { groupId: 'g', groupGenerationId: 3, memberId: 'm-1', groupInstanceId: null }), 3);
    expect(heartbeat).toEqual({ groupId: 'g', generationId: 3, memberId: 'm-1', groupInstanceId: null });
  });
});

describe('generated responses decode with kafkajs', () => {
  it('ApiVersions v0-v2', async () => {
    // Proves kafkajs reads our ApiVersions answers (the first response any client sees).
    for (let version = 0; version <= 2; version++) {
      const bytes = encodeApiVersionsResponse({ errorCode: 0, apiKeys: [{ apiKey: 0, minVersion: 3, maxVersion: 7 }, { apiKey: 18, minVersion: 0, maxVersion: 3 }], throttleTimeMs: 0 }, version);
      const decoded = await kafkajsResponse('apiVersions', version).decode(bytes);
      expect(decoded.apiVersions).toEqual([
        { apiKey: 0, minVersion: 3, maxVersion: 7 },
        { apiKey: 18, minVersion: 0, maxVersion: 3 },
      ]);
    }
  });

  it('Metadata v0-v6', async () => {
    // Proves broker, topic and partition metadata written by us read back in kafkajs, per version.
    for (let version = 0; version <= 6; version++) {
      const bytes = encodeMetadataResponse(
        {
          brokers: [{ nodeId: 1, host: 'localhost', port: 9092, rack: null }],
          clusterId: 'cluster-1',
          controllerId: 1,
          topics: [{ errorCode: 0, name: 'orders', isInternal: false, partitions: [{ errorCode: 0, partitionIndex: 0, leaderId: 1, replicaNodes: [1], isrNodes: [1], offlineReplicas: [] }] }],
        },
        version,
      );
      const decoded = await kafkajsResponse('metadata', version).decode(bytes);
      expect(decoded.brokers).toEqual([expect.objectContaining({ nodeId: 1, host: 'localhost', port: 9092 })]);
      const topics = decoded.topicMetadata as { topic: string; partitionMetadata: { partitionId: number; leader: number; replicas: number[]; isr: number[] }[] }[];
      expect(topics[0]?.topic).toBe('orders');
      expect(topics[0]?.partitionMetadata[0]).toMatchObject({ partitionId: 0, leader: 1, replicas: [1], isr: [1] });
      if (version >= 1) expect(decoded.controllerId).toBe(1);
      if (version >= 2) expect(decoded.clusterId).toBe('cluster-1');
    }
  });

  it('Produce v3 and v7', async () => {
    // Proves produce acknowledgements (base offset, log append time, throttle time at the end) read back in kafkajs.
    for (const version of [3, 7]) {
      const bytes = encodeProduceResponse(
        { responses: [{ name: 'orders', partitionResponses: [{ index: 4, errorCode: 0, baseOffset: 100n, logAppendTimeMs: -1n, logStartOffset: 0n }] }], throttleTimeMs: 25 },
        version,
      );
      const decoded = await kafkajsResponse('produce', version).decode(bytes);
      const topics = decoded.topics as { topicName: string; partitions: Record<string, unknown>[] }[];
      expect(topics[0]?.topicName).toBe('orders');
      expect(topics[0]?.partitions[0]).toMatchObject({ partition: 4, errorCode: 0, baseOffset: '100', logAppendTime: '-1' });
      expect(decoded.clientSideThrottleTime ?? decoded.throttleTime).toBe(25);
    }
  });

  it('Fetch v4 and v11 with a real record batch', async () => {
    // Proves fetched records written by reference by our Writer are readable by kafkajs, with aborted transactions and offsets.
    const batch = await kafkajsRecordBatch();
    for (const version of [4, 11]) {
      const bytes = encodeFetchResponse(
        {
          throttleTimeMs: 0,
          responses: [
            {
              topic: 't',
              partitions: [{ partitionIndex: 0, errorCode: 0, highWatermark: 2n, lastStableOffset: 2n, logStartOffset: 0n, abortedTransactions: [{ producerId: 5n, firstOffset: 1n }], preferredReadReplica: -1, records: batch }],
            },
          ],
        },
        version,
      );
      const decoded = await kafkajsResponse('fetch', version).decode(bytes);
      const responses = decoded.responses as { topicName: string; partitions: { highWatermark: string; abortedTransactions: unknown[]; messages: { key: Buffer | null; value: Buffer }[] }[] }[];
      const partition = responses[0]?.partitions[0];
      expect(responses[0]?.topicName).toBe('t');
      expect(partition?.highWatermark).toBe('2');
      expect(partition?.abortedTransactions).toEqual([{ producerId: '5', firstOffset: '1' }]);
      expect(partition?.messages.map((m) => m.value.toString())).toEqual(['v1', 'v2']);
      expect(partition?.messages[0]?.key?.toString()).toBe('k1');
    }
  });

  it('FindCoordinator v0-v2, JoinGroup v5, SyncGroup v3, ListOffsets v1-v3', async () => {
    // Proves the group-coordination and offset-lookup responses kafkajs reads decode as intended.
    for (let version = 0; version <= 2; version++) {
      const bytes = encodeFindCoordinatorResponse({ errorCode: 0, errorMessage: null, nodeId: 1, host: 'h', port: 9092, throttleTimeMs: 0 }, version);
      const decoded = await kafkajsResponse('findCoordinator', version).decode(bytes);
      expect(decoded.coordinator).toEqual({ nodeId: 1, host: 'h', port: 9092 });
    }

    const join = await kafkajsResponse('joinGroup', 5).decode(
      encodeJoinGroupResponse({ errorCode: 0, generationId: 2, protocolName: 'RoundRobinAssigner', leader: 'm-1', memberId: 'm-1', members: [{ memberId: 'm-1', groupInstanceId: null, metadata: Buffer.from([1, 2]) }] }, 5),
    );
    expect(join).toMatchObject({ errorCode: 0, generationId: 2, groupProtocol: 'RoundRobinAssigner', leaderId: 'm-1', memberId: 'm-1' });
    expect(join.members).toEqual([{ memberId: 'm-1', groupInstanceId: null, memberMetadata: Buffer.from([1, 2]) }]);

    const sync = await kafkajsResponse('syncGroup', 3).decode(encodeSyncGroupResponse({ errorCode: 0, assignment: Buffer.from([7, 7]) }, 3));
    expect(sync).toMatchObject({ errorCode: 0, memberAssignment: Buffer.from([7, 7]) });

    for (let version = 1; version <= 3; version++) {
      const bytes = encodeListOffsetsResponse({ topics: [{ name: 't', partitions: [{ partitionIndex: 0, errorCode: 0, timestamp: -1n, offset: 99n }] }] }, version);
      const decoded = await kafkajsResponse('listOffsets', version).decode(bytes);
      expect(decoded.responses).toEqual([{ topic: 't', partitions: [{ partition: 0, errorCode: 0, timestamp: '-1', offset: '99' }] }]);
    }
  });
});

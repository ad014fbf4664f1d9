// queued.max.requests bounds the requests waiting to be handled, as in
// Kafka, not the requests parked in a handler: JoinGroups waiting for a
// rebalance and long-poll Fetches waiting for data give their slot back, so
// a group larger than the queue can form and a produce is read while more
// fetches than the queue holds are waiting.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { encodeRecordBatch, startBroker, type RunningBroker } from '../../src/index.js';
import { WireClient } from '../../src/client/wire-client.js';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import { CreateTopicsApi, FetchApi, JoinGroupApi, ProduceApi, type FetchResponse, type ProduceResponse } from '../../src/protocol/generated/index.js';

const QUEUE = 2;

describe('queued.max.requests and parked requests', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gregor-queue-'));
  let broker: RunningBroker;
  const clients: WireClient[] = [];
  const connect = async () => {
    const c = await WireClient.connect(broker.bootstrapServers, 'queue-test');
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    broker = await startBroker({
      overrides: {
        'log.dirs': dir,
        'listeners': 'PLAINTEXT://127.0.0.1:0',
        'queued.max.requests': QUEUE,
        'group.initial.rebalance.delay.ms': 500,
        'offsets.topic.num.partitions': 1,
      },
    });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('forms a group of more members than the queue holds in one generation', async () => {
    const members = QUEUE + 3;
    const connections = await Promise.all(Array.from({ length: members }, connect));
    const started = Date.now();
    // JoinGroup v3: no MEMBER_ID_REQUIRED round; each waits in the broker until the rebalance completes.
    const answers = await Promise.all(
      connections.map((c) =>
        c.request(JoinGroupApi, 3, {
          groupId: 'bigger-than-the-queue',
          sessionTimeoutMs: 10_000,
          rebalanceTimeoutMs: 30_000,
          memberId: '',
          protocolType: 'consumer',
          protocols: [{ name: 'range', metadata: Buffer.alloc(0) }],
        }),
      ),
    );
    expect(answers.map((a) => a.errorCode)).toEqual(answers.map(() => ErrorCode.NONE));
    // One generation with every member: all JoinGroups were read during the initial delay.
    expect(new Set(answers.map((a) => a.generationId))).toEqual(new Set([1]));
    const leader = answers.find((a) => a.memberId === a.leader)!;
    expect(leader.members).toHaveLength(members);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('reads a produce while more long-poll fetches than the queue holds are waiting', async () => {
    const admin = await connect();
    const created = await admin.request(CreateTopicsApi, 5, {
      topics: [{ name: 'polled', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 10_000,
    });
    expect(created.topics[0]!.errorCode).toBe(ErrorCode.NONE);
    const fetchers = await Promise.all(Array.from({ length: QUEUE + 2 }, connect));
    const producer = await connect();
    const started = Date.now();
    const polls = fetchers.map(
      (c) =>
        c.request(FetchApi, 12, {
          maxWaitMs: 20_000,
          minBytes: 1,
          maxBytes: 1 << 20,
          sessionId: 0,
          sessionEpoch: -1,
          topics: [{ topic: 'polled', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1 << 20 }] }],
          forgottenTopicsData: [],
        }) as Promise<FetchResponse>,
    );
    // Give the fetches time to arrive and park; none may have been answered yet.
    let answeredEarly = 0;
    for (const p of polls) void p.then(() => answeredEarly++);
    await new Promise((r) => setTimeout(r, 300));
    expect(answeredEarly).toBe(0);
    const produced = (await producer.request(ProduceApi, 9, {
      acks: -1,
      timeoutMs: 5000,
      topicData: [{ name: 'polled', partitionData: [{ index: 0, records: encodeRecordBatch([{ key: 'k', value: 'v' }]) }] }],
    })) as ProduceResponse;
    expect(produced.responses[0]!.partitionResponses[0]!.errorCode).toBe(ErrorCode.NONE);
    const answers = await Promise.all(polls);
    // Every fetch was answered by the append, long before its 20 s wait.
    expect(Date.now() - started).toBeLessThan(10_000);
    for (const a of answers) expect(a.responses[0]!.partitions[0]!.records!.length).toBeGreaterThan(0);
  });
});

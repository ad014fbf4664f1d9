// Incremental fetch sessions (KIP-227) as the Java client uses them: a
// session is created with epoch 0, later requests carry only changes, and
// responses only partitions with something new.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { encodeRecordBatch, startBroker, type RunningBroker } from '../../src/index.js';
import { WireClient } from '../../src/client/wire-client.js';
import { CreateTopicsApi, FetchApi, ProduceApi, type FetchResponse } from '../../src/protocol/generated/index.js';

describe('fetch sessions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gregor-sessions-'));
  let broker: RunningBroker;
  let client: WireClient;
  const V = 12;

  beforeAll(async () => {
    broker = await startBroker({ overrides: { 'log.dirs': dir, listeners: 'PLAINTEXT://127.0.0.1:0', 'num.partitions': 2, 'num.io.threads': 1 } });
    client = await WireClient.connect(broker.bootstrapServers, 'session-test');
  });
  afterAll(async () => {
    client?.close();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const produce = (partition: number, value: string) =>
    client.request(ProduceApi, 7, {
      acks: 1,
      timeoutMs: 1000,
      topicData: [{ name: 'sessions', partitionData: [{ index: partition, records: encodeRecordBatch([{ value }]) }] }],
    });
  const fetch = (sessionId: number, sessionEpoch: number, partitions: { partition: number; fetchOffset: bigint }[], forgotten: number[] = []) =>
    client.request(FetchApi, V, {
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 1 << 20,
      sessionId,
      sessionEpoch,
      topics: partitions.length ? [{ topic: 'sessions', partitions: partitions.map((p) => ({ ...p, partitionMaxBytes: 1 << 20 })) }] : [],
      forgottenTopicsData: forgotten.length ? [{ topic: 'sessions', partitions: forgotten }] : [],
    }) as Promise<FetchResponse>;

  it('creates a session, answers incrementally, and rejects stale epochs and unknown sessions', async () => {
    const created = await client.request(CreateTopicsApi, 5, {
      topics: [{ name: 'sessions', numPartitions: 2, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 1000,
    });
    expect(created.topics[0]!.errorCode).toBe(0);
    await produce(0, 'a');
    await produce(1, 'b');

    // Epoch 0 creates a session; the first response is full.
    const full = await fetch(0, 0, [
      { partition: 0, fetchOffset: 0n },
      { partition: 1, fetchOffset: 0n },
    ]);
    expect(full.errorCode).toBe(0);
    expect(full.sessionId).toBeGreaterThan(0);
    expect(full.responses[0]!.partitions.map((p) => p.partitionIndex)).toEqual([0, 1]);
    const session = full.sessionId;

    // Nothing new: an incremental request with no changes gets no partitions.
    const quiet = await fetch(session, 1, [
      { partition: 0, fetchOffset: 1n },
      { partition: 1, fetchOffset: 1n },
    ]);
    expect(quiet.errorCode).toBe(0);
    expect(quiet.sessionId).toBe(session);
    expect(quiet.responses.flatMap((t) => t.partitions)).toHaveLength(0);

    // New data in partition 1 only: the response names only partition 1, and
    // the request can omit partitions whose position did not change.
    await produce(1, 'c');
    const changed = await fetch(session, 2, []);
    const partitions = changed.responses.flatMap((t) => t.partitions);
    expect(partitions.map((p) => p.partitionIndex)).toEqual([1]);
    expect(partitions[0]!.highWatermark).toBe(2n);
    expect(partitions[0]!.records!.length).toBeGreaterThan(0);

    // Forgetting partition 1 removes it from the session.
    await produce(1, 'd');
    const forgotten = await fetch(session, 3, [], [1]);
    expect(forgotten.responses.flatMap((t) => t.partitions)).toHaveLength(0);

    // A stale epoch and an unknown session are refused with Kafka's errors.
    expect((await fetch(session, 3, [])).errorCode).toBe(71); // INVALID_FETCH_SESSION_EPOCH
    expect((await fetch(123456, 1, [])).errorCode).toBe(70); // FETCH_SESSION_ID_NOT_FOUND
    // Epoch -1 closes the session and fetches without one.
    const closing = await fetch(session, -1, [{ partition: 0, fetchOffset: 0n }]);
    expect(closing.sessionId).toBe(0);
    expect(closing.responses[0]!.partitions).toHaveLength(1);
    expect((await fetch(session, 4, [])).errorCode).toBe(70);
  });
});

// Compaction with real clients (kafkajs, kcat) against a real broker: a
// compacted topic with many updates per key is cleaned by the log cleaner
// (log.cleaner.backoff.ms), after which a consumer reading from the start
// sees exactly the latest value per key, and tombstones until
// delete.retention.ms has passed; a broker SIGKILLed in the middle of
// cleaning restarts with a consistent log; `__consumer_offsets` is compacted
// the same way and its offsets still load after a restart.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Admin, type Message } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { encodeRecordBatch, startBroker, type RunningBroker } from '../../src/index.js';
import { freePort, spawnBroker, stopProcess } from '../support/broker-process.js';
import { kcatConsume, until, type KcatMessage } from '../support/kcat.js';
import { produceToPartition0 } from '../support/kafkajs.js';
import { WireClient } from '../../src/client/wire-client.js';
import { OffsetCommitApi, ProduceApi, type ProduceResponse } from '../../src/protocol/generated/index.js';

function dirBytes(partitionDir: string): number {
  let sum = 0;
  for (const n of readdirSync(partitionDir).filter((name) => name.endsWith('.log'))) {
    try {
      sum += statSync(join(partitionDir, n)).size;
    } catch {
      // deleted meanwhile (a swap or retention)
    }
  }
  return sum;
}

/** key -> last value, in offset order (what a consumer from the start ends up with). */
function latest(messages: KcatMessage[]): Map<string | null, string | null> {
  const out = new Map<string | null, string | null>();
  for (const m of messages) out.set(m.key, m.payload);
  return out;
}

const produce = produceToPartition0;

/** `rounds` updates of `keys` keys, value `r-<round>-<key>` padded. */
function updates(keys: number, rounds: number, pad = 100): Message[] {
  const out: Message[] = [];
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < keys; k++) out.push({ key: `k${k}`, value: `r-${r}-${k}-${'x'.repeat(pad)}` });
  }
  return out;
}

describe('a compacted topic against one broker', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gregor-compaction-'));
  let broker: RunningBroker;
  let kafka: Kafka;
  let admin: Admin;
  const overrides = {
    'log.dirs': dir,
    'listeners': 'PLAINTEXT://127.0.0.1:0',
    'num.io.threads': 2,
    'num.network.threads': 1,
    'log.cleaner.backoff.ms': 200,
    'log.cleaner.min.cleanable.ratio': '0.1',
    'log.segment.delete.delay.ms': 0,
    'group.initial.rebalance.delay.ms': 0,
    'offsets.topic.num.partitions': 1,
    'offsets.topic.segment.bytes': 4096,
  };

  beforeAll(async () => {
    broker = await startBroker({ overrides });
    kafka = new Kafka({ clientId: 'compaction-test', brokers: [broker.bootstrapServers], logLevel: logLevel.NOTHING });
    admin = kafka.admin();
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.disconnect();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('many updates per key: a consumer from the start sees exactly the latest value per key, and tombstones until delete.retention.ms', { timeout: 240_000 }, async () => {
    const topic = 'compacted';
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }, { name: 'segment.bytes', value: '65536' }] }],
    });
    const keys = 100;
    const messages = updates(keys, 40);
    // Tombstones for k0..k9, then enough other keys to push every update out of the active segment.
    for (let k = 0; k < 10; k++) messages.push({ key: `k${k}`, value: null });
    for (let f = 0; f < 1500; f++) messages.push({ key: `f${f}`, value: 'y'.repeat(100) });
    await produce(kafka, topic, messages, 100);
    const expected = new Map<string | null, string | null>();
    for (const m of messages) expected.set(m.key as string, m.value === null ? null : String(m.value));

    const updatedKeys = (m: KcatMessage[]) => m.filter((x) => /^k\d+$/.test(x.key ?? '')).length;
    await until(async () => updatedKeys(await kcatConsume(broker.bootstrapServers, topic, ['-p', '0'])) === keys, 'the cleaner to leave one record per key', 90_000);
    const seen = await kcatConsume(broker.bootstrapServers, topic, ['-p', '0']);
    expect(latest(seen)).toEqual(expected);
    expect(seen.length).toBeLessThan(messages.length / 2);
    // Every updated key once, with its latest value or its tombstone (they are all in cleaned segments).
    const updated = seen.filter((m) => /^k\d+$/.test(m.key ?? ''));
    expect(updated).toHaveLength(keys);
    expect(updated.filter((m) => m.payload === null).map((m) => m.key).sort()).toEqual(Array.from({ length: 10 }, (_, k) => `k${k}`).sort());
    // Offsets are the original ones: increasing, with gaps.
    const offsets = seen.map((m) => m.offset);
    expect([...offsets].sort((a, b) => a - b)).toEqual(offsets);

    // delete.retention.ms=0: the next cleaning (triggered by more dirty data) removes the tombstones.
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: 2,
          name: topic,
          configEntries: [
            { name: 'cleanup.policy', value: 'compact' },
            { name: 'segment.bytes', value: '65536' },
            { name: 'delete.retention.ms', value: '0' },
          ],
        },
      ],
    });
    await produce(kafka, topic, updates(keys, 2).filter((m) => Number(String(m.key).slice(1)) >= 10), 100);
    await produce(kafka, topic, Array.from({ length: 1500 }, (_, f) => ({ key: `g${f}`, value: 'z'.repeat(100) })), 100);
    await until(async () => !(await kcatConsume(broker.bootstrapServers, topic, ['-p', '0'])).some((m) => m.payload === null), 'the tombstones to go', 90_000);
    const after = await kcatConsume(broker.bootstrapServers, topic, ['-p', '0']);
    expect(after.filter((m) => /^k\d+$/.test(m.key ?? '')).map((m) => m.key).sort()).toEqual(
      Array.from({ length: keys - 10 }, (_, k) => `k${k + 10}`).sort(),
    );
  });

  it('rejects a record without a key on a compacted topic', async () => {
    const producer = kafka.producer({ allowAutoTopicCreation: false, retry: { retries: 0 } });
    await producer.connect();
    try {
      await expect(producer.send({ topic: 'compacted', acks: -1, messages: [{ partition: 0, key: null, value: 'v' }] })).rejects.toThrow();
    } finally {
      await producer.disconnect();
    }
  });

  it('__consumer_offsets is compacted: after many commits of one group it shrinks, and the offsets load after a restart', { timeout: 120_000 }, async () => {
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic: 'plain', numPartitions: 4 }] });
    const groupId = 'many-commits';
    // Simple commits (generation -1, no member), as an admin client's are: one record per partition each.
    const client = await WireClient.connect(broker.bootstrapServers, 'compaction-commits');
    try {
      for (let i = 1; i <= 300; i++) {
        const response = await client.request(OffsetCommitApi, 8, {
          groupId,
          generationIdOrMemberEpoch: -1,
          memberId: '',
          groupInstanceId: null,
          topics: [{ name: 'plain', partitions: [0, 1, 2, 3].map((p) => ({ partitionIndex: p, committedOffset: BigInt(i * 10 + p), committedLeaderEpoch: -1, committedMetadata: null })) }],
        });
        expect(response.topics.flatMap((t) => t.partitions.map((p) => p.errorCode))).toEqual([0, 0, 0, 0]);
      }
    } finally {
      client.close();
    }
    const offsetsDir = join(dir, '__consumer_offsets-0');
    await until(() => dirBytes(offsetsDir) < 20_000, '__consumer_offsets to be compacted', 60_000);
    await admin.disconnect();
    await broker.stop();
    broker = await startBroker({ overrides: { ...overrides, listeners: `PLAINTEXT://127.0.0.1:${Number(broker.bootstrapServers.split(':')[1])}` } });
    kafka = new Kafka({ clientId: 'compaction-test', brokers: [broker.bootstrapServers], logLevel: logLevel.NOTHING });
    admin = kafka.admin();
    await admin.connect();
    const [fetched] = await admin.fetchOffsets({ groupId, topics: ['plain'] });
    expect(fetched!.partitions.map((p) => [p.partition, p.offset]).sort()).toEqual([0, 1, 2, 3].map((p) => [p, String(3000 + p)]));
  });
});

describe('SIGKILL during cleaning', () => {
  it('leaves a consistent log: after a restart a consumer from the start sees the latest value per key', { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gregor-compaction-kill-'));
    const port = await freePort();
    const bootstrap = `127.0.0.1:${port}`;
    const topic = 'killed';
    const partitionDir = join(dir, `${topic}-0`);
    /** Extra overrides as key=value strings. */
    const start = (...extra: string[]): Promise<ChildProcess> =>
      spawnBroker({
        'log.dirs': dir,
        'listeners': `PLAINTEXT://127.0.0.1:${port}`,
        ...Object.fromEntries(extra.map((o) => [o.slice(0, o.indexOf('=')), o.slice(o.indexOf('=') + 1)])),
      });
    const kill = (child: ChildProcess) => stopProcess(child, 'SIGKILL');
    const kafka = new Kafka({ clientId: 'compaction-kill', brokers: [bootstrap], logLevel: logLevel.NOTHING });
    let child: ChildProcess | undefined;
    let broker: RunningBroker | undefined;
    try {
      // 1. Write without a cleaner.
      child = await start('log.cleaner.enable=false');
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }, { name: 'segment.bytes', value: '1048576' }] }],
      });
      await admin.disconnect();
      // ~40 MB through raw produce requests of 1000-record batches (kafkajs would take long).
      const keys = 2000;
      const rounds = 60;
      const expected = new Map<string | null, string | null>();
      const client = await WireClient.connect(bootstrap, 'compaction-kill');
      try {
        for (let r = 0; r < rounds; r++) {
          for (let from = 0; from < keys; from += 1000) {
            const records = Array.from({ length: 1000 }, (_, i) => ({ key: `k${from + i}`, value: `r-${r}-${from + i}-${'x'.repeat(300)}` }));
            for (const rec of records) expected.set(rec.key, rec.value);
            const response = (await client.request(ProduceApi, 9, {
              acks: -1,
              timeoutMs: 5000,
              topicData: [{ name: topic, partitionData: [{ index: 0, records: encodeRecordBatch(records) }] }],
            })) as ProduceResponse;
            expect(response.responses[0]!.partitionResponses[0]!.errorCode).toBe(0);
          }
        }
      } finally {
        client.close();
      }
      const total = keys * rounds;
      await kill(child);

      // 2. Restart with the cleaner and kill it as soon as it has written
      // something: first while a `.cleaned` file is being written, then (with
      // a long file.delete.delay.ms) once the swap has started (`.swap`, or
      // the `.deleted` files of replaced segments).
      const caughtAt: string[] = [];
      for (const [suffixes, extra] of [
        [['.cleaned'], ['log.segment.delete.delay.ms=0']],
        [['.swap', '.deleted'], ['log.segment.delete.delay.ms=3600000']],
      ] as const) {
        let caught = '';
        child = await start('log.cleaner.backoff.ms=100', 'log.cleaner.min.cleanable.ratio=0.01', ...extra);
        const deadline = Date.now() + 30_000;
        while (caught === '' && Date.now() < deadline) {
          caught = readdirSync(partitionDir).find((n) => suffixes.some((suffix) => n.endsWith(suffix))) ?? '';
          if (caught === '') await new Promise((r) => setTimeout(r, 1));
        }
        await kill(child);
        child = undefined;
        caughtAt.push(caught || `no ${suffixes.join(' or ')} file`);
      }
      const caught = caughtAt.join(', then ');
      // The first kill must have landed mid-rewrite (a .cleaned file on disk),
      // or this test would not be testing a crash during cleaning at all. The
      // second (after the swap started) is narrower and is only reported.
      expect(caughtAt[0], caught).toMatch(/\.cleaned$/);

      // 3. Restart in this process: recovery completes or drops the swap; the log is whole.
      broker = await startBroker({ overrides: { 'log.dirs': dir, listeners: `PLAINTEXT://127.0.0.1:${port}`, 'num.io.threads': 1, 'log.cleaner.enable': 'false' } });
      expect(readdirSync(partitionDir).filter((n) => n.endsWith('.cleaned') || n.endsWith('.swap'))).toEqual([]);
      const seen = await kcatConsume(bootstrap, topic, ['-p', '0']);
      expect(latest(seen)).toEqual(expected);
      const offsets = seen.map((m) => m.offset);
      expect([...offsets].sort((a, b) => a - b)).toEqual(offsets);
      console.log(`SIGKILL during cleaning: killed with ${caught || 'no cleaner file yet'} present; ${seen.length} records left of ${total}`);

      // 4. The cleaner then finishes the job on the recovered log.
      await broker.stop();
      broker = await startBroker({
        overrides: { 'log.dirs': dir, listeners: `PLAINTEXT://127.0.0.1:${port}`, 'num.io.threads': 1, 'log.cleaner.backoff.ms': 100, 'log.cleaner.min.cleanable.ratio': '0.01' },
      });
      let cleaned: KcatMessage[] = [];
      await until(async () => (cleaned = await kcatConsume(bootstrap, topic, ['-p', '0'])).length < total / 4, 'the cleaner to finish', 60_000);
      expect(latest(cleaned)).toEqual(expected);
    } finally {
      if (child) await kill(child);
      await broker?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// Real Kafka clients against a real Gregor broker: kafkajs (npm), kcat and
// confluent-kafka-python (librdkafka), kafka-python. Each client creates
// topics, produces keyed records with acks 0, 1 and all, reads them back
// exactly, and the broker survives clean and SIGKILL restarts with every
// acknowledged record. One broker serves the whole file (restarts aside).
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startBroker, type RunningBroker } from '../../src/index.js';
import { freePort, spawnBroker, stopProcess } from '../support/broker-process.js';
import { kcatConsume, type KcatMessage } from '../support/kcat.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';

function byPartition(messages: KcatMessage[]): Map<number, KcatMessage[]> {
  const out = new Map<number, KcatMessage[]>();
  for (const m of messages) out.set(m.partition, [...(out.get(m.partition) ?? []), m]);
  return out;
}

describe('real clients against one broker', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gregor-clients-'));
  let broker: RunningBroker;
  let bootstrap: string;
  const overrides = {
    'log.dirs': dir,
    'listeners': 'PLAINTEXT://127.0.0.1:0',
    'num.io.threads': 2,
    'num.network.threads': 2,
    'num.partitions': 3,
  };

  beforeAll(async () => {
    broker = await startBroker({ overrides });
    bootstrap = broker.bootstrapServers;
  });
  afterAll(async () => {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('kafkajs creates a topic, produces with acks 0, 1 and all, and kcat reads every record back in order', async () => {
    // kafkajs admin + producer; kcat as the reader (kafkajs' consumer needs consumer groups).
    const kafka = new Kafka({ clientId: 'gregor-test', brokers: [bootstrap], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic: 'kjs', numPartitions: 3 }] });
      expect(await admin.listTopics()).toContain('kjs');
      const producer = kafka.producer({ allowAutoTopicCreation: false });
      await producer.connect();
      const sent: { key: string | null; value: string; acks: number }[] = [];
      for (const acks of [1, -1, 0]) {
        const messages = Array.from({ length: 20 }, (_, i) => ({
          key: i % 5 === 0 ? null : `key-${i % 7}`,
          value: i % 6 === 0 ? '' : `acks${acks}-value-${i}`,
          headers: { origin: 'kafkajs', n: String(i) },
          timestamp: String(1_700_000_000_000 + i),
        }));
        await producer.send({ topic: 'kjs', acks, messages });
        sent.push(...messages.map((m) => ({ key: m.key, value: m.value, acks })));
      }
      await producer.disconnect();
      // acks=0 gets no response: wait until its records are visible.
      let received: KcatMessage[] = [];
      for (let attempt = 0; attempt < 50 && received.length < sent.length; attempt++) {
        received = await kcatConsume(bootstrap, 'kjs');
        if (received.length < sent.length) await new Promise((r) => setTimeout(r, 100));
      }
      expect(received).toHaveLength(sent.length);
      // Per partition, offsets are dense and records keep their send order.
      for (const [, messages] of byPartition(received)) {
        messages.forEach((m, i) => expect(m.offset).toBe(i));
      }
      const values = received.map((m) => m.payload ?? '');
      expect(new Set(values)).toEqual(new Set(sent.map((s) => s.value)));
      const sample = received.find((m) => m.payload === 'acks1-value-1')!;
      expect(sample.key).toBe('key-1');
      expect(sample.ts).toBe(1_700_000_000_001);
      expect(sample.headers).toEqual(['origin', 'kafkajs', 'n', '1']);
      expect(received.find((m) => m.payload === 'acks1-value-5')!.key).toBeNull();
      // Keys always land in the same partition.
      const partitionOfKey = new Map<string, number>();
      for (const m of received) {
        if (m.key === null) continue;
        expect(partitionOfKey.get(m.key) ?? m.partition).toBe(m.partition);
        partitionOfKey.set(m.key, m.partition);
      }

      const offsets = await admin.fetchTopicOffsetsByTimestamp('kjs', 1_700_000_000_010);
      for (const p of offsets) {
        const inPartition = received.filter((m) => m.partition === p.partition);
        const expected = inPartition.find((m) => m.ts >= 1_700_000_000_010);
        expect(Number(p.offset)).toBe(expected ? expected.offset : inPartition.length);
      }
      const metadata = await admin.fetchTopicMetadata({ topics: ['kjs'] });
      expect(metadata.topics[0]!.partitions).toHaveLength(3);

      await admin.deleteTopics({ topics: ['kjs'] });
      expect(await admin.listTopics()).not.toContain('kjs');
    } finally {
      await admin.disconnect();
    }
  });

  it('accepts a record just under message.max.bytes, refuses one above it with MESSAGE_TOO_LARGE, and serves the large one whole', async () => {
    // kafkajs sends the batches as they are; the broker enforces the limit (1048588 bytes with overhead).
    const kafka = new Kafka({ clientId: 'gregor-large', brokers: [bootstrap], logLevel: logLevel.NOTHING });
    const producer = kafka.producer({ allowAutoTopicCreation: true });
    await producer.connect();
    try {
      const near = 'x'.repeat(1_048_000);
      await producer.send({ topic: 'large', acks: -1, messages: [{ key: 'near', value: near }] });
      await expect(
        producer.send({ topic: 'large', acks: -1, messages: [{ key: 'over', value: 'y'.repeat(1_100_000) }] }),
      ).rejects.toThrow(/larger than the max message size/);
      const { stdout } = await run('kcat', ['-b', bootstrap, '-C', '-t', 'large', '-o', 'beginning', '-e', '-q', '-f', '%k %S\n', '-X', 'fetch.message.max.bytes=1024'], {
        timeout: 30_000,
        maxBuffer: 8 * 1024 * 1024,
      });
      // The only record comes back whole even though the consumer asked for 1 KiB per partition.
      expect(stdout.trim()).toBe(`near ${near.length}`);
    } finally {
      await producer.disconnect();
    }
  });

  it('kcat produces with auto topic creation and reads keys, values and offsets back', async () => {
    const input = Array.from({ length: 50 }, (_, i) => `k${i % 4}:value ${i}`).join('\n') + '\n';
    const producer = spawn('kcat', ['-b', bootstrap, '-P', '-t', 'kcat-auto', '-K:', '-X', 'acks=all'], { stdio: ['pipe', 'ignore', 'pipe'] });
    producer.stdin.end(input);
    const code = await new Promise<number | null>((r) => producer.on('exit', r));
    expect(code).toBe(0);
    const received = await kcatConsume(bootstrap, 'kcat-auto');
    expect(received).toHaveLength(50);
    for (const [, messages] of byPartition(received)) {
      const numbers = messages.map((m) => Number(m.payload!.split(' ')[1]));
      expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
    }
    expect(received.every((m) => m.key === `k${Number(m.payload!.split(' ')[1]) % 4}`)).toBe(true);
  });

  it('confluent-kafka-python (librdkafka) produces with acks 0, 1, all and consumes by assignment', async () => {
    const script = `
import json, sys
from confluent_kafka import Producer, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
bootstrap = sys.argv[1]
admin = AdminClient({'bootstrap.servers': bootstrap})
admin.create_topics([NewTopic('ck', num_partitions=2, replication_factor=1)])['ck'].result(10)
sent = []
for acks in ('0', '1', 'all'):
    p = Producer({'bootstrap.servers': bootstrap, 'acks': acks, 'max.in.flight': 5, 'linger.ms': 5})
    for i in range(200):
        key = None if i % 10 == 0 else ('k%d' % (i % 3)).encode()
        p.produce('ck', key=key, value=('%s-%d' % (acks, i)).encode(), headers=[('h', b'v')])
        sent.append(('%s-%d' % (acks, i)))
    assert p.flush(10) == 0
got = []
c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'unused', 'enable.auto.commit': False})
c.assign([TopicPartition('ck', 0, 0), TopicPartition('ck', 1, 0)])
idle = 0
while len(got) < len(sent) and idle < 50:
    m = c.poll(0.2)
    if m is None:
        idle += 1
        continue
    assert m.error() is None, m.error()
    got.append({'p': m.partition(), 'o': m.offset(), 'v': m.value().decode(), 'k': m.key().decode() if m.key() else None, 'h': [[k, v.decode()] for k, v in (m.headers() or [])]})
c.close()
print(json.dumps({'sent': sent, 'got': got}))
`;
    const { stdout } = await run(PYTHON, ['-c', script, bootstrap], { timeout: 60_000 });
    const { sent, got } = JSON.parse(stdout) as { sent: string[]; got: { p: number; o: number; v: string; k: string | null; h: [string, string][] }[] };
    expect(got).toHaveLength(sent.length);
    expect(got.every((g) => g.h.length === 1 && g.h[0]![0] === 'h' && g.h[0]![1] === 'v')).toBe(true);
    expect(got.filter((g) => g.k === null).length).toBe(60);
    expect(new Set(got.map((g) => g.v))).toEqual(new Set(sent));
    // max.in.flight 5 with acks=all: within a partition, send order is kept.
    for (const partition of [0, 1]) {
      const values = got.filter((g) => g.p === partition && g.v.startsWith('all-')).map((g) => Number(g.v.split('-')[1]));
      expect(values).toEqual([...values].sort((a, b) => a - b));
      got.filter((g) => g.p === partition).forEach((g, i) => expect(g.o).toBe(i));
    }
  });

  it('kafka-python creates a topic, produces with acks 0, 1 and all, consumes by assignment, lists offsets by time and deletes the topic', async () => {
    const script = `
import json, sys, time
from kafka import KafkaProducer, KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
bootstrap = sys.argv[1]
admin = KafkaAdminClient(bootstrap_servers=bootstrap)
admin.create_topics([NewTopic('kp', num_partitions=2, replication_factor=1)])
base = 1700000000000
i = 0
for acks in (0, 1, 'all'):
    p = KafkaProducer(bootstrap_servers=bootstrap, acks=acks)
    for _ in range(10):
        p.send('kp', key=b'key%d' % (i % 2), value=b'value %d' % i, headers=[('n', str(i).encode())], partition=i % 2, timestamp_ms=base + i)
        i += 1
    p.flush()
    p.close()
c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, consumer_timeout_ms=3000)
tps = [TopicPartition('kp', 0), TopicPartition('kp', 1)]
c.assign(tps)
c.seek_to_beginning()
got = []
deadline = time.time() + 20
while len(got) < 30 and time.time() < deadline:
    for m in c:
        got.append({'p': m.partition, 'o': m.offset, 'k': m.key.decode(), 'v': m.value.decode(), 'ts': m.timestamp, 'h': [[k, v.decode()] for k, v in m.headers]})
by_time = c.offsets_for_times({tp: base + 10 for tp in tps})
c.close()
admin.delete_topics(['kp'])
remaining = admin.list_topics()
admin.close()
print(json.dumps({'got': got, 'byTime': {str(tp.partition): o.offset for tp, o in by_time.items()}, 'remaining': remaining}))
`;
    const { stdout } = await run(PYTHON, ['-c', script, bootstrap], { timeout: 90_000 });
    const { got, byTime, remaining } = JSON.parse(stdout) as {
      got: { p: number; o: number; k: string; v: string; ts: number; h: string[][] }[];
      byTime: Record<string, number>;
      remaining: string[];
    };
    expect(got).toHaveLength(30);
    for (const m of got) {
      const i = Number(m.v.split(' ')[1]);
      expect(m.p).toBe(i % 2);
      expect(m.o).toBe(Math.floor(i / 2));
      expect(m.k).toBe(`key${i % 2}`);
      expect(m.ts).toBe(1_700_000_000_000 + i);
      expect(m.h).toEqual([['n', String(i)]]);
    }
    expect(byTime).toEqual({ '0': 5, '1': 5 });
    expect(remaining).not.toContain('kp');
  });

  it('kcat produces with acks 0, 1 and all and reads every record back with its timestamp and headers', async () => {
    for (const acks of ['0', '1', 'all']) {
      const input = Array.from({ length: 20 }, (_, i) => `k${i % 3}:${acks}-${i}`).join('\n') + '\n';
      const producer = spawn('kcat', ['-b', bootstrap, '-P', '-t', 'kcat-acks', '-K:', '-H', `acks=${acks}`, '-X', `acks=${acks}`], { stdio: ['pipe', 'ignore', 'pipe'] });
      producer.stdin.end(input);
      expect(await new Promise<number | null>((r) => producer.on('exit', r))).toBe(0);
    }
    let received: KcatMessage[] = [];
    for (let attempt = 0; attempt < 50 && received.length < 60; attempt++) {
      received = await kcatConsume(bootstrap, 'kcat-acks');
      if (received.length < 60) await new Promise((r) => setTimeout(r, 100));
    }
    expect(received).toHaveLength(60);
    for (const m of received) {
      const acks = m.payload!.split('-')[0]!;
      expect(m.headers).toEqual(['acks', acks]);
      expect(m.tstype).toBe('create');
      expect(m.ts).toBeGreaterThan(1_700_000_000_000);
    }
  });
});

describe('restarts', () => {
  it('keeps topics and every acknowledged record across a clean stop and a SIGKILL', async () => {
    // The broker runs as a program here, so that it can be killed.
    const dir = mkdtempSync(join(tmpdir(), 'gregor-restart-'));
    const port = await freePort();
    const start = () => spawnBroker({ 'log.dirs': dir, 'listeners': `PLAINTEXT://127.0.0.1:${port}` });
    const bootstrap = `127.0.0.1:${port}`;
    const produce = async (from: number, to: number) => {
      const input = Array.from({ length: to - from }, (_, i) => `k:${from + i}`).join('\n') + '\n';
      const p = spawn('kcat', ['-b', bootstrap, '-P', '-t', 'durable', '-K:', '-X', 'acks=all'], { stdio: ['pipe', 'ignore', 'ignore'] });
      p.stdin.end(input);
      expect(await new Promise((r) => p.on('exit', r))).toBe(0);
    };
    try {
      let broker = await start();
      await produce(0, 100);
      expect(await stopProcess(broker, 'SIGTERM')).toBe(0);
      broker = await start();
      await produce(100, 200);
      await stopProcess(broker, 'SIGKILL');
      broker = await start();
      try {
        const received = await kcatConsume(bootstrap, 'durable');
        expect(received.map((m) => Number(m.payload)).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
      } finally {
        await stopProcess(broker);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

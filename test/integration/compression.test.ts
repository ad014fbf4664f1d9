// Compressed batches with real clients against one Gregor broker. Every
// producer — kcat (-z), confluent-kafka-python (compression.type), kafkajs
// (gzip built in; kafkajs-snappy, kafkajs-lz4, and for zstd a codec on
// @mongodb-js/zstd because @kafkajs/zstd's cppzst does not build on Node 20),
// kafka-python (compression_type, Debian's python3-snappy/-lz4/-zstandard) —
// sends every codec; the batches are stored as produced (read back from the
// segment file) and every client consumes every topic back exactly. Then:
// topic and broker compression.type recompress on append (and the clients
// read what the broker wrote: xerial snappy, lz4 frames, gzip, zstd), a
// corrupt payload with a valid outer CRC is refused only where the broker
// decompresses, KIP-110's version rules for zstd, keys on compacted topics,
// and timestamp lookups inside compressed batches.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CompressionCodecs, CompressionTypes, Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { decodeRecordBatches, encodeRecordBatch, startBroker, type RunningBroker } from '../../src/index.js';
import { WireClient } from '../../src/client/wire-client.js';
import { dumpLogCommand } from '../../src/cli/dump-log.js';
import { FetchApi, IncrementalAlterConfigsApi, ListOffsetsApi, ProduceApi } from '../../src/protocol/generated/index.js';
import { crc32c } from '../../src/index.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const CLIENTS_PY = join(import.meta.dirname, 'compression', 'clients.py');
const CODECS = ['gzip', 'snappy', 'lz4', 'zstd'] as const;
type Codec = (typeof CODECS)[number];
const PRODUCERS = ['kcat', 'confluent', 'kafkajs', 'kafka-python'] as const;
type Producer = (typeof PRODUCERS)[number];
const T0 = 1_700_000_000_000;
const ErrorCodes = { NONE: 0, CORRUPT_MESSAGE: 2, UNSUPPORTED_COMPRESSION_TYPE: 76 } as const;

// kafkajs codecs: the npm packages where they build, zstd on @mongodb-js/zstd.
const requireCjs = createRequire(import.meta.url);
const SnappyCodec = requireCjs('kafkajs-snappy') as () => unknown;
const Lz4Codec = requireCjs('kafkajs-lz4') as new () => { codec: () => unknown };
const zstd = requireCjs('@mongodb-js/zstd') as { compress(b: Buffer): Promise<Buffer>; decompress(b: Buffer): Promise<Buffer> };
const codecs = CompressionCodecs as unknown as Record<number, () => unknown>;
codecs[CompressionTypes.Snappy] = SnappyCodec;
codecs[CompressionTypes.LZ4] = new Lz4Codec().codec;
codecs[CompressionTypes.ZSTD] = () => ({
  compress: (encoder: { buffer: Buffer }) => zstd.compress(encoder.buffer),
  decompress: (buffer: Buffer) => zstd.decompress(buffer),
});
const KAFKAJS_CODEC: Record<Codec, CompressionTypes> = {
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};

/** [offset, key, value] as every consumer reports it. */
type Row = [number, string | null, string | null];
type Consumed = Record<string, Row[]>;

/** JSON log lines: the kind of payload compression is for. */
function logLines(tag: string, count: number): [string, string][] {
  return Array.from({ length: count }, (_, i) => [
    `${tag}-k${i % 4}`,
    JSON.stringify({ ts: new Date(T0 + i * 1000).toISOString(), level: i % 9 === 0 ? 'WARN' : 'INFO', service: tag, msg: `handled request ${i} in ${(i * 37) % 200} ms`, path: `/api/v1/items/${i % 13}` }),
  ]);
}

function rows(records: [string, string][]): Row[] {
  return records.map(([k, v], i) => [i, k, v]);
}

async function python(action: 'produce' | 'consume', client: 'confluent' | 'kafka-python', config: unknown): Promise<Record<string, unknown>> {
  const { stdout } = await run(PYTHON, ['-B', CLIENTS_PY, action, client, JSON.stringify(config)], { timeout: 90_000, maxBuffer: 32 * 1024 * 1024 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

describe('compressed batches with real clients', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gregor-compression-'));
  let broker: RunningBroker;
  let bootstrap: string;
  let wire: WireClient;
  const produced = new Map<string, [string, string][]>();

  beforeAll(async () => {
    broker = await startBroker({
      overrides: {
        'log.dirs': dir,
        'listeners': 'PLAINTEXT://127.0.0.1:0',
        'num.io.threads': 2,
        'num.network.threads': 2,
        'num.partitions': 1,
        'group.initial.rebalance.delay.ms': 0,
      },
    });
    bootstrap = broker.bootstrapServers;
    wire = await WireClient.connect(bootstrap, 'compression-test');
  });
  afterAll(async () => {
    wire?.close();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const kafka = () => new Kafka({ clientId: 'compression-test', brokers: [bootstrap], logLevel: logLevel.NOTHING });

  async function createTopic(topic: string, configs: Record<string, string> = {}): Promise<void> {
    const admin = kafka().admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })) }] });
    } finally {
      await admin.disconnect();
    }
  }

  /** The stored batches of partition 0, straight from the segment file. */
  function storedBatches(topic: string) {
    return decodeRecordBatches(readFileSync(join(dir, `${topic}-0`, '00000000000000000000.log')));
  }

  async function produceWith(producer: Producer, topic: string, codec: Codec | 'none', records: [string, string][]): Promise<void> {
    switch (producer) {
      case 'kcat': {
        const args = ['-b', bootstrap, '-P', '-t', topic, '-p', '0', '-K', '|', '-X', 'linger.ms=50'];
        if (codec !== 'none') args.push('-z', codec);
        await new Promise<void>((resolve, reject) => {
          const child = spawn('kcat', args, { stdio: ['pipe', 'ignore', 'pipe'] });
          let stderr = '';
          child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
          child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`kcat exited ${code}: ${stderr}`))));
          child.stdin.end(records.map(([k, v]) => `${k}|${v}\n`).join(''));
        });
        return;
      }
      case 'kafkajs': {
        const p = kafka().producer({ allowAutoTopicCreation: true });
        await p.connect();
        try {
          await p.send({
            topic,
            acks: -1,
            ...(codec === 'none' ? {} : { compression: KAFKAJS_CODEC[codec] }),
            messages: records.map(([key, value]) => ({ key, value, partition: 0, headers: { codec } })),
          });
        } finally {
          await p.disconnect();
        }
        return;
      }
      default: {
        if (codec === 'none') throw new Error('python producers here always compress');
        const result = await python('produce', producer, { bootstrap, topic, codec, records });
        expect(result, `${producer} ${codec}`).toMatchObject({ ok: true });
      }
    }
  }

  async function kcatConsume(topics: Record<string, number>): Promise<Consumed> {
    const out: Consumed = {};
    for (const [topic, count] of Object.entries(topics)) {
      const { stdout } = await run('kcat', ['-b', bootstrap, '-C', '-t', topic, '-p', '0', '-o', 'beginning', '-c', String(count), '-e', '-J', '-q'], { timeout: 30_000, maxBuffer: 16 * 1024 * 1024 });
      out[topic] = stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => {
          const m = JSON.parse(line) as { offset: number; key: string | null; payload: string | null };
          return [m.offset, m.key, m.payload] as Row;
        });
    }
    return out;
  }

  let groupCounter = 0;
  async function kafkajsConsume(topics: Record<string, number>): Promise<Consumed> {
    const consumer = kafka().consumer({ groupId: `compression-${groupCounter++}`, maxWaitTimeInMs: 100 });
    const got: Consumed = Object.fromEntries(Object.keys(topics).map((t) => [t, []]));
    const done = () => Object.entries(topics).every(([t, n]) => got[t]!.length >= n);
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: Object.keys(topics), fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`kafkajs consumed ${JSON.stringify(Object.fromEntries(Object.entries(got).map(([t, r]) => [t, r.length])))}`)), 45_000);
        void consumer.run({
          eachMessage: async ({ topic, message }) => {
            got[topic]!.push([Number(message.offset), message.key?.toString() ?? null, message.value?.toString() ?? null]);
            if (done()) {
              clearTimeout(timer);
              resolve();
            }
          },
        });
      });
    } finally {
      await consumer.disconnect();
    }
    return got;
  }

  async function consumeWith(consumer: Producer, topics: Record<string, number>): Promise<Consumed> {
    if (consumer === 'kcat') return kcatConsume(topics);
    if (consumer === 'kafkajs') return kafkajsConsume(topics);
    const result = (await python('consume', consumer, { bootstrap, topics })) as { records: Consumed; errors: Record<string, string> };
    expect(result.errors, consumer).toEqual({});
    return result.records;
  }

  for (const producer of PRODUCERS) {
    it(`${producer} produces gzip, snappy, lz4 and zstd; each batch is stored in the producer's codec`, async () => {
      // Stored as produced: the segment's batches carry the client's codec and decode to what was sent.
      for (const codec of CODECS) {
        const topic = `by-${producer}-${codec}`;
        const records = logLines(`${producer}-${codec}`, 40);
        await produceWith(producer, topic, codec, records);
        produced.set(topic, records);
        const batches = storedBatches(topic);
        expect(batches.length, topic).toBeGreaterThan(0);
        expect(new Set(batches.map((b) => b.compression)), topic).toEqual(new Set([codec]));
        expect(batches.flatMap((b) => b.records.map((r) => [r.key?.toString(), r.value?.toString()])), topic).toEqual(records);
      }
    });
  }

  for (const consumer of PRODUCERS) {
    it(`${consumer} consumes every client's batches in every codec back exactly`, async () => {
      const topics = Object.fromEntries([...produced].map(([t, r]) => [t, r.length]));
      expect(Object.keys(topics)).toHaveLength(PRODUCERS.length * CODECS.length);
      const got = await consumeWith(consumer, topics);
      for (const [topic, records] of produced) expect(got[topic], `${consumer} reading ${topic}`).toEqual(rows(records));
    });
  }

  it('a topic with compression.type=zstd stores lz4 from kcat as zstd; clients read it, and Fetch before v10 gets UNSUPPORTED_COMPRESSION_TYPE', async () => {
    // Recompression on append (KIP-110's rule for old fetchers included); dump-log shows the stored codec.
    await createTopic('to-zstd', { 'compression.type': 'zstd', 'compression.zstd.level': '9' });
    const records = logLines('to-zstd', 60);
    await produceWith('kcat', 'to-zstd', 'lz4', records);
    const batches = storedBatches('to-zstd');
    expect(new Set(batches.map((b) => b.compression))).toEqual(new Set(['zstd']));
    expect(batches.flatMap((b) => b.records.map((r) => [r.key?.toString(), r.value?.toString()]))).toEqual(records);
    const dumped: string[] = [];
    await dumpLogCommand(['--files', join(dir, 'to-zstd-0', '00000000000000000000.log'), '--print-data-log'], (line) => dumped.push(line));
    expect(dumped.filter((l) => l.includes('compresscodec: zstd')).length).toBe(batches.length);
    expect(dumped.some((l) => l.includes('key: to-zstd-k1 payload: {'))).toBe(true);

    for (const consumer of ['kcat', 'confluent', 'kafkajs'] as const) {
      expect((await consumeWith(consumer, { 'to-zstd': 60 }))['to-zstd'], consumer).toEqual(rows(records));
    }
    const fetch = (version: number) =>
      wire.request(FetchApi, version, {
        replicaId: -1,
        maxWaitMs: 0,
        minBytes: 1,
        maxBytes: 1 << 20,
        isolationLevel: 0,
        topics: [{ topic: 'to-zstd', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1 << 20 }] }],
      });
    const old = await fetch(9);
    expect(old.responses[0]!.partitions[0]!.errorCode).toBe(ErrorCodes.UNSUPPORTED_COMPRESSION_TYPE);
    const current = await fetch(10);
    expect(current.responses[0]!.partitions[0]!.errorCode).toBe(ErrorCodes.NONE);
    expect(decodeRecordBatches(current.responses[0]!.partitions[0]!.records!)[0]!.compression).toBe('zstd');
  });

  it('the broker writes gzip, xerial snappy and lz4 that kafka-python, confluent-kafka-python, kcat and kafkajs read', async () => {
    // Topics compress what kcat sends uncompressed; kafka-python checks the xerial header byte for byte.
    const topics: Record<string, number> = {};
    const expected = new Map<string, [string, string][]>();
    for (const codec of ['gzip', 'snappy', 'lz4'] as const) {
      const topic = `broker-${codec}`;
      await createTopic(topic, { 'compression.type': codec });
      const records = logLines(topic, 30);
      await produceWith('kcat', topic, 'none', records);
      expect(new Set(storedBatches(topic).map((b) => b.compression)), topic).toEqual(new Set([codec]));
      topics[topic] = records.length;
      expected.set(topic, records);
    }
    const stored = readFileSync(join(dir, 'broker-snappy-0', '00000000000000000000.log'));
    expect(stored.subarray(61, 77).toString('hex')).toBe('82534e41505059000000000100000001');
    for (const consumer of PRODUCERS) {
      const got = await consumeWith(consumer, topics);
      for (const [topic, records] of expected) expect(got[topic], `${consumer} reading ${topic}`).toEqual(rows(records));
    }
  });

  it('the broker-wide compression.type (a dynamic cluster default) applies to topics without their own', async () => {
    const set = (value: string | null) =>
      wire.request(IncrementalAlterConfigsApi, 1, {
        resources: [{ resourceType: 4, resourceName: '', configs: [{ name: 'compression.type', configOperation: value === null ? 1 : 0, value }] }],
        validateOnly: false,
      });
    expect((await set('snappy')).responses[0]!.errorCode).toBe(0);
    try {
      await createTopic('inherits-snappy');
      await createTopic('keeps-producer', { 'compression.type': 'producer' });
      const records = logLines('inherits', 10);
      await produceWith('kafkajs', 'inherits-snappy', 'gzip', records);
      await produceWith('kafkajs', 'keeps-producer', 'gzip', records);
      expect(storedBatches('inherits-snappy').map((b) => b.compression)).toEqual(['snappy']);
      expect(storedBatches('keeps-producer').map((b) => b.compression)).toEqual(['gzip']);
      expect((await consumeWith('kafka-python', { 'inherits-snappy': 10 }))['inherits-snappy']).toEqual(rows(records));
    } finally {
      expect((await set(null)).responses[0]!.errorCode).toBe(0);
    }
  });

  /** An lz4 batch whose payload is garbage while its outer CRC is valid. */
  function corruptLz4Batch(): Buffer {
    const batch = Buffer.from(encodeRecordBatch(logLines('corrupt', 20).map(([key, value]) => ({ key, value })), { compression: 'lz4', timestamp: T0 }));
    batch.fill(0x41, 61 + 4, batch.length - 2);
    batch.writeUInt32BE(crc32c(batch.subarray(21)), 17);
    return batch;
  }

  async function rawProduce(topic: string, records: Buffer, version = 9): Promise<{ errorCode: number; errorMessage: string | null }> {
    const response = await wire.request(ProduceApi, version, {
      transactionalId: null,
      acks: -1,
      timeoutMs: 10_000,
      topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
    });
    const partition = response.responses[0]!.partitionResponses[0]!;
    return { errorCode: partition.errorCode, errorMessage: partition.errorMessage ?? null };
  }

  async function logEndOffset(topic: string): Promise<number> {
    const response = await wire.request(ListOffsetsApi, 5, {
      replicaId: -1,
      isolationLevel: 0,
      topics: [{ name: topic, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n }] }],
    });
    return Number(response.topics[0]!.partitions[0]!.offset);
  }

  it('a corrupt compressed payload with a valid outer CRC gets CORRUPT_MESSAGE only where the broker decompresses it, and nothing is written', async () => {
    // producer + shallow: outer CRC only, stored; recompression or full validation: refused, log unchanged.
    await createTopic('corrupt-stored');
    await createTopic('corrupt-recompressed', { 'compression.type': 'gzip' });
    await createTopic('corrupt-strict', { 'gregor.record.validation': 'full' });
    expect(await rawProduce('corrupt-stored', corruptLz4Batch())).toMatchObject({ errorCode: ErrorCodes.NONE });
    expect(await logEndOffset('corrupt-stored')).toBe(20);
    for (const topic of ['corrupt-recompressed', 'corrupt-strict']) {
      const result = await rawProduce(topic, corruptLz4Batch());
      expect(result.errorCode, topic).toBe(ErrorCodes.CORRUPT_MESSAGE);
      expect(result.errorMessage, topic).toMatch(/lz4/);
      expect(await logEndOffset(topic), topic).toBe(0);
    }
    // The same topics take well-formed compressed batches.
    const good = encodeRecordBatch([{ key: 'k', value: 'fine' }], { compression: 'lz4', timestamp: T0 });
    expect(await rawProduce('corrupt-strict', good)).toMatchObject({ errorCode: ErrorCodes.NONE });
    expect(await rawProduce('corrupt-recompressed', good)).toMatchObject({ errorCode: ErrorCodes.NONE });
    expect(storedBatches('corrupt-recompressed').map((b) => b.compression)).toEqual(['gzip']);
  });

  it('zstd needs Produce v7 (KIP-110): an older Produce gets UNSUPPORTED_COMPRESSION_TYPE', async () => {
    await createTopic('zstd-versions');
    const batch = encodeRecordBatch([{ key: 'k', value: 'v' }], { compression: 'zstd', timestamp: T0 });
    expect(await rawProduce('zstd-versions', batch, 6)).toMatchObject({ errorCode: ErrorCodes.UNSUPPORTED_COMPRESSION_TYPE });
    expect(await rawProduce('zstd-versions', batch, 7)).toMatchObject({ errorCode: ErrorCodes.NONE });
    expect(await logEndOffset('zstd-versions')).toBe(1);
  });

  it('a compacted topic refuses a compressed batch holding a record without a key (INVALID_RECORD)', async () => {
    await createTopic('compacted', { 'cleanup.policy': 'compact' });
    const producer = kafka().producer();
    await producer.connect();
    try {
      await expect(
        producer.send({ topic: 'compacted', compression: CompressionTypes.GZIP, messages: [{ key: 'a', value: '1' }, { key: null, value: '2' }] }),
      ).rejects.toMatchObject({ type: 'INVALID_RECORD' });
      await producer.send({ topic: 'compacted', compression: CompressionTypes.GZIP, messages: [{ key: 'a', value: '1' }, { key: 'b', value: '2' }] });
    } finally {
      await producer.disconnect();
    }
    expect(await logEndOffset('compacted')).toBe(2);
  });

  it('ListOffsets by timestamp answers with the record inside a compressed batch, not the batch start', async () => {
    await createTopic('by-time');
    const producer = kafka().producer();
    await producer.connect();
    try {
      await producer.send({
        topic: 'by-time',
        compression: CompressionTypes.ZSTD,
        messages: Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, timestamp: String(T0 + i * 10) })),
      });
    } finally {
      await producer.disconnect();
    }
    expect(storedBatches('by-time').map((b) => b.compression)).toEqual(['zstd']);
    const admin = kafka().admin();
    await admin.connect();
    try {
      expect((await admin.fetchTopicOffsetsByTimestamp('by-time', T0 + 55))[0]).toMatchObject({ partition: 0, offset: '6' });
      expect((await admin.fetchTopicOffsetsByTimestamp('by-time', T0))[0]).toMatchObject({ partition: 0, offset: '0' });
    } finally {
      await admin.disconnect();
    }
    // kafka-python's offsets_for_times (ListOffsets v1+) agrees.
    const script = `
import sys
from kafka import KafkaConsumer, TopicPartition
c = KafkaConsumer(bootstrap_servers=sys.argv[1])
tp = TopicPartition('by-time', 0)
r = c.offsets_for_times({tp: ${T0 + 31}})[tp]
print(r.offset, r.timestamp)
c.close()
`;
    const { stdout } = await run(PYTHON, ['-c', script, bootstrap], { timeout: 60_000 });
    expect(stdout.trim()).toBe(`4 ${T0 + 40}`);
  });
});

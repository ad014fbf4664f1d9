// Retention with real clients (kafkajs, kcat) against a real broker:
// retention.ms and retention.bytes delete whole segments (periodically, every
// log.retention.check.interval.ms, and when a segment rolls), the earliest
// offset follows, a fetch below it gets OFFSET_OUT_OF_RANGE and the clients
// reset as auto.offset.reset says; topic overrides change at runtime through
// `gregor configs` (IncrementalAlterConfigs); deleted segment files stay as
// `.deleted` for file.delete.delay.ms, DeleteRecords shares that mechanism,
// and a restart after a crash removes leftovers. The last part fills a small
// tmpfs: produce gets KAFKA_STORAGE_ERROR, reads keep working, nothing
// written is damaged, and produce resumes once there is room again.
import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel, type Admin, type Message } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { encodeRecordBatch, startBroker, type RunningBroker } from '../../src/index.js';
import { WireClient } from '../../src/client/wire-client.js';
import { freePort, spawnBroker, stopProcess } from '../support/broker-process.js';
import { kcatConsume, until } from '../support/kcat.js';
import { produceToPartition0 } from '../support/kafkajs.js';
import { FetchApi, ProduceApi, type FetchResponse, type ProduceResponse } from '../../src/protocol/generated/index.js';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '../../dist/cli/main.js');
const HOUR = 3_600_000;
const OFFSET_OUT_OF_RANGE = 1;
const KAFKA_STORAGE_ERROR = 56;

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

/** Segment files of a partition directory with this suffix, sorted. */
function filesOf(partitionDir: string, suffix: string): string[] {
  return readdirSync(partitionDir)
    .filter((n) => n.endsWith(suffix))
    .sort();
}

/** [base offset, size] of every live segment (.log) of a partition directory. */
function segmentsOnDisk(partitionDir: string): [number, number][] {
  return filesOf(partitionDir, '.log').map((n) => [Number(n.slice(0, 20)), statSync(join(partitionDir, n)).size]);
}

async function fetchAt(bootstrap: string, topic: string, offset: bigint): Promise<FetchResponse['responses'][number]['partitions'][number]> {
  const client = await WireClient.connect(bootstrap, 'retention-test');
  try {
    const response = (await client.request(FetchApi, 12, {
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 1 << 20,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [{ topic, partitions: [{ partition: 0, fetchOffset: offset, partitionMaxBytes: 1 << 20 }] }],
      forgottenTopicsData: [],
    })) as FetchResponse;
    return response.responses[0]!.partitions[0]!;
  } finally {
    client.close();
  }
}

describe('retention against one broker', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gregor-retention-'));
  let broker: RunningBroker;
  let kafka: Kafka;
  let admin: Admin;

  beforeAll(async () => {
    broker = await startBroker({
      overrides: {
        'log.dirs': dir,
        'listeners': 'PLAINTEXT://127.0.0.1:0',
        'num.io.threads': 2,
        'num.network.threads': 2,
        'log.retention.check.interval.ms': 200,
        'group.initial.rebalance.delay.ms': 0,
        'offsets.topic.num.partitions': 1,
      },
    });
    kafka = new Kafka({ clientId: 'retention-test', brokers: [broker.bootstrapServers], logLevel: logLevel.NOTHING });
    admin = kafka.admin();
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.disconnect();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const partitionDir = (topic: string) => join(dir, `${topic}-0`);

  async function offsets(topic: string): Promise<{ low: number; high: number }> {
    const [p] = await admin.fetchTopicOffsets(topic);
    return { low: Number(p!.low), high: Number(p!.high) };
  }

  const produce = (topic: string, messages: Message[], perBatch = 1) => produceToPartition0(kafka, topic, messages, perBatch);

  async function createTopic(topic: string, configs: Record<string, string>): Promise<void> {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: 1, configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })) }],
    });
  }

  it('retention.ms deletes whole segments whose newest record is too old; earliest offset, Fetch and the clients follow', async () => {
    // Old CreateTime timestamps from kafkajs; the periodic check and rolls delete; kcat and a kafkajs group read what is left.
    const topic = 'by-time';
    const old = Date.now() - 3 * HOUR;
    const pad = 'x'.repeat(100);
    // Five records of ~125 bytes make a batch of ~700 bytes: one batch per segment.
    await createTopic(topic, { 'retention.ms': String(HOUR), 'segment.bytes': '1000', 'file.delete.delay.ms': '0' });
    await produce(topic, range(0, 20).map((i) => ({ key: `old-${i}`, value: `old-${i}-${pad}`, timestamp: String(old + i) })), 5);
    // Every segment is old, the active one too: the check rolls it and everything goes.
    await until(async () => (await offsets(topic)).low === 20, 'the old segments to go');
    expect(await offsets(topic)).toEqual({ low: 20, high: 20 });
    expect(await kcatConsume(broker.bootstrapServers, topic, ['-p', '0', '-o', 'beginning'], 30_000)).toEqual([]);

    // One batch of old and new records (its newest record is new), then new ones: whole segments only, so the old records in it stay.
    const now = Date.now();
    await produce(topic, [
      ...range(20, 23).map((i) => ({ key: `old-${i}`, value: `old-${i}-${pad}`, timestamp: String(old + i) })),
      ...range(23, 25).map((i) => ({ key: `new-${i}`, value: `new-${i}-${pad}`, timestamp: String(now) })),
    ], 5);
    await produce(topic, range(25, 30).map((i) => ({ key: `new-${i}`, value: `new-${i}-${pad}`, timestamp: String(now) })), 5);
    await new Promise((r) => setTimeout(r, 600)); // a few checks
    expect(await offsets(topic)).toEqual({ low: 20, high: 30 });
    expect(segmentsOnDisk(partitionDir(topic)).map(([base]) => base)).toEqual([20, 25]);

    const expected = range(20, 30).map((i) => (i < 23 ? `old-${i}` : `new-${i}`));
    const fromStart = await kcatConsume(broker.bootstrapServers, topic, ['-p', '0', '-o', 'beginning'], 30_000);
    expect(fromStart.map((m) => [m.offset, m.key])).toEqual(range(20, 30).map((o, i) => [o, expected[i]]));
    // ListOffsets by timestamp answers from what is left.
    expect(await admin.fetchTopicOffsetsByTimestamp(topic, old)).toEqual([{ partition: 0, offset: '20' }]);

    // Below the log start: OFFSET_OUT_OF_RANGE, with the log start in the answer.
    const below = await fetchAt(broker.bootstrapServers, topic, 3n);
    expect(below.errorCode).toBe(OFFSET_OUT_OF_RANGE);
    expect(below.logStartOffset).toBe(20n);
    expect((await fetchAt(broker.bootstrapServers, topic, 20n)).errorCode).toBe(0);

    // librdkafka resets an out-of-range offset as auto.offset.reset says.
    const earliest = await kcatConsume(broker.bootstrapServers, topic, ['-p', '0', '-o', '3', '-X', 'auto.offset.reset=earliest'], 30_000);
    expect(earliest.map((m) => m.offset)).toEqual(range(20, 30));
    expect(await kcatConsume(broker.bootstrapServers, topic, ['-p', '0', '-o', '3', '-X', 'auto.offset.reset=latest'], 30_000)).toEqual([]);

    // A kafkajs group whose committed offset was deleted starts over from the earliest offset (fromBeginning).
    await admin.setOffsets({ groupId: 'by-time-group', topic, partitions: [{ partition: 0, offset: '3' }] });
    const consumer = kafka.consumer({ groupId: 'by-time-group', retry: { retries: 2 } });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      const seen: number[] = [];
      await consumer.run({ eachMessage: async ({ message }) => void seen.push(Number(message.offset)) });
      await until(() => seen.length >= 10, 'the kafkajs consumer to read the retained records');
      expect(seen).toEqual(range(20, 30));
    } finally {
      await consumer.disconnect();
    }
  });

  it('retention.bytes keeps the newest segments that hold at least retention.bytes, deleting as segments roll', async () => {
    // Proves Kafka's size rule on the files themselves, and that the earliest offset is the first file's base offset.
    const topic = 'by-size';
    const retentionBytes = 2500;
    await createTopic(topic, { 'retention.bytes': String(retentionBytes), 'segment.bytes': '1000', 'file.delete.delay.ms': '0' });
    const value = (i: number) => `${i}:${'v'.repeat(200)}`;
    await produce(topic, range(0, 60).map((i) => ({ key: `k${i}`, value: value(i) })));
    const sizeRuleHolds = (): boolean => {
      const segments = segmentsOnDisk(partitionDir(topic));
      const total = segments.reduce((n, [, size]) => n + size, 0);
      return total >= retentionBytes && total - segments[0]![1] < retentionBytes;
    };
    await until(sizeRuleHolds, 'retention.bytes to be applied');
    const segments = segmentsOnDisk(partitionDir(topic));
    expect(segments.length).toBeGreaterThan(2);
    const { low, high } = await offsets(topic);
    expect(low).toBe(segments[0]![0]);
    expect(high).toBe(60);
    const left = await kcatConsume(broker.bootstrapServers, topic, ['-p', '0', '-o', 'beginning'], 30_000);
    expect(left.map((m) => [m.offset, m.payload])).toEqual(range(low, 60).map((i) => [i, value(i)]));
  });

  it('takes topic overrides changed at runtime with `gregor configs` (IncrementalAlterConfigs)', async () => {
    // Proves retention.ms set and deleted through the CLI applies to the next check, including rolling the active segment.
    const topic = 'runtime';
    await createTopic(topic, { 'file.delete.delay.ms': '0' });
    await produce(topic, range(0, 10).map((i) => ({ key: `k${i}`, value: `v${i}` })), 5);
    await new Promise((r) => setTimeout(r, 600)); // a few checks: the broker default (7 days) keeps everything
    expect(await offsets(topic)).toEqual({ low: 0, high: 10 });

    const bs = ['--bootstrap-server', broker.bootstrapServers, '--entity-type', 'topics', '--entity-name', topic];
    await run(process.execPath, [CLI, 'configs', ...bs, '--alter', '--add-config', 'retention.ms=1000'], { timeout: 30_000 });
    const { stdout } = await run(process.execPath, [CLI, 'configs', ...bs, '--describe'], { timeout: 30_000 });
    expect(stdout).toContain('retention.ms=1000');
    await until(async () => (await offsets(topic)).low === 10, 'the records to pass retention.ms=1000');
    expect(await offsets(topic)).toEqual({ low: 10, high: 10 });
    expect(await kcatConsume(broker.bootstrapServers, topic, ['-p', '0', '-o', 'beginning'], 30_000)).toEqual([]);

    await run(process.execPath, [CLI, 'configs', ...bs, '--alter', '--delete-config', 'retention.ms'], { timeout: 30_000 });
    await produce(topic, range(10, 15).map((i) => ({ key: `k${i}`, value: `v${i}` })), 5);
    await new Promise((r) => setTimeout(r, 1500)); // past the old 1000 ms, over several checks
    expect(await offsets(topic)).toEqual({ low: 10, high: 15 });
    expect((await kcatConsume(broker.bootstrapServers, topic, ['-p', '0', '-o', 'beginning'], 30_000)).map((m) => m.offset)).toEqual(range(10, 15));
  });

  it('keeps deleted segments as .deleted files for file.delete.delay.ms, for retention and DeleteRecords alike', async () => {
    // Proves Kafka's asynchronous file deletion: renamed at once, unlinked after the delay; the data is gone for clients at once.
    const topic = 'delayed';
    await createTopic(topic, { 'file.delete.delay.ms': '2000', 'segment.bytes': '1000' });
    const pad = 'p'.repeat(300);
    await produce(topic, range(0, 12).map((i) => ({ key: `k${i}`, value: `${i}-${pad}` })));
    const bases = segmentsOnDisk(partitionDir(topic)).map(([base]) => base);
    expect(bases.length).toBeGreaterThan(3);
    // DeleteRecords up to the third segment's base: the first two go, through the same mechanism as retention.
    // (kafkajs needs the topic in its metadata first.)
    expect(await offsets(topic)).toEqual({ low: 0, high: 12 });
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: String(bases[2]) }] });
    const deleted = filesOf(partitionDir(topic), '.deleted');
    expect(deleted).toEqual(
      bases
        .slice(0, 2)
        .flatMap((b) => ['.index', '.log', '.timeindex'].map((s) => `${String(b).padStart(20, '0')}${s}.deleted`))
        .sort(),
    );
    expect(await offsets(topic)).toEqual({ low: bases[2], high: 12 });
    expect((await kcatConsume(broker.bootstrapServers, topic, ['-p', '0', '-o', 'beginning'], 30_000)).map((m) => m.offset)).toEqual(range(bases[2]!, 12));

    // Retention: everything past retention.bytes=0 goes the same way.
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: topic, configEntries: [{ name: 'file.delete.delay.ms', value: '2000' }, { name: 'segment.bytes', value: '1000' }, { name: 'retention.bytes', value: '0' }] }] });
    await until(async () => (await offsets(topic)).low === 12, 'retention.bytes=0 to empty the log');
    expect(filesOf(partitionDir(topic), '.log.deleted').length).toBeGreaterThanOrEqual(bases.length - 2);
    await until(() => filesOf(partitionDir(topic), '.deleted').length === 0, 'the .deleted files to be unlinked');
    expect(segmentsOnDisk(partitionDir(topic))).toEqual([[12, 0]]);
  });
});

describe('leftover .deleted files', () => {
  it('are removed when the broker restarts after a SIGKILL, and at a clean stop', async () => {
    // The broker runs as a program so that it can be killed while files wait for a long file.delete.delay.ms.
    const dir = mkdtempSync(join(tmpdir(), 'gregor-retention-kill-'));
    const port = await freePort();
    const bootstrap = `127.0.0.1:${port}`;
    const partitionDir = join(dir, 'leftovers-0');
    const start = () => spawnBroker({ 'log.dirs': dir, 'listeners': `PLAINTEXT://127.0.0.1:${port}` });
    const kafka = new Kafka({ clientId: 'retention-kill', brokers: [bootstrap], logLevel: logLevel.NOTHING });
    let child: ChildProcess | undefined;
    let broker: RunningBroker | undefined;
    try {
      child = await start();
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic: 'leftovers', numPartitions: 1, configEntries: [{ name: 'file.delete.delay.ms', value: '3600000' }, { name: 'segment.bytes', value: '1000' }] }] });
      const producer = kafka.producer({ allowAutoTopicCreation: false });
      await producer.connect();
      for (let i = 0; i < 12; i++) await producer.send({ topic: 'leftovers', acks: -1, messages: [{ partition: 0, key: `k${i}`, value: `${i}-${'p'.repeat(300)}` }] });
      await producer.disconnect();
      const bases = segmentsOnDisk(partitionDir).map(([base]) => base);
      await admin.fetchTopicOffsets('leftovers'); // kafkajs needs the topic in its metadata first
      await admin.deleteTopicRecords({ topic: 'leftovers', partitions: [{ partition: 0, offset: String(bases[2]) }] });
      await admin.disconnect();
      expect(filesOf(partitionDir, '.deleted')).toHaveLength(6);

      await stopProcess(child, 'SIGKILL');
      child = undefined;
      expect(filesOf(partitionDir, '.deleted')).toHaveLength(6);

      broker = await startBroker({ overrides: { 'log.dirs': dir, listeners: `PLAINTEXT://127.0.0.1:${port}`, 'num.io.threads': 1 } });
      expect(filesOf(partitionDir, '.deleted')).toEqual([]);
      const left = await kcatConsume(bootstrap, 'leftovers', ['-p', '0', '-o', 'beginning'], 30_000);
      expect(left.map((m) => m.offset)).toEqual(range(bases[2]!, 12));

      // A clean stop does not wait for the delay either.
      const admin2 = kafka.admin();
      await admin2.connect();
      await admin2.fetchTopicOffsets('leftovers');
      await admin2.deleteTopicRecords({ topic: 'leftovers', partitions: [{ partition: 0, offset: String(bases[3]) }] });
      await admin2.disconnect();
      expect(filesOf(partitionDir, '.deleted')).toHaveLength(3);
      await broker.stop();
      broker = undefined;
      expect(filesOf(partitionDir, '.deleted')).toEqual([]);
    } finally {
      child?.kill('SIGKILL');
      await broker?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a full disk (8 MiB tmpfs)', () => {
  let mountPoint = '';
  let dataDir = '';
  let mounted = false;
  let broker: RunningBroker | undefined;
  let client: WireClient | undefined;

  beforeAll(async () => {
    mountPoint = mkdtempSync(join(tmpdir(), 'gregor-full-'));
    dataDir = join(mountPoint, 'data');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mountPoint], { stdio: 'pipe' });
      mounted = true;
    } catch (error) {
      console.warn(`SKIPPED: the full-disk test needs to mount a tmpfs (run as root): ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`);
      return;
    }
    mkdirSync(dataDir);
    broker = await startBroker({ overrides: { 'log.dirs': dataDir, listeners: 'PLAINTEXT://127.0.0.1:0', 'num.io.threads': 1, 'num.network.threads': 1 } });
    client = await WireClient.connect(broker.bootstrapServers, 'full-disk-test');
  });
  afterAll(async () => {
    client?.close();
    try {
      // (A stop on a still-full disk cannot write its checkpoints; the mount goes anyway.)
      await broker?.stop().catch((error: unknown) => console.warn(`broker stop: ${(error as Error).message}`));
    } finally {
      if (mounted) execFileSync('umount', ['-l', mountPoint]);
      if (mountPoint) rmSync(mountPoint, { recursive: true, force: true });
    }
  });

  /** Fills the filesystem with `name` until ENOSPC; returns how many bytes it took. */
  function fill(name: string, limit = Number.MAX_SAFE_INTEGER): number {
    const fd = openSync(join(mountPoint, name), 'w');
    const chunk = Buffer.alloc(64 * 1024, 1);
    let written = 0;
    try {
      while (written < limit) {
        written += writeSync(fd, chunk, 0, Math.min(chunk.length, limit - written));
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    } finally {
      closeSync(fd);
    }
    return written;
  }

  async function produceRaw(topic: string, value: Buffer | string): Promise<ProduceResponse['responses'][number]['partitionResponses'][number]> {
    const response = (await client!.request(ProduceApi, 9, {
      acks: -1,
      timeoutMs: 5000,
      topicData: [{ name: topic, partitionData: [{ index: 0, records: encodeRecordBatch([{ key: 'k', value }]) }] }],
    })) as ProduceResponse;
    return response.responses[0]!.partitionResponses[0]!;
  }

  it('answers produce with KAFKA_STORAGE_ERROR, keeps serving reads, damages nothing, and takes writes again once there is room', async (context) => {
    if (!mounted) context.skip();
    const bootstrap = broker!.bootstrapServers;
    const topic = 'full';
    const kafka = new Kafka({ clientId: 'full-disk', brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
    const admin = kafka.admin();
    await admin.connect();
    const logFile = join(dataDir, `${topic}-0`, `${'0'.repeat(20)}.log`);
    const acked: string[] = [];
    try {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'segment.bytes', value: String(4 << 20) }] }] });
      for (let i = 0; i < 20; i++) {
        const r = await produceRaw(topic, `before-${i}`);
        expect(r.errorCode).toBe(0);
        acked.push(`before-${i}`);
      }
      // A second topic whose next append must roll a new segment.
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic: 'full-roll', numPartitions: 1, configEntries: [{ name: 'segment.bytes', value: '65536' }] }] });
      for (let i = 0; i < 3; i++) expect((await produceRaw('full-roll', `${i}:`.padEnd(20_000, '.'))).errorCode).toBe(0);
      const rollDir = join(dataDir, 'full-roll-0');
      const rollFiles = readdirSync(rollDir).sort();

      // Leave exactly 256 KiB of slack, then fill the rest.
      fill('slack', 256 * 1024);
      fill('ballast');
      const sizeBefore = statSync(logFile).size;
      // (Larger than a page: a few bytes could still go into the .log file's last, partly used page.)
      const full = await produceRaw(topic, 'while-full:'.padEnd(20_000, '.'));
      expect(full.errorCode).toBe(KAFKA_STORAGE_ERROR);
      expect(full.errorMessage).toMatch(/No space left on device/);
      // kafkajs sees the retriable KAFKA_STORAGE_ERROR.
      const producer = kafka.producer({ allowAutoTopicCreation: false, retry: { retries: 0 } });
      await producer.connect();
      const failure = await producer.send({ topic, messages: [{ partition: 0, value: 'kafkajs-while-full:'.padEnd(20_000, '.') }] }).then(
        () => undefined,
        (error: { type?: string; retriable?: boolean; cause?: { type?: string; retriable?: boolean } }) => error.cause ?? error,
      );
      expect(failure).toMatchObject({ type: 'KAFKA_STORAGE_ERROR', retriable: true });
      expect(statSync(logFile).size).toBe(sizeBefore);
      // An append that needs a new segment fails the same way and leaves no part of that segment behind.
      const rollFailure = await produceRaw('full-roll', '3:'.padEnd(20_000, '.'));
      expect(rollFailure.errorCode).toBe(KAFKA_STORAGE_ERROR);
      expect(readdirSync(rollDir).sort()).toEqual(rollFiles);

      // Reads keep working.
      expect((await kcatConsume(bootstrap, topic, ['-p', '0', '-o', 'beginning'], 30_000)).map((m) => m.payload)).toEqual(acked);
      expect(await admin.fetchTopicOffsets(topic)).toEqual([{ partition: 0, offset: '20', high: '20', low: '0' }]);

      // With 256 KiB free, a 600 KB record is written in part and then refused: the part is cut off again.
      unlinkSync(join(mountPoint, 'slack'));
      const big = await produceRaw(topic, Buffer.alloc(600_000, 7));
      expect(big.errorCode).toBe(KAFKA_STORAGE_ERROR);
      expect(statSync(logFile).size).toBe(sizeBefore);
      // A small record fits in what is left.
      expect((await produceRaw(topic, 'fits')).errorCode).toBe(0);
      acked.push('fits');

      // Full again: a kafkajs producer that retries gets through once the ballast goes.
      fill('slack');
      const logs: string[] = [];
      const retrying = new Kafka({
        clientId: 'full-disk-retrying',
        brokers: [bootstrap],
        logLevel: logLevel.DEBUG,
        logCreator: () => (entry) => void logs.push(JSON.stringify(entry.log)),
        retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 500 },
      });
      const retryingProducer = retrying.producer({ allowAutoTopicCreation: false });
      await retryingProducer.connect();
      const afterRetries = 'after-retries:'.padEnd(20_000, '.');
      const sent = retryingProducer.send({ topic, acks: -1, messages: [{ partition: 0, value: afterRetries }] });
      await until(() => logs.some((l) => l.includes('KAFKA_STORAGE_ERROR') || l.includes('Disk error')), 'kafkajs to see KAFKA_STORAGE_ERROR and retry');
      unlinkSync(join(mountPoint, 'ballast'));
      unlinkSync(join(mountPoint, 'slack'));
      const [result] = await sent;
      expect(result).toMatchObject({ errorCode: 0, baseOffset: '21' });
      acked.push(afterRetries);
      await retryingProducer.disconnect();

      for (let i = 0; i < 5; i++) {
        await producer.send({ topic, messages: [{ partition: 0, value: `after-${i}` }] });
        acked.push(`after-${i}`);
      }
      await producer.disconnect();
      expect((await kcatConsume(bootstrap, topic, ['-p', '0', '-o', 'beginning'], 30_000)).map((m) => [m.offset, m.payload])).toEqual(acked.map((v, i) => [i, v]));
      expect((await produceRaw('full-roll', '3:'.padEnd(20_000, '.'))).errorCode).toBe(0);
      expect(segmentsOnDisk(rollDir).map(([base]) => base)).toEqual([0, 3]);
      expect((await kcatConsume(bootstrap, 'full-roll', ['-p', '0', '-o', 'beginning'], 30_000)).map((m) => m.payload!.slice(0, 2))).toEqual(['0:', '1:', '2:', '3:']);
    } finally {
      await admin.disconnect();
    }

    // Nothing written was damaged: a restart reads back exactly what was acknowledged.
    client!.close();
    client = undefined;
    await broker!.stop();
    broker = await startBroker({ overrides: { 'log.dirs': dataDir, listeners: 'PLAINTEXT://127.0.0.1:0', 'num.io.threads': 1, 'num.network.threads': 1 } });
    expect(existsSync(logFile)).toBe(true);
    expect((await kcatConsume(broker.bootstrapServers, topic, ['-p', '0', '-o', 'beginning'], 30_000)).map((m) => [m.offset, m.payload])).toEqual(acked.map((v, i) => [i, v]));
  });
});

// gregor consumer-groups against a real broker and a kafkajs consumer group:
// listing, the three describe views, offset resets (refused while the group
// has members, dry run by default, every reset option), a consumer that starts
// at the reset offset, and deleting offsets and groups.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startBroker, type RunningBroker } from '../../src/index.js';
import { gregor, gregorOk } from '../support/cli.js';

const GROUP = 'cg';
const TOPIC = 'cg-t'; // partition 0: old records, 10 minutes apart; partition 1: records of now
const EMPTY_TOPIC = 'cg-u'; // subscribed to, never written: assigned without a committed offset
const MINUTE = 60_000;


interface OffsetRow {
  current: string;
  end: string;
  lag: string;
  timeLag: string;
  consumerId: string;
  host: string;
  clientId: string;
}

/** The rows of the default --describe view, by "topic:partition". */
function offsetRows(stdout: string): Map<string, OffsetRow> {
  const rows = new Map<string, OffsetRow>();
  for (const line of stdout.split('\n')) {
    const cells = line.trim().split(/\s+/);
    if (cells.length !== 10 || cells[0] === 'GROUP') continue;
    const [, topic, partition, current, end, lag, timeLag, consumerId, host, clientId] = cells as [string, ...string[]];
    rows.set(`${topic}:${partition}`, { current: current!, end: end!, lag: lag!, timeLag: timeLag!, consumerId: consumerId!, host: host!, clientId: clientId! });
  }
  return rows;
}

/** The NEW-OFFSET column of --reset-offsets, by "topic:partition". */
function newOffsets(stdout: string): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const cells = line.trim().split(/\s+/);
    if (cells.length === 4 && cells[0] === GROUP) rows.set(`${cells[1]}:${cells[2]}`, cells[3]!);
  }
  return rows;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('gregor consumer-groups', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gregor-cg-cli-'));
  let broker: RunningBroker;
  let bs: string[];
  let kafka: Kafka;
  const base = Date.now();
  /** Timestamp of record i of partition 0. */
  const oldTimestamp = (i: number) => base - (10 - i) * 10 * MINUTE;

  const describeGroup = async () => {
    const result = await gregor('consumer-groups', ...bs, '--describe', '--group', GROUP);
    expect(result.code, result.stderr).toBe(0);
    return { ...result, rows: offsetRows(result.stdout) };
  };
  const committed = async (tp: string) => (await describeGroup()).rows.get(tp)?.current;
  const reset = async (...args: string[]) => {
    const result = await gregor('consumer-groups', ...bs, '--reset-offsets', '--group', GROUP, ...args);
    expect(result.code, result.stderr).toBe(0);
    return newOffsets(result.stdout);
  };
  const groupState = async () => (await gregor('consumer-groups', ...bs, '--describe', '--group', GROUP, '--state')).stdout;

  beforeAll(async () => {
    broker = await startBroker({
      overrides: {
        'log.dirs': dir,
        listeners: 'PLAINTEXT://127.0.0.1:0',
        'num.io.threads': 1,
        'group.initial.rebalance.delay.ms': 0,
        'offsets.topic.num.partitions': 3,
      },
    });
    bs = ['--bootstrap-server', broker.bootstrapServers];
    kafka = new Kafka({ clientId: 'cg-test', brokers: [broker.bootstrapServers], logLevel: logLevel.NOTHING, retry: { retries: 8, initialRetryTime: 100 } });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 2 }, { topic: EMPTY_TOPIC, numPartitions: 1 }] });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: TOPIC,
      messages: [
        ...Array.from({ length: 10 }, (_, i) => ({ partition: 0, value: `old-${i}`, timestamp: String(oldTimestamp(i)) })),
        ...Array.from({ length: 10 }, (_, i) => ({ partition: 1, value: `new-${i}` })),
      ],
    });
    await producer.disconnect();
  });
  afterAll(async () => {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('describes, resets, deletes offsets and deletes the group', async () => {
    // A consumer that commits partition 0 up to offset 6 and then holds on
    // (heartbeating), all of partition 1, and nothing of the empty topic.
    const consumer: Consumer = kafka.consumer({ groupId: GROUP, sessionTimeout: 30_000, heartbeatInterval: 1000 });
    let memberId = '';
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      memberId = e.payload.memberId;
    });
    let release = false;
    await consumer.connect();
    await consumer.subscribe({ topics: [TOPIC, EMPTY_TOPIC], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 2,
      eachMessage: async ({ topic, partition, message, heartbeat }) => {
        const offset = Number(message.offset);
        if (topic === TOPIC && partition === 0 && offset >= 6) {
          while (!release) {
            await heartbeat();
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
          return;
        }
        if (!release) await consumer.commitOffsets([{ topic, partition, offset: String(offset + 1) }]);
      },
    });
    const admin = kafka.admin();
    await admin.connect();
    await waitFor('the consumer to commit 6 and 10', async () => {
      const [t] = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] });
      const offsets = Object.fromEntries((t?.partitions ?? []).map((p) => [p.partition, p.offset]));
      return offsets[0] === '6' && offsets[1] === '10';
    });
    await admin.disconnect();

    // --list, with and without a state filter.
    expect((await gregor('consumer-groups', ...bs, '--list')).stdout.split('\n')).toContain(GROUP);
    expect((await gregor('consumer-groups', ...bs, '--list', '--state', 'stable')).stdout).toMatch(/^cg\s+Stable$/m);
    expect(await gregorOk('consumer-groups', ...bs, '--list', '--state', 'Empty,Dead')).not.toMatch(/^cg\s/m);

    // The offsets view while the consumer runs.
    const running = await describeGroup();
    expect(memberId).not.toBe('');
    expect(running.rows.get(`${TOPIC}:0`)).toMatchObject({ current: '6', end: '10', lag: '4', consumerId: memberId, clientId: 'cg-test' });
    // Record 6 is 40 minutes old.
    expect(running.rows.get(`${TOPIC}:0`)!.timeLag).toMatch(/^(39m[0-9]+s|40m[0-9]+s)$/);
    expect(running.rows.get(`${TOPIC}:1`)).toMatchObject({ current: '10', end: '10', lag: '0', timeLag: '-', consumerId: memberId });
    expect(running.rows.get(`${EMPTY_TOPIC}:0`)).toMatchObject({ current: '-', end: '0', lag: '-', timeLag: '-', consumerId: memberId });
    expect(running.stdout).toMatch(/GROUP +TOPIC +PARTITION +CURRENT-OFFSET +LOG-END-OFFSET +LAG +TIME-LAG +CONSUMER-ID +HOST +CLIENT-ID/);

    const members = await gregor('consumer-groups', ...bs, '--describe', '--group', GROUP, '--members', '--verbose');
    expect(members.stdout).toMatch(/GROUP +CONSUMER-ID +HOST +CLIENT-ID +#PARTITIONS +ASSIGNMENT/);
    expect(members.stdout).toMatch(new RegExp(`^cg +${memberId} +\\S+ +cg-test +3 +cg-t\\(0,1\\),cg-u\\(0\\)$`, 'm'));
    expect(await groupState()).toMatch(/^cg +127\.0\.0\.1:\d+ \(0\) +RoundRobinAssigner +Stable +1$/m);

    // What Kafka refuses while the group has members.
    const refused = await gregor('consumer-groups', ...bs, '--reset-offsets', '--group', GROUP, '--topic', TOPIC, '--to-earliest', '--execute');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("Assignments can only be reset if the group 'cg' is inactive, but the current state is Stable.");
    const notEmpty = await gregor('consumer-groups', ...bs, '--delete', '--group', GROUP);
    expect(notEmpty.code).not.toBe(0);
    expect(notEmpty.stderr).toContain("Group 'cg' could not be deleted due to: NON_EMPTY_GROUP");
    const subscribed = await gregor('consumer-groups', ...bs, '--delete-offsets', '--group', GROUP, '--topic', TOPIC);
    expect(subscribed.code).not.toBe(0);
    expect(subscribed.stdout).toContain('Error: GROUP_SUBSCRIBED_TO_TOPIC');
    expect(await committed(`${TOPIC}:0`)).toBe('6');

    release = true;
    await consumer.disconnect();
    await waitFor('the group to be empty', async () => / Empty +0$/m.test(await groupState()));

    const empty = await describeGroup();
    expect(empty.stderr).toContain("Consumer group 'cg' has no active members.");
    expect(empty.rows.get(`${TOPIC}:0`)).toMatchObject({ current: '6', end: '10', lag: '4', consumerId: '-', host: '-', clientId: '-' });
    expect(empty.rows.get(`${TOPIC}:1`)).toMatchObject({ current: '10', lag: '0' });
    expect(empty.rows.has(`${EMPTY_TOPIC}:0`)).toBe(false);

    // A dry run, by default or asked for, changes nothing.
    const implicit = await gregor('consumer-groups', ...bs, '--reset-offsets', '--group', GROUP, '--topic', TOPIC, '--to-earliest');
    expect(implicit.code).toBe(0);
    expect(implicit.stderr).toContain('WARN');
    expect(newOffsets(implicit.stdout)).toEqual(new Map([[`${TOPIC}:0`, '0'], [`${TOPIC}:1`, '0']]));
    expect(implicit.stdout).toMatch(/GROUP +TOPIC +PARTITION +NEW-OFFSET/);
    expect(await reset('--all-topics', '--to-offset', '3', '--dry-run')).toEqual(new Map([[`${TOPIC}:0`, '3'], [`${TOPIC}:1`, '3']]));
    let rows = (await describeGroup()).rows;
    expect(rows.get(`${TOPIC}:0`)!.current).toBe('6');
    expect(rows.get(`${TOPIC}:1`)!.current).toBe('10');

    // Every reset option, on partition 0 only; each is checked through --describe.
    const p0 = ['--topic', `${TOPIC}:0`, '--execute'];
    const cases: [string[], string][] = [
      [['--to-earliest'], '0'],
      [['--to-latest'], '10'],
      [['--to-offset', '4'], '4'],
      [['--to-offset', '999'], '10'], // clamped to the log end
      [['--shift-by', '-3'], '7'],
      [['--shift-by', '-100'], '0'], // clamped to the log start
      [['--to-datetime', new Date(oldTimestamp(3) - 1000).toISOString()], '3'],
      [['--to-datetime', new Date(oldTimestamp(5) + 2 * 60 * MINUTE).toISOString().replace('Z', '+02:00')], '5'],
      [['--by-duration', 'PT25M'], '8'], // records 8 and 9 are 20 and 10 minutes old
      [['--to-current'], '8'],
    ];
    for (const [option, expected] of cases) {
      expect(await reset(...p0, ...option), option.join(' ')).toEqual(new Map([[`${TOPIC}:0`, expected]]));
      expect(await committed(`${TOPIC}:0`), option.join(' ')).toBe(expected);
    }
    expect(await committed(`${TOPIC}:1`)).toBe('10');
    // --to-current without a committed offset takes the log end.
    expect(await reset('--topic', EMPTY_TOPIC, '--to-current', '--execute')).toEqual(new Map([[`${EMPTY_TOPIC}:0`, '0']]));
    expect((await describeGroup()).rows.get(`${EMPTY_TOPIC}:0`)).toMatchObject({ current: '0', end: '0', lag: '0' });

    // A consumer that rejoins starts exactly at the reset offset.
    await reset(...p0, '--to-offset', '4');
    const seen: Record<number, number[]> = { 0: [], 1: [] };
    const rejoined = kafka.consumer({ groupId: GROUP });
    await rejoined.connect();
    await rejoined.subscribe({ topics: [TOPIC], fromBeginning: true });
    await rejoined.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        seen[partition]!.push(Number(message.offset));
      },
    });
    await waitFor('the rejoined consumer to read partition 0 to its end', async () => seen[0]!.includes(9));
    await rejoined.disconnect();
    expect(seen[0]).toEqual([4, 5, 6, 7, 8, 9]);
    expect(seen[1]).toEqual([]);
    await waitFor('the group to be empty again', async () => / Empty +0$/m.test(await groupState()));

    // --delete-offsets, then --delete.
    const deletedOffsets = await gregor('consumer-groups', ...bs, '--delete-offsets', '--group', GROUP, '--topic', `${TOPIC}:1`);
    expect(deletedOffsets.code, deletedOffsets.stderr).toBe(0);
    expect(deletedOffsets.stdout).toMatch(/^cg-t +1 +Successful$/m);
    rows = (await describeGroup()).rows;
    expect(rows.has(`${TOPIC}:1`)).toBe(false);
    expect(rows.get(`${TOPIC}:0`)!.current).toBe('4');

    const deleted = await gregor('consumer-groups', ...bs, '--delete', '--group', GROUP);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toContain("Deletion of requested consumer groups ('cg') was successful.");
    expect((await gregorOk('consumer-groups', ...bs, '--list')).split('\n')).not.toContain(GROUP);
    const gone = await gregor('consumer-groups', ...bs, '--describe', '--group', GROUP);
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toContain("Consumer group 'cg' does not exist.");
  });

  it('reports a group that does not exist and rejects bad flags', async () => {
    for (const view of [[], ['--members'], ['--state']]) {
      const missing = await gregor('consumer-groups', ...bs, '--describe', '--group', 'no-such-group', ...view);
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain("Consumer group 'no-such-group' does not exist.");
    }
    const deleteMissing = await gregor('consumer-groups', ...bs, '--delete', '--group', 'no-such-group');
    expect(deleteMissing.code).not.toBe(0);
    expect(deleteMissing.stderr).toContain('GROUP_ID_NOT_FOUND');
    const badDate = await gregor('consumer-groups', ...bs, '--reset-offsets', '--group', 'g', '--all-topics', '--to-datetime', '2024-13-01T00:00:00.000');
    expect(badDate.code).toBe(1);
    expect(badDate.stderr).toContain('--to-datetime must look like');
    const twoSpecs = await gregor('consumer-groups', ...bs, '--reset-offsets', '--group', 'g', '--all-topics', '--to-earliest', '--to-latest');
    expect(twoSpecs.stderr).toContain('exactly one of');
  });
});

// Consumer groups against a real Gregor broker: kafkajs consumers that join,
// rebalance and leave while a producer keeps writing; committed offsets that
// survive clean and SIGKILL restarts; kafkajs' offset reset; the admin group
// APIs; and, with a raw protocol client, the coordinator's error answers that
// clients rely on (Kafka's classic group protocol semantics). One broker
// serves the file, except for the restarts and one test that needs
// group.max.size.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AssignerProtocol,
  Kafka,
  logLevel,
  type Admin,
  type Consumer,
  type ConsumerConfig,
  type KafkaJSDeleteGroupsError,
} from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { WireClient } from '../../src/client/wire-client.js';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import {
  FindCoordinatorApi,
  HeartbeatApi,
  JoinGroupApi,
  OffsetCommitApi,
  OffsetFetchApi,
  SyncGroupApi,
} from '../../src/protocol/generated/index.js';
import type { JoinGroupRequest } from '../../src/protocol/generated/join-group.js';
import type { Init } from '../../src/protocol/wire.js';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { freePort, spawnBroker, stopProcess } from '../support/broker-process.js';

const NODE_ID = 7;

/** Coordinator settings that keep rebalances fast in tests. */
const GROUP_OVERRIDES = {
  'group.initial.rebalance.delay.ms': 0,
  'group.min.session.timeout.ms': 1000,
  'offsets.topic.num.partitions': 5,
};

/** kafkajs consumer timings: frequent heartbeats and short fetch waits, so rebalances take well under a second. */
const CONSUMER_TIMINGS: Omit<ConsumerConfig, 'groupId'> = {
  sessionTimeout: 6000,
  rebalanceTimeout: 10_000,
  heartbeatInterval: 250,
  maxWaitTimeInMs: 100,
  retry: { initialRetryTime: 100, retries: 10 },
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `probe` until it returns something other than undefined/false, or throws with `what` and the last state. */
async function waitFor<T>(what: string | (() => string), probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(intervalMs);
  }
}

function newKafka(bootstrap: string, clientId = 'gregor-groups'): Kafka {
  return new Kafka({ clientId, brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { initialRetryTime: 100, retries: 8 } });
}

function decodeAssignment(buffer: Buffer, topic: string): number[] {
  const decoded = AssignerProtocol.MemberAssignment.decode(buffer);
  return [...(decoded?.assignment[topic] ?? [])].sort((a, b) => a - b);
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

interface Received {
  partition: number;
  offset: number;
  value: string;
}

/** Offset of the first record each partition delivered, in arrival order. */
function firstOffsets(received: Received[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const r of received) if (!(r.partition in out)) out[r.partition] = r.offset;
  return out;
}

function offsetsOf(received: Received[], partition: number): number[] {
  return received.filter((r) => r.partition === partition).map((r) => r.offset);
}

/**
 * Runs one kafkajs consumer of `groupId` until `done(received)` holds, then
 * disconnects it (which commits what it processed when autoCommit is on and
 * leaves the group). `afterFirstFetch` runs once the consumer has fetched,
 * i.e. once its starting offsets are resolved.
 */
async function consumeUntil(
  kafka: Kafka,
  groupId: string,
  topic: string,
  options: { fromBeginning: boolean; done: (received: Received[]) => boolean; autoCommit?: boolean; afterFirstFetch?: () => Promise<void>; onDone?: (consumer: Consumer) => Promise<void> },
): Promise<Received[]> {
  const consumer = kafka.consumer({ groupId, ...CONSUMER_TIMINGS });
  const received: Received[] = [];
  let fetched: () => void = () => {};
  const firstFetch = new Promise<void>((r) => (fetched = r));
  consumer.on(consumer.events.FETCH, () => fetched());
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: options.fromBeginning });
    let finished: () => void = () => {};
    const done = new Promise<void>((r) => (finished = r));
    await consumer.run({
      autoCommit: options.autoCommit ?? true,
      eachMessage: async ({ partition, message }) => {
        received.push({ partition, offset: Number(message.offset), value: message.value?.toString() ?? '' });
        if (options.done(received)) finished();
      },
    });
    if (options.afterFirstFetch) {
      await firstFetch;
      await options.afterFirstFetch();
    }
    await Promise.race([
      done,
      sleep(20_000).then(() => {
        throw new Error(`consumer of ${groupId} got only ${JSON.stringify(received)}`);
      }),
    ]);
    await options.onDone?.(consumer);
    return received;
  } finally {
    await consumer.disconnect();
  }
}

/** { partition: offset } of a group's committed offsets for one topic, as admin.fetchOffsets reports them. */
async function committed(admin: Admin, groupId: string, topic: string): Promise<Record<number, number>> {
  const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return Object.fromEntries((t?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
}

async function logEndOffsets(admin: Admin, topic: string): Promise<Record<number, number>> {
  return Object.fromEntries((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
}

async function produceTo(kafka: Kafka, topic: string, perPartition: Record<number, number>, tag: string): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    const messages = Object.entries(perPartition).flatMap(([p, count]) =>
      range(0, count).map((i) => ({ partition: Number(p), key: `${tag}-${p}`, value: `${tag}-${p}-${i}` })),
    );
    await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}

describe('consumer groups against one broker', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gregor-groups-'));
  let broker: RunningBroker;
  let bootstrap: string;
  let kafka: Kafka;
  let admin: Admin;

  beforeAll(async () => {
    broker = await startBroker({
      overrides: {
        'log.dirs': dir,
        'listeners': 'PLAINTEXT://127.0.0.1:0',
        'node.id': NODE_ID,
        'num.io.threads': 2,
        'num.network.threads': 2,
        ...GROUP_OVERRIDES,
      },
    });
    bootstrap = broker.bootstrapServers;
    kafka = newKafka(bootstrap);
    admin = kafka.admin();
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.disconnect();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('three kafkajs consumers join and leave one by one under load: one owner per partition, nothing lost, commits reach the log end', async () => {
    const topic = 'rebalance';
    const groupId = 'g-rebalance';
    await admin.createTopics({ topics: [{ topic, numPartitions: 6 }] });

    // A producer writes keyed records the whole time.
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const acked = new Set<string>();
    let next = 0;
    let producing = true;
    let produceError: unknown;
    const producerLoop = (async () => {
      while (producing) {
        const messages = range(0, 6).map(() => {
          const i = next++;
          return { key: `key-${i % 37}`, value: String(i) };
        });
        try {
          await producer.send({ topic, acks: -1, messages });
          for (const m of messages) acked.add(m.value);
        } catch (error) {
          produceError = error;
          return;
        }
        await sleep(30);
      }
    })();

    interface Member {
      name: string;
      consumer: Consumer;
      joins: number;
      memberId?: string;
      assignment: number[];
    }
    const members = new Map<string, Member>();
    const processed: { by: string; partition: number; offset: number; value: string; at: number }[] = [];
    const crashes: string[] = [];

    const startMember = async (name: string) => {
      const consumer = kafka.consumer({ groupId, ...CONSUMER_TIMINGS });
      const member: Member = { name, consumer, joins: 0, assignment: [] };
      members.set(name, member);
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        member.joins++;
        member.memberId = e.payload.memberId;
        member.assignment = [...(e.payload.memberAssignment[topic] ?? [])].sort((a, b) => a - b);
      });
      consumer.on(consumer.events.CRASH, (e) => crashes.push(`${name}: ${String(e.payload.error)}`));
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: true,
        eachMessage: async ({ partition, message }) => {
          processed.push({ by: name, partition, offset: Number(message.offset), value: message.value!.toString(), at: Date.now() });
        },
      });
    };

    /**
     * Waits until every active member has joined since `before` and the
     * group is Stable with exactly those members and the assignments they
     * were told; then checks ownership and that each owner (and only it)
     * consumes its partitions for a while.
     */
    const steadyState = async (active: string[], before: Map<string, number>) => {
      const activeMembers = active.map((n) => members.get(n)!);
      let lastSeen = 'nothing yet';
      const expected = () => `a stable group of ${active.join(', ')}; last seen: ${lastSeen}`;
      await waitFor(expected, async () => {
        const [group] = (await admin.describeGroups([groupId])).groups;
        const described = new Map((group?.members ?? []).map((m) => [m.memberId, decodeAssignment(m.memberAssignment, topic)]));
        lastSeen = JSON.stringify({
          state: group?.state,
          described: Object.fromEntries(described),
          joined: activeMembers.map((m) => ({ name: m.name, joinsSinceChange: m.joins - (before.get(m.name) ?? 0), memberId: m.memberId, assignment: m.assignment })),
        });
        if (!activeMembers.every((m) => m.joins > (before.get(m.name) ?? 0))) return false;
        if (group?.state !== 'Stable' || group.members.length !== activeMembers.length) return false;
        return activeMembers.every((m) => m.memberId !== undefined && JSON.stringify(described.get(m.memberId)) === JSON.stringify(m.assignment));
      });
      const owners = new Map<number, string[]>();
      for (const m of activeMembers) for (const p of m.assignment) owners.set(p, [...(owners.get(p) ?? []), m.name]);
      expect([...owners.keys()].sort((a, b) => a - b)).toEqual(range(0, 6));
      for (const [p, o] of owners) expect(o, `owners of partition ${p}`).toHaveLength(1);
      // kafkajs' round-robin assignor spreads 6 partitions evenly.
      expect(activeMembers.map((m) => m.assignment.length)).toEqual(active.map(() => 6 / active.length));
      const since = Date.now();
      await sleep(1000);
      const window = processed.filter((r) => r.at > since);
      for (const r of window) expect(owners.get(r.partition), `partition ${r.partition} consumed by ${r.by}`).toEqual([r.by]);
      for (const name of active) expect(window.some((r) => r.by === name), `${name} consumed in steady state`).toBe(true);
    };
    const joinCounts = () => new Map([...members].map(([n, m]) => [n, m.joins]));

    try {
      let before = joinCounts();
      await startMember('c1');
      await steadyState(['c1'], before);
      before = joinCounts();
      await startMember('c2');
      await steadyState(['c1', 'c2'], before);
      before = joinCounts();
      await startMember('c3');
      await steadyState(['c1', 'c2', 'c3'], before);
      before = joinCounts();
      await members.get('c1')!.consumer.disconnect();
      await steadyState(['c2', 'c3'], before);
      before = joinCounts();
      await members.get('c2')!.consumer.disconnect();
      await steadyState(['c3'], before);

      producing = false;
      await producerLoop;
      expect(produceError).toBeUndefined();
      await producer.disconnect();

      // Every record in the log (acknowledged or not) was processed at least once.
      const end = await logEndOffsets(admin, topic);
      const total = Object.values(end).reduce((a, b) => a + b, 0);
      expect(total).toBeGreaterThanOrEqual(acked.size);
      await waitFor('the last consumer to catch up', () => new Set(processed.map((r) => `${r.partition}:${r.offset}`)).size >= total);
      for (const p of range(0, 6)) {
        expect(new Set(offsetsOf(processed, p)), `partition ${p}`).toEqual(new Set(range(0, end[p]!)));
      }
      const seen = new Set(processed.map((r) => r.value));
      expect([...acked].filter((v) => !seen.has(v))).toEqual([]);
      // Duplicates (redelivery after a rebalance) are allowed. kafkajs commits
      // after every batch and before rejoining, so there are typically none
      // or a handful (one uncommitted batch per revoked partition).
      // Observed: 0 duplicates in ~1000 records over the five rebalances
      // (kafkajs commits after every batch and before it rejoins). Re-reading
      // from the start, e.g. committed offsets lost across a rebalance, would
      // show here.
      const duplicates = processed.length - seen.size;
      expect(duplicates).toBeLessThan(total / 10);

      // The final committed offsets are the log end offsets.
      await waitFor('commits to reach the log end', async () => JSON.stringify(await committed(admin, groupId, topic)) === JSON.stringify(end));
      await members.get('c3')!.consumer.disconnect();
      expect(await committed(admin, groupId, topic)).toEqual(end);
      const [group] = (await admin.describeGroups([groupId])).groups;
      expect(group?.state).toBe('Empty');
      expect(crashes).toEqual([]);
    } finally {
      producing = false;
      await producerLoop;
      await producer.disconnect();
      for (const m of members.values()) await m.consumer.disconnect();
    }
  });

  it('auto offset reset: fromBeginning reads from offset 0, latest only gets newer records, a committed group ignores both', async () => {
    const topic = 'reset';
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
    await produceTo(kafka, topic, { 0: 10, 1: 10 }, 'first');

    // earliest
    const earliest = await consumeUntil(kafka, 'g-earliest', topic, { fromBeginning: true, done: (r) => r.length >= 20 });
    expect(offsetsOf(earliest, 0)).toEqual(range(0, 10));
    expect(offsetsOf(earliest, 1)).toEqual(range(0, 10));
    expect(await committed(admin, 'g-earliest', topic)).toEqual({ 0: 10, 1: 10 });

    // latest: nothing before the consumer joined, everything after.
    const latest = await consumeUntil(kafka, 'g-latest', topic, {
      fromBeginning: false,
      afterFirstFetch: () => produceTo(kafka, topic, { 0: 5, 1: 5 }, 'second'),
      done: (r) => r.length >= 10,
    });
    expect(offsetsOf(latest, 0)).toEqual(range(10, 15));
    expect(offsetsOf(latest, 1)).toEqual(range(10, 15));
    expect(latest.every((r) => r.value.startsWith('second-'))).toBe(true);

    // Committed offsets win over fromBeginning: true (committed by the consumer) ...
    const resumed = await consumeUntil(kafka, 'g-earliest', topic, { fromBeginning: true, done: (r) => r.length >= 10 });
    expect(firstOffsets(resumed)).toEqual({ 0: 10, 1: 10 });
    expect(offsetsOf(resumed, 0)).toEqual(range(10, 15));

    // ... and over fromBeginning: false (committed with admin.setOffsets).
    await admin.setOffsets({ groupId: 'g-set', topic, partitions: [{ partition: 0, offset: '3' }, { partition: 1, offset: '12' }] });
    const fromSet = await consumeUntil(kafka, 'g-set', topic, { fromBeginning: false, done: (r) => r.length >= 15 });
    expect(firstOffsets(fromSet)).toEqual({ 0: 3, 1: 12 });
    expect(offsetsOf(fromSet, 0)).toEqual(range(3, 15));
    expect(offsetsOf(fromSet, 1)).toEqual(range(12, 15));
  });

  it('admin: listGroups, describeGroups (Stable, then Empty), deleteGroups (refused while active), setOffsets and resetOffsets', async () => {
    const topic = 'adm';
    const groupId = 'g-admin';
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
    await produceTo(kafka, topic, { 0: 5, 1: 5 }, 'adm');

    const consumers: Consumer[] = [];
    const joined = new Map<number, { memberId: string; partitions: number[] }>();
    try {
      for (const i of [0, 1]) {
        const consumer = newKafka(bootstrap, `admin-client-${i}`).consumer({ groupId, ...CONSUMER_TIMINGS });
        consumers.push(consumer);
        consumer.on(consumer.events.GROUP_JOIN, (e) => joined.set(i, { memberId: e.payload.memberId, partitions: e.payload.memberAssignment[topic] ?? [] }));
        await consumer.connect();
        await consumer.subscribe({ topic, fromBeginning: true });
        await consumer.run({ eachMessage: async () => {} });
      }
      const group = await waitFor('a stable group of two', async () => {
        const [g] = (await admin.describeGroups([groupId])).groups;
        const ids = new Set([...joined.values()].map((j) => j.memberId));
        return g?.state === 'Stable' && g.members.length === 2 && g.members.every((m) => ids.has(m.memberId)) ? g : undefined;
      });
      expect(group.protocolType).toBe('consumer');
      expect(group.protocol).toBe('RoundRobinAssigner');
      expect(group.members.map((m) => m.clientId).sort()).toEqual(['admin-client-0', 'admin-client-1']);
      for (const m of group.members) {
        expect(m.clientHost).toMatch(/127\.0\.0\.1/);
        expect(AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.topics).toEqual([topic]);
      }
      expect(group.members.flatMap((m) => decodeAssignment(m.memberAssignment, topic)).sort()).toEqual([0, 1]);

      const { groups } = await admin.listGroups();
      expect(groups).toContainEqual({ groupId, protocolType: 'consumer' });

      // Active members: the group cannot be deleted, and kafkajs refuses to set its offsets.
      const refused = await admin.deleteGroups([groupId]).then(
        () => undefined,
        (e: KafkaJSDeleteGroupsError) => e,
      );
      expect(refused?.groups?.[0]?.errorCode).toBe(ErrorCode.NON_EMPTY_GROUP);
      expect(refused?.groups?.[0]?.error?.type).toBe('NON_EMPTY_GROUP');
      await expect(admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '0' }] })).rejects.toThrow(/no running instances/);

      await waitFor('the records to be committed', async () => JSON.stringify(await committed(admin, groupId, topic)) === JSON.stringify({ 0: 5, 1: 5 }));
    } finally {
      for (const c of consumers) await c.disconnect();
    }
    const [empty] = (await admin.describeGroups([groupId])).groups;
    expect(empty?.state).toBe('Empty');
    expect(empty?.members).toEqual([]);
    expect((await admin.listGroups()).groups.map((g) => g.groupId)).toContain(groupId);

    // setOffsets, then a consumer starts exactly there.
    await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '2' }, { partition: 1, offset: '4' }] });
    expect(await committed(admin, groupId, topic)).toEqual({ 0: 2, 1: 4 });
    const afterSet = await consumeUntil(kafka, groupId, topic, { fromBeginning: false, done: (r) => r.length >= 4 });
    expect(firstOffsets(afterSet)).toEqual({ 0: 2, 1: 4 });
    expect(await committed(admin, groupId, topic)).toEqual({ 0: 5, 1: 5 });

    // resetOffsets to earliest: the next consumer reads from 0 again.
    await admin.resetOffsets({ groupId, topic, earliest: true });
    const afterReset = await consumeUntil(kafka, groupId, topic, { fromBeginning: true, done: (r) => r.length >= 10 });
    expect(firstOffsets(afterReset)).toEqual({ 0: 0, 1: 0 });
    expect(offsetsOf(afterReset, 0)).toEqual(range(0, 5));

    // Empty now: deleting succeeds and takes the offsets with it.
    expect(await admin.deleteGroups([groupId])).toEqual([expect.objectContaining({ groupId, errorCode: 0 })]);
    expect((await admin.listGroups()).groups.map((g) => g.groupId)).not.toContain(groupId);
    const [dead] = (await admin.describeGroups([groupId])).groups;
    expect(dead?.state).toBe('Dead');
    expect(await committed(admin, groupId, topic)).toEqual({ 0: -1, 1: -1 });
    const missing = await admin.deleteGroups(['g-never-existed']).then(
      () => undefined,
      (e: KafkaJSDeleteGroupsError) => e,
    );
    expect(missing?.groups?.[0]?.errorCode).toBe(ErrorCode.GROUP_ID_NOT_FOUND);
  });

  describe('coordinator errors seen by a raw client', () => {
    const clients: WireClient[] = [];
    const connect = async () => {
      const c = await WireClient.connect(bootstrap, 'raw-group-client');
      clients.push(c);
      return c;
    };
    afterAll(() => {
      for (const c of clients) c.close();
    });

    const subscription = AssignerProtocol.MemberMetadata.encode({ version: 0, topics: ['raw-topic'], userData: Buffer.alloc(0) });
    const assignmentBytes = AssignerProtocol.MemberAssignment.encode({ version: 0, assignment: { 'raw-topic': [0, 1] }, userData: Buffer.alloc(0) });
    const joinGroup = (c: WireClient, version: number, body: Init<JoinGroupRequest>) =>
      c.request(JoinGroupApi, version, {
        sessionTimeoutMs: 6000,
        rebalanceTimeoutMs: 5000,
        memberId: '',
        groupInstanceId: null,
        protocolType: 'consumer',
        protocols: [{ name: 'range', metadata: subscription }],
        reason: null,
        ...body,
      });
    const heartbeat = (c: WireClient, groupId: string, memberId: string, generationId: number, groupInstanceId: string | null = null) =>
      c.request(HeartbeatApi, 4, { groupId, memberId, generationId, groupInstanceId }).then((r) => r.errorCode);
    const syncGroup = (c: WireClient, groupId: string, memberId: string, generationId: number, assignments: { memberId: string; assignment: Buffer }[], groupInstanceId: string | null = null) =>
      c.request(SyncGroupApi, 5, { groupId, memberId, generationId, groupInstanceId, protocolType: 'consumer', protocolName: 'range', assignments });
    /** A dynamic member's whole join (v5: MEMBER_ID_REQUIRED, then the real join) and the leader's sync. */
    const joinAndSync = async (c: WireClient, groupId: string) => {
      const first = await joinGroup(c, 5, { groupId });
      expect(first.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
      const joined = await joinGroup(c, 5, { groupId, memberId: first.memberId });
      expect(joined.errorCode).toBe(ErrorCode.NONE);
      expect(joined.leader).toBe(joined.memberId);
      const synced = await syncGroup(c, groupId, joined.memberId, joined.generationId, [{ memberId: joined.memberId, assignment: assignmentBytes }]);
      expect(synced.errorCode).toBe(ErrorCode.NONE);
      expect(Buffer.from(synced.assignment)).toEqual(assignmentBytes);
      return { memberId: joined.memberId, generationId: joined.generationId };
    };
    const offsetCommit = (c: WireClient, groupId: string, generation: number, memberId: string, partitions: { partitionIndex: number; committedOffset: bigint; committedMetadata: string | null }[]) =>
      c.request(OffsetCommitApi, 8, { groupId, generationIdOrMemberEpoch: generation, memberId, groupInstanceId: null, topics: [{ name: 'raw-topic', partitions }] }).then((r) =>
        Object.fromEntries(r.topics.flatMap((t) => t.partitions.map((p) => [p.partitionIndex, p.errorCode]))),
      );

    beforeAll(async () => {
      await admin.createTopics({ topics: [{ topic: 'raw-topic', numPartitions: 2 }] });
    });

    it('JoinGroup v4+ with an empty member id gets MEMBER_ID_REQUIRED and an id; v3 joins at once', async () => {
      const c = await connect();
      const v5 = await joinGroup(c, 5, { groupId: 'raw-member-id' });
      expect(v5.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
      expect(v5.memberId).not.toBe('');
      expect(v5.generationId).toBe(-1);
      const again = await joinGroup(c, 5, { groupId: 'raw-member-id', memberId: v5.memberId });
      expect(again.errorCode).toBe(ErrorCode.NONE);
      expect(again.memberId).toBe(v5.memberId);
      expect(again.generationId).toBe(1);
      expect(again.protocolName).toBe('range');
      expect(again.members.map((m) => m.memberId)).toEqual([v5.memberId]);
      expect(Buffer.from(again.members[0]!.metadata)).toEqual(subscription);

      const v3 = await joinGroup(await connect(), 3, { groupId: 'raw-member-id-v3' });
      expect(v3.errorCode).toBe(ErrorCode.NONE);
      expect(v3.memberId).not.toBe('');
      expect(v3.generationId).toBe(1);
      expect(v3.leader).toBe(v3.memberId);
      expect(v3.members.map((m) => m.memberId)).toEqual([v3.memberId]);
    });

    it('Heartbeat: UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS while another member joins; OffsetCommit checks the member too', async () => {
      const groupId = 'raw-heartbeat';
      const a = await connect();
      const b = await connect();
      const member = await joinAndSync(a, groupId);
      expect(await heartbeat(a, groupId, member.memberId, member.generationId)).toBe(ErrorCode.NONE);
      expect(await heartbeat(a, groupId, 'no-such-member', member.generationId)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
      expect(await heartbeat(a, groupId, member.memberId, member.generationId + 5)).toBe(ErrorCode.ILLEGAL_GENERATION);

      // OffsetCommit on an active group: unknown member, wrong generation, a simple (admin) commit, the member itself.
      const p0 = [{ partitionIndex: 0, committedOffset: 1n, committedMetadata: null }];
      expect(await offsetCommit(a, groupId, member.generationId, 'no-such-member', p0)).toEqual({ 0: ErrorCode.UNKNOWN_MEMBER_ID });
      expect(await offsetCommit(a, groupId, -1, '', p0)).toEqual({ 0: ErrorCode.UNKNOWN_MEMBER_ID });
      expect(await offsetCommit(a, groupId, member.generationId + 1, member.memberId, p0)).toEqual({ 0: ErrorCode.ILLEGAL_GENERATION });
      expect(await offsetCommit(a, groupId, member.generationId, member.memberId, p0)).toEqual({ 0: ErrorCode.NONE });

      // A second member (v3: no member id round trip) starts a rebalance; its JoinGroup waits for the first to rejoin.
      const joinB = joinGroup(b, 3, { groupId });
      const codes: number[] = [];
      await waitFor('REBALANCE_IN_PROGRESS', async () => {
        codes.push(await heartbeat(a, groupId, member.memberId, member.generationId));
        return codes.at(-1) !== ErrorCode.NONE;
      }, 5000, 20);
      expect(codes.at(-1)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
      const rejoinA = await joinGroup(a, 5, { groupId, memberId: member.memberId });
      const joinedB = await joinB;
      expect(rejoinA.errorCode).toBe(ErrorCode.NONE);
      expect(joinedB.errorCode).toBe(ErrorCode.NONE);
      expect(rejoinA.generationId).toBe(member.generationId + 1);
      expect(joinedB.generationId).toBe(member.generationId + 1);
      expect(joinedB.leader).toBe(rejoinA.leader);
      const leader = rejoinA.leader === member.memberId ? rejoinA : joinedB;
      expect(leader.members.map((m) => m.memberId).sort()).toEqual([member.memberId, joinedB.memberId].sort());
      // The old generation is now illegal.
      expect(await heartbeat(a, groupId, member.memberId, member.generationId)).toBe(ErrorCode.ILLEGAL_GENERATION);
    });

    it('JoinGroup: INVALID_SESSION_TIMEOUT outside [min, max], INCONSISTENT_GROUP_PROTOCOL without a common protocol', async () => {
      const c = await connect();
      expect((await joinGroup(c, 5, { groupId: 'raw-session', sessionTimeoutMs: 500 })).errorCode).toBe(ErrorCode.INVALID_SESSION_TIMEOUT);
      expect((await joinGroup(c, 5, { groupId: 'raw-session', sessionTimeoutMs: 1_800_001 })).errorCode).toBe(ErrorCode.INVALID_SESSION_TIMEOUT);
      expect((await joinGroup(c, 3, { groupId: 'raw-session', sessionTimeoutMs: 999 })).errorCode).toBe(ErrorCode.INVALID_SESSION_TIMEOUT);
      expect((await joinGroup(c, 5, { groupId: 'raw-session', sessionTimeoutMs: 1000 })).errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);

      // No protocols at all, even for a new group.
      expect((await joinGroup(c, 5, { groupId: 'raw-protocol-empty', protocols: [] })).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
      await joinAndSync(c, 'raw-protocol');
      const other = await connect();
      // Another protocol type, or no protocol in common with the group's members.
      expect((await joinGroup(other, 5, { groupId: 'raw-protocol', protocolType: 'connect' })).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
      expect((await joinGroup(other, 5, { groupId: 'raw-protocol', protocols: [{ name: 'roundrobin', metadata: subscription }] })).errorCode).toBe(
        ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
      );
      expect((await joinGroup(other, 3, { groupId: 'raw-protocol', protocols: [{ name: 'sticky', metadata: subscription }] })).errorCode).toBe(
        ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
      );
    });

    it('static membership: a new JoinGroup with the same group.instance.id replaces the member; the old id is FENCED_INSTANCE_ID', async () => {
      const groupId = 'raw-static';
      const first = await connect();
      const joined = await joinGroup(first, 5, { groupId, groupInstanceId: 'instance-1' });
      // Static members get no MEMBER_ID_REQUIRED round trip.
      expect(joined.errorCode).toBe(ErrorCode.NONE);
      expect(joined.generationId).toBe(1);
      expect(joined.leader).toBe(joined.memberId);
      expect(joined.members).toEqual([expect.objectContaining({ memberId: joined.memberId, groupInstanceId: 'instance-1' })]);
      const synced = await syncGroup(first, groupId, joined.memberId, 1, [{ memberId: joined.memberId, assignment: assignmentBytes }], 'instance-1');
      expect(synced.errorCode).toBe(ErrorCode.NONE);
      expect(await heartbeat(first, groupId, joined.memberId, 1, 'instance-1')).toBe(ErrorCode.NONE);

      const second = await connect();
      const replaced = await joinGroup(second, 5, { groupId, groupInstanceId: 'instance-1' });
      expect(replaced.errorCode).toBe(ErrorCode.NONE);
      expect(replaced.memberId).not.toBe(joined.memberId);
      // A stable group with unchanged protocols does not rebalance for a returning static member.
      expect(replaced.generationId).toBe(1);

      expect(await heartbeat(first, groupId, joined.memberId, 1, 'instance-1')).toBe(ErrorCode.FENCED_INSTANCE_ID);
      expect((await syncGroup(first, groupId, joined.memberId, 1, [], 'instance-1')).errorCode).toBe(ErrorCode.FENCED_INSTANCE_ID);
      // The new member id inherits the assignment.
      const resynced = await syncGroup(second, groupId, replaced.memberId, 1, [], 'instance-1');
      expect(resynced.errorCode).toBe(ErrorCode.NONE);
      expect(Buffer.from(resynced.assignment)).toEqual(assignmentBytes);
      expect(await heartbeat(second, groupId, replaced.memberId, 1, 'instance-1')).toBe(ErrorCode.NONE);
    });

    it('FindCoordinator v0 and v4 (batched, key types 0 and 1) name this broker', async () => {
      const c = await connect();
      const v0 = await c.request(FindCoordinatorApi, 0, { key: 'any-group' });
      expect(v0).toMatchObject({ errorCode: 0, nodeId: NODE_ID, host: broker.host, port: broker.port });
      for (const keyType of [0, 1]) {
        const v4 = await c.request(FindCoordinatorApi, 4, { keyType, coordinatorKeys: ['group-a', 'group-b'] });
        expect(v4.coordinators).toEqual([
          expect.objectContaining({ key: 'group-a', nodeId: NODE_ID, host: broker.host, port: broker.port, errorCode: 0 }),
          expect.objectContaining({ key: 'group-b', nodeId: NODE_ID, host: broker.host, port: broker.port, errorCode: 0 }),
        ]);
      }
    });

    it('OffsetCommit metadata round-trips through OffsetFetch; too-long metadata gets OFFSET_METADATA_TOO_LARGE; OffsetFetch v8 reads two groups', async () => {
      const c = await connect();
      expect(
        await offsetCommit(c, 'raw-offsets', -1, '', [
          { partitionIndex: 0, committedOffset: 42n, committedMetadata: 'checkpoint ä/1' },
          { partitionIndex: 1, committedOffset: 7n, committedMetadata: 'x'.repeat(4097) },
        ]),
      ).toEqual({ 0: ErrorCode.NONE, 1: ErrorCode.OFFSET_METADATA_TOO_LARGE });
      // Exactly offset.metadata.max.bytes is fine.
      expect(await offsetCommit(c, 'raw-offsets-2', -1, '', [{ partitionIndex: 1, committedOffset: 5n, committedMetadata: 'y'.repeat(4096) }])).toEqual({ 1: ErrorCode.NONE });
      expect(await offsetCommit(c, 'raw-offsets-3', -1, '', [{ partitionIndex: 0, committedOffset: 9n, committedMetadata: null }])).toEqual({ 0: ErrorCode.NONE });

      const v8 = await c.request(OffsetFetchApi, 8, {
        groups: [
          { groupId: 'raw-offsets', topics: null },
          { groupId: 'raw-offsets-2', topics: [{ name: 'raw-topic', partitionIndexes: [0, 1] }] },
        ],
        requireStable: false,
      });
      expect(v8.groups.map((g) => [g.groupId, g.errorCode])).toEqual([
        ['raw-offsets', 0],
        ['raw-offsets-2', 0],
      ]);
      // All topics of the first group: only the accepted commit.
      expect(v8.groups[0]!.topics).toEqual([
        { name: 'raw-topic', partitions: [expect.objectContaining({ partitionIndex: 0, committedOffset: 42n, metadata: 'checkpoint ä/1', errorCode: 0 })] },
      ]);
      const second = v8.groups[1]!.topics[0]!.partitions;
      expect(second).toEqual([
        expect.objectContaining({ partitionIndex: 0, committedOffset: -1n, errorCode: 0 }),
        expect.objectContaining({ partitionIndex: 1, committedOffset: 5n, metadata: 'y'.repeat(4096), errorCode: 0 }),
      ]);

      // The pre-v8 shape, and null metadata coming back as "".
      const v5 = await c.request(OffsetFetchApi, 5, { groupId: 'raw-offsets-3', topics: [{ name: 'raw-topic', partitionIndexes: [0, 1] }] });
      expect(v5.errorCode).toBe(0);
      expect(v5.topics[0]!.partitions).toEqual([
        expect.objectContaining({ partitionIndex: 0, committedOffset: 9n, metadata: '', errorCode: 0 }),
        expect.objectContaining({ partitionIndex: 1, committedOffset: -1n, errorCode: 0 }),
      ]);
    });
  });
});

describe('group.max.size', () => {
  it('a third member of a group limited to two gets GROUP_MAX_SIZE_REACHED', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gregor-groups-max-'));
    const broker = await startBroker({
      overrides: { 'log.dirs': dir, 'listeners': 'PLAINTEXT://127.0.0.1:0', 'num.io.threads': 2, 'num.network.threads': 2, ...GROUP_OVERRIDES, 'group.initial.rebalance.delay.ms': 300, 'group.max.size': 2 },
    });
    const clients: WireClient[] = [];
    try {
      const connect = async () => {
        const c = await WireClient.connect(broker.bootstrapServers, 'raw-max-size');
        clients.push(c);
        return c;
      };
      const metadata = AssignerProtocol.MemberMetadata.encode({ version: 0, topics: ['t'], userData: Buffer.alloc(0) });
      const join = (c: WireClient, version: number, memberId: string) =>
        c.request(JoinGroupApi, version, { groupId: 'capped', sessionTimeoutMs: 6000, rebalanceTimeoutMs: 5000, memberId, groupInstanceId: null, protocolType: 'consumer', protocols: [{ name: 'range', metadata }], reason: null });
      const [a, b, c] = [await connect(), await connect(), await connect()];
      // Two members join within the initial rebalance delay and share generation 1.
      const [idA, idB] = await Promise.all([join(a, 5, ''), join(b, 5, '')]);
      expect([idA.errorCode, idB.errorCode]).toEqual([ErrorCode.MEMBER_ID_REQUIRED, ErrorCode.MEMBER_ID_REQUIRED]);
      const [ja, jb] = await Promise.all([join(a, 5, idA.memberId), join(b, 5, idB.memberId)]);
      expect([ja.errorCode, jb.errorCode]).toEqual([0, 0]);
      expect(ja.generationId).toBe(jb.generationId);
      const third = await join(c, 5, '');
      expect(third.errorCode).toBe(ErrorCode.GROUP_MAX_SIZE_REACHED);
      expect((await join(c, 3, '')).errorCode).toBe(ErrorCode.GROUP_MAX_SIZE_REACHED);
    } finally {
      for (const c of clients) c.close();
      await broker.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('committed offsets across restarts', () => {
  const topic = 'durable-groups';

  /**
   * Commits offsets two ways (a kafkajs consumer's commitOffsets and
   * admin.setOffsets), restarts the broker, and checks that both groups'
   * offsets are still there and that consumers resume exactly from them.
   */
  async function commitRestartResume(firstBootstrap: string, restart: () => Promise<string>): Promise<void> {
    let kafka = newKafka(firstBootstrap);
    let admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
      await produceTo(kafka, topic, { 0: 10, 1: 10 }, 'durable');
      await consumeUntil(kafka, 'g-consumer-commit', topic, {
        fromBeginning: true,
        autoCommit: false,
        done: (r) => r.length >= 20,
        onDone: (consumer) =>
          consumer.commitOffsets([
            { topic, partition: 0, offset: '6' },
            { topic, partition: 1, offset: '3' },
          ]),
      });
      await admin.setOffsets({ groupId: 'g-admin-commit', topic, partitions: [{ partition: 0, offset: '8' }, { partition: 1, offset: '1' }] });
      expect(await committed(admin, 'g-consumer-commit', topic)).toEqual({ 0: 6, 1: 3 });
      expect(await committed(admin, 'g-admin-commit', topic)).toEqual({ 0: 8, 1: 1 });
    } finally {
      await admin.disconnect();
    }

    const bootstrap = await restart();
    kafka = newKafka(bootstrap);
    admin = kafka.admin();
    await admin.connect();
    try {
      expect(await committed(admin, 'g-consumer-commit', topic)).toEqual({ 0: 6, 1: 3 });
      expect(await committed(admin, 'g-admin-commit', topic)).toEqual({ 0: 8, 1: 1 });
      const groups = (await admin.listGroups()).groups.map((g) => g.groupId);
      expect(groups).toEqual(expect.arrayContaining(['g-consumer-commit', 'g-admin-commit']));

      for (const [groupId, expected] of [
        ['g-consumer-commit', { 0: 6, 1: 3 }],
        ['g-admin-commit', { 0: 8, 1: 1 }],
      ] as const) {
        const total = 20 - expected[0] - expected[1];
        const resumed = await consumeUntil(kafka, groupId, topic, { fromBeginning: true, done: (r) => r.length >= total });
        expect(firstOffsets(resumed), groupId).toEqual(expected);
        expect(offsetsOf(resumed, 0)).toEqual(range(expected[0], 10));
        expect(offsetsOf(resumed, 1)).toEqual(range(expected[1], 10));
      }
    } finally {
      await admin.disconnect();
    }
  }

  it('survive a clean stop and start on the same log.dirs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gregor-groups-clean-'));
    const overrides = { 'log.dirs': dir, 'listeners': 'PLAINTEXT://127.0.0.1:0', 'num.io.threads': 2, 'num.network.threads': 2, ...GROUP_OVERRIDES };
    let broker = await startBroker({ overrides });
    try {
      await commitRestartResume(broker.bootstrapServers, async () => {
        await broker.stop();
        broker = await startBroker({ overrides });
        return broker.bootstrapServers;
      });
    } finally {
      await broker.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('survive a SIGKILL of the broker process', async () => {
    // The broker runs as a program here, so that it can be killed (as in clients.test.ts).
    const dir = mkdtempSync(join(tmpdir(), 'gregor-groups-kill-'));
    const port = await freePort();
    const start = () =>
      spawnBroker({ 'log.dirs': dir, 'listeners': `PLAINTEXT://127.0.0.1:${port}`, 'num.io.threads': 2, 'num.network.threads': 2, ...GROUP_OVERRIDES });
    const bootstrap = `127.0.0.1:${port}`;
    let broker = await start();
    try {
      await commitRestartResume(bootstrap, async () => {
        await stopProcess(broker, 'SIGKILL');
        broker = await start();
        return bootstrap;
      });
    } finally {
      await stopProcess(broker);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

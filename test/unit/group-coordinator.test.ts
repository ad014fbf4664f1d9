// The group coordinator driven directly (no network): what real clients
// cannot show — loading and its error, Kafka's placement of groups in
// __consumer_offsets, the record formats, protocol votes, rebalance and
// session deadlines, offset expiry, restoring groups from the log, and
// the fault paths (an unreadable record, a failed append).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { resolveBrokerConfig } from '../../src/config/broker-config.js';
import { TopicStore } from '../../src/cluster/topic-store.js';
import { LogManager } from '../../src/log/log-manager.js';
import { Logger } from '../../src/observability/logger.js';
import { BrokerState } from '../../src/server/broker-state.js';
import { GroupCoordinator, type JoinRequest } from '../../src/groups/group-coordinator.js';
import {
  OFFSETS_TOPIC,
  decodeOffsetsTopicRecord,
  groupMetadataRecord,
  offsetCommitRecord,
  partitionForGroup,
} from '../../src/groups/offsets-topic.js';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import { decodeRecordBatches, encodeRecordBatch } from '../../src/protocol/record-batch.js';
import { native } from '../../src/native.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Harness {
  state: BrokerState;
  coordinator: GroupCoordinator;
  warnings: string[];
  close(): Promise<void>;
}

const open: Harness[] = [];
afterEach(async () => {
  native.setFaultProbe('append', 0);
  for (const h of open.splice(0)) await h.close();
});

async function start(dir: string, overrides: Record<string, string> = {}, load = true): Promise<Harness> {
  const config = resolveBrokerConfig(
    new Map(
      Object.entries({
        'log.dirs': dir,
        'offsets.topic.num.partitions': '3',
        'group.initial.rebalance.delay.ms': '0',
        'group.min.session.timeout.ms': '10',
        ...overrides,
      }),
    ),
  );
  const logs = await LogManager.open(dir, { ioThreads: 1, defaultConfig: config.topicDefaults });
  const write = (path: string, contents: Buffer) => logs.writeFileAtomic(path, contents);
  const topics = await TopicStore.open(dir, write);
  const state = new BrokerState(config, logs, topics, 'test-cluster', write);
  await state.openAll();
  const warnings: string[] = [];
  const logger = new Logger('warn', (line) => warnings.push(line));
  const coordinator = new GroupCoordinator(state, logger);
  state.groups = coordinator;
  if (load) await coordinator.load();
  const h: Harness = {
    state,
    coordinator,
    warnings,
    async close() {
      coordinator.shutdown();
      await logs.close();
    },
  };
  open.push(h);
  return h;
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'gregor-groups-'));
  dirs.push(d);
  return d;
}

function joinRequest(groupId: string, fields: Partial<JoinRequest> = {}): JoinRequest {
  return {
    groupId,
    memberId: '',
    groupInstanceId: null,
    clientId: 'test',
    clientHost: '/127.0.0.1',
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 10_000,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) }],
    requireKnownMemberId: false,
    supportSkippingAssignment: false,
    reason: null,
    ...fields,
  };
}

/** An offset commit of a group without group management (generation -1), as admin tools and assign() consumers send. */
function standaloneCommit(c: GroupCoordinator, groupId: string, topics: Record<string, [partition: number, offset: number][]>, retentionTimeMs = -1) {
  return c.commitOffsets({
    groupId,
    generationId: -1,
    memberId: '',
    groupInstanceId: null,
    retentionTimeMs,
    topics: Object.entries(topics).map(([name, offsets]) => ({
      name,
      partitions: offsets.map(([partition, offset]) => ({ partition, offset, leaderEpoch: -1, metadata: null, commitTimestamp: -1 })),
    })),
  });
}

/** Joins one member and syncs it as the leader: a stable group of one. */
async function stableMember(c: GroupCoordinator, groupId: string, fields: Partial<JoinRequest> = {}) {
  const joined = await c.joinGroup(joinRequest(groupId, fields));
  expect(joined.errorCode).toBe(ErrorCode.NONE);
  const synced = await c.syncGroup({
    groupId,
    generationId: joined.generationId,
    memberId: joined.memberId,
    groupInstanceId: fields.groupInstanceId ?? null,
    protocolType: null,
    protocolName: null,
    assignments: [{ memberId: joined.memberId, assignment: Buffer.from('assigned') }],
  });
  expect(synced.errorCode).toBe(ErrorCode.NONE);
  return joined;
}

describe('__consumer_offsets records', () => {
  it('places groups where Kafka does: Java String.hashCode, made non-negative, modulo the partition count', () => {
    // "hello".hashCode() == 99162322; "polygenelubricants".hashCode() == Integer.MIN_VALUE.
    expect(partitionForGroup('hello', 50)).toBe(99162322 % 50);
    expect(partitionForGroup('polygenelubricants', 50)).toBe(0);
    expect(partitionForGroup('', 50)).toBe(0);
  });

  it('writes Kafka key and value versions and reads them back', () => {
    const offset = offsetCommitRecord('g', 't', 7, { offset: 42, leaderEpoch: 3, metadata: 'm', commitTimestamp: 1000, expireTimestamp: undefined }, 1000);
    const key = Buffer.from(offset.key as Buffer);
    const value = Buffer.from(offset.value as Buffer);
    expect(key.readInt16BE(0)).toBe(1);
    expect(value.readInt16BE(0)).toBe(3);
    expect(decodeOffsetsTopicRecord(key, value)).toEqual({
      kind: 'offset',
      group: 'g',
      topic: 't',
      partition: 7,
      value: { offset: 42, leaderEpoch: 3, metadata: 'm', commitTimestamp: 1000, expireTimestamp: undefined },
    });
    const expiring = offsetCommitRecord('g', 't', 7, { offset: 1, leaderEpoch: -1, metadata: '', commitTimestamp: 5, expireTimestamp: 9 }, 5);
    expect(Buffer.from(expiring.value as Buffer).readInt16BE(0)).toBe(1);
    expect(decodeOffsetsTopicRecord(Buffer.from(expiring.key as Buffer), Buffer.from(expiring.value as Buffer))).toMatchObject({ value: { expireTimestamp: 9 } });

    const group = groupMetadataRecord('g', { protocolType: 'consumer', generation: 4, protocol: 'range', leader: 'm1', currentStateTimestamp: 77n, members: [] }, 1);
    expect(Buffer.from(group.key as Buffer).readInt16BE(0)).toBe(2);
    expect(decodeOffsetsTopicRecord(Buffer.from(group.key as Buffer), Buffer.from(group.value as Buffer))).toMatchObject({
      kind: 'group',
      group: 'g',
      value: { protocolType: 'consumer', generation: 4, protocol: 'range', leader: 'm1' },
    });
    expect(decodeOffsetsTopicRecord(Buffer.from(group.key as Buffer), null)).toEqual({ kind: 'group', group: 'g', value: null });
  });
});

describe('group coordinator', () => {
  it('answers COORDINATOR_LOAD_IN_PROGRESS until loaded and COORDINATOR_NOT_AVAILABLE after shutdown', async () => {
    const h = await start(tempDir(), {}, false);
    expect((await h.coordinator.joinGroup(joinRequest('g'))).errorCode).toBe(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
    expect(h.coordinator.fetchOffsets('g', null).errorCode).toBe(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
    await h.coordinator.load();
    expect(h.coordinator.fetchOffsets('g', null).errorCode).toBe(ErrorCode.NONE);
    h.coordinator.shutdown();
    expect(h.coordinator.heartbeat('g', 'm', null, 1)).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
  });

  it('creates __consumer_offsets compacted with offsets.topic.num.partitions and keeps commits in the group\'s partition', async () => {
    const h = await start(tempDir());
    await h.state.createTopic('t', 2, 1, {});
    const results = await h.coordinator.commitOffsets({
      groupId: 'hello',
      generationId: -1,
      memberId: '',
      groupInstanceId: null,
      retentionTimeMs: -1,
      topics: [{ name: 't', partitions: [{ partition: 1, offset: 12, leaderEpoch: -1, metadata: 'x', commitTimestamp: -1 }] }],
    });
    expect(results.get('t')!.get(1)).toBe(ErrorCode.NONE);
    const topic = h.state.topics.get(OFFSETS_TOPIC)!;
    expect(topic.partitions).toBe(3);
    expect(topic.configs['cleanup.policy']).toBe('compact');
    const log = h.state.log(OFFSETS_TOPIC, partitionForGroup('hello', 3))!;
    const [batch] = decodeRecordBatches(await log.read(0, 1 << 20));
    expect(decodeOffsetsTopicRecord(batch!.records[0]!.key!, batch!.records[0]!.value)).toMatchObject({ group: 'hello', topic: 't', partition: 1, value: { offset: 12, metadata: 'x' } });
  });

  it('chooses the protocol most members prefer among those every member supports', async () => {
    const h = await start(tempDir());
    const meta = Buffer.alloc(0);
    const a = h.coordinator.joinGroup(joinRequest('vote', { protocols: [{ name: 'x', metadata: meta }, { name: 'y', metadata: meta }, { name: 'z', metadata: meta }] }));
    const b = h.coordinator.joinGroup(joinRequest('vote', { protocols: [{ name: 'y', metadata: meta }, { name: 'z', metadata: meta }] }));
    const c = h.coordinator.joinGroup(joinRequest('vote', { protocols: [{ name: 'z', metadata: meta }, { name: 'y', metadata: meta }] }));
    // x is not supported by everyone; y gets two votes (first member's x falls through to y), z one.
    const results = await Promise.all([a, b, c]);
    for (const r of results) expect(r).toMatchObject({ errorCode: ErrorCode.NONE, protocolName: 'y', generationId: 1 });
    expect(results.filter((r) => r.members.length === 3)).toHaveLength(1); // only the leader gets the members
    const mismatch = await h.coordinator.joinGroup(joinRequest('vote', { protocols: [{ name: 'x', metadata: meta }] }));
    expect(mismatch.errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  });

  it('completes a rebalance without members that do not rejoin in the rebalance timeout, keeping static ones', async () => {
    const h = await start(tempDir());
    const c = h.coordinator;
    const dynamicA = c.joinGroup(joinRequest('rt', { rebalanceTimeoutMs: 300 }));
    const dynamicB = c.joinGroup(joinRequest('rt', { rebalanceTimeoutMs: 300 }));
    const staticC = c.joinGroup(joinRequest('rt', { rebalanceTimeoutMs: 300, groupInstanceId: 'c' }));
    const [a, b, s] = await Promise.all([dynamicA, dynamicB, staticC]);
    expect(a.generationId).toBe(1);
    // A rejoins with new metadata, which starts a rebalance; only A rejoins,
    // so after 300 ms the rebalance completes with A and the static member.
    const started = Date.now();
    const changed = [{ name: 'range', metadata: Buffer.from('changed') }];
    const again = await c.joinGroup(joinRequest('rt', { memberId: a.memberId, rebalanceTimeoutMs: 300, protocols: changed }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(again.generationId).toBe(2);
    const described = c.describeGroup('rt');
    expect(described.members.map((m) => m.memberId).sort()).toEqual([a.memberId, s.memberId].sort());
    expect(c.heartbeat('rt', b.memberId, null, 2)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  it('removes a member whose session expires and rebalances the rest', async () => {
    const h = await start(tempDir());
    const c = h.coordinator;
    const [a, b] = await Promise.all([
      c.joinGroup(joinRequest('st', { sessionTimeoutMs: 200, rebalanceTimeoutMs: 5000 })),
      c.joinGroup(joinRequest('st', { sessionTimeoutMs: 200, rebalanceTimeoutMs: 5000 })),
    ]);
    const leader = a.members.length > 0 ? a : b;
    const follower = leader === a ? b : a;
    await Promise.all(
      [leader, follower].map((m) =>
        c.syncGroup({ groupId: 'st', generationId: 1, memberId: m.memberId, groupInstanceId: null, protocolType: null, protocolName: null, assignments: [] }),
      ),
    );
    expect(c.describeGroup('st').state).toBe('Stable');
    // Only the follower heartbeats; the leader falls silent.
    const deadline = Date.now() + 600;
    let error: number = ErrorCode.NONE;
    while (Date.now() < deadline && error === ErrorCode.NONE) {
      await new Promise((r) => setTimeout(r, 50));
      error = c.heartbeat('st', follower.memberId, null, 1);
    }
    expect(error).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    const rejoined = await c.joinGroup(joinRequest('st', { memberId: follower.memberId, sessionTimeoutMs: 200, rebalanceTimeoutMs: 5000 }));
    expect(rejoined).toMatchObject({ errorCode: ErrorCode.NONE, generationId: 2, leader: follower.memberId });
    expect(rejoined.members.map((m) => m.memberId)).toEqual([follower.memberId]);
  });

  it('restores a stable group with its members, generation and assignments from the log', async () => {
    const dir = tempDir();
    const first = await start(dir);
    const joined = await stableMember(first.coordinator, 'keep', { groupInstanceId: 'i1', sessionTimeoutMs: 30_000 });
    await first.close();
    open.splice(open.indexOf(first), 1);

    const second = await start(dir);
    const described = second.coordinator.describeGroup('keep');
    expect(described).toMatchObject({ state: 'Stable', generationId: 1, protocolName: 'range' });
    expect(described.members).toEqual([expect.objectContaining({ memberId: joined.memberId, groupInstanceId: 'i1', assignment: Buffer.from('assigned') })]);
    // The member carries on with its generation after the broker restarted.
    expect(second.coordinator.heartbeat('keep', joined.memberId, 'i1', 1)).toBe(ErrorCode.NONE);
  });

  it('expires offsets of empty groups after offsets.retention.minutes and deletes the group, durably', async () => {
    const dir = tempDir();
    const h = await start(dir, { 'offsets.retention.minutes': '1' });
    await h.state.createTopic('t', 1, 1, {});
    const commit = (groupId: string, retentionTimeMs = -1) => standaloneCommit(h.coordinator, groupId, { t: [[0, 5]] }, retentionTimeMs);
    await commit('old');
    await commit('explicit', 10);
    const now = Date.now();
    await h.coordinator.expireOffsets(now + 5_000);
    // 'explicit' asked for 10 ms; 'old' still has most of its minute.
    expect(h.coordinator.fetchOffsets('explicit', null).topics).toEqual([]);
    expect(h.coordinator.fetchOffsets('old', null).topics[0]!.partitions[0]!.offset).toBe(5);
    await h.coordinator.expireOffsets(now + 61_000);
    expect(h.coordinator.fetchOffsets('old', null).topics).toEqual([]);
    expect(h.coordinator.listGroups().map((g) => g.groupId)).toEqual([]);
    await h.close();
    open.splice(open.indexOf(h), 1);
    const reopened = await start(dir);
    expect(reopened.coordinator.listGroups()).toEqual([]);
  });

  it('skips an unreadable record of __consumer_offsets at load and keeps the rest', async () => {
    const dir = tempDir();
    const first = await start(dir);
    await first.state.createTopic('t', 1, 1, {});
    await standaloneCommit(first.coordinator, 'g', { t: [[0, 9]] });
    const log = first.state.log(OFFSETS_TOPIC, partitionForGroup('g', 3))!;
    // A key that claims offset-commit version 1 but is cut short, then one of an unknown kind.
    await log.append(encodeRecordBatch([{ key: Buffer.from([0, 1, 0, 9, 0x67]), value: Buffer.from([0, 3]) }, { key: Buffer.from([0, 99]), value: Buffer.from('x') }]));
    await first.close();
    open.splice(open.indexOf(first), 1);

    const second = await start(dir);
    expect(second.coordinator.fetchOffsets('g', null).topics[0]!.partitions[0]!.offset).toBe(9);
    expect(second.warnings.some((w) => w.includes('unreadable record'))).toBe(true);
  });

  it('reports a failed __consumer_offsets append as COORDINATOR_NOT_AVAILABLE and keeps the previous commit', async () => {
    const h = await start(tempDir());
    await h.state.createTopic('t', 1, 1, {});
    const commit = (offset: number) => standaloneCommit(h.coordinator, 'f', { t: [[0, offset]] });
    expect((await commit(3)).get('t')!.get(0)).toBe(ErrorCode.NONE);
    native.setFaultProbe('append', 1);
    expect((await commit(4)).get('t')!.get(0)).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    expect(h.coordinator.fetchOffsets('f', [{ name: 't', partitions: [0] }]).topics[0]!.partitions[0]!.offset).toBe(3);
    expect((await commit(5)).get('t')!.get(0)).toBe(ErrorCode.NONE);
    expect(h.coordinator.fetchOffsets('f', [{ name: 't', partitions: [0] }]).topics[0]!.partitions[0]!.offset).toBe(5);
  });

  it('forgets the offsets of a deleted topic, durably', async () => {
    const dir = tempDir();
    const first = await start(dir);
    await first.state.createTopic('gone', 2, 1, {});
    await first.state.createTopic('kept', 1, 1, {});
    await standaloneCommit(first.coordinator, 'g', { gone: [[0, 4], [1, 4]], kept: [[0, 7]] });
    await first.state.deleteTopic('gone');
    expect(first.coordinator.fetchOffsets('g', null).topics.map((t) => t.name)).toEqual(['kept']);
    // The tombstones are written after the topic change; wait until they are in the log.
    const log = first.state.log(OFFSETS_TOPIC, partitionForGroup('g', 3))!;
    const deadline = Date.now() + 5000;
    while (decodeRecordBatches(await log.read(0, 1 << 20)).flatMap((b) => b.records).length < 5 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await first.close();
    open.splice(open.indexOf(first), 1);
    const second = await start(dir);
    expect(second.coordinator.fetchOffsets('g', null).topics.map((t) => t.name)).toEqual(['kept']);
  });
});

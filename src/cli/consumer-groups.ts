// gregor consumer-groups: Kafka's kafka-consumer-groups.sh for a Gregor (or any
// Kafka) broker.
//
//   --bootstrap-server host:port (required)  [--timeout ms]
//   --list [--state [S,S...]]
//   --describe (--group G ... | --all-groups) [--offsets | --members [--verbose] | --state]
//   --reset-offsets (--group G ... | --all-groups) (--topic T[:P,P...] ... | --all-topics)
//        --to-earliest | --to-latest | --to-current | --to-offset N | --shift-by N
//        | --to-datetime YYYY-MM-DDTHH:mm:SS.sss[Z|+hh:mm] | --by-duration PnDTnHnMnS
//        [--dry-run | --execute]
//   --delete (--group G ... | --all-groups)
//   --delete-offsets --group G --topic T[:P,P...] ...
//
// Every group request goes to the group's coordinator, found with
// FindCoordinator; offsets and record timestamps come from the partition
// leaders (ListOffsets, Fetch).
import { WireClient } from '../client/wire-client.js';
import { decodeConsumerProtocolAssignment } from '../protocol/generated/consumer-protocol-assignment.js';
import {
  DeleteGroupsApi,
  DescribeGroupsApi,
  FetchApi,
  FindCoordinatorApi,
  ListGroupsApi,
  ListOffsetsApi,
  MetadataApi,
  OffsetCommitApi,
  OffsetDeleteApi,
  OffsetFetchApi,
} from '../protocol/generated/index.js';
import { decodeRecordBatches } from '../protocol/record-batch.js';
import { UsageError, parseArgs, type ParsedArgs } from './args.js';
import { errorName } from './error-names.js';

// Kafka error codes this tool reacts to.
const UNKNOWN_TOPIC_OR_PARTITION = 3;
const COORDINATOR_LOAD_IN_PROGRESS = 14;
const COORDINATOR_NOT_AVAILABLE = 15;
const NOT_COORDINATOR = 16;
const NON_EMPTY_GROUP = 68;
const GROUP_ID_NOT_FOUND = 69;
const GROUP_SUBSCRIBED_TO_TOPIC = 86;
const RETRIABLE = new Set([COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR]);

const EARLIEST = -2n;
const LATEST = -1n;
const GROUP_KEY_TYPE = 0;
const STATES = ['PreparingRebalance', 'CompletingRebalance', 'Stable', 'Dead', 'Empty'] as const;
const RESET_SPECS = ['to-earliest', 'to-latest', 'to-current', 'to-offset', 'to-datetime', 'shift-by', 'by-duration'] as const;
const ACTIONS = ['list', 'describe', 'reset-offsets', 'delete', 'delete-offsets'] as const;
/** Per-partition byte limit of the Fetch that reads one record's timestamp. */
const TIMESTAMP_FETCH_BYTES = 64 * 1024;
const TIMESTAMP_FETCH_BYTES_MAX = 64 * 1024 * 1024;

interface TopicPartition {
  topic: string;
  partition: number;
}

interface Member {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  assignment: TopicPartition[];
}

interface Coordinator {
  nodeId: number;
  host: string;
  port: number;
  client: WireClient;
}

interface GroupDescription {
  groupId: string;
  state: string;
  protocolType: string;
  /** The assignment strategy of the current generation ("range", ...). */
  protocol: string;
  members: Member[];
  coordinator: Coordinator;
}

interface Cluster {
  brokers: Map<number, { host: string; port: number }>;
  /** Leader id per partition, by topic; a topic missing here does not exist. */
  topics: Map<string, Map<number, number>>;
}

interface OffsetResult {
  offset: bigint;
  errorCode: number;
}

const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;
const byTopicPartition = (a: TopicPartition, b: TopicPartition): number =>
  a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function consumerGroupsCommand(
  argv: string[],
  out: (line: string) => void,
  err: (line: string) => void = (line) => process.stderr.write(line + '\n'),
): Promise<void> {
  const args = parseArgs(
    stateFilterArgs(argv),
    ['list', 'describe', 'reset-offsets', 'delete', 'delete-offsets', 'all-groups', 'all-topics', 'offsets', 'members', 'state', 'verbose',
      'dry-run', 'execute', 'to-earliest', 'to-latest', 'to-current'],
    ['bootstrap-server', 'group', 'topic', 'timeout', 'state-filter', 'to-offset', 'to-datetime', 'shift-by', 'by-duration'],
  );
  const actions = ACTIONS.filter((a) => args.has(a));
  if (actions.length !== 1) throw new UsageError(`exactly one of ${ACTIONS.map((a) => `--${a}`).join(', ')} is required`);
  const action = actions[0]!;
  const timeoutMs = args.has('timeout') ? Number(integer(args.get('timeout')!, '--timeout')) : 15_000;
  // Check the flags before connecting: a usage error should not wait on the network.
  if (action !== 'list' && action !== 'delete-offsets' && args.has('group') === args.has('all-groups')) {
    throw new UsageError(`--${action} needs --group G (repeatable) or --all-groups`);
  }
  const reset = action === 'reset-offsets' ? resetOptions(args) : undefined;
  const session = await Session.open(args.require('bootstrap-server'), timeoutMs);
  try {
    switch (action) {
      case 'list':
        return await listCommand(session, args, out);
      case 'describe': {
        const views = ['offsets', 'members', 'state'].filter((v) => args.has(v));
        if (views.length > 1) throw new UsageError('--describe takes at most one of --offsets, --members, --state');
        const view = (views[0] ?? 'offsets') as 'offsets' | 'members' | 'state';
        if (args.has('verbose') && view !== 'members') throw new UsageError('--verbose goes with --describe --members');
        return await describeCommand(session, await groupsOf(session, args), view, args.has('verbose'), out, err);
      }
      case 'reset-offsets':
        return await resetCommand(session, await groupsOf(session, args), args, reset!, out, err);
      case 'delete':
        return await deleteCommand(session, await groupsOf(session, args), out);
      case 'delete-offsets':
        return await deleteOffsetsCommand(session, args, out);
    }
  } finally {
    session.close();
  }
}

/** `--state` is a switch of --describe and, with a value, the filter of --list. */
function stateFilterArgs(argv: string[]): string[] {
  const rewritten: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    rewritten.push(argv[i]!);
    const next = argv[i + 1];
    if (argv[i] === '--state' && next !== undefined && !next.startsWith('--')) {
      rewritten.push('--state-filter', next);
      i++;
    }
  }
  return rewritten;
}

async function groupsOf(session: Session, args: ParsedArgs): Promise<string[]> {
  if (args.has('all-groups')) return (await listGroups(session, [])).map((g) => g.groupId);
  return [...new Set(args.all('group'))];
}

// ---------------------------------------------------------------------------
// Connections, coordinators and cluster metadata.

class Session {
  #clients = new Map<string, WireClient>();
  #coordinators = new Map<string, Coordinator>();

  private constructor(
    readonly bootstrap: WireClient,
    readonly bootstrapAddress: string,
    readonly timeoutMs: number,
  ) {
    this.#clients.set(bootstrapAddress, bootstrap);
  }

  static async open(bootstrap: string, timeoutMs: number): Promise<Session> {
    return new Session(await WireClient.connect(bootstrap), bootstrap, timeoutMs);
  }

  /** A connection to host:port, the bootstrap one when it is the same address. */
  async broker(host: string, port: number): Promise<WireClient> {
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    let client = this.#clients.get(address);
    if (!client) {
      client = await WireClient.connect(address);
      this.#clients.set(address, client);
    }
    return client;
  }

  async coordinator(group: string): Promise<Coordinator> {
    const known = this.#coordinators.get(group);
    if (known) return known;
    const deadline = Date.now() + this.timeoutMs;
    const version = this.bootstrap.negotiate(FindCoordinatorApi, 4);
    for (;;) {
      const response = await this.bootstrap.request(FindCoordinatorApi, version, {
        key: version < 4 ? group : '',
        keyType: GROUP_KEY_TYPE,
        coordinatorKeys: version >= 4 ? [group] : [],
      });
      const found = version >= 4 ? response.coordinators.find((c) => c.key === group) : response;
      if (!found) throw new Error(`FindCoordinator did not answer for group '${group}'`);
      if (found.errorCode === 0) {
        const coordinator = { nodeId: found.nodeId, host: found.host, port: found.port, client: await this.broker(found.host, found.port) };
        this.#coordinators.set(group, coordinator);
        return coordinator;
      }
      if (!RETRIABLE.has(found.errorCode) || Date.now() >= deadline) {
        throw new Error(`${errorName(found.errorCode)}: cannot find the coordinator of group '${group}'${found.errorMessage ? ` (${found.errorMessage})` : ''}`);
      }
      await sleep(200);
    }
  }

  /**
   * Sends a group request to the group's coordinator, again (after finding the
   * coordinator anew) while the answer says it is loading, unavailable or moved.
   */
  async onCoordinator<T>(group: string, call: (coordinator: Coordinator) => Promise<T>, errorOf: (response: T) => number): Promise<T> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const coordinator = await this.coordinator(group);
      const response = await call(coordinator);
      const code = errorOf(response);
      if (!RETRIABLE.has(code) || Date.now() >= deadline) return response;
      this.#coordinators.delete(group);
      await sleep(200);
    }
  }

  /** Brokers and partition leaders of `topics` (all topics when null). */
  async metadata(topics: string[] | null): Promise<Cluster> {
    const version = this.bootstrap.negotiate(MetadataApi, 9);
    const response = await this.bootstrap.request(MetadataApi, version, {
      topics: topics === null ? null : topics.map((name) => ({ name })),
      allowAutoTopicCreation: false,
    });
    const cluster: Cluster = { brokers: new Map(), topics: new Map() };
    for (const b of response.brokers) cluster.brokers.set(b.nodeId, { host: b.host, port: b.port });
    for (const t of response.topics) {
      if (t.errorCode !== 0 || t.name === null) continue;
      cluster.topics.set(t.name, new Map(t.partitions.map((p) => [p.partitionIndex, p.leaderId])));
    }
    return cluster;
  }

  close(): void {
    for (const client of this.#clients.values()) client.close();
  }
}

/** Partitions grouped by the broker that leads them; the others get UNKNOWN_TOPIC_OR_PARTITION. */
function byLeader(cluster: Cluster, partitions: TopicPartition[]): { leaders: Map<number, TopicPartition[]>; orphans: TopicPartition[] } {
  const leaders = new Map<number, TopicPartition[]>();
  const orphans: TopicPartition[] = [];
  for (const tp of partitions) {
    const leader = cluster.topics.get(tp.topic)?.get(tp.partition);
    if (leader === undefined || leader < 0 || !cluster.brokers.has(leader)) {
      orphans.push(tp);
      continue;
    }
    leaders.set(leader, [...(leaders.get(leader) ?? []), tp]);
  }
  return { leaders, orphans };
}

function groupByTopic(partitions: TopicPartition[]): Map<string, number[]> {
  const topics = new Map<string, number[]>();
  for (const tp of partitions) topics.set(tp.topic, [...(topics.get(tp.topic) ?? []), tp.partition]);
  return topics;
}

/** ListOffsets for each partition: -2 earliest, -1 latest, or a timestamp. */
async function listOffsets(
  session: Session,
  cluster: Cluster,
  partitions: TopicPartition[],
  timestampOf: (tp: TopicPartition) => bigint,
): Promise<Map<string, OffsetResult>> {
  const results = new Map<string, OffsetResult>();
  const { leaders, orphans } = byLeader(cluster, partitions);
  for (const tp of orphans) results.set(tpKey(tp.topic, tp.partition), { offset: -1n, errorCode: UNKNOWN_TOPIC_OR_PARTITION });
  await Promise.all(
    [...leaders].map(async ([leader, tps]) => {
      const address = cluster.brokers.get(leader)!;
      const client = await session.broker(address.host, address.port);
      const response = await client.request(ListOffsetsApi, client.negotiate(ListOffsetsApi, 7), {
        replicaId: -1,
        isolationLevel: 0,
        topics: [...groupByTopic(tps)].map(([name, ps]) => ({
          name,
          partitions: ps.map((partitionIndex) => ({ partitionIndex, currentLeaderEpoch: -1, timestamp: timestampOf({ topic: name, partition: partitionIndex }) })),
        })),
      });
      for (const t of response.topics) {
        for (const p of t.partitions) results.set(tpKey(t.name, p.partitionIndex), { offset: p.offset, errorCode: p.errorCode });
      }
    }),
  );
  return results;
}

/** Offsets that must exist: the first ListOffsets error stops the command. */
function requireOffsets(results: Map<string, OffsetResult>, partitions: TopicPartition[], what: string): Map<string, bigint> {
  const offsets = new Map<string, bigint>();
  for (const tp of partitions) {
    const r = results.get(tpKey(tp.topic, tp.partition));
    if (!r || r.errorCode !== 0) {
      throw new Error(`${errorName(r?.errorCode ?? UNKNOWN_TOPIC_OR_PARTITION)}: cannot read the ${what} offset of ${tp.topic}-${tp.partition}`);
    }
    offsets.set(tpKey(tp.topic, tp.partition), r.offset);
  }
  return offsets;
}

/**
 * The timestamp of the first record at or after each given offset, read with
 * a small Fetch from the partition's leader; absent when there is none.
 */
async function recordTimestamps(session: Session, cluster: Cluster, positions: Map<string, TopicPartition & { offset: bigint }>): Promise<Map<string, number>> {
  const timestamps = new Map<string, number>();
  const { leaders } = byLeader(cluster, [...positions.values()]);
  await Promise.all(
    [...leaders].map(async ([leader, tps]) => {
      const address = cluster.brokers.get(leader)!;
      const client = await session.broker(address.host, address.port);
      const version = client.negotiate(FetchApi, 12);
      let pending = tps.map((tp) => ({ ...tp, offset: positions.get(tpKey(tp.topic, tp.partition))!.offset, maxBytes: TIMESTAMP_FETCH_BYTES }));
      // A round reads one batch or so per partition; a batch of control records
      // only, or one larger than the limit, takes another round.
      for (let round = 0; round < 4 && pending.length > 0; round++) {
        const response = await client.request(FetchApi, version, {
          replicaId: -1,
          maxWaitMs: 0,
          minBytes: 0,
          maxBytes: TIMESTAMP_FETCH_BYTES_MAX,
          isolationLevel: 0,
          sessionId: 0,
          sessionEpoch: -1,
          topics: [...groupByTopic(pending)].map(([topic, ps]) => ({
            topic,
            partitions: ps.map((partition) => {
              const p = pending.find((q) => q.topic === topic && q.partition === partition)!;
              return { partition, currentLeaderEpoch: -1, fetchOffset: p.offset, logStartOffset: -1n, partitionMaxBytes: p.maxBytes };
            }),
          })),
          forgottenTopicsData: [],
          rackId: '',
        });
        const next: typeof pending = [];
        for (const t of response.responses) {
          for (const data of t.partitions) {
            const p = pending.find((q) => q.topic === t.topic && q.partition === data.partitionIndex);
            if (!p || data.errorCode !== 0 || !data.records || data.records.length === 0) continue;
            let batches;
            try {
              batches = decodeRecordBatches(data.records);
            } catch {
              continue; // an undecodable batch: no time lag rather than no output
            }
            const record = batches.filter((b) => !b.isControl).flatMap((b) => b.records).find((r) => BigInt(r.offset) >= p.offset);
            if (record) {
              if (record.timestamp >= 0) timestamps.set(tpKey(p.topic, p.partition), record.timestamp);
            } else if (batches.length > 0) {
              const after = BigInt(batches.at(-1)!.lastOffset) + 1n;
              if (after < data.highWatermark) next.push({ ...p, offset: after });
            } else if (p.maxBytes < TIMESTAMP_FETCH_BYTES_MAX) {
              next.push({ ...p, maxBytes: p.maxBytes * 16 }); // only part of a batch came back
            }
          }
        }
        pending = next;
      }
    }),
  );
  return timestamps;
}

// ---------------------------------------------------------------------------
// Group requests.

interface ListedGroup {
  groupId: string;
  state: string;
}

/** Consumer groups of every broker (protocol type "consumer" or none), sorted by id. */
async function listGroups(session: Session, states: string[]): Promise<ListedGroup[]> {
  const cluster = await session.metadata([]);
  const brokers = cluster.brokers.size > 0 ? [...cluster.brokers.values()] : [];
  const clients = brokers.length > 0 ? await Promise.all(brokers.map((b) => session.broker(b.host, b.port))) : [session.bootstrap];
  const listed = new Map<string, ListedGroup>();
  let withoutState = false;
  for (const client of clients) {
    const version = client.negotiate(ListGroupsApi, 5);
    const deadline = Date.now() + session.timeoutMs;
    for (;;) {
      const response = await client.request(ListGroupsApi, version, { statesFilter: version >= 4 ? states : [] });
      if (RETRIABLE.has(response.errorCode) && Date.now() < deadline) {
        await sleep(200);
        continue;
      }
      if (response.errorCode !== 0) throw new Error(`${errorName(response.errorCode)}: cannot list the groups`);
      for (const g of response.groups) {
        if (g.protocolType !== 'consumer' && g.protocolType !== '') continue;
        listed.set(g.groupId, { groupId: g.groupId, state: version >= 4 ? g.groupState : '' });
      }
      withoutState ||= version < 4;
      break;
    }
  }
  let groups = [...listed.values()];
  if (withoutState && states.length > 0) {
    // A broker older than ListGroups v4 neither filters nor reports states: ask each group.
    for (const g of groups) g.state = (await describeGroup(session, g.groupId)).state;
  }
  if (states.length > 0) groups = groups.filter((g) => states.includes(g.state));
  return groups.sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0));
}

async function describeGroup(session: Session, group: string): Promise<GroupDescription> {
  let coordinator: Coordinator | undefined;
  const response = await session.onCoordinator(
    group,
    (c) => {
      coordinator = c;
      return c.client.request(DescribeGroupsApi, c.client.negotiate(DescribeGroupsApi, 5), { groups: [group], includeAuthorizedOperations: false });
    },
    (r) => r.groups[0]?.errorCode ?? 0,
  );
  const described = response.groups.find((g) => g.groupId === group) ?? response.groups[0];
  if (!described) throw new Error(`DescribeGroups did not answer for group '${group}'`);
  // Newer brokers answer GROUP_ID_NOT_FOUND where older ones describe a Dead group.
  if (described.errorCode === GROUP_ID_NOT_FOUND) {
    return { groupId: group, state: 'Dead', protocolType: '', protocol: '', members: [], coordinator: coordinator! };
  }
  if (described.errorCode !== 0) throw new Error(`${errorName(described.errorCode)}: cannot describe group '${group}'`);
  if (described.protocolType !== 'consumer' && described.protocolType !== '') {
    throw new Error(`Group '${group}' is not a consumer group (its protocol type is ${described.protocolType}).`);
  }
  return {
    groupId: group,
    state: described.groupState,
    protocolType: described.protocolType,
    protocol: described.protocolData,
    members: described.members.map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      assignment: described.protocolType === 'consumer' ? decodeAssignment(m.memberAssignment, group, m.memberId) : [],
    })),
    coordinator: coordinator!,
  };
}

/** A member's ConsumerProtocolAssignment: an int16 version, then the body. */
function decodeAssignment(bytes: Buffer, group: string, memberId: string): TopicPartition[] {
  if (bytes.length === 0) return []; // between a join and its sync
  try {
    const version = bytes.readInt16BE(0);
    // Later versions only add fields at the end: read them as the newest known.
    const assignment = decodeConsumerProtocolAssignment(bytes.subarray(2), Math.min(Math.max(version, 0), 3));
    return assignment.assignedPartitions.flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition }))).sort(byTopicPartition);
  } catch (error) {
    throw new Error(`cannot decode the assignment of member ${memberId} of group '${group}': ${(error as Error).message}`);
  }
}

/** The group's committed offsets (partitions without one are left out). */
async function committedOffsets(session: Session, group: string): Promise<Map<string, TopicPartition & { offset: bigint }>> {
  let version = -1;
  const response = await session.onCoordinator(
    group,
    (c) => {
      version = c.client.negotiate(OffsetFetchApi, 9);
      if (version < 2) throw new Error('the broker does not support OffsetFetch v2+ (all offsets of a group)');
      // Up to v7 one group with its fields at the top; from v8 a list of groups. Topics null: all of them.
      return c.client.request(
        OffsetFetchApi,
        version,
        version >= 8
          ? { groups: [{ groupId: group, memberId: null, memberEpoch: -1, topics: null }], requireStable: false }
          : { groupId: group, topics: null, requireStable: false },
      );
    },
    (r) => (version >= 8 ? (r.groups[0]?.errorCode ?? 0) : r.errorCode),
  );
  const errorCode = version >= 8 ? (response.groups[0]?.errorCode ?? 0) : response.errorCode;
  const topics = version >= 8 ? (response.groups[0]?.topics ?? []) : response.topics;
  const offsets = new Map<string, TopicPartition & { offset: bigint }>();
  if (errorCode === GROUP_ID_NOT_FOUND) return offsets;
  if (errorCode !== 0) throw new Error(`${errorName(errorCode)}: cannot fetch the committed offsets of group '${group}'`);
  for (const t of topics) {
    for (const p of t.partitions) {
      if (p.errorCode !== 0) throw new Error(`${errorName(p.errorCode)}: cannot fetch the committed offset of ${t.name}-${p.partitionIndex} for group '${group}'`);
      if (p.committedOffset < 0n) continue;
      offsets.set(tpKey(t.name, p.partitionIndex), { topic: t.name, partition: p.partitionIndex, offset: p.committedOffset });
    }
  }
  return offsets;
}

async function commitOffsets(session: Session, group: string, offsets: (TopicPartition & { offset: bigint })[]): Promise<void> {
  const firstError = (r: { topics: { partitions: { errorCode: number }[] }[] }) =>
    r.topics.flatMap((t) => t.partitions).find((p) => p.errorCode !== 0)?.errorCode ?? 0;
  const response = await session.onCoordinator(
    group,
    (c) =>
      c.client.request(OffsetCommitApi, c.client.negotiate(OffsetCommitApi, 9), {
        groupId: group,
        // Not a member: an admin commit, which the coordinator takes only while the group is empty.
        generationIdOrMemberEpoch: -1,
        memberId: '',
        groupInstanceId: null,
        retentionTimeMs: -1n,
        topics: [...groupByTopic(offsets)].map(([name, partitions]) => ({
          name,
          partitions: partitions.map((partitionIndex) => ({
            partitionIndex,
            committedOffset: offsets.find((o) => o.topic === name && o.partition === partitionIndex)!.offset,
            committedLeaderEpoch: -1,
            commitTimestamp: -1n,
            committedMetadata: '',
          })),
        })),
      }),
    firstError,
  );
  const failed = response.topics.flatMap((t) => t.partitions.filter((p) => p.errorCode !== 0).map((p) => `${t.name}-${p.partitionIndex}: ${errorName(p.errorCode)}`));
  if (failed.length > 0) throw new Error(`committing the offsets of group '${group}' failed: ${failed.join(', ')}`);
}

// ---------------------------------------------------------------------------
// --list

async function listCommand(session: Session, args: ParsedArgs, out: (line: string) => void): Promise<void> {
  if (!args.has('state')) {
    for (const g of await listGroups(session, [])) out(g.groupId);
    return;
  }
  const states = args.all('state-filter').flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean).map(stateName);
  const groups = await listGroups(session, states);
  printTable(['GROUP', 'STATE'], groups.map((g) => [g.groupId, g.state]), out);
}

function stateName(text: string): string {
  const state = STATES.find((s) => s.toLowerCase() === text.toLowerCase());
  if (!state) throw new UsageError(`--state must be among ${STATES.join(', ')}; got ${JSON.stringify(text)}`);
  return state;
}

// ---------------------------------------------------------------------------
// --describe

async function describeCommand(
  session: Session,
  groups: string[],
  view: 'offsets' | 'members' | 'state',
  verbose: boolean,
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<void> {
  const failures: string[] = [];
  for (const group of groups) {
    const description = await describeGroup(session, group);
    if (description.state === 'Dead') {
      failures.push(`Consumer group '${group}' does not exist.`);
      continue;
    }
    if (view === 'state') {
      const c = description.coordinator;
      printTable(
        ['GROUP', 'COORDINATOR (ID)', 'ASSIGNMENT-STRATEGY', 'STATE', '#MEMBERS'],
        [[group, `${c.host}:${c.port} (${c.nodeId})`, description.protocol || '-', description.state, String(description.members.length)]],
        out,
      );
      continue;
    }
    if (description.state === 'Empty') err(`\nConsumer group '${group}' has no active members.`);
    else if (description.state === 'PreparingRebalance' || description.state === 'CompletingRebalance') {
      err(`\nWarning: Consumer group '${group}' is rebalancing.`);
    }
    if (view === 'members') {
      if (description.members.length === 0) continue;
      const header = ['GROUP', 'CONSUMER-ID', 'HOST', 'CLIENT-ID', '#PARTITIONS', ...(verbose ? ['ASSIGNMENT'] : [])];
      printTable(
        header,
        description.members.map((m) => [
          group,
          m.memberId,
          m.clientHost,
          m.clientId,
          String(m.assignment.length),
          ...(verbose ? [formatAssignment(m.assignment)] : []),
        ]),
        out,
      );
      continue;
    }
    await printOffsets(session, description, out);
  }
  if (failures.length > 0) throw new Error(failures.join('\n'));
}

function formatAssignment(assignment: TopicPartition[]): string {
  if (assignment.length === 0) return '-';
  return [...groupByTopic(assignment)].map(([topic, partitions]) => `${topic}(${partitions.join(',')})`).join(',');
}

async function printOffsets(session: Session, description: GroupDescription, out: (line: string) => void): Promise<void> {
  const group = description.groupId;
  const committed = await committedOffsets(session, group);
  interface Row extends TopicPartition {
    member?: Member;
  }
  const rows: Row[] = [];
  const idle: Member[] = [];
  const assigned = new Set<string>();
  for (const member of description.members) {
    if (member.assignment.length === 0) idle.push(member);
    for (const tp of member.assignment) {
      rows.push({ ...tp, member });
      assigned.add(tpKey(tp.topic, tp.partition));
    }
  }
  for (const c of committed.values()) if (!assigned.has(tpKey(c.topic, c.partition))) rows.push({ topic: c.topic, partition: c.partition });
  rows.sort(byTopicPartition);

  const cluster = await session.metadata([...new Set(rows.map((r) => r.topic))]);
  const [earliest, latest] = await Promise.all([
    listOffsets(session, cluster, rows, () => EARLIEST),
    listOffsets(session, cluster, rows, () => LATEST),
  ]);
  const ok = (results: Map<string, OffsetResult>, key: string) => {
    const r = results.get(key);
    return r && r.errorCode === 0 && r.offset >= 0n ? r.offset : undefined;
  };
  // The oldest unconsumed record is the one at the committed offset (or at the
  // log start, when retention removed that one).
  const positions = new Map<string, TopicPartition & { offset: bigint }>();
  for (const row of rows) {
    const key = tpKey(row.topic, row.partition);
    const current = committed.get(key)?.offset;
    const end = ok(latest, key);
    if (current === undefined || end === undefined || current >= end) continue;
    const start = ok(earliest, key) ?? 0n;
    positions.set(key, { topic: row.topic, partition: row.partition, offset: current > start ? current : start });
  }
  const timestamps = positions.size > 0 ? await recordTimestamps(session, cluster, positions) : new Map<string, number>();
  const now = Date.now();

  const table = rows.map((row) => {
    const key = tpKey(row.topic, row.partition);
    const current = committed.get(key)?.offset;
    const end = ok(latest, key);
    const lag = current !== undefined && end !== undefined ? (end > current ? end - current : 0n) : undefined;
    const timestamp = timestamps.get(key);
    return [
      group,
      row.topic,
      String(row.partition),
      current === undefined ? '-' : String(current),
      end === undefined ? '-' : String(end),
      lag === undefined ? '-' : String(lag),
      timestamp === undefined ? '-' : formatDuration(Math.max(0, now - timestamp)),
      row.member?.memberId ?? '-',
      row.member?.clientHost ?? '-',
      row.member?.clientId ?? '-',
    ];
  });
  for (const m of idle) table.push([group, '-', '-', '-', '-', '-', '-', m.memberId, m.clientHost, m.clientId]);
  if (table.length === 0) return;
  printTable(['GROUP', 'TOPIC', 'PARTITION', 'CURRENT-OFFSET', 'LOG-END-OFFSET', 'LAG', 'TIME-LAG', 'CONSUMER-ID', 'HOST', 'CLIENT-ID'], table, out);
}

/** 850ms, 12.3s, 5m7s, 2h0m13s, 3d4h5m. */
function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const seconds = Math.floor(ms / 1000);
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (d > 0) return `${d}d${h}h${m}m`;
  if (h > 0) return `${h}h${m}m${s}s`;
  return `${m}m${s}s`;
}

// ---------------------------------------------------------------------------
// --reset-offsets

type ResetSpec =
  | { kind: 'to-earliest' | 'to-latest' | 'to-current' }
  | { kind: 'to-offset' | 'shift-by'; value: bigint }
  | { kind: 'to-timestamp'; timestamp: number };

interface ResetOptions {
  spec: ResetSpec;
  execute: boolean;
  allTopics: boolean;
  topics: { topic: string; partitions: number[] | null }[];
}

function resetOptions(args: ParsedArgs): ResetOptions {
  const given = RESET_SPECS.filter((s) => args.has(s));
  if (given.length !== 1) throw new UsageError(`--reset-offsets needs exactly one of ${RESET_SPECS.map((s) => `--${s}`).join(', ')}`);
  if (args.has('dry-run') && args.has('execute')) throw new UsageError('--reset-offsets takes only one of --dry-run and --execute');
  if (args.has('topic') === args.has('all-topics')) throw new UsageError('--reset-offsets needs --topic T[:P,...] (repeatable) or --all-topics');
  const kind = given[0]!;
  let spec: ResetSpec;
  switch (kind) {
    case 'to-earliest':
    case 'to-latest':
    case 'to-current':
      spec = { kind };
      break;
    case 'to-offset':
    case 'shift-by':
      spec = { kind, value: integer(args.get(kind)!, `--${kind}`) };
      break;
    case 'to-datetime':
      spec = { kind: 'to-timestamp', timestamp: parseDateTime(args.get(kind)!) };
      break;
    case 'by-duration':
      spec = { kind: 'to-timestamp', timestamp: Date.now() - parseDuration(args.get(kind)!) };
      break;
  }
  return { spec, execute: args.has('execute'), allTopics: args.has('all-topics'), topics: args.all('topic').map(parseTopicPartitions) };
}

async function resetCommand(
  session: Session,
  groups: string[],
  args: ParsedArgs,
  options: ResetOptions,
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<void> {
  if (!options.execute && !args.has('dry-run')) {
    err('WARN: No action will be performed as the --execute option is missing. Add --dry-run to say so explicitly, or --execute to reset the offsets.');
  }
  for (const group of groups) {
    const description = await describeGroup(session, group);
    if (description.state !== 'Empty' && description.state !== 'Dead') {
      throw new Error(`Assignments can only be reset if the group '${group}' is inactive, but the current state is ${description.state}.`);
    }
    const committed = await committedOffsets(session, group);
    let partitions: TopicPartition[];
    let cluster: Cluster;
    if (options.allTopics) {
      partitions = [...committed.values()].map(({ topic, partition }) => ({ topic, partition }));
      cluster = await session.metadata([...new Set(partitions.map((p) => p.topic))]);
    } else {
      cluster = await session.metadata(options.topics.map((t) => t.topic));
      partitions = resolvePartitions(cluster, options.topics);
    }
    partitions.sort(byTopicPartition);
    const newOffsets = await planReset(session, cluster, partitions, committed, options.spec);
    if (options.execute && newOffsets.length > 0) await commitOffsets(session, group, newOffsets);
    printTable(['GROUP', 'TOPIC', 'PARTITION', 'NEW-OFFSET'], newOffsets.map((o) => [group, o.topic, String(o.partition), String(o.offset)]), out);
  }
}

async function planReset(
  session: Session,
  cluster: Cluster,
  partitions: TopicPartition[],
  committed: Map<string, TopicPartition & { offset: bigint }>,
  spec: ResetSpec,
): Promise<(TopicPartition & { offset: bigint })[]> {
  if (partitions.length === 0) return [];
  const [earliest, latest] = await Promise.all([
    listOffsets(session, cluster, partitions, () => EARLIEST).then((r) => requireOffsets(r, partitions, 'earliest')),
    listOffsets(session, cluster, partitions, () => LATEST).then((r) => requireOffsets(r, partitions, 'latest')),
  ]);
  let byTime: Map<string, OffsetResult> | undefined;
  if (spec.kind === 'to-timestamp') byTime = await listOffsets(session, cluster, partitions, () => BigInt(spec.timestamp));
  return partitions.map((tp) => {
    const key = tpKey(tp.topic, tp.partition);
    const start = earliest.get(key)!;
    const end = latest.get(key)!;
    const clamp = (offset: bigint) => (offset < start ? start : offset > end ? end : offset);
    const current = committed.get(key)?.offset;
    let offset: bigint;
    switch (spec.kind) {
      case 'to-earliest':
        offset = start;
        break;
      case 'to-latest':
        offset = end;
        break;
      case 'to-current':
        offset = current ?? end; // no committed offset: where a new consumer would start at the latest
        break;
      case 'to-offset':
        offset = clamp(spec.value);
        break;
      case 'shift-by':
        if (current === undefined) throw new Error(`cannot shift the offset of ${tp.topic}-${tp.partition}: the group has no committed offset for it`);
        offset = clamp(current + spec.value);
        break;
      case 'to-timestamp': {
        const found = byTime!.get(key);
        if (!found || found.errorCode !== 0) {
          throw new Error(`${errorName(found?.errorCode ?? UNKNOWN_TOPIC_OR_PARTITION)}: cannot look up ${tp.topic}-${tp.partition} by timestamp`);
        }
        // No record at or after the time: the end of the log.
        offset = found.offset < 0n ? end : clamp(found.offset);
        break;
      }
    }
    return { ...tp, offset };
  });
}

function parseTopicPartitions(text: string): { topic: string; partitions: number[] | null } {
  const colon = text.indexOf(':');
  if (colon < 0) return { topic: text, partitions: null };
  const topic = text.slice(0, colon);
  const partitions = text
    .slice(colon + 1)
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => Number(integer(p, `--topic ${text}`)));
  if (topic === '' || partitions.length === 0) throw new UsageError(`--topic must be T or T:P[,P...], got ${JSON.stringify(text)}`);
  return { topic, partitions: [...new Set(partitions)] };
}

/** The partitions named by --topic flags, each checked against the cluster's metadata. */
function resolvePartitions(cluster: Cluster, topics: { topic: string; partitions: number[] | null }[]): TopicPartition[] {
  const seen = new Map<string, TopicPartition>();
  for (const { topic, partitions } of topics) {
    const known = cluster.topics.get(topic);
    if (!known) throw new Error(`${errorName(UNKNOWN_TOPIC_OR_PARTITION)}: topic ${topic} does not exist`);
    for (const partition of partitions ?? [...known.keys()]) {
      if (!known.has(partition)) throw new Error(`${errorName(UNKNOWN_TOPIC_OR_PARTITION)}: partition ${topic}-${partition} does not exist`);
      seen.set(tpKey(topic, partition), { topic, partition });
    }
  }
  return [...seen.values()];
}

/** YYYY-MM-DDTHH:mm:SS[.sss] with Z or ±hh[:mm] for the zone, local time without one. */
function parseDateTime(text: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}(?::?\d{2})?)?$/i.exec(text);
  const bad = () => new UsageError(`--to-datetime must look like 2024-01-31T13:45:00.000, optionally followed by Z or a zone offset such as +01:00; got ${JSON.stringify(text)}`);
  if (!m) throw bad();
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const millis = m[7] ? Number(m[7].padEnd(3, '0').slice(0, 3)) : 0;
  const utc = new Date(Date.UTC(year, month - 1, day, hour, minute, second, millis));
  if (utc.getUTCFullYear() !== year || utc.getUTCMonth() !== month - 1 || utc.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) throw bad();
  const zone = m[8];
  if (zone === undefined) return new Date(year, month - 1, day, hour, minute, second, millis).getTime();
  if (zone.toUpperCase() === 'Z') return utc.getTime();
  const digits = zone.slice(1).replace(':', '');
  const offsetMinutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0');
  if (offsetMinutes > 18 * 60) throw bad();
  return utc.getTime() - (zone.startsWith('-') ? -1 : 1) * offsetMinutes * 60_000;
}

/** An ISO-8601 duration in days, hours, minutes and seconds (PnDTnHnMn.nS), as milliseconds. */
function parseDuration(text: string): number {
  const m = /^([-+]?)P(?:([-+]?\d+)D)?(?:T(?:([-+]?\d+)H)?(?:([-+]?\d+)M)?(?:([-+]?\d+)(?:[.,](\d{0,9}))?S)?)?$/i.exec(text);
  const bad = () => new UsageError(`--by-duration must be an ISO-8601 duration such as PT30M, P1DT2H or PT1.5S; got ${JSON.stringify(text)}`);
  if (!m) throw bad();
  const [, sign, days, hours, minutes, seconds, fraction] = m;
  if (days === undefined && hours === undefined && minutes === undefined && seconds === undefined) throw bad();
  if (/T$/i.test(text)) throw bad(); // "P1DT": a time part with nothing in it
  let ms = Number(days ?? 0) * 86_400_000 + Number(hours ?? 0) * 3_600_000 + Number(minutes ?? 0) * 60_000;
  if (seconds !== undefined) {
    const fractionMs = Number((fraction ?? '').padEnd(3, '0').slice(0, 3));
    ms += seconds.startsWith('-') ? Number(seconds) * 1000 - fractionMs : Number(seconds) * 1000 + fractionMs;
  }
  return sign === '-' ? -ms : ms;
}

// ---------------------------------------------------------------------------
// --delete and --delete-offsets

async function deleteCommand(session: Session, groups: string[], out: (line: string) => void): Promise<void> {
  const deleted: string[] = [];
  const failed: string[] = [];
  for (const group of groups) {
    const response = await session.onCoordinator(
      group,
      (c) => c.client.request(DeleteGroupsApi, c.client.negotiate(DeleteGroupsApi, 2), { groupsNames: [group] }),
      (r) => r.results[0]?.errorCode ?? 0,
    );
    const code = response.results.find((r) => r.groupId === group)?.errorCode ?? response.results[0]?.errorCode ?? 0;
    if (code === 0) deleted.push(group);
    else failed.push(`* Group '${group}' could not be deleted due to: ${errorName(code)}${DELETE_REASONS[code] ?? ''}`);
  }
  const quoted = (list: string[]) => list.map((g) => `'${g}'`).join(', ');
  if (failed.length === 0) {
    out(`Deletion of requested consumer groups (${quoted(deleted)}) was successful.`);
    return;
  }
  if (deleted.length > 0) out(`These consumer groups were deleted successfully: ${quoted(deleted)}`);
  throw new Error(`Deletion of some consumer groups failed:\n${failed.join('\n')}`);
}

const DELETE_REASONS: Record<number, string> = {
  [NON_EMPTY_GROUP]: ' (the group has active members; stop its consumers first)',
  [GROUP_ID_NOT_FOUND]: ' (the group does not exist)',
};

async function deleteOffsetsCommand(session: Session, args: ParsedArgs, out: (line: string) => void): Promise<void> {
  const groups = args.all('group');
  if (groups.length !== 1 || args.has('all-groups')) throw new UsageError('--delete-offsets takes exactly one --group');
  if (!args.has('topic')) throw new UsageError('--delete-offsets needs --topic T[:P,...] (repeatable)');
  const group = groups[0]!;
  const topics = args.all('topic').map(parseTopicPartitions);
  const partitions = resolvePartitions(await session.metadata(topics.map((t) => t.topic)), topics).sort(byTopicPartition);
  const response = await session.onCoordinator(
    group,
    (c) =>
      c.client.request(OffsetDeleteApi, c.client.negotiate(OffsetDeleteApi, 0), {
        groupId: group,
        topics: [...groupByTopic(partitions)].map(([name, ps]) => ({ name, partitions: ps.map((partitionIndex) => ({ partitionIndex })) })),
      }),
    (r) => r.errorCode,
  );
  if (response.errorCode === GROUP_ID_NOT_FOUND) throw new Error(`Consumer group '${group}' does not exist.`);
  if (response.errorCode !== 0) throw new Error(`Deleting offsets of consumer group '${group}' failed: ${errorName(response.errorCode)}`);
  const status = new Map<string, number>();
  for (const t of response.topics) for (const p of t.partitions) status.set(tpKey(t.name, p.partitionIndex), p.errorCode);
  const rows = partitions.map((tp) => {
    const code = status.get(tpKey(tp.topic, tp.partition)) ?? 0;
    return [tp.topic, String(tp.partition), code === 0 ? 'Successful' : `Error: ${errorName(code)}`];
  });
  const failed = rows.filter((r) => r[2] !== 'Successful').length;
  if (failed === 0) out(`Request succeed for deleting offsets with topic ${[...new Set(partitions.map((p) => p.topic))].join(', ')} group ${group}`);
  printTable(['TOPIC', 'PARTITION', 'STATUS'], rows, out);
  if (failed > 0) {
    const subscribed = [...status.values()].includes(GROUP_SUBSCRIBED_TO_TOPIC);
    throw new Error(
      `Deleting offsets of consumer group '${group}' failed for ${failed} partition(s)` +
        (subscribed ? ': the group is subscribed to the topic (stop its consumers or change their subscription first)' : ''),
    );
  }
}

// ---------------------------------------------------------------------------

/** A blank line, then left-aligned columns as wide as their widest cell. */
function printTable(header: string[], rows: string[][], out: (line: string) => void): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join(' ').trimEnd();
  out('');
  out(line(header));
  for (const row of rows) out(line(row));
}

function integer(value: string, flag: string): bigint {
  if (!/^[-+]?\d+$/.test(value)) throw new UsageError(`${flag} must be an integer, got ${JSON.stringify(value)}`);
  return BigInt(value);
}

// Consumer-group benchmarks against a Gregor broker running as a child
// process (its CPU apart from the load generator's):
//
//   - join to stable: N members (1, 10, 50), each on its own connection,
//     speaking the classic protocol through src/client/wire-client.ts
//     (FindCoordinator, JoinGroup v5 with the MEMBER_ID_REQUIRED round trip,
//     a range assignment by the leader over a 100-partition topic, SyncGroup
//     v5), timed from the moment all members send JoinGroup until the last
//     SyncGroup answer of a generation holding all N members;
//   - rebalance of a stable group when one member leaves (LeaveGroup) or one
//     joins, until every member has re-synced;
//   - kafkajs consumers: from consumer.run() to every consumer's GROUP_JOIN in
//     a generation holding all of them;
//   - OffsetCommit v8 / OffsetFetch v8 requests per second, pipelined on one
//     and on several connections, with ApiVersions and Heartbeat under the
//     same pipelining as the same-run limit.
//
//   node bench/groups.mjs             (or: node bench/run.mjs groups)
//
// The broker runs from a copy of dist/ and the addon (in the scratch
// directory), so that a rebuild of the shared tree during the run cannot
// change what is measured. Settings: GREGOR_BENCH_GROUPS_* (see
// bench/README.md). The standalone run writes bench/results/groups-<time>.md
// and .json.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { WireClient } from '../dist/client/wire-client.js';
import { ErrorCode } from '../dist/protocol/error-codes.js';
import { encodeRequestFrame, responseHeaderVersion } from '../dist/protocol/frame.js';
import { readResponseHeader } from '../dist/protocol/generated/headers.js';
import {
  ApiVersionsApi,
  CreateTopicsApi,
  FindCoordinatorApi,
  HeartbeatApi,
  JoinGroupApi,
  LeaveGroupApi,
  OffsetCommitApi,
  OffsetFetchApi,
  SyncGroupApi,
  decodeConsumerProtocolAssignment,
  decodeConsumerProtocolSubscription,
  encodeConsumerProtocolAssignment,
  encodeConsumerProtocolSubscription,
} from '../dist/protocol/generated/index.js';
import { partitionForGroup } from '../dist/groups/offsets-topic.js';
import { Reader } from '../dist/protocol/wire.js';
import { describeMachine, loadAverage } from './machine.mjs';
import {
  BENCH_DIR,
  REPO_DIR,
  TRIALS,
  commandOutput,
  envInt,
  envList,
  fmt,
  fmtAuto,
  log,
  median,
  removeDir,
  scratchDir,
  sleep,
  table,
} from './lib/util.mjs';

// ---- settings ------------------------------------------------------------------

const S = {
  members: envList('GROUPS_MEMBERS', [1, 10, 50]),
  joinRounds: Math.max(envInt('GROUPS_JOIN_ROUNDS', 20), 1),
  partitions: Math.max(envInt('GROUPS_TOPIC_PARTITIONS', 100), 1),
  heartbeatMs: Math.max(envInt('GROUPS_HEARTBEAT_MS', 100), 1),
  kafkajsMembers: process.env.GREGOR_BENCH_GROUPS_KAFKAJS === '0' ? [] : envList('GROUPS_KAFKAJS', [1, 10, 50]),
  kafkajsRounds: Math.max(envInt('GROUPS_KAFKAJS_ROUNDS', 5), 1),
  trials: TRIALS,
  rateMs: Math.max(envInt('GROUPS_RATE_MS', 2000), 100),
  inflight: Math.max(envInt('GROUPS_INFLIGHT', 32), 1),
  connections: Math.max(envInt('GROUPS_CONNECTIONS', 4), 2),
  offsetsPartitions: Math.max(envInt('GROUPS_OFFSETS_PARTITIONS', 50), 1),
};

const TOPIC = 'bench-groups';
const SESSION_MS = 30_000;
const REBALANCE_MS = 60_000;
/** Members of the groups that the request-rate part uses: no session may expire between its trials. */
const LONG_SESSION_MS = 600_000;
const PROTOCOL = 'range';
const SUBSCRIPTION_VERSION = 1;
const ASSIGNMENT_VERSION = 1;
const CLK_TCK = Number(commandOutput('getconf', ['CLK_TCK'])) || 100;

const { MEMBER_ID_REQUIRED, REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, NONE } = ErrorCode;

// ---- small helpers ---------------------------------------------------------------

const nowMs = () => performance.now();

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  // Nearest rank.
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function stats(values) {
  return { median: median(values), p90: percentile(values, 90), min: Math.min(...values), max: Math.max(...values), samples: values };
}

function withVersion(version, body) {
  const out = Buffer.allocUnsafe(2 + body.length);
  out.writeInt16BE(version, 0);
  body.copy(out, 2);
  return out;
}

function errorName(code) {
  return Object.entries(ErrorCode).find(([, v]) => v === code)?.[0] ?? String(code);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** CPU ticks: the whole machine (busy), the broker process and this process. */
function cpuSample(brokerPid) {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const busy = line[0] + line[1] + line[2] + line[5] + line[6] + (line[7] || 0);
  let broker = 0;
  let switches = 0;
  try {
    const stat = readFileSync(`/proc/${brokerPid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    broker = Number(f[11]) + Number(f[12]); // utime + stime
    // Context switches of all the broker's threads (voluntary: a thread blocked or yielded).
    for (const tid of readdirSync(`/proc/${brokerPid}/task`)) {
      try {
        const status = readFileSync(`/proc/${brokerPid}/task/${tid}/status`, 'utf8');
        switches += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
        switches += Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
      } catch {
        // thread exited
      }
    }
  } catch {
    // broker gone
  }
  const self = process.cpuUsage();
  return { t: nowMs(), busy, broker, switches, selfUs: self.user + self.system };
}

/** Seconds of CPU per second of wall time: broker, this process (load generator), everyone else. */
function cpuDelta(a, b) {
  const wall = (b.t - a.t) / 1000;
  const brokerS = (b.broker - a.broker) / CLK_TCK;
  const selfS = (b.selfUs - a.selfUs) / 1e6;
  const busyS = (b.busy - a.busy) / CLK_TCK;
  return { wall, brokerS, selfS, switches: b.switches - a.switches, otherCores: Math.max(0, (busyS - brokerS - selfS) / wall) };
}

// ---- the broker ------------------------------------------------------------------

class Broker {
  constructor(root) {
    this.root = root;
  }

  async start(overrides) {
    // The work tree is shared: run a copy of the build.
    const native = join(REPO_DIR, 'build', 'Release', 'gregor_native.node');
    const main = join(REPO_DIR, 'dist', 'cli', 'main.js');
    if (!existsSync(native) || !existsSync(main)) throw new Error('build the broker first: npm run build');
    const snapshot = join(this.root, 'broker');
    mkdirSync(join(snapshot, 'build', 'Release'), { recursive: true });
    cpSync(join(REPO_DIR, 'dist'), join(snapshot, 'dist'), { recursive: true });
    cpSync(native, join(snapshot, 'build', 'Release', 'gregor_native.node'));
    cpSync(join(REPO_DIR, 'package.json'), join(snapshot, 'package.json'));
    this.build = {
      commit: commandOutput('git', ['-C', REPO_DIR, 'rev-parse', '--short', 'HEAD']) || process.env.GREGOR_BENCH_GROUPS_COMMIT || 'unknown (not a git work tree)',
      dirtyFiles: commandOutput('git', ['-C', REPO_DIR, 'status', '--porcelain', '--untracked-files=no']).split('\n').filter(Boolean).length,
      distBuilt: statSync(main).mtime.toISOString(),
      staleSources: newerThan(join(REPO_DIR, 'src'), statSync(main).mtimeMs),
    };
    const port = await freePort();
    this.bootstrap = `127.0.0.1:${port}`;
    const dataDir = join(this.root, 'data');
    mkdirSync(dataDir, { recursive: true });
    const args = [join(snapshot, 'dist', 'cli', 'main.js'), 'broker', '--override', `log.dirs=${dataDir}`, '--override', `listeners=PLAINTEXT://${this.bootstrap}`];
    for (const [k, v] of Object.entries(overrides)) args.push('--override', `${k}=${v}`);
    this.overrides = overrides;
    this.proc = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: this.root });
    this.pid = this.proc.pid;
    this.tail = '';
    this.warnings = [];
    this.exited = null;
    this.proc.on('exit', (code, signal) => (this.exited = { code, signal }));
    this.proc.stderr.on('data', (d) => {
      this.tail = (this.tail + d).slice(-8000);
      for (const line of String(d).split('\n')) {
        if (/"level":"(warn|error)"|\bWARN\b|\bERROR\b/.test(line) && this.warnings.length < 50) this.warnings.push(line.slice(0, 400));
      }
    });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the broker did not start: ${this.tail}`)), 30_000);
      const check = () => {
        if (this.tail.includes('Gregor broker started')) {
          clearTimeout(timer);
          this.proc.stderr.off('data', check);
          resolve();
        }
      };
      this.proc.stderr.on('data', check);
      this.proc.once('exit', () => reject(new Error(`the broker exited at start: ${this.tail}`)));
    });
  }

  async stop() {
    if (!this.proc || this.exited) return this.exited;
    const done = new Promise((resolve) => this.proc.once('exit', (code, signal) => resolve({ code, signal })));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 20_000);
    const result = await done;
    clearTimeout(timer);
    return result;
  }
}

/** Source files modified after `since` (ms), under `dir`. */
function newerThan(dir, since) {
  const out = [];
  const walk = (d) => {
    for (const name of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, name.name);
      if (name.isDirectory()) walk(p);
      else if (name.name.endsWith('.ts') && statSync(p).mtimeMs > since) out.push(p.slice(REPO_DIR.length + 1));
    }
  };
  try {
    walk(dir);
  } catch {
    // no src
  }
  return out;
}

// ---- a group member over WireClient --------------------------------------------------

const SUBSCRIPTION = withVersion(
  SUBSCRIPTION_VERSION,
  encodeConsumerProtocolSubscription({ topics: [TOPIC], userData: null, ownedPartitions: [] }, SUBSCRIPTION_VERSION),
);

/** Kafka's range assignor for one topic: members sorted by id, consecutive partitions, the first ones one extra. */
function rangeAssign(members, partitions) {
  const subscribed = members.filter((m) => {
    const version = m.metadata.readInt16BE(0);
    const sub = decodeConsumerProtocolSubscription(m.metadata.subarray(2), Math.min(version, 3));
    return sub.topics.includes(TOPIC);
  });
  const ids = subscribed.map((m) => m.memberId).sort();
  const per = Math.floor(partitions / ids.length);
  const extra = partitions % ids.length;
  let next = 0;
  return ids.map((memberId, i) => {
    const n = per + (i < extra ? 1 : 0);
    const assigned = Array.from({ length: n }, (_, k) => next + k);
    next += n;
    return {
      memberId,
      assignment: withVersion(
        ASSIGNMENT_VERSION,
        encodeConsumerProtocolAssignment({ assignedPartitions: [{ topic: TOPIC, partitions: assigned }], userData: null }, ASSIGNMENT_VERSION),
      ),
    };
  });
}

class Member {
  constructor(client, index) {
    this.client = client;
    this.index = index;
    this.groupId = '';
    this.sessionMs = SESSION_MS;
  }

  /** A new group: forget the member id. */
  reset(groupId, tracker = null, sessionMs = SESSION_MS) {
    this.groupId = groupId;
    this.tracker = tracker;
    this.sessionMs = sessionMs;
    this.memberId = '';
    this.generation = -1;
    this.synced = -1;
    this.partitions = [];
    this.stopHeartbeat();
  }

  async findCoordinator() {
    const r = await this.client.request(FindCoordinatorApi, 4, { keyType: 0, coordinatorKeys: [this.groupId] });
    const c = r.coordinators[0];
    if (c.errorCode !== NONE) throw new Error(`FindCoordinator: ${errorName(c.errorCode)} ${c.errorMessage ?? ''}`);
    return c;
  }

  /** JoinGroup (+ the MEMBER_ID_REQUIRED round) and SyncGroup, again until a generation is synced. */
  async joinAndSync() {
    this.stopHeartbeat();
    for (let attempt = 0; attempt < 100; attempt++) {
      const j = await this.client.request(JoinGroupApi, 5, {
        groupId: this.groupId,
        sessionTimeoutMs: this.sessionMs,
        rebalanceTimeoutMs: REBALANCE_MS,
        memberId: this.memberId,
        groupInstanceId: null,
        protocolType: 'consumer',
        protocols: [{ name: PROTOCOL, metadata: SUBSCRIPTION }],
      });
      this.tracker?.count('JoinGroup', j.errorCode);
      if (j.errorCode === MEMBER_ID_REQUIRED) {
        this.memberId = j.memberId;
        continue;
      }
      if (j.errorCode === UNKNOWN_MEMBER_ID) {
        this.memberId = '';
        continue;
      }
      if (j.errorCode === REBALANCE_IN_PROGRESS) continue;
      if (j.errorCode !== NONE) throw new Error(`JoinGroup ${this.groupId} member ${this.index}: ${errorName(j.errorCode)}`);
      this.memberId = j.memberId;
      this.generation = j.generationId;
      const isLeader = j.leader === j.memberId;
      if (isLeader) this.tracker?.generationSize(j.generationId, j.members.length);
      const s = await this.client.request(SyncGroupApi, 5, {
        groupId: this.groupId,
        generationId: j.generationId,
        memberId: this.memberId,
        groupInstanceId: null,
        protocolType: 'consumer',
        protocolName: PROTOCOL,
        assignments: isLeader ? rangeAssign(j.members, S.partitions) : [],
      });
      this.tracker?.count('SyncGroup', s.errorCode);
      if (s.errorCode === REBALANCE_IN_PROGRESS || s.errorCode === ILLEGAL_GENERATION) continue;
      if (s.errorCode === UNKNOWN_MEMBER_ID) {
        this.memberId = '';
        continue;
      }
      if (s.errorCode !== NONE) throw new Error(`SyncGroup ${this.groupId} member ${this.index}: ${errorName(s.errorCode)}`);
      const version = s.assignment.readInt16BE(0);
      const a = decodeConsumerProtocolAssignment(s.assignment.subarray(2), Math.min(version, 3));
      this.partitions = a.assignedPartitions.flatMap((t) => t.partitions);
      this.synced = j.generationId;
      this.isLeader = isLeader;
      this.tracker?.synced(this);
      return;
    }
    throw new Error(`member ${this.index} of ${this.groupId} did not get a generation in 100 attempts`);
  }

  async heartbeat() {
    const r = await this.client.request(HeartbeatApi, 4, { groupId: this.groupId, generationId: this.generation, memberId: this.memberId, groupInstanceId: null });
    this.tracker?.count('Heartbeat', r.errorCode);
    return r.errorCode;
  }

  /** As clients do: heartbeat every `intervalMs`; on REBALANCE_IN_PROGRESS (or a lost generation) join again. */
  startHeartbeat(intervalMs) {
    this.stopHeartbeat();
    this.heartbeating = true;
    const tick = async () => {
      if (!this.heartbeating) return;
      try {
        const code = await this.heartbeat();
        if (!this.heartbeating) return;
        if (code === REBALANCE_IN_PROGRESS || code === ILLEGAL_GENERATION || code === UNKNOWN_MEMBER_ID) {
          if (code === UNKNOWN_MEMBER_ID) this.memberId = '';
          await this.joinAndSync();
          if (this.tracker?.done) return;
          this.startHeartbeat(intervalMs);
          return;
        }
      } catch (error) {
        this.tracker?.fail(error);
        return;
      }
      this.heartbeatTimer = setTimeout(tick, intervalMs);
    };
    this.heartbeatTimer = setTimeout(tick, intervalMs);
  }

  stopHeartbeat() {
    this.heartbeating = false;
    clearTimeout(this.heartbeatTimer);
  }

  async leave() {
    if (this.memberId === '') return;
    const r = await this.client.request(LeaveGroupApi, 5, {
      groupId: this.groupId,
      members: [{ memberId: this.memberId, groupInstanceId: null, reason: 'benchmark' }],
    });
    if (r.errorCode !== NONE || r.members.some((m) => m.errorCode !== NONE && m.errorCode !== UNKNOWN_MEMBER_ID)) {
      throw new Error(`LeaveGroup: ${errorName(r.errorCode)} ${r.members.map((m) => errorName(m.errorCode)).join(',')}`);
    }
    this.memberId = '';
  }
}

/**
 * Watches one measurement: done when a generation whose leader saw `expected`
 * members has all of them synced. Counts the requests and error answers.
 */
class Tracker {
  constructor(expected, members) {
    this.expected = expected;
    this.members = members;
    this.sizes = new Map();
    this.counts = {};
    this.done = false;
    this.generations = new Set();
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  count(api, code) {
    const key = code === NONE ? api : `${api} ${errorName(code)}`;
    this.counts[key] = (this.counts[key] ?? 0) + 1;
  }

  generationSize(generation, size) {
    this.sizes.set(generation, size);
    this.generations.add(generation);
  }

  synced(member) {
    if (this.done) return;
    const g = member.synced;
    if (this.sizes.get(g) !== this.expected) return;
    let n = 0;
    for (const m of this.members) if (m.synced === g) n++;
    if (n === this.expected) {
      this.done = true;
      this.generation = g;
      this.resolve(nowMs());
    }
  }

  fail(error) {
    if (this.done) return;
    this.done = true;
    this.reject(error);
  }

  /** Resolves with the time of the last sync, or rejects after `timeoutMs`. */
  wait(timeoutMs, what) {
    const timer = setTimeout(() => this.fail(new Error(`${what}: not stable after ${timeoutMs} ms (${JSON.stringify(this.counts)})`)), timeoutMs);
    return this.promise.finally(() => clearTimeout(timer));
  }
}

/** Every member's assignment together covers the topic exactly once. */
function checkAssignment(members) {
  const seen = new Set();
  for (const m of members) for (const p of m.partitions) {
    if (seen.has(p)) throw new Error(`partition ${p} assigned twice`);
    seen.add(p);
  }
  if (seen.size !== S.partitions) throw new Error(`${seen.size} of ${S.partitions} partitions assigned`);
}

// ---- join to stable and rebalances --------------------------------------------------

let groupSeq = 0;
const runTag = Date.now().toString(36);
const newGroupId = (what) => `bench-${what}-${runTag}-${++groupSeq}`;

/** N connections each doing 3 sequential Heartbeats of an unknown group, started together: the floor under a join (3 round trips each). */
async function trivialRoundTrips(clients, rounds = 3) {
  const t0 = nowMs();
  await Promise.all(
    clients.map(async (c) => {
      for (let i = 0; i < rounds; i++) {
        const r = await c.request(HeartbeatApi, 4, { groupId: 'bench-no-such-group', generationId: 1, memberId: 'x', groupInstanceId: null });
        if (r.errorCode !== UNKNOWN_MEMBER_ID) throw new Error(`Heartbeat of an unknown group: ${errorName(r.errorCode)}`);
      }
    }),
  );
  return nowMs() - t0;
}

async function benchJoins(broker) {
  const maxN = Math.max(...S.members);
  log(`groups: opening ${maxN + 1} member connections`);
  const clients = [];
  for (let i = 0; i <= maxN; i++) clients.push(await WireClient.connect(broker.bootstrap, `bench-member-${i}`));
  const members = clients.map((c, i) => new Member(c, i));
  const results = [];
  try {
    for (const n of S.members) {
      const group = members.slice(0, n);
      const row = { members: n, join: [], joinGenerations: [], joinCounts: [], leave: [], rejoin: [], floor: [], brokerCpuSeconds: 0, brokerSwitches: 0 };
      let phaseStart = null;
      // One untimed round first (JIT, first use of the code paths).
      for (let round = -1; round < S.joinRounds; round++) {
        if (round === 0) phaseStart = cpuSample(broker.pid);
        const groupId = newGroupId(`join${n}`);
        const tracker = new Tracker(n, group);
        for (const m of group) m.reset(groupId, tracker);
        await Promise.all(group.map((m) => m.findCoordinator()));
        const floor = await trivialRoundTrips(clients.slice(0, n));
        const c0 = cpuSample(broker.pid);
        const t0 = nowMs();
        // Members that synced a generation without everyone heartbeat and
        // rejoin on REBALANCE_IN_PROGRESS, as clients do.
        for (const m of group) {
          m.joinAndSync().then(
            () => !tracker.done && m.startHeartbeat(S.heartbeatMs),
            (error) => tracker.fail(error),
          );
        }
        const t1 = await tracker.wait(REBALANCE_MS, `join of ${n}`);
        const c1 = cpuSample(broker.pid);
        for (const m of group) m.stopHeartbeat();
        // Let in-flight heartbeats finish, then check the result.
        await sleep(5);
        checkAssignment(group);
        if (round >= 0) {
          row.join.push(t1 - t0);
          row.floor.push(floor);
          row.joinGenerations.push(tracker.generation);
          row.joinCounts.push(tracker.counts);
          const d = cpuDelta(c0, c1);
          row.brokerCpuSeconds += d.brokerS;
          row.brokerSwitches += d.switches;
        }

        if (n >= 2) {
          // One follower leaves; the others rejoin at once (as on the
          // REBALANCE_IN_PROGRESS a heartbeat would bring them).
          const leaver = group.find((m) => !m.isLeader);
          const rest = group.filter((m) => m !== leaver);
          const leaveTracker = new Tracker(n - 1, rest);
          for (const m of rest) m.tracker = leaveTracker;
          const l0 = nowMs();
          await leaver.leave();
          for (const m of rest) m.joinAndSync().catch((error) => leaveTracker.fail(error));
          const l1 = await leaveTracker.wait(REBALANCE_MS, `rebalance of ${n} after a leave`);
          leaver.partitions = [];
          checkAssignment(rest);
          if (round >= 0) row.leave.push(l1 - l0);

          // It joins again as a new member: the leader polls Heartbeat
          // back to back until the coordinator answers
          // REBALANCE_IN_PROGRESS, then every member rejoins.
          const joinTracker = new Tracker(n, group);
          for (const m of group) m.tracker = joinTracker;
          leaver.memberId = '';
          const leader = rest.find((m) => m.isLeader);
          const j0 = nowMs();
          leaver.joinAndSync().catch((error) => joinTracker.fail(error));
          let polls = 0;
          for (;;) {
            const code = await leader.heartbeat();
            polls++;
            if (code === REBALANCE_IN_PROGRESS) break;
            if (code !== NONE) throw new Error(`leader heartbeat: ${errorName(code)}`);
            if (polls > 100_000) throw new Error('the joining member did not start a rebalance');
          }
          for (const m of rest) m.joinAndSync().catch((error) => joinTracker.fail(error));
          const j1 = await joinTracker.wait(REBALANCE_MS, `rebalance of ${n} after a join`);
          checkAssignment(group);
          if (round >= 0) row.rejoin.push(j1 - j0);
        }
        await Promise.all(group.map((m) => m.leave()));
        if (round >= 0) log(`groups: N=${n} round ${round + 1}/${S.joinRounds}: join ${fmtAuto(row.join.at(-1))} ms (generation ${tracker.generation})${n >= 2 ? `, leave ${fmtAuto(row.leave.at(-1))} ms, join of one ${fmtAuto(row.rejoin.at(-1))} ms` : ''}`);
      }
      // Other tenants over the whole phase (the windows above are too short for /proc's 10 ms ticks).
      row.otherCores = cpuDelta(phaseStart, cpuSample(broker.pid)).otherCores;
      results.push(row);
    }
  } finally {
    for (const c of clients) c.close();
  }
  return results;
}

// ---- kafkajs -------------------------------------------------------------------------

async function benchKafkajs(broker) {
  if (S.kafkajsMembers.length === 0) return null;
  let kafkajs;
  try {
    kafkajs = await import('kafkajs');
  } catch (error) {
    return { skipped: `kafkajs not installed (${error.message})` };
  }
  const { Kafka, logLevel } = kafkajs.default ?? kafkajs;
  const settings = { sessionTimeout: SESSION_MS, rebalanceTimeout: REBALANCE_MS, heartbeatInterval: 3000, maxWaitTimeInMs: 100 };
  const rows = [];
  for (const n of S.kafkajsMembers) {
    const row = { members: n, join: [], joinEvents: [] };
    for (let round = -1; round < S.kafkajsRounds; round++) {
      const groupId = newGroupId(`kafkajs${n}`);
      const kafka = new Kafka({ clientId: 'bench-kafkajs', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
      const consumers = Array.from({ length: n }, () => kafka.consumer({ groupId, ...settings }));
      const latest = new Array(n).fill(null);
      let events = 0;
      let resolveDone;
      const done = new Promise((r) => (resolveDone = r));
      const check = () => {
        if (latest.some((a) => a === null)) return;
        const seen = new Set();
        for (const a of latest) for (const p of a) seen.add(p);
        if (seen.size === S.partitions && latest.reduce((s, a) => s + a.length, 0) === S.partitions) resolveDone(nowMs());
      };
      consumers.forEach((c, i) => {
        c.on(c.events.GROUP_JOIN, (e) => {
          events++;
          latest[i] = [...(e.payload.memberAssignment[TOPIC] ?? [])];
          check();
        });
      });
      await Promise.all(consumers.map((c) => c.connect()));
      await Promise.all(consumers.map((c) => c.subscribe({ topics: [TOPIC], fromBeginning: false })));
      const t0 = nowMs();
      await Promise.all(consumers.map((c) => c.run({ eachMessage: async () => {} })));
      const timeout = sleep(REBALANCE_MS).then(() => NaN);
      const t1 = await Promise.race([done, timeout]);
      await Promise.all(consumers.map((c) => c.disconnect()));
      if (Number.isNaN(t1)) throw new Error(`kafkajs: ${n} consumers not all joined after ${REBALANCE_MS} ms`);
      if (round >= 0) {
        row.join.push(t1 - t0);
        row.joinEvents.push(events);
        log(`groups: kafkajs N=${n} round ${round + 1}/${S.kafkajsRounds}: ${fmtAuto(t1 - t0)} ms, ${events} GROUP_JOIN events`);
      }
    }
    rows.push(row);
  }
  return { settings, rows };
}

// ---- request rates ------------------------------------------------------------------

/**
 * Sends pre-encoded frames on one raw connection, keeping `inflight` of them
 * outstanding, for `ms` (responses come back in order: the broker handles a
 * connection's requests one at a time). Every response is decoded and
 * checked by `check` (returns the number of errors in it).
 */
function pipelined(bootstrap, { api, version, frames, inflight, ms, check }) {
  const [host, port] = bootstrap.split(':');
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: Number(port) });
    socket.setNoDelay(true);
    let buffer = Buffer.alloc(0);
    let sent = 0;
    let received = 0;
    let errors = 0;
    let firstError = null;
    let deadline = 0;
    let t0 = 0;
    let tLast = 0;
    const headerVersion = responseHeaderVersion(api.apiKey, version);
    const sendSome = (count) => {
      const parts = [];
      for (let i = 0; i < count; i++) parts.push(frames[sent++ % frames.length]);
      socket.write(parts.length === 1 ? parts[0] : Buffer.concat(parts));
    };
    socket.once('connect', () => {
      t0 = nowMs();
      deadline = t0 + ms;
      sendSome(inflight);
    });
    let finished = false;
    socket.on('error', (error) => {
      if (!finished) reject(error);
    });
    socket.on('close', () => {
      if (!finished) reject(new Error(`connection closed by the broker after ${received} responses`));
    });
    socket.on('data', (chunk) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      let answered = 0;
      while (buffer.length >= 4) {
        const size = buffer.readInt32BE(0);
        if (buffer.length < 4 + size) break;
        const reader = new Reader(buffer.subarray(4, 4 + size));
        buffer = buffer.subarray(4 + size);
        readResponseHeader(reader, headerVersion);
        const e = check(api.response.read(reader, version));
        if (e > 0) {
          errors += e;
          firstError ??= e;
        }
        received++;
        answered++;
      }
      if (answered === 0) return;
      tLast = nowMs();
      if (tLast < deadline) sendSome(answered);
      else if (received === sent) {
        finished = true;
        socket.destroy();
        resolve({ requests: received, seconds: (tLast - t0) / 1000, errors });
      }
    });
  });
}

const commitErrors = (r) => {
  let e = 0;
  for (const t of r.topics) for (const p of t.partitions) if (p.errorCode !== NONE) e++;
  return e;
};
const fetchErrors = (r) => {
  let e = 0;
  for (const g of r.groups) {
    if (g.errorCode !== NONE) e++;
    for (const t of g.topics) for (const p of t.partitions) if (p.errorCode !== NONE || p.committedOffset < 0n) e++;
  }
  return e;
};
const codeErrors = (r) => (r.errorCode === NONE ? 0 : 1);

function frame(api, version, i, body) {
  return Buffer.concat(encodeRequestFrame(api, version, i + 1, 'bench-rate', body));
}

/** Stable groups for the commit figures: members whose ids and generation the commits carry. */
async function formGroup(broker, groupId, n) {
  const clients = [];
  for (let i = 0; i < n; i++) clients.push(await WireClient.connect(broker.bootstrap, `bench-committer-${i}`));
  const members = clients.map((c, i) => new Member(c, i));
  const tracker = new Tracker(n, members);
  for (const m of members) m.reset(groupId, tracker, LONG_SESSION_MS);
  await Promise.all(members.map((m) => m.findCoordinator()));
  for (const m of members) m.joinAndSync().then(() => !tracker.done && m.startHeartbeat(S.heartbeatMs), (e) => tracker.fail(e));
  await tracker.wait(REBALANCE_MS, `group ${groupId}`);
  for (const m of members) m.stopHeartbeat();
  await sleep(5);
  return members;
}

/** Group ids whose __consumer_offsets partitions differ from each other. */
function distinctPartitionGroups(prefix, count) {
  const out = [];
  const used = new Set();
  for (let i = 0; out.length < count; i++) {
    const id = `${prefix}-${i}`;
    const p = partitionForGroup(id, S.offsetsPartitions);
    if (!used.has(p)) {
      used.add(p);
      out.push(id);
    }
  }
  return out;
}

async function benchRates(broker) {
  const C = S.connections;
  const allPartitions = Array.from({ length: S.partitions }, (_, i) => i);
  const oneGroup = newGroupId('commit1');
  const manyGroup = newGroupId('commitN');
  const separateGroups = distinctPartitionGroups(newGroupId('commitG'), C);
  log(`groups: forming the committing groups (1 member; ${C} members; ${C} groups of 1)`);
  const single = await formGroup(broker, oneGroup, 1);
  const shared = await formGroup(broker, manyGroup, C);
  const separate = [];
  for (const g of separateGroups) separate.push((await formGroup(broker, g, 1))[0]);
  const formed = [...single, ...shared, ...separate];

  // Commit frames: a pool of 256 distinct requests per member (offsets differ).
  const POOL = 256;
  const commitFrames = (m, partitionsOf) =>
    Array.from({ length: POOL }, (_, i) =>
      frame(OffsetCommitApi, 8, i, {
        groupId: m.groupId,
        generationIdOrMemberEpoch: m.generation,
        memberId: m.memberId,
        groupInstanceId: null,
        topics: [{ name: TOPIC, partitions: partitionsOf(i).map((p) => ({ partitionIndex: p, committedOffset: BigInt(1000 + i), committedLeaderEpoch: -1, committedMetadata: '' })) }],
      }),
    );
  const onePartition = (m) => (i) => [m.partitions[i % m.partitions.length]];
  const everyPartition = () => allPartitions;
  const fetchFrames = (groupId, partitions) => [
    frame(OffsetFetchApi, 8, 0, { groups: [{ groupId, topics: [{ name: TOPIC, partitionIndexes: partitions }] }], requireStable: false }),
  ];
  const heartbeatFrames = (m) => [frame(HeartbeatApi, 4, 0, { groupId: m.groupId, generationId: m.generation, memberId: m.memberId, groupInstanceId: null })];
  const apiVersionsFrames = [frame(ApiVersionsApi, 3, 0, { clientSoftwareName: 'gregor-bench', clientSoftwareVersion: '1' })];

  // Committed offsets for every partition, so that OffsetFetch finds them.
  for (const m of [single[0], shared[0]]) {
    const r = await m.client.request(OffsetCommitApi, 8, {
      groupId: m.groupId,
      generationIdOrMemberEpoch: m.generation,
      memberId: m.memberId,
      groupInstanceId: null,
      topics: [{ name: TOPIC, partitions: allPartitions.map((p) => ({ partitionIndex: p, committedOffset: 1n, committedLeaderEpoch: -1, committedMetadata: '' })) }],
    });
    if (commitErrors(r) > 0) throw new Error(`OffsetCommit of 100 partitions failed: ${JSON.stringify(r.topics[0].partitions.slice(0, 3))}`);
  }

  const fixedGroup = single[0];
  // {name, kind, unit per request, connections: [{api, version, frames, check}]}
  const configs = [
    { name: 'Heartbeat v4', kind: 'limit', inflight: 1, conns: [{ api: HeartbeatApi, version: 4, frames: heartbeatFrames(fixedGroup), check: codeErrors }] },
    { name: 'OffsetCommit v8, 1 partition', kind: 'commit', inflight: 1, perRequest: 1, conns: [{ api: OffsetCommitApi, version: 8, frames: commitFrames(fixedGroup, onePartition(fixedGroup)), check: commitErrors }] },
    { name: 'ApiVersions v3', kind: 'limit', inflight: S.inflight, conns: [{ api: ApiVersionsApi, version: 3, frames: apiVersionsFrames, check: codeErrors }] },
    { name: 'Heartbeat v4', kind: 'limit', inflight: S.inflight, conns: [{ api: HeartbeatApi, version: 4, frames: heartbeatFrames(fixedGroup), check: codeErrors }] },
    { name: 'OffsetCommit v8, 1 partition', kind: 'commit', inflight: S.inflight, perRequest: 1, conns: [{ api: OffsetCommitApi, version: 8, frames: commitFrames(fixedGroup, onePartition(fixedGroup)), check: commitErrors }] },
    { name: `OffsetCommit v8, ${S.partitions} partitions`, kind: 'commit', inflight: S.inflight, perRequest: S.partitions, conns: [{ api: OffsetCommitApi, version: 8, frames: commitFrames(fixedGroup, everyPartition), check: commitErrors }] },
    { name: 'OffsetFetch v8, 1 partition', kind: 'fetch', inflight: S.inflight, perRequest: 1, conns: [{ api: OffsetFetchApi, version: 8, frames: fetchFrames(fixedGroup.groupId, [0]), check: fetchErrors }] },
    { name: `OffsetFetch v8, ${S.partitions} partitions`, kind: 'fetch', inflight: S.inflight, perRequest: S.partitions, conns: [{ api: OffsetFetchApi, version: 8, frames: fetchFrames(fixedGroup.groupId, allPartitions), check: fetchErrors }] },
    { name: 'Heartbeat v4', kind: 'limit', inflight: S.inflight, groups: `1 group of ${C}`, conns: shared.map((m) => ({ api: HeartbeatApi, version: 4, frames: heartbeatFrames(m), check: codeErrors })) },
    { name: 'OffsetCommit v8, 1 partition', kind: 'commit', inflight: S.inflight, perRequest: 1, groups: `1 group of ${C} members`, conns: shared.map((m) => ({ api: OffsetCommitApi, version: 8, frames: commitFrames(m, onePartition(m)), check: commitErrors })) },
    { name: 'OffsetCommit v8, 1 partition', kind: 'commit', inflight: S.inflight, perRequest: 1, groups: `${C} groups of 1 (${C} offsets partitions)`, conns: separate.map((m) => ({ api: OffsetCommitApi, version: 8, frames: commitFrames(m, onePartition(m)), check: commitErrors })) },
    { name: `OffsetCommit v8, ${S.partitions} partitions`, kind: 'commit', inflight: S.inflight, perRequest: S.partitions, groups: `1 group of ${C} members`, conns: shared.map((m) => ({ api: OffsetCommitApi, version: 8, frames: commitFrames(m, everyPartition), check: commitErrors })) },
    { name: 'OffsetFetch v8, 1 partition', kind: 'fetch', inflight: S.inflight, perRequest: 1, conns: Array.from({ length: C }, (_, i) => ({ api: OffsetFetchApi, version: 8, frames: fetchFrames(manyGroup, [i]), check: fetchErrors })) },
  ];
  for (const c of configs) c.samples = [];

  // Warm-up: every configuration once, briefly.
  for (const c of configs) await runRate(broker, c, Math.min(300, S.rateMs));
  for (let trial = 0; trial < S.trials; trial++) {
    for (const c of configs) c.samples.push(await runRate(broker, c, S.rateMs));
    log(`groups: rates trial ${trial + 1}/${S.trials} done (load ${loadAverage()})`);
  }
  for (const m of formed) m.client.close();
  return configs.map(({ conns, ...c }) => ({ ...c, connections: conns.length }));
}

async function runRate(broker, config, ms) {
  const a = cpuSample(broker.pid);
  const parts = await Promise.all(config.conns.map((conn) => pipelined(broker.bootstrap, { ...conn, inflight: config.inflight, ms })));
  const b = cpuSample(broker.pid);
  const requests = parts.reduce((s, p) => s + p.requests, 0);
  const seconds = Math.max(...parts.map((p) => p.seconds));
  const errors = parts.reduce((s, p) => s + p.errors, 0);
  const d = cpuDelta(a, b);
  return {
    perSecond: requests / seconds,
    requests,
    errors,
    brokerCpuUsPerRequest: (d.brokerS / requests) * 1e6,
    clientCpuUsPerRequest: (d.selfS / requests) * 1e6,
    brokerCores: d.brokerS / d.wall,
    brokerSwitchesPerRequest: d.switches / requests,
    otherCores: d.otherCores,
  };
}

// ---- the whole part -----------------------------------------------------------------

export async function benchGroups() {
  const root = scratchDir('groups');
  const broker = new Broker(root);
  const startedAt = new Date();
  const overrides = {
    'group.initial.rebalance.delay.ms': 0,
    'offsets.topic.num.partitions': S.offsetsPartitions,
  };
  const result = { startedAt: startedAt.toISOString(), settings: S, overrides, machine: describeMachine(root), loadBefore: loadAverage() };
  try {
    await broker.start(overrides);
    result.build = broker.build;
    log(`groups: broker pid ${broker.pid} at ${broker.bootstrap} (commit ${broker.build.commit}, dist built ${broker.build.distBuilt})`);
    if (broker.build.staleSources.length > 0) log(`groups: WARNING: src/ files newer than dist/: ${broker.build.staleSources.join(', ')}`);
    const admin = await WireClient.connect(broker.bootstrap, 'bench-admin');
    const created = await admin.request(CreateTopicsApi, 5, {
      topics: [{ name: TOPIC, numPartitions: S.partitions, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 30_000,
      validateOnly: false,
    });
    if (created.topics[0].errorCode !== NONE) throw new Error(`CreateTopics: ${errorName(created.topics[0].errorCode)}`);
    // Creates __consumer_offsets.
    const fc = await admin.request(FindCoordinatorApi, 4, { keyType: 0, coordinatorKeys: ['bench-warmup'] });
    if (fc.coordinators[0].errorCode !== NONE) throw new Error(`FindCoordinator: ${errorName(fc.coordinators[0].errorCode)}`);
    admin.close();

    let t = Date.now();
    result.joins = await benchJoins(broker);
    result.joinsSeconds = (Date.now() - t) / 1000;
    t = Date.now();
    result.kafkajs = await benchKafkajs(broker);
    result.kafkajsSeconds = (Date.now() - t) / 1000;
    t = Date.now();
    result.rates = await benchRates(broker);
    result.ratesSeconds = (Date.now() - t) / 1000;
  } finally {
    result.brokerExit = await broker.stop();
    result.brokerWarnings = broker.warnings;
    result.loadAfter = loadAverage();
    removeDir(root);
  }
  return result;
}

// ---- report -------------------------------------------------------------------------------

const ms = (v) => (Number.isFinite(v) ? fmtAuto(v) : 'n/a');
const msStat = (values) => {
  if (!values || values.length === 0) return '—';
  const s = stats(values);
  return `${ms(s.median)} / ${ms(s.p90)}`;
};

export function groupsMarkdown(r) {
  const out = [];
  const d = r.machine;
  out.push(
    `Machine: ${d.cpuModel} (${d.cpus} cpus, hypervisor: ${d.hypervisor}), ${d.memoryGiB} GiB, ${d.kernel}, Node ${d.node}; data dir ${d.filesystem}. ` +
      `Broker: commit ${r.build?.commit}${r.build?.dirtyFiles ? ` + ${r.build.dirtyFiles} modified tracked file(s)` : ''}, dist built ${r.build?.distBuilt}` +
      `${r.build?.staleSources?.length ? ` (**older than** ${r.build.staleSources.join(', ')})` : ''}, run as a child process from a copy, ` +
      `\`--override ${Object.entries(r.overrides).map(([k, v]) => `${k}=${v}`).join(' --override ')}\` (everything else default). Load average before / after: ${r.loadBefore} / ${r.loadAfter}.`,
  );
  out.push('');
  if (r.joins) {
    out.push(`### Join to stable and rebalances (WireClient members)`);
    out.push('');
    out.push(
      `Each member has its own connection. Topic \`${TOPIC}\` has ${S.partitions} partitions; the leader decodes the subscriptions and sends a range assignment (ConsumerProtocolAssignment v${ASSIGNMENT_VERSION}), followers SyncGroup with none. ` +
        `Session ${SESSION_MS / 1000} s, rebalance timeout ${REBALANCE_MS / 1000} s. ${r.settings.joinRounds} rounds per size (a fresh group id each, after one untimed round); ms, median / p90.`,
    );
    out.push('');
    out.push(
      '- **join**: from the moment all N members send JoinGroup v5 (empty member id → MEMBER_ID_REQUIRED → JoinGroup with the id → SyncGroup v5) until the last SyncGroup answer of a generation that holds all N. FindCoordinator and the connections come before. ' +
        `A member that synced a generation without everyone heartbeats every ${r.settings.heartbeatMs} ms and rejoins on REBALANCE_IN_PROGRESS.`,
    );
    out.push('- **one leaves**: a follower sends LeaveGroup v5; once it is answered, the other N−1 send JoinGroup at once (as on the REBALANCE_IN_PROGRESS of a heartbeat); until the last of them has its SyncGroup answer.');
    out.push('- **one joins**: the member that left joins again with an empty member id (two JoinGroups, as above); the leader sends Heartbeat back to back until it gets REBALANCE_IN_PROGRESS, then the other N−1 rejoin at once; until all N have synced the new generation. Heartbeat-interval latency is not included in either rebalance.');
    out.push('- **floor**: the same N connections each doing 3 sequential trivial requests (Heartbeat of an unknown group), started together — the round trips a join needs at least, measured in each round just before it.');
    out.push('');
    out.push(
      table(
        ['members', 'join ms', 'generations to stable', 'floor: 3 round trips ms', 'broker CPU ms per join (mean)', 'broker context switches per join (mean)', 'one leaves ms', 'one joins ms', 'other tenants (cores)'],
        r.joins.map((row) => [
          row.members,
          `**${msStat(row.join)}**`,
          `${median(row.joinGenerations)} (2+ in ${row.joinGenerations.filter((g) => g > 1).length} of ${row.joinGenerations.length} rounds)`,
          msStat(row.floor),
          fmtAuto((row.brokerCpuSeconds * 1000) / row.join.length),
          fmt(row.brokerSwitches / row.join.length),
          row.members >= 2 ? msStat(row.leave) : '—',
          row.members >= 2 ? msStat(row.rejoin) : '—',
          fmtAuto(row.otherCores),
        ]),
      ),
    );
    out.push('');
    for (const row of r.joins) {
      const extra = {};
      for (const counts of row.joinCounts) for (const [k, v] of Object.entries(counts)) extra[k] = (extra[k] ?? 0) + v;
      out.push(`- N=${row.members}: requests over the ${row.join.length} joins: ${Object.entries(extra).map(([k, v]) => `${k} ${v}`).join(', ')}; join ms min–max ${ms(Math.min(...row.join))}–${ms(Math.max(...row.join))}.`);
    }
    out.push('');
  }
  if (r.kafkajs) {
    out.push('### kafkajs consumers');
    out.push('');
    if (r.kafkajs.skipped) out.push(`Skipped: ${r.kafkajs.skipped}`);
    else {
      out.push(
        `N kafkajs 2 consumers (one Kafka instance, each consumer its own connections; ${Object.entries(r.kafkajs.settings).map(([k, v]) => `${k} ${v}`).join(', ')}), connected and subscribed first; ` +
          `from calling \`consumer.run()\` on all of them until each has emitted GROUP_JOIN with an assignment and the latest assignments cover the ${S.partitions} partitions exactly once. ${r.settings.kafkajsRounds} rounds after an untimed one; ms.`,
      );
      out.push('');
      out.push(
        table(
          ['consumers', 'median ms', 'p90 ms', 'min–max ms', 'GROUP_JOIN events per round (median)', 'rounds (ms)'],
          r.kafkajs.rows.map((row) => {
            const s = stats(row.join);
            return [row.members, `**${ms(s.median)}**`, ms(s.p90), `${ms(s.min)}–${ms(s.max)}`, median(row.joinEvents), row.join.map(ms).join(', ')];
          }),
        ),
      );
    }
    out.push('');
  }
  if (r.rates) {
    out.push('### Request rates: offset commits and fetches');
    out.push('');
    out.push(
      `Raw connections send pre-encoded requests (a pool of 256 distinct commits per connection) and keep ${r.settings.inflight} in flight each (the broker handles one connection's requests one at a time, in order); every response is decoded and its error codes checked. ` +
        `${fmt(r.settings.rateMs)} ms per trial, ${r.settings.trials} trials with the configurations interleaved, median (min–max). Commits carry the member id and generation of a stable group (offsets of \`${TOPIC}\`); fetches ask for offsets that exist. ` +
        `"vs Heartbeat" divides by the same-run median rate of Heartbeat v4 (a member of a stable group: the cheapest group request) with the same connections and in-flight count; ApiVersions v3 (no coordinator, a ~400-byte answer) is there for comparison. CPU µs per request: from /proc (broker) and process.cpuUsage (load generator), whole trial.`,
    );
    out.push('');
    const limitOf = (c) => {
      const l = r.rates.find((x) => x.name === 'Heartbeat v4' && x.connections === c.connections && x.inflight === c.inflight);
      return l ? median(l.samples.map((s) => s.perSecond)) : NaN;
    };
    out.push(
      table(
        ['request', 'connections × in flight', 'requests/s', 'offsets/s', 'vs Heartbeat, same pipelining', 'broker CPU µs / request', 'broker context switches / request', 'load generator CPU µs / request', 'broker cores', 'other tenants (cores)', 'errors'],
        r.rates.map((c) => {
          const per = c.samples.map((s) => s.perSecond);
          const lim = limitOf(c);
          const med = median(per);
          return [
            c.name + (c.groups ? ` (${c.groups})` : ''),
            `${c.connections} × ${c.inflight}`,
            `**${fmt(med)}** (${fmt(Math.min(...per))}–${fmt(Math.max(...per))})`,
            c.perRequest ? fmt(med * c.perRequest) : '—',
            Number.isFinite(lim) ? `${((med / lim) * 100).toFixed(0)}%` : '—',
            fmtAuto(median(c.samples.map((s) => s.brokerCpuUsPerRequest))),
            fmtAuto(median(c.samples.map((s) => s.brokerSwitchesPerRequest))),
            fmtAuto(median(c.samples.map((s) => s.clientCpuUsPerRequest))),
            fmtAuto(median(c.samples.map((s) => s.brokerCores))),
            fmtAuto(median(c.samples.map((s) => s.otherCores))),
            c.samples.reduce((s, x) => s + x.errors, 0),
          ];
        }),
      ),
    );
    out.push('');
  }
  if (r.brokerWarnings?.length) {
    out.push(`Broker warnings (${r.brokerWarnings.length}):`);
    out.push('');
    out.push('```');
    out.push(...r.brokerWarnings.slice(0, 10));
    out.push('```');
    out.push('');
  }
  out.push(`Broker exit: ${JSON.stringify(r.brokerExit)}. Durations: joins ${fmt(r.joinsSeconds)} s, kafkajs ${fmt(r.kafkajsSeconds)} s, rates ${fmt(r.ratesSeconds)} s.`);
  return out.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await benchGroups();
  const text = `# Gregor consumer-group benchmark — ${r.startedAt}\n\nCommand: \`node bench/groups.mjs\`${Object.keys(process.env).filter((k) => k.startsWith('GREGOR_BENCH_')).map((k) => ` ${k}=${process.env[k]}`).join('')}\n\n${groupsMarkdown(r)}\n`;
  console.log(text);
  const stamp = r.startedAt.replace(/[:.]/g, '-');
  const dir = join(BENCH_DIR, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `groups-${stamp}.md`), text);
  writeFileSync(join(dir, `groups-${stamp}.json`), `${JSON.stringify(r, (k, v) => (typeof v === 'bigint' ? String(v) : v), 1)}\n`);
  log(`report written to bench/results/groups-${stamp}.md (+ .json)`);
}

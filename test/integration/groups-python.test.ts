// Consumer groups (the classic coordinator) driven by real Python clients:
// confluent-kafka-python 1.7 on librdkafka 2.0.2 and kafka-python 2.0.2, as
// Debian packages them. Each group member is its own process
// (test/integration/groups/*.py) that prints JSON-line events — assignments,
// records, commits, errors — and takes commands on stdin; the tests assert
// what Kafka's coordinator guarantees: every partition owned by exactly one
// member, the protocol the members chose, incremental cooperative
// rebalances, static members rejoining without a rebalance, failover after
// the session timeout from the last committed offset, auto.offset.reset, and
// committed offsets surviving a broker restart. One broker serves the file;
// the last test restarts it on the same directory.
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { startBroker, type RunningBroker } from '../../src/index.js';
import { Logger } from '../../src/observability/logger.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const SCRIPTS = join(import.meta.dirname, 'groups');
const PARTITIONS = [0, 1, 2, 3, 4, 5];

/** One JSON line from a helper, plus when the test received it. */
interface Event {
  ev: string;
  /** Milliseconds since the helper started. */
  t: number;
  /** Date.now() when the line arrived. */
  at: number;
  parts?: number[];
  gen?: number;
  member?: string;
  p?: number;
  o?: number;
  v?: string | null;
  name?: string;
  code?: number;
  str?: string;
  offsets?: Record<string, number | null>;
  positions?: Record<string, number> | null;
}

const live = new Set<Member>();

/** A group member running in its own Python process. */
class Member {
  readonly events: Event[] = [];
  private stderr = '';
  private child: ChildProcessWithoutNullStreams;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly name: string,
    script: 'ck_member.py' | 'kp_member.py',
    config: Record<string, unknown>,
  ) {
    this.child = spawn(PYTHON, ['-B', join(SCRIPTS, script), JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let pending = '';
    this.child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.startsWith('{')) this.events.push({ ...(JSON.parse(line) as Omit<Event, 'at'>), at: Date.now() });
      }
    });
    this.child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-3000);
    });
    this.child.stdin.on('error', () => {}); // a killed member's stdin
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        this.exit = { code, signal };
        live.delete(this);
        resolve(this.exit);
      }),
    );
    live.add(this);
  }

  send(command: string): void {
    this.child.stdin.write(command + '\n');
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  of(ev: string, since = 0): Event[] {
    return this.events.slice(since).filter((e) => e.ev === ev);
  }

  /** The assignment after the last rebalance callback, or undefined before the first. */
  get owned(): number[] | undefined {
    return this.of('owned').at(-1)?.parts;
  }

  get lastOwned(): Event | undefined {
    return this.of('owned').at(-1);
  }

  records(since = 0): Event[] {
    return this.of('rec', since);
  }

  /** Sends a command and waits for the event that answers it. */
  async ask(command: string, ev: string): Promise<Event> {
    const before = this.events.length;
    this.send(command);
    return waitFor(() => this.of(ev, before)[0], 15_000, `${this.name}: answer to ${command}`, [this]);
  }

  /** consumer.close() (LeaveGroup for a dynamic member), and the process exits cleanly. */
  async close(): Promise<void> {
    if (this.exit) return;
    this.send('close');
    const exit = await Promise.race([this.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000))]);
    if (exit?.code !== 0) throw new Error(`${this.name} did not close cleanly: ${JSON.stringify(exit)}\n${this.describe()}`);
  }

  describe(): string {
    const tail = this.events.slice(-25).map(({ at: _at, ...e }) => JSON.stringify(e));
    return `--- ${this.name} (${this.exit ? JSON.stringify(this.exit) : 'running'})\n${tail.join('\n')}\n[stderr] ${this.stderr.slice(-1500)}`;
  }
}

/** Polls `check` until it returns something other than undefined/false; on timeout, fails with the members' recent events. */
async function waitFor<T>(check: () => T | undefined | false, timeoutMs: number, what: string, members: Member[]): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${members.map((m) => m.describe()).join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The members' current assignments, when they partition `partitions` with nobody left empty-handed. */
function stableSplit(members: Member[], partitions: number[] = PARTITIONS): number[][] | undefined {
  const owned = members.map((m) => m.owned);
  if (owned.some((o) => !o || o.length === 0)) return undefined;
  const all = owned.flatMap((o) => o!).sort((a, b) => a - b);
  return JSON.stringify(all) === JSON.stringify(partitions) ? (owned as number[][]) : undefined;
}

function byPartition(records: Event[]): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const r of records) out.set(r.p!, [...(out.get(r.p!) ?? []), r.o!]);
  return out;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

interface GroupDescription {
  group: string;
  missing?: boolean;
  listed: boolean;
  error: string | null;
  state: string;
  protocolType: string;
  protocol: string;
  members: { id: string; clientId: string; assignment: Record<string, number[]> }[];
}

describe('consumer groups with Python clients', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gregor-groups-py-'));
  const overrides = {
    'log.dirs': dir,
    'listeners': 'PLAINTEXT://127.0.0.1:0',
    'num.io.threads': 2,
    'num.network.threads': 2,
    'group.initial.rebalance.delay.ms': 300,
    'group.min.session.timeout.ms': 1000,
    'offsets.topic.num.partitions': 5,
  };
  let broker: RunningBroker;
  const bootstrap = () => broker.bootstrapServers;

  beforeAll(async () => {
    broker = await startBroker({ overrides, logger: new Logger('warn') });
  });
  afterEach(async () => {
    // A failed test leaves members behind: they must not join the next test's groups.
    for (const m of [...live]) m.kill('SIGKILL');
    await Promise.all([...live].map((m) => m.exited));
  });
  afterAll(async () => {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function kafka(): Kafka {
    return new Kafka({ clientId: 'groups-python-test', brokers: [bootstrap()], logLevel: logLevel.NOTHING });
  }

  async function createTopic(topic: string, numPartitions: number): Promise<void> {
    const admin = kafka().admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions }], waitForLeaders: true });
    } finally {
      await admin.disconnect();
    }
  }

  /** `count` records into each of `partitions`, values `<topic>-<partition>-<n>` with n from `from`. */
  async function produce(topic: string, partitions: number[], count: number, from = 0): Promise<string[]> {
    const producer = kafka().producer();
    await producer.connect();
    try {
      const messages = partitions.flatMap((partition) => range(from, from + count).map((n) => ({ partition, value: `${topic}-${partition}-${n}` })));
      await producer.send({ topic, acks: -1, messages });
      return messages.map((m) => m.value);
    } finally {
      await producer.disconnect();
    }
  }

  async function describeGroups(...groups: string[]): Promise<GroupDescription[]> {
    const { stdout } = await run(PYTHON, ['-B', join(SCRIPTS, 'describe_group.py'), bootstrap(), ...groups], { timeout: 30_000 });
    return stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as GroupDescription);
  }

  const ck = (name: string, config: Record<string, unknown>) => new Member(name, 'ck_member.py', { bootstrap: bootstrap(), ...config });
  const kp = (name: string, config: Record<string, unknown>) => new Member(name, 'kp_member.py', { bootstrap: bootstrap(), ...config });

  /** Every record value of `members` exactly once, and nothing else. */
  function expectConsumedOnce(members: Member[], expected: string[]): void {
    const values = members.flatMap((m) => m.records().map((r) => r.v));
    expect(values.length, 'records consumed, counting duplicates').toBe(expected.length);
    expect(new Set(values)).toEqual(new Set(expected));
    for (const m of members) expect(m.of('commitfail'), `${m.name} commit failures`).toEqual([]);
  }

  describe.each([
    { strategy: 'range', shape: [[0, 1], [2, 3], [4, 5]] },
    { strategy: 'roundrobin', shape: [[0, 3], [1, 4], [2, 5]] },
  ])('confluent-kafka partition.assignment.strategy=$strategy', ({ strategy, shape }) => {
    it('three members split six partitions in the strategy\'s shape and consume every record once', async () => {
      const topic = `ck-${strategy}`;
      const group = `g-${strategy}`;
      await createTopic(topic, 6);
      const before = await produce(topic, PARTITIONS, 5);
      const members = [0, 1, 2].map((i) => ck(`${strategy}-${i}`, { group, topics: [topic], conf: { 'partition.assignment.strategy': strategy } }));

      const split = await waitFor(() => stableSplit(members), 20_000, 'three members owning six partitions', members);
      // Eager protocol: everyone was assigned in the same (last) generation.
      expect(new Set(members.map((m) => m.lastOwned!.gen)).size).toBe(1);
      expect([...split].sort((a, b) => a[0]! - b[0]!)).toEqual(shape);

      await waitFor(() => members.flatMap((m) => m.of('commit')).length >= before.length || undefined, 20_000, 'the first 30 records committed', members);
      // The coordinator agrees: Stable, the protocol the members chose, and what each member was given.
      const [described] = await describeGroups(group);
      expect(described).toMatchObject({ group, listed: true, error: null, state: 'Stable', protocolType: 'consumer', protocol: strategy });
      expect(described!.members.map((m) => m.assignment[topic]).sort((a, b) => a![0]! - b![0]!)).toEqual(shape);
      expect(new Set(described!.members.map((m) => m.id))).toEqual(new Set(members.map((m) => m.lastOwned!.member)));

      // Records produced while the group is stable go to each partition's owner.
      const after = await produce(topic, PARTITIONS, 1, 5);
      await waitFor(() => members.flatMap((m) => m.records()).length >= 36 || undefined, 20_000, 'all 36 records', members);
      expectConsumedOnce(members, [...before, ...after]);
      for (const m of members) {
        const seen = m.records().filter((r) => r.v!.endsWith('-5')).map((r) => r.p);
        expect(seen.sort(), `${m.name} got the new record of each partition it owns`).toEqual(m.owned);
      }
      const committed = await Promise.all(members.map((m) => m.ask('committed', 'committed')));
      expect(Object.assign({}, ...committed.map((c) => c.offsets))).toEqual(Object.fromEntries(PARTITIONS.map((p) => [String(p), 6])));

      await Promise.all(members.map((m) => m.close()));
      // Dynamic members leave on close: the group is empty at once, its offsets kept.
      const [left] = await describeGroups(group);
      expect(left).toMatchObject({ state: 'Empty', members: [] });
    });
  });

  it('confluent-kafka cooperative-sticky: a third member joins and the others give up only what it takes, incrementally', async () => {
    const topic = 'ck-coop';
    const group = 'g-coop';
    await createTopic(topic, 6);
    const before = await produce(topic, PARTITIONS, 5);
    const conf = { 'partition.assignment.strategy': 'cooperative-sticky' };
    const [a, b] = [ck('coop-a', { group, topics: [topic], conf }), ck('coop-b', { group, topics: [topic], conf })];
    const [ownedA, ownedB] = await waitFor(() => stableSplit([a, b]), 20_000, 'two members owning six partitions', [a, b]);
    expect(ownedA).toHaveLength(3);
    await waitFor(() => a.of('commit').length + b.of('commit').length >= 30 || undefined, 20_000, 'the first 30 records committed', [a, b]);
    const [markA, markB] = [a.events.length, b.events.length];

    const c = ck('coop-c', { group, topics: [topic], conf });
    const split = await waitFor(() => stableSplit([a, b, c]), 20_000, 'three members owning six partitions', [a, b, c]);
    expect(split.map((s) => s.length)).toEqual([2, 2, 2]);
    // Sticky: the old members kept partitions they had.
    expect(ownedA).toEqual(expect.arrayContaining(split[0]!));
    expect(ownedB).toEqual(expect.arrayContaining(split[1]!));
    // Incremental: each old member revoked only the partition it gave up — never its whole
    // assignment — gained nothing, and lost nothing.
    for (const [m, mark, had, has] of [[a, markA, ownedA, split[0]], [b, markB, ownedB, split[1]]] as const) {
      const revoked = m.of('revoke', mark).flatMap((e) => e.parts!);
      expect(revoked.sort(), `${m.name} revoked`).toEqual(had!.filter((p) => !has!.includes(p)));
      expect(m.of('revoke', mark).every((e) => e.parts!.length < had!.length)).toBe(true);
      expect(m.of('assign', mark).flatMap((e) => e.parts!), `${m.name} assigned`).toEqual([]);
      expect(m.of('lost', mark)).toEqual([]);
    }
    expect(c.of('revoke')).toEqual([]);

    const [described] = await describeGroups(group);
    expect(described).toMatchObject({ state: 'Stable', protocol: 'cooperative-sticky', protocolType: 'consumer' });
    expect(described!.members).toHaveLength(3);

    const after = await produce(topic, PARTITIONS, 1, 5);
    await waitFor(() => [a, b, c].flatMap((m) => m.records()).length >= 36 || undefined, 20_000, 'all 36 records', [a, b, c]);
    expectConsumedOnce([a, b, c], [...before, ...after]);
    for (const m of [a, b, c]) {
      expect(m.records().filter((r) => r.v!.endsWith('-5')).map((r) => r.p).sort()).toEqual(m.owned);
    }
    await Promise.all([a, b, c].map((m) => m.close()));
  });

  it('confluent-kafka static membership: a member closed without leaving and restarted with its group.instance.id gets its partitions back, without a rebalance', async () => {
    const topic = 'ck-static';
    const group = 'g-static';
    const sessionTimeoutMs = 4000;
    await createTopic(topic, 6);
    const before = await produce(topic, PARTITIONS, 1);
    const member = (name: string, instance: string) =>
      ck(name, { group, topics: [topic], conf: { 'group.instance.id': instance, 'session.timeout.ms': sessionTimeoutMs } });
    const a = member('static-a', 'instance-a');
    const b = member('static-b', 'instance-b');
    const [ownedA, ownedB] = await waitFor(() => stableSplit([a, b]), 20_000, 'two static members owning six partitions', [a, b]);
    const generation = a.lastOwned!.gen!;
    expect(b.lastOwned!.gen).toBe(generation);
    await waitFor(() => a.records().length + b.records().length >= 6 || undefined, 20_000, 'the first 6 records', [a, b]);
    const markA = a.events.length;

    // librdkafka sends no LeaveGroup for a static member on close (KIP-345).
    await b.close();
    const closedAt = Date.now();
    const b2 = member('static-b-again', 'instance-b');
    await waitFor(() => b2.owned, 15_000, 'the restarted member\'s assignment', [a, b2]);
    expect(Date.now() - closedAt, 'rejoined within the session timeout').toBeLessThan(sessionTimeoutMs);
    expect(b2.owned).toEqual(ownedB);
    expect(b2.lastOwned!.gen, 'same generation: no rebalance').toBe(generation);
    expect(b2.lastOwned!.member).not.toBe(b.lastOwned!.member);

    // Past the old member's session timeout, the other member has still seen no rebalance.
    await waitFor(() => Date.now() > closedAt + sessionTimeoutMs + 1500 || a.events.slice(markA).some((e) => e.ev !== 'rec' && e.ev !== 'commit'), 15_000, 'the session timeout to pass', [a, b2]);
    expect(a.events.slice(markA).filter((e) => ['assign', 'revoke', 'lost', 'owned'].includes(e.ev))).toEqual([]);
    expect(a.owned).toEqual(ownedA);
    expect((await a.ask('gen', 'gen')).gen).toBe(generation);
    expect((await b2.ask('gen', 'gen')).gen).toBe(generation);
    const [described] = await describeGroups(group);
    expect(described).toMatchObject({ state: 'Stable', protocol: 'range' });
    expect(new Set(described!.members.map((m) => m.id))).toEqual(new Set([a.lastOwned!.member, b2.lastOwned!.member]));

    // The restarted member resumes from the committed offsets: new records only, each to its partition's owner.
    const after = await produce(topic, PARTITIONS, 1, 1);
    await waitFor(() => a.records().length + b2.records().length + b.records().length >= 12 || undefined, 15_000, 'all 12 records', [a, b2]);
    expectConsumedOnce([a, b, b2], [...before, ...after]);
    expect(b2.records().map((r) => r.p).sort()).toEqual(ownedB);
    await Promise.all([a.close(), b2.close()]);
  });

  it('confluent-kafka: after a member is SIGKILLed, the session timeout moves its partitions to the survivor, which resumes from the last committed offsets', async () => {
    const topic = 'ck-kill';
    const group = 'g-kill';
    await createTopic(topic, 6);
    const produced = await produce(topic, PARTITIONS, 12);
    // The victim processes partition p up to offset 3 + p, committing each record synchronously.
    const limits = Object.fromEntries(PARTITIONS.map((p) => [String(p), 3 + p]));
    const commitFile = join(dir, 'kill-commits.jsonl');
    const victim = ck('victim', {
      group,
      topics: [topic],
      limits,
      commitFile,
      conf: { 'session.timeout.ms': 2000, 'heartbeat.interval.ms': 300, 'max.poll.interval.ms': 10_000 },
    });
    const survivor = ck('survivor', { group, topics: [topic] });
    const [victimOwned, survivorOwned] = await waitFor(
      () => {
        const split = stableSplit([victim, survivor]);
        if (!split) return undefined;
        const sinceAssignment = victim.events.slice(victim.events.lastIndexOf(victim.lastOwned!));
        const atLimit = new Set(sinceAssignment.filter((e) => e.ev === 'atlimit').map((e) => e.p));
        const survivorDone = split[1]!.every((p) => survivor.records().some((r) => r.p === p && r.o === 11));
        return split[0]!.every((p) => atLimit.has(p)) && survivorDone ? split : undefined;
      },
      20_000,
      'both members assigned, the victim at its limits, the survivor at the end of its partitions',
      [victim, survivor],
    );
    const lastCommitted = new Map<number, number>();
    for (const line of readFileSync(commitFile, 'utf8').split('\n').filter(Boolean)) {
      const { p, o } = JSON.parse(line) as { p: number; o: number };
      lastCommitted.set(p, o);
    }
    for (const p of victimOwned!) expect(lastCommitted.get(p), `victim's last commit on ${p}`).toBe(3 + p);

    const mark = survivor.events.length;
    const killedAt = Date.now();
    victim.kill('SIGKILL');
    expect((await victim.exited).signal).toBe('SIGKILL');
    await waitFor(() => survivor.owned?.length === 6 || undefined, 20_000, 'the survivor owning all six partitions', [survivor]);
    const rebalancedAt = survivor.events.slice(mark).find((e) => e.ev === 'revoke' || e.ev === 'assign')!.at;
    // The coordinator waits for the session timeout (2 s, from the last heartbeat), not for the connection to drop.
    expect(rebalancedAt - killedAt).toBeGreaterThan(1000);
    expect(rebalancedAt - killedAt).toBeLessThan(10_000);

    await waitFor(
      () => victimOwned!.every((p) => survivor.records(mark).some((r) => r.p === p && r.o === 11)) || undefined,
      20_000,
      'the survivor reaching the end of the moved partitions',
      [survivor],
    );
    const moved = byPartition(survivor.records(mark));
    for (const p of victimOwned!) {
      expect(moved.get(p), `partition ${p} after the failover`).toEqual(range(lastCommitted.get(p)!, 12));
    }
    for (const p of survivorOwned!) expect(moved.get(p), `the survivor's own partition ${p}`).toBeUndefined();
    expectConsumedOnce([victim, survivor], produced);
    await survivor.close();
  });

  it('kafka-python: consumes a topic, commits, and a second run resumes from the commit', async () => {
    const topic = 'kp-resume';
    const group = 'g-kp-resume';
    await createTopic(topic, 3);
    const first = await produce(topic, [0, 1, 2], 10);
    const run1 = kp('kp-run1', { group, topics: [topic], commit: 'close' });
    await waitFor(() => run1.records().length >= 30 || undefined, 20_000, '30 records', [run1]);
    await run1.close();
    expectConsumedOnce([run1], first);
    expect(run1.of('commit')[0]!.offsets).toEqual({ '0': 10, '1': 10, '2': 10 });

    const second = await produce(topic, [0, 1, 2], 3, 10);
    const run2 = kp('kp-run2', { group, topics: [topic], commit: 'close' });
    await waitFor(() => run2.records().length >= 9 || undefined, 20_000, '9 records', [run2]);
    const positions = run2.of('owned')[0]!.positions;
    expect(positions, 'positions after the assignment: the committed offsets').toEqual({ '0': 10, '1': 10, '2': 10 });
    expect((await run2.ask('committed', 'committed')).offsets).toEqual({ '0': 10, '1': 10, '2': 10 });
    await run2.close();
    expectConsumedOnce([run2], second);
    expect(run2.of('commit')[0]!.offsets).toEqual({ '0': 13, '1': 13, '2': 13 });
  });

  it('kafka-python: two consumers in one group split the partitions and each record goes to its partition\'s owner', async () => {
    const topic = 'kp-split';
    const group = 'g-kp-split';
    await createTopic(topic, 4);
    const members = [kp('kp-split-0', { group, topics: [topic] }), kp('kp-split-1', { group, topics: [topic] })];
    const split = await waitFor(() => stableSplit(members, [0, 1, 2, 3]), 25_000, 'two kafka-python members owning four partitions', members);
    expect(split.map((s) => s.length)).toEqual([2, 2]);
    expect(members[0]!.lastOwned!.gen).toBe(members[1]!.lastOwned!.gen);
    const values = await produce(topic, [0, 1, 2, 3], 10);
    await waitFor(() => members.flatMap((m) => m.records()).length >= 40 || undefined, 20_000, '40 records', members);
    expectConsumedOnce(members, values);
    for (const m of members) expect([...byPartition(m.records()).keys()].sort()).toEqual(m.owned);
    const [described] = await describeGroups(group);
    expect(described).toMatchObject({ state: 'Stable', protocolType: 'consumer', protocol: 'range' });
    await Promise.all(members.map((m) => m.close()));
  });

  it('kafka-python auto_offset_reset: earliest starts at the log start, latest at the end', async () => {
    const topic = 'kp-reset';
    await createTopic(topic, 2);
    const old = await produce(topic, [0, 1], 5);
    const earliest = kp('kp-earliest', { group: 'g-kp-earliest', topics: [topic], reset: 'earliest' });
    const latest = kp('kp-latest', { group: 'g-kp-latest', topics: [topic], reset: 'latest' });
    await waitFor(() => earliest.records().length >= 10 || undefined, 20_000, 'the earliest consumer reading the old records', [earliest]);
    const owned = await waitFor(() => latest.lastOwned, 20_000, 'the latest consumer\'s assignment', [latest]);
    expect(owned.positions).toEqual({ '0': 5, '1': 5 });
    const fresh = await produce(topic, [0, 1], 2, 5);
    await waitFor(() => latest.records().length >= 4 && earliest.records().length >= 14 || undefined, 20_000, 'the new records', [earliest, latest]);
    expectConsumedOnce([earliest], [...old, ...fresh]);
    expectConsumedOnce([latest], fresh);
    await Promise.all([earliest.close(), latest.close()]);
  });

  it('confluent-kafka auto.offset.reset: earliest, latest, and error when the group has no committed offset', async () => {
    const topic = 'ck-reset';
    await createTopic(topic, 2);
    const old = await produce(topic, [0, 1], 5);
    const earliest = ck('ck-earliest', { group: 'g-ck-earliest', topics: [topic], conf: { 'auto.offset.reset': 'earliest' } });
    const latest = ck('ck-latest', { group: 'g-ck-latest', topics: [topic], conf: { 'auto.offset.reset': 'latest', 'enable.partition.eof': true } });
    const none = ck('ck-error', { group: 'g-ck-error', topics: [topic], conf: { 'auto.offset.reset': 'error' } });

    await waitFor(() => earliest.records().length >= 10 || undefined, 20_000, 'the earliest consumer reading the old records', [earliest]);
    // latest: at the end of both partitions before anything new arrives.
    const eofs = await waitFor(
      () => {
        const e = latest.of('eof');
        return new Set(e.map((x) => x.p)).size === 2 ? e : undefined;
      },
      20_000,
      'the latest consumer at the end of both partitions',
      [latest],
    );
    expect(eofs.map((e) => [e.p, e.o]).sort()).toEqual([[0, 5], [1, 5]]);
    // error: no committed offset and no reset allowed — an _AUTO_OFFSET_RESET error, no records.
    const failure = await waitFor(() => none.of('error')[0], 20_000, 'the auto.offset.reset=error consumer\'s error', [none]);
    expect(failure).toMatchObject({ name: '_AUTO_OFFSET_RESET', code: -140 });

    const fresh = await produce(topic, [0, 1], 2, 5);
    await waitFor(() => latest.records().length >= 4 && earliest.records().length >= 14 || undefined, 20_000, 'the new records', [earliest, latest]);
    expectConsumedOnce([earliest], [...old, ...fresh]);
    expectConsumedOnce([latest], fresh);
    expect(none.records()).toEqual([]);
    await Promise.all([earliest.close(), latest.close(), none.close()]);

    // With committed offsets, auto.offset.reset=error is never consulted: resume from them.
    const resumed = ck('ck-error-committed', { group: 'g-ck-earliest', topics: [topic], conf: { 'auto.offset.reset': 'error' } });
    await waitFor(() => resumed.owned, 20_000, 'the assignment', [resumed]);
    const newest = await produce(topic, [0, 1], 1, 7);
    await waitFor(() => resumed.records().length >= 2 || undefined, 20_000, 'the newest records', [resumed]);
    expectConsumedOnce([resumed], newest);
    expect(resumed.of('error')).toEqual([]);
    await resumed.close();
  });

  it('confluent-kafka: committed offsets survive a clean broker restart and a consumer resumes from them', async () => {
    const topic = 'ck-restart';
    const group = 'g-restart';
    await createTopic(topic, 3);
    const values = await produce(topic, [0, 1, 2], 10);
    const limits = { '0': 3, '1': 6, '2': 9 };
    const first = ck('restart-1', { group, topics: [topic], limits });
    await waitFor(() => new Set(first.of('atlimit').map((e) => e.p)).size === 3 || undefined, 20_000, 'the consumer at its limits', [first]);
    expect((await first.ask('committed', 'committed')).offsets).toEqual(limits);
    await first.close();

    await broker.stop();
    broker = await startBroker({ overrides, logger: new Logger('warn') });
    // The group itself is loaded back from __consumer_offsets: still there, empty, a consumer group.
    const [loaded] = await describeGroups(group);
    expect(loaded).toMatchObject({ group, listed: true, error: null, state: 'Empty', protocolType: 'consumer', members: [] });

    const second = ck('restart-2', { group, topics: [topic], committedAtStart: [[topic, 0], [topic, 1], [topic, 2]] });
    const committed = await waitFor(() => second.of('committed')[0], 20_000, 'committed() after the restart', [second]);
    expect(committed.offsets).toEqual(limits);
    // And so is its generation: the leave moved the group to the next (empty) generation, the join to the one after.
    await waitFor(() => second.owned, 20_000, 'the assignment after the restart', [second]);
    expect(second.lastOwned!.gen).toBe(first.lastOwned!.gen! + 2);
    await waitFor(() => second.records().length >= 12 || undefined, 20_000, 'the remaining 12 records', [second]);
    const resumed = byPartition(second.records());
    expect(resumed.get(0)).toEqual(range(3, 10));
    expect(resumed.get(1)).toEqual(range(6, 10));
    expect(resumed.get(2)).toEqual(range(9, 10));
    expectConsumedOnce([first, second], values);
    await second.close();
  });
});

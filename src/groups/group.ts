// One consumer group as Kafka's classic coordinator keeps it: its members,
// its generation, the protocol the members agreed on, the leader, and the
// offsets the group committed. The coordinator (group-coordinator.ts) drives
// the state machine; this file holds the state and the rules that only
// look at it (protocol choice, leader election, who has rejoined).
//
//   Empty ──join──▶ PreparingRebalance ──all joined / timeout──▶ CompletingRebalance ──leader's sync──▶ Stable
//     ▲                    ▲  │ (no members left)                        │                              │
//     └────────────────────┼──┘                                          └──── member change ───────────┤
//                          └──────────────── join, leave, expiry, leader rejoin ─────────────────────────┘
//   Dead: deleted (DeleteGroups, or every offset expired); never reused.
import { readConsumerProtocolSubscription } from '../protocol/generated/index.js';
import { Reader } from '../protocol/wire.js';
import type { StoredOffset } from './offsets-topic.js';

export type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead';

export interface JoinResult {
  errorCode: number;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leader: string;
  memberId: string;
  members: { memberId: string; groupInstanceId: string | null; metadata: Buffer }[];
  skipAssignment: boolean;
}

export interface SyncResult {
  errorCode: number;
  protocolType: string | null;
  protocolName: string | null;
  assignment: Buffer;
}

export interface Protocol {
  name: string;
  metadata: Buffer;
}

export class Member {
  assignment: Buffer = Buffer.alloc(0);
  /** The pending JoinGroup's answer, while the member waits for the rebalance. */
  awaitingJoin: ((result: JoinResult) => void) | undefined;
  /** The pending SyncGroup's answer, while the member waits for the leader's assignment. */
  awaitingSync: ((result: SyncResult) => void) | undefined;
  /** Joined during the current rebalance and has not yet had a JoinGroup answer. */
  isNew = false;
  /** Timer that removes the member when its session (or a new member's join) times out. */
  expiry: NodeJS.Timeout | undefined;

  constructor(
    public memberId: string,
    readonly groupInstanceId: string | null,
    public clientId: string,
    public clientHost: string,
    public rebalanceTimeoutMs: number,
    public sessionTimeoutMs: number,
    public protocolType: string,
    public protocols: Protocol[],
  ) {}

  metadataFor(protocol: string): Buffer {
    return this.protocols.find((p) => p.name === protocol)?.metadata ?? Buffer.alloc(0);
  }

  /** Same protocols, in the same order, with the same metadata. */
  matches(protocols: readonly Protocol[]): boolean {
    return (
      protocols.length === this.protocols.length &&
      protocols.every((p, i) => p.name === this.protocols[i]!.name && p.metadata.equals(this.protocols[i]!.metadata))
    );
  }
}

export class Group {
  state: GroupState = 'Empty';
  generationId = 0;
  /** null for groups that only commit offsets (no group management). */
  protocolType: string | null = null;
  protocolName: string | null = null;
  leaderId: string | null = null;
  /** When the group last changed state (offset expiry of empty groups counts from it). */
  currentStateTimestamp: number;
  readonly members = new Map<string, Member>();
  /** group.instance.id -> member id of static members. */
  readonly staticMembers = new Map<string, string>();
  /** KIP-394: member ids handed out with MEMBER_ID_REQUIRED, awaiting their second JoinGroup. */
  readonly pendingMembers = new Map<string, NodeJS.Timeout>();
  /** Members that have not sent SyncGroup in the current generation. */
  readonly pendingSyncMembers = new Set<string>();
  /** topic -> partition -> committed offset. */
  readonly offsets = new Map<string, Map<number, StoredOffset>>();
  /** Topics the members subscribe to (consumer protocol), undefined when unknown. */
  subscribedTopics: Set<string> | undefined;
  /** A member joined during the initial delay (group.initial.rebalance.delay.ms), which may then be extended. */
  newMemberAdded = false;
  /** The first rebalance of an empty group is waiting out group.initial.rebalance.delay.ms (it never completes early). */
  inInitialDelay = false;
  /** The pending rebalance or sync deadline. */
  joinTimer: NodeJS.Timeout | undefined;
  syncTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly groupId: string,
    now: number,
  ) {
    this.currentStateTimestamp = now;
  }

  transitionTo(state: GroupState, now: number): void {
    this.state = state;
    this.currentStateTimestamp = now;
  }

  get isConsumerGroup(): boolean {
    return this.protocolType === 'consumer';
  }

  /** The largest rebalance timeout of the members: how long a rebalance waits for rejoins. */
  get rebalanceTimeoutMs(): number {
    let max = 0;
    for (const m of this.members.values()) max = Math.max(max, m.rebalanceTimeoutMs);
    return max;
  }

  get awaitingJoinCount(): number {
    let n = 0;
    for (const m of this.members.values()) if (m.awaitingJoin) n++;
    return n;
  }

  get allMembersJoined(): boolean {
    return this.pendingMembers.size === 0 && this.awaitingJoinCount === this.members.size;
  }

  /** The protocols every member supports (all of them when the group has none). */
  #commonProtocols(): Set<string> | undefined {
    let common: Set<string> | undefined;
    for (const m of this.members.values()) {
      const names = new Set(m.protocols.map((p) => p.name));
      common = common === undefined ? names : new Set([...common].filter((n) => names.has(n)));
    }
    return common;
  }

  /** Whether a member with this protocol type and these protocols may join. */
  supportsProtocols(protocolType: string, protocols: readonly Protocol[]): boolean {
    if (protocolType === '' || protocols.length === 0) return false;
    if (this.members.size === 0) return true;
    if (protocolType !== this.protocolType) return false;
    const common = this.#commonProtocols()!;
    return protocols.some((p) => common.has(p.name));
  }

  /**
   * Kafka's vote: each member votes for its most preferred protocol among the
   * ones every member supports; the most votes win (ties go to the protocol
   * preferred earliest by the leader's list).
   */
  selectProtocol(): string {
    const common = this.#commonProtocols();
    if (!common || common.size === 0) throw new Error(`group ${this.groupId} has no protocol every member supports`);
    const votes = new Map<string, number>();
    for (const m of this.members.values()) {
      const choice = m.protocols.find((p) => common.has(p.name))!.name;
      votes.set(choice, (votes.get(choice) ?? 0) + 1);
    }
    const leader = (this.leaderId && this.members.get(this.leaderId)) || this.members.values().next().value!;
    let best = '';
    let bestVotes = -1;
    for (const p of leader.protocols) {
      const n = votes.get(p.name) ?? -1;
      if (n > bestVotes) {
        best = p.name;
        bestVotes = n;
      }
    }
    return best;
  }

  add(member: Member): void {
    if (this.members.size === 0) this.protocolType = member.protocolType;
    this.members.set(member.memberId, member);
    if (member.groupInstanceId !== null) this.staticMembers.set(member.groupInstanceId, member.memberId);
    this.leaderId ??= member.memberId;
  }

  remove(memberId: string): void {
    const member = this.members.get(memberId);
    if (!member) return;
    this.members.delete(memberId);
    this.pendingSyncMembers.delete(memberId);
    if (member.groupInstanceId !== null && this.staticMembers.get(member.groupInstanceId) === memberId) {
      this.staticMembers.delete(member.groupInstanceId);
    }
    if (this.leaderId === memberId) this.leaderId = this.members.keys().next().value ?? null;
  }

  /**
   * Keeps the leader if it rejoined, otherwise hands leadership to a member
   * that did. False when no member has rejoined.
   */
  electJoinedLeader(): boolean {
    if (this.leaderId === null) return false;
    if (this.members.get(this.leaderId)?.awaitingJoin) return true;
    for (const m of this.members.values()) {
      if (m.awaitingJoin) {
        this.leaderId = m.memberId;
        return true;
      }
    }
    return false;
  }

  /** Starts the next generation: picks the protocol, or goes Empty without members. */
  initNextGeneration(now: number): void {
    this.generationId++;
    this.pendingSyncMembers.clear();
    if (this.members.size > 0) {
      this.protocolName = this.selectProtocol();
      this.initSubscriptions();
      for (const id of this.members.keys()) this.pendingSyncMembers.add(id);
      this.transitionTo('CompletingRebalance', now);
    } else {
      this.protocolName = null;
      this.subscribedTopics = undefined;
      this.transitionTo('Empty', now);
    }
  }

  /** Reads the members' subscriptions (consumer protocol) for OffsetDelete and offset expiry. */
  initSubscriptions(): void {
    this.subscribedTopics = undefined;
    if (!this.isConsumerGroup || this.protocolName === null) return;
    const topics = new Set<string>();
    try {
      for (const m of this.members.values()) {
        const bytes = m.metadataFor(this.protocolName);
        const version = Math.min(Math.max(bytes.readInt16BE(0), 0), 3);
        for (const t of readConsumerProtocolSubscription(new Reader(bytes.subarray(2)), version).topics) topics.add(t);
      }
    } catch {
      return; // a custom or unreadable subscription: every topic counts as subscribed
    }
    this.subscribedTopics = topics;
  }

  /** Whether the group's members consume `topic` (unknown subscriptions count as yes). */
  isSubscribedTo(topic: string): boolean {
    return this.subscribedTopics === undefined || this.subscribedTopics.has(topic);
  }

  memberMetadataList(): JoinResult['members'] {
    const protocol = this.protocolName ?? '';
    return [...this.members.values()].map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, metadata: m.metadataFor(protocol) }));
  }

  offset(topic: string, partition: number): StoredOffset | undefined {
    return this.offsets.get(topic)?.get(partition);
  }

  setOffset(topic: string, partition: number, value: StoredOffset | null): void {
    if (value === null) {
      const partitions = this.offsets.get(topic);
      partitions?.delete(partition);
      if (partitions?.size === 0) this.offsets.delete(topic);
      return;
    }
    let partitions = this.offsets.get(topic);
    if (!partitions) this.offsets.set(topic, (partitions = new Map()));
    partitions.set(partition, value);
  }

  get hasOffsets(): boolean {
    return this.offsets.size > 0;
  }
}

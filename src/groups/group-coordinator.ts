// Kafka's classic group coordinator on one node: this broker coordinates
// every group. It runs the group state machine (group.ts), relays the
// members' protocol metadata to the elected leader and the leader's
// assignments back to the members, and keeps committed offsets and group
// metadata in `__consumer_offsets` (offsets-log.ts; record formats in
// offsets-topic.ts), which it reads back at start. A commit or an
// assignment is acknowledged only after its record is in the log.
//
// Timers are plain setTimeout handles on the JavaScript thread: a member's
// session (reset by every heartbeat, join, sync and commit), the rebalance
// deadline, the sync deadline and the periodic offset expiry.
import { randomUUID } from 'node:crypto';

import { ErrorCode } from '../protocol/error-codes.js';
import type { RecordInput } from '../protocol/record-batch.js';
import type { GroupMetadataValue } from '../protocol/generated/index.js';
import type { Init } from '../protocol/wire.js';
import type { GroupCoordinatorConfig } from '../config/broker-config.js';
import type { Logger } from '../observability/logger.js';
import type { BrokerState } from '../server/broker-state.js';
import { OffsetsTopicLog } from './offsets-log.js';
import { Group, Member, type GroupState, type JoinResult, type Protocol, type SyncResult } from './group.js';
import {
  OFFSETS_TOPIC,
  groupMetadataRecord,
  offsetCommitRecord,
  type StoredOffset,
} from './offsets-topic.js';

/** How long a new member's JoinGroup may wait in a rebalance before it is dropped (Kafka's constant). */
const NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60_000;

export interface JoinRequest {
  groupId: string;
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: Protocol[];
  /** JoinGroup v4+: a member without an id gets one with MEMBER_ID_REQUIRED first (KIP-394). */
  requireKnownMemberId: boolean;
  /** JoinGroup v9+: a rejoining static leader may be told to skip the assignment. */
  supportSkippingAssignment: boolean;
  reason: string | null;
}

export interface SyncRequest {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
  protocolType: string | null;
  protocolName: string | null;
  assignments: { memberId: string; assignment: Buffer }[];
}

export interface CommitPartition {
  partition: number;
  offset: number;
  leaderEpoch: number;
  metadata: string | null;
  /** OffsetCommit v1's per-partition commit time, -1 for now. */
  commitTimestamp: number;
}

export interface CommitRequest {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
  /** OffsetCommit v2-v4's retention time, -1 for the broker default. */
  retentionTimeMs: number;
  topics: { name: string; partitions: CommitPartition[] }[];
}

export interface FetchedOffset {
  partition: number;
  offset: number;
  leaderEpoch: number;
  metadata: string;
  errorCode: number;
}

export interface GroupSummary {
  groupId: string;
  state: GroupState;
  protocolType: string;
  protocolName: string;
  generationId: number;
  members: {
    memberId: string;
    groupInstanceId: string | null;
    clientId: string;
    clientHost: string;
    metadata: Buffer;
    assignment: Buffer;
  }[];
}

function joinError(errorCode: number, memberId = ''): JoinResult {
  return { errorCode, generationId: -1, protocolType: null, protocolName: null, leader: '', memberId, members: [], skipAssignment: false };
}

function syncError(errorCode: number): SyncResult {
  return { errorCode, protocolType: null, protocolName: null, assignment: Buffer.alloc(0) };
}

/** The commit error for a failed __consumer_offsets append, as Kafka maps it. */
function commitWriteError(error: unknown): number {
  const code = (error as { code?: string }).code;
  if (code === 'MESSAGE_TOO_LARGE' || code === 'RECORD_LIST_TOO_LARGE') return ErrorCode.INVALID_COMMIT_OFFSET_SIZE;
  return ErrorCode.COORDINATOR_NOT_AVAILABLE;
}

export class GroupCoordinator {
  readonly #groups = new Map<string, Group>();
  #loaded = false;
  #active = true;
  #expiryTimer: NodeJS.Timeout | undefined;
  readonly #log: OffsetsTopicLog;

  constructor(
    private readonly broker: BrokerState,
    private readonly logger: Logger,
  ) {
    this.#log = new OffsetsTopicLog(broker, logger);
  }

  get #config(): GroupCoordinatorConfig {
    return this.broker.config.groups;
  }

  /** The error every group request gets while the coordinator cannot serve it, or NONE. */
  get availability(): number {
    if (!this.#active) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (!this.#loaded) return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS;
    return ErrorCode.NONE;
  }

  // ---- __consumer_offsets -------------------------------------------------

  /** The partition count of __consumer_offsets, creating the topic (compacted) on first use. */
  ensureOffsetsTopic(): Promise<number> {
    return this.#log.ensureTopic();
  }

  #append(groupId: string, records: RecordInput[]): Promise<void> {
    return this.#log.append(groupId, records);
  }

  #groupRecord(group: Group, assignments: ReadonlyMap<string, Buffer>): RecordInput {
    const protocol = group.protocolName;
    const value: Init<GroupMetadataValue> = {
      protocolType: group.protocolType ?? '',
      generation: group.generationId,
      protocol,
      leader: group.leaderId,
      currentStateTimestamp: BigInt(group.currentStateTimestamp),
      members: [...group.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        rebalanceTimeout: m.rebalanceTimeoutMs,
        sessionTimeout: m.sessionTimeoutMs,
        subscription: protocol === null ? Buffer.alloc(0) : m.metadataFor(protocol),
        assignment: assignments.get(m.memberId) ?? Buffer.alloc(0),
      })),
    };
    return groupMetadataRecord(group.groupId, value, Date.now());
  }

  /** Writes the group's metadata; resolves with NONE or the error to report. */
  async #storeGroup(group: Group, assignments: ReadonlyMap<string, Buffer>): Promise<number> {
    try {
      await this.#append(group.groupId, [this.#groupRecord(group, assignments)]);
      return ErrorCode.NONE;
    } catch (error) {
      this.logger.warn('Could not write group metadata', { group: group.groupId, error: (error as Error).message });
      return commitWriteError(error);
    }
  }

  /**
   * Reads every group and committed offset back from __consumer_offsets
   * (at start; group requests get COORDINATOR_LOAD_IN_PROGRESS until done).
   * Members of stable groups get a fresh session: if they are gone, they
   * expire and the group rebalances.
   */
  async load(): Promise<void> {
    const started = performance.now();
    const { groupValues, offsets, records } = await this.#log.readAll();
    const now = Date.now();
    for (const [groupId, value] of groupValues) {
      if (value !== null) this.#groups.set(groupId, this.#restoreGroup(groupId, value, now));
    }
    for (const [groupId, byKey] of offsets) {
      for (const { topic: t, partition, value } of byKey.values()) {
        if (value === null) continue;
        let group = this.#groups.get(groupId);
        if (!group) this.#groups.set(groupId, (group = new Group(groupId, now)));
        group.setOffset(t, partition, value);
      }
    }
    this.#loaded = true;
    this.#scheduleOffsetExpiry();
    if (records > 0) {
      this.logger.info('Loaded groups from the offsets topic', {
        groups: this.#groups.size,
        records,
        ms: Math.round(performance.now() - started),
      });
    }
  }

  #restoreGroup(groupId: string, value: GroupMetadataValue, now: number): Group {
    const group = new Group(groupId, value.currentStateTimestamp >= 0n ? Number(value.currentStateTimestamp) : now);
    group.protocolType = value.protocolType === '' ? null : value.protocolType;
    group.generationId = value.generation;
    group.protocolName = value.protocol;
    for (const m of value.members) {
      const member = new Member(
        m.memberId,
        m.groupInstanceId,
        m.clientId,
        m.clientHost,
        m.rebalanceTimeout >= 0 ? m.rebalanceTimeout : m.sessionTimeout,
        m.sessionTimeout,
        value.protocolType,
        [{ name: value.protocol ?? '', metadata: m.subscription }],
      );
      member.assignment = m.assignment;
      group.add(member);
    }
    group.leaderId = value.leader !== null && group.members.has(value.leader) ? value.leader : (group.members.keys().next().value ?? null);
    group.state = group.members.size > 0 ? 'Stable' : 'Empty';
    if (group.members.size > 0) {
      group.initSubscriptions();
      for (const member of group.members.values()) this.#scheduleSessionExpiry(group, member);
    }
    return group;
  }

  /** Stops the timers and answers every waiting JoinGroup/SyncGroup with NOT_COORDINATOR (shutdown). */
  shutdown(): void {
    this.#active = false;
    clearTimeout(this.#expiryTimer);
    for (const group of this.#groups.values()) {
      clearTimeout(group.joinTimer);
      clearTimeout(group.syncTimer);
      for (const timer of group.pendingMembers.values()) clearTimeout(timer);
      for (const member of group.members.values()) {
        clearTimeout(member.expiry);
        this.#answerJoin(member, joinError(ErrorCode.NOT_COORDINATOR, member.memberId));
        this.#answerSync(member, syncError(ErrorCode.NOT_COORDINATOR));
      }
    }
  }

  // ---- timers -------------------------------------------------------------

  #scheduleSessionExpiry(group: Group, member: Member, timeoutMs = member.sessionTimeoutMs): void {
    clearTimeout(member.expiry);
    member.expiry = setTimeout(() => this.#onSessionExpired(group, member), timeoutMs);
    member.expiry.unref();
  }

  #onSessionExpired(group: Group, member: Member): void {
    if (group.members.get(member.memberId) !== member) return;
    // Members waiting in a rebalance cannot heartbeat, so they do not expire
    // (except new members, whose JoinGroup has its own deadline).
    if (!member.isNew && (member.awaitingJoin || member.awaitingSync)) {
      this.#scheduleSessionExpiry(group, member);
      return;
    }
    this.logger.info('Member session expired', { group: group.groupId, member: member.memberId });
    this.#removeMember(group, member, `member ${member.memberId} failed to heartbeat`);
  }

  #scheduleOffsetExpiry(): void {
    if (!this.#active) return;
    this.#expiryTimer = setTimeout(() => {
      void this.expireOffsets(Date.now()).finally(() => this.#scheduleOffsetExpiry());
    }, this.#config.offsetsRetentionCheckIntervalMs);
    this.#expiryTimer.unref();
  }

  // ---- JoinGroup ----------------------------------------------------------

  joinGroup(request: JoinRequest): Promise<JoinResult> {
    const unavailable = this.availability;
    if (unavailable !== ErrorCode.NONE) return Promise.resolve(joinError(unavailable, request.memberId));
    if (request.groupId === '') return Promise.resolve(joinError(ErrorCode.INVALID_GROUP_ID, request.memberId));
    const { minSessionTimeoutMs, maxSessionTimeoutMs } = this.#config;
    if (request.sessionTimeoutMs < minSessionTimeoutMs || request.sessionTimeoutMs > maxSessionTimeoutMs) {
      return Promise.resolve(joinError(ErrorCode.INVALID_SESSION_TIMEOUT, request.memberId));
    }
    const isUnknownMember = request.memberId === '';
    let group = this.#groups.get(request.groupId);
    if (!group) {
      if (!isUnknownMember) return Promise.resolve(joinError(ErrorCode.UNKNOWN_MEMBER_ID, request.memberId));
      group = new Group(request.groupId, Date.now());
      this.#groups.set(request.groupId, group);
    }
    if (group.state === 'Dead') return Promise.resolve(joinError(ErrorCode.COORDINATOR_NOT_AVAILABLE, request.memberId));
    if (!this.#acceptsJoiningMember(group, request.memberId)) {
      return Promise.resolve(joinError(ErrorCode.GROUP_MAX_SIZE_REACHED, request.memberId));
    }
    if (!group.supportsProtocols(request.protocolType, request.protocols)) {
      return Promise.resolve(joinError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, request.memberId));
    }
    const result = new Promise<JoinResult>((resolve) => {
      if (isUnknownMember) this.#joinNewMember(group, request, resolve);
      else this.#joinCurrentMember(group, request, resolve);
    });
    if (group.state === 'PreparingRebalance') this.#checkJoinComplete(group);
    return result;
  }

  #acceptsJoiningMember(group: Group, memberId: string): boolean {
    const max = this.#config.maxSize;
    switch (group.state) {
      case 'Empty':
      case 'Dead':
        return true;
      case 'PreparingRebalance':
        return (group.members.has(memberId) && group.members.get(memberId)!.awaitingJoin !== undefined) || group.awaitingJoinCount < max;
      default:
        return group.members.has(memberId) || group.members.size < max;
    }
  }

  #newMemberId(request: JoinRequest): string {
    return `${request.groupInstanceId ?? request.clientId}-${randomUUID()}`;
  }

  #joinNewMember(group: Group, request: JoinRequest, respond: (r: JoinResult) => void): void {
    const memberId = this.#newMemberId(request);
    if (request.groupInstanceId !== null) {
      const existing = group.staticMembers.get(request.groupInstanceId);
      if (existing === undefined) this.#addMemberAndRebalance(group, memberId, request, respond);
      else this.#rejoinStaticMember(group, existing, memberId, request, respond);
      return;
    }
    if (request.requireKnownMemberId) {
      // KIP-394: hand out the id first; the member joins with it, so a
      // client that times out and retries does not leave a ghost member.
      const timer = setTimeout(() => this.#expirePendingMember(group, memberId), request.sessionTimeoutMs);
      timer.unref();
      group.pendingMembers.set(memberId, timer);
      respond(joinError(ErrorCode.MEMBER_ID_REQUIRED, memberId));
      return;
    }
    this.#addMemberAndRebalance(group, memberId, request, respond);
  }

  #expirePendingMember(group: Group, memberId: string): void {
    if (!group.pendingMembers.delete(memberId)) return;
    if (group.state === 'PreparingRebalance') this.#checkJoinComplete(group);
  }

  #joinCurrentMember(group: Group, request: JoinRequest, respond: (r: JoinResult) => void): void {
    const { memberId } = request;
    const pendingTimer = group.pendingMembers.get(memberId);
    if (pendingTimer !== undefined) {
      clearTimeout(pendingTimer);
      group.pendingMembers.delete(memberId);
      this.#addMemberAndRebalance(group, memberId, request, respond);
      return;
    }
    const invalid = this.#memberError(group, memberId, request.groupInstanceId);
    if (invalid !== ErrorCode.NONE) {
      respond(joinError(invalid, memberId));
      return;
    }
    const member = group.members.get(memberId)!;
    switch (group.state) {
      case 'PreparingRebalance':
        this.#updateMemberAndRebalance(group, member, request, respond);
        return;
      case 'CompletingRebalance':
        if (member.matches(request.protocols)) {
          // The member lost our JoinGroup answer: send this generation's again.
          respond(this.#joinAnswer(group, member, group.leaderId === memberId));
        } else {
          this.#updateMemberAndRebalance(group, member, request, respond);
        }
        return;
      case 'Stable':
        // The leader rejoins to trigger a rebalance (for example for new
        // topic partitions); followers only when their metadata changed.
        if (group.leaderId === memberId || !member.matches(request.protocols)) {
          this.#updateMemberAndRebalance(group, member, request, respond);
        } else {
          this.#scheduleSessionExpiry(group, member);
          respond(this.#joinAnswer(group, member, false));
        }
        return;
      default:
        respond(joinError(ErrorCode.UNKNOWN_MEMBER_ID, memberId));
    }
  }

  /** UNKNOWN_MEMBER_ID or FENCED_INSTANCE_ID when `memberId` (with its instance id) is not this group's member, else NONE. */
  #memberError(group: Group, memberId: string, groupInstanceId: string | null): number {
    if (groupInstanceId !== null) {
      const current = group.staticMembers.get(groupInstanceId);
      if (current === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
      if (current !== memberId) return ErrorCode.FENCED_INSTANCE_ID;
      return ErrorCode.NONE;
    }
    return group.members.has(memberId) ? ErrorCode.NONE : ErrorCode.UNKNOWN_MEMBER_ID;
  }

  #joinAnswer(group: Group, member: Member, withMembers: boolean, leader = group.leaderId ?? '', skipAssignment = false): JoinResult {
    return {
      errorCode: ErrorCode.NONE,
      generationId: group.generationId,
      protocolType: group.protocolType,
      protocolName: group.protocolName,
      leader,
      memberId: member.memberId,
      members: withMembers ? group.memberMetadataList() : [],
      skipAssignment,
    };
  }

  #addMemberAndRebalance(group: Group, memberId: string, request: JoinRequest, respond: (r: JoinResult) => void): void {
    const member = new Member(
      memberId,
      request.groupInstanceId,
      request.clientId,
      request.clientHost,
      request.rebalanceTimeoutMs,
      request.sessionTimeoutMs,
      request.protocolType,
      request.protocols,
    );
    member.isNew = true;
    member.awaitingJoin = respond;
    // During the initial delay, each new member may extend the wait.
    if (group.state === 'PreparingRebalance' && group.generationId === 0) group.newMemberAdded = true;
    group.add(member);
    // A new member cannot heartbeat before its JoinGroup is answered; a
    // client that gave up and retried would leave it behind, so its join
    // has a deadline of its own.
    this.#scheduleSessionExpiry(group, member, NEW_MEMBER_JOIN_TIMEOUT_MS);
    this.#maybePrepareRebalance(group, `member ${memberId} joined${request.reason ? ` (${request.reason})` : ''}`);
  }

  #updateMemberAndRebalance(group: Group, member: Member, request: JoinRequest, respond: (r: JoinResult) => void): void {
    member.protocols = request.protocols;
    member.rebalanceTimeoutMs = request.rebalanceTimeoutMs;
    member.sessionTimeoutMs = request.sessionTimeoutMs;
    member.clientId = request.clientId;
    member.clientHost = request.clientHost;
    if (member.awaitingJoin) member.awaitingJoin(joinError(ErrorCode.REBALANCE_IN_PROGRESS, member.memberId));
    member.awaitingJoin = respond;
    this.#maybePrepareRebalance(group, `member ${member.memberId} rejoined${request.reason ? ` (${request.reason})` : ''}`);
  }

  /**
   * KIP-345: a static member came back with a new member id. It takes over
   * the old member's place (the old id is fenced); in a stable group whose
   * protocol choice does not change, without a rebalance.
   */
  #rejoinStaticMember(group: Group, oldMemberId: string, newMemberId: string, request: JoinRequest, respond: (r: JoinResult) => void): void {
    const previousLeader = group.leaderId ?? '';
    const member = group.members.get(oldMemberId)!;
    this.#answerJoin(member, joinError(ErrorCode.FENCED_INSTANCE_ID, oldMemberId));
    this.#answerSync(member, syncError(ErrorCode.FENCED_INSTANCE_ID));
    group.members.delete(oldMemberId);
    member.memberId = newMemberId;
    group.members.set(newMemberId, member);
    group.staticMembers.set(request.groupInstanceId!, newMemberId);
    if (group.leaderId === oldMemberId) group.leaderId = newMemberId;
    if (group.pendingSyncMembers.delete(oldMemberId)) group.pendingSyncMembers.add(newMemberId);
    this.#scheduleSessionExpiry(group, member);
    switch (group.state) {
      case 'Stable': {
        const protocolsBefore = member.protocols;
        member.protocols = request.protocols;
        if (group.selectProtocol() !== group.protocolName) {
          this.#updateMemberAndRebalance(group, member, request, respond);
          return;
        }
        member.rebalanceTimeoutMs = request.rebalanceTimeoutMs;
        member.sessionTimeoutMs = request.sessionTimeoutMs;
        const generation = group.generationId;
        const assignments = new Map([...group.members.values()].map((m) => [m.memberId, m.assignment] as const));
        void this.#storeGroup(group, assignments).then((error) => {
          if (error !== ErrorCode.NONE) {
            member.protocols = protocolsBefore;
            respond(joinError(error, newMemberId));
            return;
          }
          const isLeader = group.leaderId === newMemberId;
          const skip = isLeader && request.supportSkippingAssignment && group.generationId === generation;
          // The old leader id goes back, so a rejoined leader that cannot
          // skip the assignment does not compute one a stable group would
          // never hand out.
          respond(this.#joinAnswer(group, member, skip, previousLeader, skip));
        });
        return;
      }
      case 'CompletingRebalance':
      case 'PreparingRebalance':
        this.#updateMemberAndRebalance(group, member, request, respond);
        return;
      default:
        respond(joinError(ErrorCode.UNKNOWN_MEMBER_ID, newMemberId));
    }
  }

  #maybePrepareRebalance(group: Group, reason: string): void {
    if (group.state === 'Stable' || group.state === 'CompletingRebalance' || group.state === 'Empty') this.#prepareRebalance(group, reason);
  }

  #prepareRebalance(group: Group, reason: string): void {
    if (group.state === 'CompletingRebalance') this.#resetAssignments(group, ErrorCode.REBALANCE_IN_PROGRESS);
    clearTimeout(group.syncTimer);
    clearTimeout(group.joinTimer);
    const wasEmpty = group.state === 'Empty';
    group.transitionTo('PreparingRebalance', Date.now());
    this.logger.info('Preparing to rebalance group', { group: group.groupId, generation: group.generationId, reason });
    if (wasEmpty) {
      // group.initial.rebalance.delay.ms: wait for more members before the
      // first generation, extended while new ones keep arriving.
      const delay = this.#config.initialRebalanceDelayMs;
      this.#initialDelayedJoin(group, delay, Math.max(group.rebalanceTimeoutMs - delay, 0));
    } else {
      group.joinTimer = setTimeout(() => this.#completeJoin(group), group.rebalanceTimeoutMs);
      group.joinTimer.unref();
      this.#checkJoinComplete(group);
    }
  }

  #initialDelayedJoin(group: Group, delayMs: number, remainingMs: number): void {
    group.inInitialDelay = true;
    group.joinTimer = setTimeout(() => {
      if (group.newMemberAdded && remainingMs > 0) {
        group.newMemberAdded = false;
        const initial = this.#config.initialRebalanceDelayMs;
        this.#initialDelayedJoin(group, Math.min(initial, remainingMs), Math.max(remainingMs - initial, 0));
        return;
      }
      group.inInitialDelay = false;
      this.#completeJoin(group);
    }, delayMs);
    group.joinTimer.unref();
  }

  /** Completes the rebalance early once every member (and no pending one) has rejoined. */
  #checkJoinComplete(group: Group): void {
    if (group.state !== 'PreparingRebalance' || group.inInitialDelay) return;
    if (group.allMembersJoined) this.#completeJoin(group);
  }

  #completeJoin(group: Group): void {
    if (group.state !== 'PreparingRebalance') return;
    clearTimeout(group.joinTimer);
    group.inInitialDelay = false;
    group.newMemberAdded = false;
    // Dynamic members that did not rejoin are gone; static ones stay until their session expires.
    for (const member of [...group.members.values()]) {
      if (!member.awaitingJoin && member.groupInstanceId === null) {
        clearTimeout(member.expiry);
        group.remove(member.memberId);
      }
    }
    if (!group.electJoinedLeader() && group.members.size > 0) {
      // Nobody rejoined: wait another rebalance timeout for the sessions of the silent ones to expire.
      this.logger.warn('No member rejoined the group; waiting for their sessions to expire', { group: group.groupId });
      group.joinTimer = setTimeout(() => this.#completeJoin(group), group.rebalanceTimeoutMs);
      group.joinTimer.unref();
      return;
    }
    group.initNextGeneration(Date.now());
    if ((group.state as GroupState) === 'Empty') {
      this.logger.info('Group is now empty', { group: group.groupId, generation: group.generationId });
      void this.#storeGroup(group, new Map());
      return;
    }
    this.logger.info('Group rebalanced', {
      group: group.groupId,
      generation: group.generationId,
      protocol: group.protocolName,
      members: group.members.size,
      leader: group.leaderId,
    });
    for (const member of group.members.values()) {
      this.#answerJoin(member, this.#joinAnswer(group, member, group.leaderId === member.memberId));
      member.isNew = false;
      this.#scheduleSessionExpiry(group, member);
    }
    // Members that never send SyncGroup are removed after a rebalance timeout.
    const generation = group.generationId;
    group.syncTimer = setTimeout(() => this.#expirePendingSyncs(group, generation), group.rebalanceTimeoutMs);
    group.syncTimer.unref();
  }

  #expirePendingSyncs(group: Group, generation: number): void {
    if (generation !== group.generationId || group.pendingSyncMembers.size === 0) return;
    if (group.state !== 'CompletingRebalance' && group.state !== 'Stable') return;
    const missing = [...group.pendingSyncMembers];
    this.logger.info('Removing members that did not sync', { group: group.groupId, members: missing });
    for (const memberId of missing) {
      const member = group.members.get(memberId);
      if (member) {
        clearTimeout(member.expiry);
        group.remove(memberId);
      }
    }
    group.pendingSyncMembers.clear();
    this.#prepareRebalance(group, 'members did not send SyncGroup in time');
  }

  #answerJoin(member: Member, result: JoinResult): void {
    const respond = member.awaitingJoin;
    member.awaitingJoin = undefined;
    respond?.(result);
  }

  #answerSync(member: Member, result: SyncResult): void {
    const respond = member.awaitingSync;
    member.awaitingSync = undefined;
    respond?.(result);
  }

  /** Drops the assignments of a rebalance that will not complete, answering waiting syncs with `errorCode`. */
  #resetAssignments(group: Group, errorCode: number): void {
    for (const member of group.members.values()) {
      member.assignment = Buffer.alloc(0);
      this.#answerSync(member, syncError(errorCode));
    }
  }

  #removeMember(group: Group, member: Member, reason: string): void {
    clearTimeout(member.expiry);
    this.#answerJoin(member, joinError(ErrorCode.UNKNOWN_MEMBER_ID, member.memberId));
    this.#answerSync(member, syncError(ErrorCode.UNKNOWN_MEMBER_ID));
    group.remove(member.memberId);
    switch (group.state) {
      case 'Stable':
      case 'CompletingRebalance':
        this.#maybePrepareRebalance(group, reason);
        break;
      case 'PreparingRebalance':
        this.#checkJoinComplete(group);
        break;
      default:
    }
  }

  // ---- SyncGroup ----------------------------------------------------------

  syncGroup(request: SyncRequest): Promise<SyncResult> {
    const unavailable = this.availability;
    if (unavailable !== ErrorCode.NONE) return Promise.resolve(syncError(unavailable));
    const group = this.#groups.get(request.groupId);
    if (!group) return Promise.resolve(syncError(ErrorCode.UNKNOWN_MEMBER_ID));
    if (group.state === 'Dead') return Promise.resolve(syncError(ErrorCode.COORDINATOR_NOT_AVAILABLE));
    const invalid = this.#memberError(group, request.memberId, request.groupInstanceId);
    if (invalid !== ErrorCode.NONE) return Promise.resolve(syncError(invalid));
    if (request.generationId !== group.generationId) return Promise.resolve(syncError(ErrorCode.ILLEGAL_GENERATION));
    if (
      (request.protocolType !== null && request.protocolType !== group.protocolType) ||
      (request.protocolName !== null && request.protocolName !== group.protocolName)
    ) {
      return Promise.resolve(syncError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL));
    }
    const member = group.members.get(request.memberId)!;
    switch (group.state) {
      case 'Empty':
        return Promise.resolve(syncError(ErrorCode.UNKNOWN_MEMBER_ID));
      case 'PreparingRebalance':
        return Promise.resolve(syncError(ErrorCode.REBALANCE_IN_PROGRESS));
      case 'CompletingRebalance':
        return new Promise((resolve) => {
          this.#answerSync(member, syncError(ErrorCode.REBALANCE_IN_PROGRESS));
          member.awaitingSync = resolve;
          group.pendingSyncMembers.delete(member.memberId);
          this.#scheduleSessionExpiry(group, member);
          if (group.leaderId === member.memberId) void this.#applyLeaderAssignment(group, request.assignments);
        });
      case 'Stable':
        group.pendingSyncMembers.delete(member.memberId);
        this.#scheduleSessionExpiry(group, member);
        return Promise.resolve({
          errorCode: ErrorCode.NONE,
          protocolType: group.protocolType,
          protocolName: group.protocolName,
          assignment: member.assignment,
        });
      default:
        return Promise.resolve(syncError(ErrorCode.COORDINATOR_NOT_AVAILABLE));
    }
  }

  async #applyLeaderAssignment(group: Group, assignments: SyncRequest['assignments']): Promise<void> {
    const byMember = new Map<string, Buffer>();
    for (const a of assignments) if (group.members.has(a.memberId)) byMember.set(a.memberId, a.assignment);
    for (const id of group.members.keys()) if (!byMember.has(id)) byMember.set(id, Buffer.alloc(0));
    const generation = group.generationId;
    const error = await this.#storeGroup(group, byMember);
    // Members may have come or gone while the record was written: only a
    // group still completing the same generation takes the assignment.
    if (group.state !== 'CompletingRebalance' || group.generationId !== generation) return;
    if (error !== ErrorCode.NONE) {
      this.#resetAssignments(group, error);
      this.#prepareRebalance(group, 'the assignment could not be stored');
      return;
    }
    for (const member of group.members.values()) {
      member.assignment = byMember.get(member.memberId) ?? Buffer.alloc(0);
      this.#answerSync(member, { errorCode: ErrorCode.NONE, protocolType: group.protocolType, protocolName: group.protocolName, assignment: member.assignment });
    }
    group.transitionTo('Stable', Date.now());
    this.logger.info('Group is stable', { group: group.groupId, generation });
  }

  // ---- Heartbeat and LeaveGroup -------------------------------------------

  heartbeat(groupId: string, memberId: string, groupInstanceId: string | null, generationId: number): number {
    const unavailable = this.availability;
    if (unavailable !== ErrorCode.NONE) return unavailable;
    const group = this.#groups.get(groupId);
    if (!group) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (group.state === 'Dead') return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    const invalid = this.#memberError(group, memberId, groupInstanceId);
    if (invalid !== ErrorCode.NONE) return invalid;
    if (generationId !== group.generationId) return ErrorCode.ILLEGAL_GENERATION;
    const member = group.members.get(memberId)!;
    switch (group.state) {
      case 'Empty':
        return ErrorCode.UNKNOWN_MEMBER_ID;
      case 'PreparingRebalance':
        this.#scheduleSessionExpiry(group, member);
        return ErrorCode.REBALANCE_IN_PROGRESS;
      default:
        this.#scheduleSessionExpiry(group, member);
        return ErrorCode.NONE;
    }
  }

  /** Removes each member; returns the group-level error (NONE or unavailability) and one error per member. */
  leaveGroup(groupId: string, leaving: { memberId: string; groupInstanceId: string | null; reason: string | null }[]): { errorCode: number; members: number[] } {
    const unavailable = this.availability;
    if (unavailable !== ErrorCode.NONE) return { errorCode: unavailable, members: [] };
    const group = this.#groups.get(groupId);
    if (!group) return { errorCode: ErrorCode.NONE, members: leaving.map(() => ErrorCode.UNKNOWN_MEMBER_ID) };
    if (group.state === 'Dead') return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, members: [] };
    const errors = leaving.map(({ memberId, groupInstanceId, reason }) => {
      let id = memberId;
      if (id === '' && groupInstanceId !== null) {
        const resolved = group.staticMembers.get(groupInstanceId);
        if (resolved === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
        id = resolved;
      }
      const pending = group.pendingMembers.get(id);
      if (pending !== undefined && groupInstanceId === null) {
        clearTimeout(pending);
        group.pendingMembers.delete(id);
        if (group.state === 'PreparingRebalance') this.#checkJoinComplete(group);
        return ErrorCode.NONE;
      }
      const invalid = this.#memberError(group, id, groupInstanceId);
      if (invalid !== ErrorCode.NONE) return invalid;
      this.logger.info('Member left the group', { group: groupId, member: id, reason });
      this.#removeMember(group, group.members.get(id)!, `member ${id} left${reason ? ` (${reason})` : ''}`);
      return ErrorCode.NONE;
    });
    return { errorCode: ErrorCode.NONE, members: errors };
  }

  // ---- offsets ------------------------------------------------------------

  /** The commit's error for every partition (NONE, or why it was not stored). */
  async commitOffsets(request: CommitRequest): Promise<Map<string, Map<number, number>>> {
    const results = new Map<string, Map<number, number>>();
    const all = (errorCode: number) => {
      for (const t of request.topics) results.set(t.name, new Map(t.partitions.map((p) => [p.partition, errorCode])));
      return results;
    };
    const unavailable = this.availability;
    if (unavailable !== ErrorCode.NONE) return all(unavailable);
    if (request.groupId === '') return all(ErrorCode.INVALID_GROUP_ID);
    let group = this.#groups.get(request.groupId);
    if (!group) {
      // A group without group management (assign() consumers, admin tools).
      if (request.generationId >= 0) return all(ErrorCode.ILLEGAL_GENERATION);
      group = new Group(request.groupId, Date.now());
      this.#groups.set(request.groupId, group);
    } else if (group.state === 'Dead') {
      return all(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    } else if (request.groupInstanceId !== null && group.staticMembers.has(request.groupInstanceId) && group.staticMembers.get(request.groupInstanceId) !== request.memberId) {
      return all(ErrorCode.FENCED_INSTANCE_ID);
    } else if (!(request.generationId < 0 && group.state === 'Empty')) {
      if (group.state === 'CompletingRebalance') return all(ErrorCode.REBALANCE_IN_PROGRESS);
      const member = group.members.get(request.memberId);
      if (!member) return all(ErrorCode.UNKNOWN_MEMBER_ID);
      if (request.generationId !== group.generationId) return all(ErrorCode.ILLEGAL_GENERATION);
      this.#scheduleSessionExpiry(group, member);
    }

    const now = Date.now();
    const records: RecordInput[] = [];
    const staged: { topic: string; partition: number; value: StoredOffset }[] = [];
    for (const topic of request.topics) {
      const errors = new Map<number, number>();
      results.set(topic.name, errors);
      const known = this.broker.topics.get(topic.name);
      for (const p of topic.partitions) {
        if (!known || p.partition < 0 || p.partition >= known.partitions) {
          errors.set(p.partition, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
          continue;
        }
        const metadata = p.metadata ?? '';
        if (Buffer.byteLength(metadata) > this.#config.offsetMetadataMaxBytes) {
          errors.set(p.partition, ErrorCode.OFFSET_METADATA_TOO_LARGE);
          continue;
        }
        const commitTimestamp = p.commitTimestamp >= 0 ? p.commitTimestamp : now;
        const value: StoredOffset = {
          offset: p.offset,
          leaderEpoch: p.leaderEpoch,
          metadata,
          commitTimestamp,
          expireTimestamp: request.retentionTimeMs >= 0 ? commitTimestamp + request.retentionTimeMs : undefined,
        };
        staged.push({ topic: topic.name, partition: p.partition, value });
        records.push(offsetCommitRecord(request.groupId, topic.name, p.partition, value, now));
        errors.set(p.partition, ErrorCode.NONE);
      }
    }
    if (records.length === 0) return results;
    try {
      await this.#append(request.groupId, records);
    } catch (error) {
      const code = commitWriteError(error);
      this.logger.warn('Could not store committed offsets', { group: request.groupId, error: (error as Error).message });
      for (const s of staged) results.get(s.topic)!.set(s.partition, code);
      return results;
    }
    // The group may have been deleted while the record was written; then a
    // new (empty) one holds the offsets, as the log now says.
    let target = this.#groups.get(request.groupId);
    if (!target || target.state === 'Dead') this.#groups.set(request.groupId, (target = new Group(request.groupId, now)));
    for (const s of staged) target.setOffset(s.topic, s.partition, s.value);
    return results;
  }

  /**
   * Committed offsets: of `topics` (partitions without a commit get -1), or
   * all the group has when `topics` is null. Errors: only unavailability.
   */
  fetchOffsets(groupId: string, topics: { name: string; partitions: number[] }[] | null): { errorCode: number; topics: { name: string; partitions: FetchedOffset[] }[] } {
    const unavailable = this.availability;
    if (unavailable !== ErrorCode.NONE) return { errorCode: unavailable, topics: [] };
    const group = this.#groups.get(groupId);
    const entry = (partition: number, stored: StoredOffset | undefined): FetchedOffset => ({
      partition,
      offset: stored?.offset ?? -1,
      leaderEpoch: stored?.leaderEpoch ?? -1,
      metadata: stored?.metadata ?? '',
      errorCode: ErrorCode.NONE,
    });
    if (topics === null) {
      if (!group || group.state === 'Dead') return { errorCode: ErrorCode.NONE, topics: [] };
      return {
        errorCode: ErrorCode.NONE,
        topics: [...group.offsets].map(([name, partitions]) => ({
          name,
          partitions: [...partitions].sort((a, b) => a[0] - b[0]).map(([p, stored]) => entry(p, stored)),
        })),
      };
    }
    return {
      errorCode: ErrorCode.NONE,
      topics: topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => entry(p, group?.state === 'Dead' ? undefined : group?.offset(t.name, p))) })),
    };
  }

  /**
   * Removes committed offsets that outlived offsets.retention.minutes:
   * of empty groups once they have been empty that long (or, for groups
   * without group management, each offset that long after its commit), of
   * consumer groups for topics they no longer subscribe to, and any whose
   * commit asked for an explicit expiry. A group left without members and
   * offsets is deleted.
   */
  async expireOffsets(now: number): Promise<void> {
    if (this.availability !== ErrorCode.NONE) return;
    const retention = this.#config.offsetsRetentionMs;
    for (const group of [...this.#groups.values()]) {
      if (group.state === 'Dead') continue;
      const expired: { topic: string; partition: number }[] = [];
      for (const [topic, partitions] of group.offsets) {
        for (const [partition, stored] of partitions) {
          let expires: number | undefined;
          if (stored.expireTimestamp !== undefined) expires = stored.expireTimestamp;
          else if (group.state === 'Empty') expires = (group.protocolType === null ? stored.commitTimestamp : group.currentStateTimestamp) + retention;
          else if (group.isConsumerGroup && group.state === 'Stable' && !group.isSubscribedTo(topic)) expires = stored.commitTimestamp + retention;
          if (expires !== undefined && expires <= now) expired.push({ topic, partition });
        }
      }
      const deleteGroup = group.state === 'Empty' && expired.length === this.#offsetCount(group);
      if (deleteGroup && expired.length === 0 && group.protocolType === null && group.pendingMembers.size === 0) {
        // Nothing of it was ever written (a commit whose partitions all failed).
        this.#groups.delete(group.groupId);
        continue;
      }
      if (expired.length === 0 && !deleteGroup) continue;
      const records = expired.map((e) => offsetCommitRecord(group.groupId, e.topic, e.partition, null, now));
      if (deleteGroup) records.push(groupMetadataRecord(group.groupId, null, now));
      try {
        await this.#append(group.groupId, records);
      } catch (error) {
        this.logger.warn('Could not remove expired offsets', { group: group.groupId, error: (error as Error).message });
        continue;
      }
      for (const e of expired) group.setOffset(e.topic, e.partition, null);
      // Members may have joined while the tombstones were written.
      if (deleteGroup && (group.state as GroupState) === 'Empty' && !group.hasOffsets) {
        group.transitionTo('Dead', now);
        this.#groups.delete(group.groupId);
      }
      this.logger.info('Expired committed offsets', { group: group.groupId, offsets: expired.length, groupDeleted: deleteGroup });
    }
  }

  #offsetCount(group: Group): number {
    let n = 0;
    for (const partitions of group.offsets.values()) n += partitions.size;
    return n;
  }

  /**
   * Forgets the committed offsets of a deleted topic in every group at once,
   * then writes their tombstones. Called from inside a topic change, so it
   * must not wait for one: the caller does not await the writes.
   */
  async onTopicDeleted(topic: string): Promise<void> {
    if (topic === OFFSETS_TOPIC) return;
    const now = Date.now();
    const tombstones: { groupId: string; records: RecordInput[] }[] = [];
    for (const group of this.#groups.values()) {
      const partitions = group.offsets.get(topic);
      if (!partitions) continue;
      tombstones.push({ groupId: group.groupId, records: [...partitions.keys()].map((p) => offsetCommitRecord(group.groupId, topic, p, null, now)) });
      group.offsets.delete(topic);
    }
    for (const { groupId, records } of tombstones) {
      await this.#append(groupId, records).catch((error: Error) =>
        this.logger.warn('Could not remove offsets of a deleted topic', { group: groupId, topic, error: error.message }),
      );
    }
  }

  // ---- admin --------------------------------------------------------------

  describeGroup(groupId: string): GroupSummary {
    const group = this.#groups.get(groupId);
    if (!group || group.state === 'Dead') {
      return { groupId, state: 'Dead', protocolType: '', protocolName: '', generationId: -1, members: [] };
    }
    // Member metadata and assignments are only meaningful in a stable group.
    const stable = group.state === 'Stable';
    return {
      groupId,
      state: group.state,
      protocolType: group.protocolType ?? '',
      protocolName: stable ? (group.protocolName ?? '') : '',
      generationId: group.generationId,
      members: [...group.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        metadata: stable ? m.metadataFor(group.protocolName ?? '') : Buffer.alloc(0),
        assignment: stable ? m.assignment : Buffer.alloc(0),
      })),
    };
  }

  listGroups(): { groupId: string; protocolType: string; state: GroupState }[] {
    return [...this.#groups.values()]
      .filter((g) => g.state !== 'Dead')
      .map((g) => ({ groupId: g.groupId, protocolType: g.protocolType ?? '', state: g.state }));
  }

  /** DeleteGroups: only empty groups; their offsets and metadata get tombstones. */
  async deleteGroup(groupId: string): Promise<number> {
    const unavailable = this.availability;
    if (unavailable !== ErrorCode.NONE) return unavailable;
    const group = this.#groups.get(groupId);
    if (!group || group.state === 'Dead') return ErrorCode.GROUP_ID_NOT_FOUND;
    if (group.state !== 'Empty') return ErrorCode.NON_EMPTY_GROUP;
    const now = Date.now();
    const records: RecordInput[] = [];
    for (const [topic, partitions] of group.offsets) {
      for (const p of partitions.keys()) records.push(offsetCommitRecord(groupId, topic, p, null, now));
    }
    records.push(groupMetadataRecord(groupId, null, now));
    group.transitionTo('Dead', now);
    this.#groups.delete(groupId);
    try {
      await this.#append(groupId, records);
    } catch (error) {
      // Not written: the group is still what the log says it is.
      if (!this.#groups.has(groupId)) {
        group.transitionTo('Empty', now);
        this.#groups.set(groupId, group);
      }
      this.logger.warn('Could not delete group', { group: groupId, error: (error as Error).message });
      return commitWriteError(error);
    }
    this.logger.info('Deleted group', { group: groupId });
    return ErrorCode.NONE;
  }

  /**
   * OffsetDelete: removes a group's offsets of partitions it does not
   * consume. Returns the group-level error and, per topic, per partition.
   */
  async deleteOffsets(groupId: string, topics: { name: string; partitions: number[] }[]): Promise<{ errorCode: number; topics: Map<string, Map<number, number>> }> {
    const results = new Map<string, Map<number, number>>();
    const unavailable = this.availability;
    if (unavailable !== ErrorCode.NONE) return { errorCode: unavailable, topics: results };
    const group = this.#groups.get(groupId);
    if (!group || group.state === 'Dead') return { errorCode: ErrorCode.GROUP_ID_NOT_FOUND, topics: results };
    if (group.state !== 'Empty' && !group.isConsumerGroup) return { errorCode: ErrorCode.NON_EMPTY_GROUP, topics: results };
    const now = Date.now();
    const records: RecordInput[] = [];
    const removed: { topic: string; partition: number }[] = [];
    for (const t of topics) {
      const errors = new Map<number, number>();
      results.set(t.name, errors);
      const known = this.broker.topics.get(t.name);
      for (const p of t.partitions) {
        if (!known || p < 0 || p >= known.partitions) errors.set(p, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
        else if (group.state !== 'Empty' && group.isSubscribedTo(t.name)) errors.set(p, ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC);
        else {
          errors.set(p, ErrorCode.NONE);
          if (group.offset(t.name, p) !== undefined) {
            removed.push({ topic: t.name, partition: p });
            records.push(offsetCommitRecord(groupId, t.name, p, null, now));
          }
        }
      }
    }
    if (records.length > 0) {
      try {
        await this.#append(groupId, records);
      } catch (error) {
        return { errorCode: commitWriteError(error), topics: new Map() };
      }
      for (const r of removed) group.setOffset(r.topic, r.partition, null);
    }
    return { errorCode: ErrorCode.NONE, topics: results };
  }
}

// JoinGroup (key 11), versions 0-9.
//
// The request waits until the rebalance completes (or the member's turn is
// answered otherwise). v0 has no rebalance timeout: the session timeout
// serves as both, as in Kafka. MEMBER_ID_REQUIRED only from v4 (KIP-394;
// kafka-python sends v2), static membership (group.instance.id) from v5,
// protocol type and name in the answer from v7, reason from v8, skip
// assignment from v9.
import { JoinGroupApi } from '../../protocol/generated/index.js';
import { defineHandler } from './types.js';

export const joinGroupHandler = defineHandler({
  api: JoinGroupApi,
  minVersion: 0,
  maxVersion: 9,
  async handle(request, { broker, version, header, clientHost, park }) {
    // A JoinGroup usually waits for the other members: it must not hold a
    // queued.max.requests slot meanwhile, or a group larger than the queue
    // could never be read in full.
    park();
    const result = await broker.groups.joinGroup({
      groupId: request.groupId,
      memberId: request.memberId,
      groupInstanceId: version >= 5 ? request.groupInstanceId : null,
      clientId: header.clientId ?? '',
      clientHost: `/${clientHost}`,
      sessionTimeoutMs: request.sessionTimeoutMs,
      rebalanceTimeoutMs: version >= 1 ? request.rebalanceTimeoutMs : request.sessionTimeoutMs,
      protocolType: request.protocolType,
      protocols: request.protocols.map((p) => ({ name: p.name, metadata: Buffer.from(p.metadata) })),
      requireKnownMemberId: version >= 4,
      supportSkippingAssignment: version >= 9,
      reason: version >= 8 ? request.reason : null,
    });
    return {
      throttleTimeMs: 0,
      errorCode: result.errorCode,
      generationId: result.generationId,
      ...(version >= 7 ? { protocolType: result.protocolType } : {}),
      // Before v7 the protocol name is not nullable.
      protocolName: version >= 7 ? result.protocolName : (result.protocolName ?? ''),
      leader: result.leader,
      ...(version >= 9 ? { skipAssignment: result.skipAssignment } : {}),
      memberId: result.memberId,
      members: result.members.map((m) => ({ memberId: m.memberId, groupInstanceId: version >= 5 ? m.groupInstanceId : null, metadata: m.metadata })),
    };
  },
});

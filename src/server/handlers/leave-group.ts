// LeaveGroup (key 13), versions 0-5.
//
// v0-v2 name one member and answer with one error; v3+ carry a batch of
// members (by member id, or by group instance id with an empty member id)
// and answer per member; v5 adds a reason per member.
import { LeaveGroupApi } from '../../protocol/generated/index.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import { defineHandler } from './types.js';

export const leaveGroupHandler = defineHandler({
  api: LeaveGroupApi,
  minVersion: 0,
  maxVersion: 5,
  handle(request, { broker, version }) {
    const leaving =
      version >= 3
        ? request.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, reason: version >= 5 ? m.reason : null }))
        : [{ memberId: request.memberId, groupInstanceId: null, reason: null }];
    const result = broker.groups.leaveGroup(request.groupId, leaving);
    if (version < 3) return { throttleTimeMs: 0, errorCode: result.errorCode !== ErrorCode.NONE ? result.errorCode : (result.members[0] ?? ErrorCode.NONE) };
    return {
      throttleTimeMs: 0,
      errorCode: result.errorCode,
      members: result.members.map((errorCode, i) => ({ memberId: leaving[i]!.memberId, groupInstanceId: leaving[i]!.groupInstanceId, errorCode })),
    };
  },
});

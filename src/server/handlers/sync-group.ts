// SyncGroup (key 14), versions 0-5.
//
// Followers wait for the leader's assignment; the leader's request carries
// it, and every member is answered once it is stored. v3 adds the group
// instance id, v5 the protocol type and name (checked against the group's).
import { SyncGroupApi } from '../../protocol/generated/index.js';
import { defineHandler } from './types.js';

export const syncGroupHandler = defineHandler({
  api: SyncGroupApi,
  minVersion: 0,
  maxVersion: 5,
  async handle(request, { broker, version, park }) {
    park(); // followers wait for the leader's assignment
    const result = await broker.groups.syncGroup({
      groupId: request.groupId,
      generationId: request.generationId,
      memberId: request.memberId,
      groupInstanceId: version >= 3 ? request.groupInstanceId : null,
      protocolType: version >= 5 ? request.protocolType : null,
      protocolName: version >= 5 ? request.protocolName : null,
      assignments: request.assignments.map((a) => ({ memberId: a.memberId, assignment: Buffer.from(a.assignment) })),
    });
    return {
      throttleTimeMs: 0,
      errorCode: result.errorCode,
      ...(version >= 5 ? { protocolType: result.protocolType, protocolName: result.protocolName } : {}),
      assignment: result.assignment,
    };
  },
});

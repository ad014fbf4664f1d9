// Heartbeat (key 12), versions 0-4: keeps a member's session alive; during a
// rebalance the answer is REBALANCE_IN_PROGRESS so the member rejoins.
import { HeartbeatApi } from '../../protocol/generated/index.js';
import { defineHandler } from './types.js';

export const heartbeatHandler = defineHandler({
  api: HeartbeatApi,
  minVersion: 0,
  maxVersion: 4,
  handle(request, { broker, version }) {
    const errorCode = broker.groups.heartbeat(request.groupId, request.memberId, version >= 3 ? request.groupInstanceId : null, request.generationId);
    return { throttleTimeMs: 0, errorCode };
  },
});

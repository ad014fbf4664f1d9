// ListGroups (key 16), versions 0-5: every group this broker coordinates
// (not Dead). v4 filters by state and reports it, v5 filters by group type
// and reports it ("classic": this broker runs only classic groups).
import { ListGroupsApi } from '../../protocol/generated/index.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import { defineHandler } from './types.js';

export const listGroupsHandler = defineHandler({
  api: ListGroupsApi,
  minVersion: 0,
  maxVersion: 5,
  handle(request, { broker, version }) {
    const unavailable = broker.groups.availability;
    if (unavailable !== ErrorCode.NONE) return { throttleTimeMs: 0, errorCode: unavailable, groups: [] };
    // Kafka matches state names without regard to case.
    const states = version >= 4 ? new Set(request.statesFilter.map((s) => s.toLowerCase())) : new Set<string>();
    const types = version >= 5 ? new Set(request.typesFilter.map((s) => s.toLowerCase())) : new Set<string>();
    const groups = broker.groups
      .listGroups()
      .filter((g) => states.size === 0 || states.has(g.state.toLowerCase()))
      .filter(() => types.size === 0 || types.has('classic'))
      .map((g) => ({
        groupId: g.groupId,
        protocolType: g.protocolType,
        ...(version >= 4 ? { groupState: g.state } : {}),
        ...(version >= 5 ? { groupType: 'classic' } : {}),
      }));
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, groups };
  },
});

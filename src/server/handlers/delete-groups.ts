// DeleteGroups (key 42), versions 0-2: deletes empty groups with their
// committed offsets (NON_EMPTY_GROUP while members are active,
// GROUP_ID_NOT_FOUND for unknown groups).
import { DeleteGroupsApi } from '../../protocol/generated/index.js';
import { defineHandler } from './types.js';

export const deleteGroupsHandler = defineHandler({
  api: DeleteGroupsApi,
  minVersion: 0,
  maxVersion: 2,
  async handle(request, { broker }) {
    const results = [];
    for (const groupId of request.groupsNames) results.push({ groupId, errorCode: await broker.groups.deleteGroup(groupId) });
    return { throttleTimeMs: 0, results };
  },
});

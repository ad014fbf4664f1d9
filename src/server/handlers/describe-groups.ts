// DescribeGroups (key 15), versions 0-5.
//
// A group this broker does not know is described as Dead with no error, as
// Kafka's classic coordinator does. Member metadata and assignments are
// sent only for stable groups. Without ACLs every group operation (READ,
// DELETE, DESCRIBE) is authorized when v3+ asks.
import { DescribeGroupsApi } from '../../protocol/generated/index.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import { defineHandler } from './types.js';

const AUTHORIZED_OPERATIONS_OMITTED = -2147483648;
const GROUP_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8); // READ, DELETE, DESCRIBE

export const describeGroupsHandler = defineHandler({
  api: DescribeGroupsApi,
  minVersion: 0,
  maxVersion: 5,
  handle(request, { broker, version }) {
    const unavailable = broker.groups.availability;
    return {
      throttleTimeMs: 0,
      groups: request.groups.map((groupId) => {
        const operations = version >= 3 && request.includeAuthorizedOperations ? GROUP_OPERATIONS : AUTHORIZED_OPERATIONS_OMITTED;
        if (unavailable !== ErrorCode.NONE) {
          return { errorCode: unavailable, groupId, groupState: '', protocolType: '', protocolData: '', members: [], authorizedOperations: operations };
        }
        const g = broker.groups.describeGroup(groupId);
        return {
          errorCode: ErrorCode.NONE,
          groupId,
          groupState: g.state,
          protocolType: g.protocolType,
          protocolData: g.protocolName,
          members: g.members.map((m) => ({
            memberId: m.memberId,
            groupInstanceId: version >= 4 ? m.groupInstanceId : null,
            clientId: m.clientId,
            clientHost: m.clientHost,
            memberMetadata: m.metadata,
            memberAssignment: m.assignment,
          })),
          authorizedOperations: operations,
        };
      }),
    };
  },
});

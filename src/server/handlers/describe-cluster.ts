// DescribeCluster (key 60), versions 0-1 (flexible from v0). None of kafkajs
// 2.2.4 (its describeCluster uses Metadata), librdkafka 2.0.2 or kafka-python
// 2.0.2 sends it; the Java admin client 3.x does.
//
// Answers with this broker (advertised host and port, no rack), the cluster
// id from meta.properties, and this node as the controller. v1 adds
// endpointType: a request for the BROKER endpoints (1) is answered with
// endpointType 1; one for CONTROLLER endpoints (2) gets
// MISMATCHED_ENDPOINT_TYPE (this listener is a broker listener, as in
// Kafka), any other value UNSUPPORTED_ENDPOINT_TYPE.
// Omitted: clusterAuthorizedOperations (no ACLs yet: always -2^31, "not
// provided", even when includeClusterAuthorizedOperations is set, as
// Metadata does).
import { DescribeClusterApi } from '../../protocol/generated/index.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import { defineHandler } from './types.js';


/** DescribeCluster v1 endpoint types. */
const EndpointType = { BROKER: 1, CONTROLLER: 2 } as const;

export const describeClusterHandler = defineHandler({
  api: DescribeClusterApi,
  minVersion: 0,
  maxVersion: 1,
  handle(request, { broker, version }) {
    // endpointType exists only from v1 and is not ignorable: leave it out of v0 answers.
    const endpoint = version >= 1 ? { endpointType: EndpointType.BROKER } : {};
    if (version >= 1 && request.endpointType !== EndpointType.BROKER) {
      const controller = request.endpointType === EndpointType.CONTROLLER;
      return {
        throttleTimeMs: 0,
        errorCode: controller ? ErrorCode.MISMATCHED_ENDPOINT_TYPE : ErrorCode.UNSUPPORTED_ENDPOINT_TYPE,
        errorMessage: controller
          ? 'The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER'
          : `Unsupported endpoint type ${request.endpointType}`,
        ...endpoint,
        clusterId: broker.clusterId,
        controllerId: -1,
        brokers: [],
      };
    }
    const listener = broker.config.advertisedListeners[0]!;
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      ...endpoint,
      clusterId: broker.clusterId,
      controllerId: broker.nodeId,
      brokers: [{ brokerId: broker.nodeId, host: listener.host, port: listener.port, rack: null }],
      clusterAuthorizedOperations: -2147483648,
    };
  },
});

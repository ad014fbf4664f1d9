// FindCoordinator (key 10), versions 0-4.
//
// One node: this broker coordinates every group (key type 0) and every
// transactional id (key type 1). Finding a group coordinator creates
// __consumer_offsets on first use, as Kafka does. v4 batches keys.
// librdkafka turns consumer groups off unless this range includes v0.
import { FindCoordinatorApi, type FindCoordinatorResponseCoordinator } from '../../protocol/generated/index.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import type { Init } from '../../protocol/wire.js';
import { defineHandler } from './types.js';

const KEY_TYPE_GROUP = 0;
const KEY_TYPE_TRANSACTION = 1;

export const findCoordinatorHandler = defineHandler({
  api: FindCoordinatorApi,
  minVersion: 0,
  maxVersion: 4,
  async handle(request, { broker, version }) {
    const listener = broker.config.advertisedListeners[0]!;
    const find = async (key: string): Promise<Init<FindCoordinatorResponseCoordinator>> => {
      const found = { key, nodeId: broker.nodeId, host: listener.host, port: listener.port, errorCode: ErrorCode.NONE, errorMessage: null };
      const failed = (errorCode: number, errorMessage: string) => ({ key, nodeId: -1, host: '', port: -1, errorCode, errorMessage });
      if (request.keyType === KEY_TYPE_TRANSACTION) return found;
      if (request.keyType !== KEY_TYPE_GROUP) return failed(ErrorCode.INVALID_REQUEST, `unknown coordinator key type ${request.keyType}`);
      try {
        await broker.groups.ensureOffsetsTopic();
      } catch (error) {
        return failed(ErrorCode.COORDINATOR_NOT_AVAILABLE, `the offsets topic could not be created: ${(error as Error).message}`);
      }
      return found;
    };
    if (version >= 4) return { throttleTimeMs: 0, coordinators: await Promise.all(request.coordinatorKeys.map(find)) };
    const c = await find(request.key);
    return { throttleTimeMs: 0, errorCode: c.errorCode, errorMessage: c.errorMessage, nodeId: c.nodeId, host: c.host, port: c.port };
  },
});

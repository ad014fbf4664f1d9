// ApiVersions (key 18), versions 0-3.
//
// Answers with the range of every API that has a handler, derived from the
// handlers' own declarations. The response header is always v0 (no tagged
// fields, even for v3) so that clients can read it whatever they sent. A
// version above our maximum is answered by the router with
// UNSUPPORTED_VERSION in a v0 body that still lists our ranges (KIP-511),
// which is how librdkafka and kafkajs fall back.
// Omitted on purpose: supported/finalized features (no KRaft features here).
import { ApiVersionsApi } from '../../protocol/generated/index.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import { defineHandler } from './types.js';

export const apiVersionsHandler = defineHandler({
  api: ApiVersionsApi,
  minVersion: 0,
  maxVersion: 3,
  handle(_request, { advertisedApis }) {
    return { errorCode: ErrorCode.NONE, apiKeys: advertisedApis.map((a) => ({ ...a })), throttleTimeMs: 0 };
  },
});

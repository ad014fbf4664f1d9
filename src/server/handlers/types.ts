// What every API handler is: the versions it implements (the ApiVersions
// answer is derived from these declarations) and a function from a decoded
// request to a response body.
import type { ApiSpec } from '../../protocol/schema.js';
import type { RequestHeader } from '../../protocol/generated/headers.js';
import type { Init } from '../../protocol/wire.js';
import type { FileRegion } from '../../log/log.js';
import type { BrokerState } from '../broker-state.js';

/** Returned by a handler that sends no response (Produce with acks=0). */
export const NO_RESPONSE = Symbol('no response');

/**
 * The request a handler gets is decoded from the frame without copying:
 * its Buffer fields (records, member metadata, assignments) are views of the
 * frame, whose memory is released once the handler's promise settles. A
 * handler copies whatever it keeps beyond that (Buffer.from(view)).
 */
export interface RequestContext {
  readonly broker: BrokerState;
  readonly header: RequestHeader;
  readonly version: number;
  readonly clientHost: string;
  readonly connectionId: number;
  /** What the broker implements, derived from the handlers (ApiVersions answers with it). */
  readonly advertisedApis: readonly { apiKey: number; minVersion: number; maxVersion: number }[];
  /**
   * Record data to send from segment files: a handler puts a placeholder
   * Buffer (see fileRegionPlaceholder) in a records field and maps it here to
   * its region; the router swaps the encoded part for the region (sendfile)
   * and releases every region once the response is handed over.
   */
  readonly fileRegions: Map<Uint8Array, FileRegion>;
  /**
   * Called by a handler before it waits for something other than storage
   * (a rebalance, new data for a long poll): the request stops counting
   * against queued.max.requests, as a request in Kafka's purgatory does.
   */
  park(): void;
}

export interface Handler<Req = unknown, Res = unknown> {
  readonly api: ApiSpec<Req, Res>;
  /** The versions this handler implements (a sub-range of the schema's). */
  readonly minVersion: number;
  readonly maxVersion: number;
  handle(request: Req, context: RequestContext): Promise<Init<Res> | typeof NO_RESPONSE> | Init<Res> | typeof NO_RESPONSE;
}

export function defineHandler<Req, Res>(handler: Handler<Req, Res>): Handler<Req, Res> {
  if (handler.minVersion < handler.api.minVersion || handler.maxVersion > handler.api.maxVersion) {
    throw new Error(`${handler.api.name} handler claims versions outside the schema`);
  }
  return handler;
}

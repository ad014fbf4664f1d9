// Request and response framing on top of the generated codecs.
//
// A frame on the wire is an int32 size followed by a header and a body. The
// header version depends on the API and its version:
//   request header  v0  only ControlledShutdown v0
//                   v1  api_key, api_version, correlation_id, client_id
//                       (int16-length nullable string)
//                   v2  v1 + tagged fields, for flexible API versions; the
//                       client_id keeps its int16 length so that any broker
//                       can read the header of an ApiVersions request
//   response header v0  correlation_id
//                   v1  v0 + tagged fields, for flexible API versions,
//                       except ApiVersions, which always answers with v0 so
//                       that a client can read the error of a version it
//                       sent too high
// Versions above an API's maximum still pick the header by the open-ended
// flexible range, so an ApiVersions v9 request parses and can be answered
// with UNSUPPORTED_VERSION.
import { ApiKey, apiByKey } from './generated/index.js';
import { readRequestHeader, writeRequestHeader, writeResponseHeader, type RequestHeader } from './generated/headers.js';
import type { ApiSpec } from './schema.js';
import { ProtocolDecodeError, Reader, Writer, type Init } from './wire.js';

function isFlexible(api: ApiSpec | undefined, apiVersion: number): boolean {
  return api !== undefined && api.flexibleFrom !== null && apiVersion >= api.flexibleFrom;
}

/** Request header version for `apiKey` at `apiVersion` (1 for an unknown key: its client id is still readable). */
export function requestHeaderVersion(apiKey: number, apiVersion: number): number {
  if (apiKey === ApiKey.ControlledShutdown && apiVersion === 0) return 0;
  return isFlexible(apiByKey(apiKey), apiVersion) ? 2 : 1;
}

/** Response header version for `apiKey` at `apiVersion`. */
export function responseHeaderVersion(apiKey: number, apiVersion: number): number {
  if (apiKey === ApiKey.ApiVersions) return 0;
  return isFlexible(apiByKey(apiKey), apiVersion) ? 1 : 0;
}

export interface RequestFrame {
  header: RequestHeader;
  headerVersion: number;
  /** undefined for an API key this build does not know. */
  api: ApiSpec | undefined;
  /** Positioned at the first byte of the body. */
  reader: Reader;
}

/**
 * Reads the header of one request (`frame` is the bytes after the int32 size).
 * The body is left in `reader`, to be read with `api.request.read(reader, header.requestApiVersion)`
 * once the caller has checked that it supports the version.
 */
export function readRequestFrame(frame: Buffer): RequestFrame {
  const reader = new Reader(frame);
  if (frame.length < 4) reader.fail(`request of ${frame.length} bytes is shorter than api key and version`);
  const apiKey = frame.readInt16BE(0);
  const apiVersion = frame.readInt16BE(2);
  const headerVersion = requestHeaderVersion(apiKey, apiVersion);
  const header = readRequestHeader(reader, headerVersion);
  return { header, headerVersion, api: apiByKey(apiKey), reader };
}

export interface DecodedRequest {
  header: RequestHeader;
  api: ApiSpec;
  body: unknown;
}

/** Reads header and body; throws ProtocolDecodeError for an unknown API key or an unsupported version. */
export function decodeRequest(frame: Buffer): DecodedRequest {
  const { header, api, reader } = readRequestFrame(frame);
  if (api === undefined) throw new ProtocolDecodeError(`unknown api key ${header.requestApiKey}`, 0);
  const version = header.requestApiVersion;
  if (version < api.minVersion || version > api.maxVersion) {
    throw new ProtocolDecodeError(`${api.name} version ${version} is not supported (${api.minVersion}-${api.maxVersion})`, 2);
  }
  return { header, api, body: api.request.read(reader, version) };
}

/**
 * Appends a whole response frame (int32 size, header, body) to `w` and returns
 * `w.finish()`: every part written to `w` so far, ready for writev (large
 * records are referenced, not copied).
 */
export function encodeResponseFrame<Res>(
  api: ApiSpec<unknown, Res>,
  apiVersion: number,
  correlationId: number,
  body: Init<Res>,
  w: Writer = new Writer(),
): Buffer[] {
  const start = w.length;
  const size = w.reserveInt32();
  writeResponseHeader(w, { correlationId }, responseHeaderVersion(api.apiKey, apiVersion));
  api.response.write(w, body, apiVersion);
  w.setInt32(size, w.length - start - 4);
  return w.finish();
}

/** Appends a whole request frame (int32 size, header, body) to `w`; for clients and tests. */
export function encodeRequestFrame<Req>(
  api: ApiSpec<Req, unknown>,
  apiVersion: number,
  correlationId: number,
  clientId: string | null,
  body: Init<Req>,
  w: Writer = new Writer(),
): Buffer[] {
  const start = w.length;
  const size = w.reserveInt32();
  const header: Init<RequestHeader> = { requestApiKey: api.apiKey, requestApiVersion: apiVersion, correlationId, clientId };
  writeRequestHeader(w, header, requestHeaderVersion(api.apiKey, apiVersion));
  api.request.write(w, body, apiVersion);
  w.setInt32(size, w.length - start - 4);
  return w.finish();
}

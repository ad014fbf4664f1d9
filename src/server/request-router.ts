// The request handler thread of Kafka's model, on the JavaScript main
// thread: decodes each frame's header, picks the handler, runs it, encodes
// the response (header and body; the network layer adds the size prefix)
// and hands it back. Requests of one connection are processed one at a time,
// in order, as Kafka does, so pipelined produces append in the order sent;
// different connections proceed concurrently.
//
// Protocol errors: an ApiVersions request above our range is answered with
// UNSUPPORTED_VERSION in a v0 body listing our ranges (KIP-511). Any other
// unknown API, unsupported version or undecodable request closes the
// connection with a log line, as Kafka does.
import { ApiKey } from '../protocol/generated/index.js';
import { writeResponseHeader } from '../protocol/generated/headers.js';
import { readRequestFrame, responseHeaderVersion } from '../protocol/frame.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { Writer } from '../protocol/wire.js';
import type { FileRegion } from '../log/log.js';
import type { Logger } from '../observability/logger.js';
import type { RequestMetrics } from '../observability/metrics.js';
import type { BrokerState } from './broker-state.js';
import { HANDLERS } from './handlers/index.js';
import { NO_RESPONSE, type Handler, type RequestContext } from './handlers/types.js';
import type { NetEvent, NetRequestEvent, ResponsePart } from './native-net.js';

export interface ResponseSink {
  respond(connectionId: number, requestId: number, parts: readonly ResponsePart[] | null): void;
  park(connectionId: number, requestId: number): void;
  /** Called once a request is handled: nothing refers to its frame any more. */
  releaseFrame(frame: Buffer): void;
  closeConnection(connectionId: number): void;
}

export class RequestRouter {
  readonly advertisedApis: { apiKey: number; minVersion: number; maxVersion: number }[];
  #handlers = new Map<number, Handler<any, any>>();
  #connections = new Map<number, Promise<void>>();
  #inFlight = new Set<Promise<void>>();

  constructor(
    private readonly broker: BrokerState,
    private readonly sink: ResponseSink,
    private readonly logger: Logger,
    private readonly metrics: RequestMetrics,
  ) {
    for (const handler of HANDLERS) this.#handlers.set(handler.api.apiKey, handler);
    this.advertisedApis = HANDLERS.map((h) => ({ apiKey: h.api.apiKey, minVersion: h.minVersion, maxVersion: h.maxVersion })).sort(
      (a, b) => a.apiKey - b.apiKey,
    );
  }

  /** Called by the network layer with every frame that arrived since the last call. */
  onEvents(events: NetEvent[]): void {
    for (const event of events) {
      if (event.closed) {
        this.#connections.delete(event.connectionId);
        continue;
      }
      const previous = this.#connections.get(event.connectionId) ?? Promise.resolve();
      const next = previous.then(() => this.#process(event));
      this.#connections.set(event.connectionId, next);
      this.#inFlight.add(next);
      void next.finally(() => {
        this.#inFlight.delete(next);
        if (this.#connections.get(event.connectionId) === next) this.#connections.delete(event.connectionId);
      });
    }
  }

  /** Resolves when every request handed over so far has been answered. */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  async #process(event: NetRequestEvent): Promise<void> {
    const started = performance.now();
    let apiName = 'unknown';
    let failed = false;
    const fileRegions = new Map<Uint8Array, FileRegion>();
    let parked = false;
    try {
      const { header, api, reader } = readRequestFrame(event.frame);
      apiName = api?.name ?? `api-${header.requestApiKey}`;
      const version = header.requestApiVersion;
      const handler = this.#handlers.get(header.requestApiKey);
      if (!handler || version < handler.minVersion || version > handler.maxVersion) {
        if (header.requestApiKey === ApiKey.ApiVersions && handler) {
          // KIP-511: answer in v0 with our ranges so the client can retry.
          this.#send(event, header.correlationId, handler, 0, {
            errorCode: ErrorCode.UNSUPPORTED_VERSION,
            apiKeys: this.advertisedApis,
          }, fileRegions);
          failed = true;
          return;
        }
        failed = true;
        this.logger.warn('Closing connection: unsupported request', {
          client: `${event.clientHost}:${event.clientPort}`,
          api: apiName,
          version,
          clientId: header.clientId,
        });
        this.sink.closeConnection(event.connectionId);
        return;
      }
      const request = handler.api.request.read(reader, version);
      const context: RequestContext = {
        broker: this.broker,
        header,
        version,
        clientHost: event.clientHost,
        connectionId: event.connectionId,
        advertisedApis: this.advertisedApis,
        fileRegions,
        park: () => {
          if (parked) return;
          parked = true;
          this.sink.park(event.connectionId, event.requestId);
        },
      };
      const response = await handler.handle(request, context);
      if (response === NO_RESPONSE) {
        this.sink.respond(event.connectionId, event.requestId, null);
        return;
      }
      this.#send(event, header.correlationId, handler, version, response, fileRegions);
    } catch (error) {
      failed = true;
      this.logger.warn('Closing connection: request could not be handled', {
        client: `${event.clientHost}:${event.clientPort}`,
        api: apiName,
        error: (error as Error).message,
      });
      this.sink.closeConnection(event.connectionId);
    } finally {
      // Handlers copy what they keep (see RequestContext), so the frame can go now.
      this.sink.releaseFrame(event.frame);
      for (const region of fileRegions.values()) region.release();
      this.metrics.record(apiName, (performance.now() - started) * 1000, failed);
    }
  }

  #send(
    event: NetRequestEvent,
    correlationId: number,
    handler: Handler<any, any>,
    version: number,
    body: unknown,
    fileRegions: Map<Uint8Array, FileRegion>,
  ): void {
    const w = new Writer();
    writeResponseHeader(w, { correlationId }, responseHeaderVersion(handler.api.apiKey, version));
    handler.api.response.write(w, body as never, version);
    const parts: ResponsePart[] = w.finish();
    if (fileRegions.size > 0) {
      for (let i = 0; i < parts.length; i++) {
        const region = fileRegions.get(parts[i] as Uint8Array);
        if (region) parts[i] = region;
      }
    }
    this.sink.respond(event.connectionId, event.requestId, parts);
  }
}

// NetServer: the broker's socket server (Kafka's SocketServer), implemented
// by native network threads (native/net/, native/net_binding.cc). This module
// validates options, gives the addon's NetServer its types, and documents
// the contract between the network threads and the JavaScript request
// handlers:
//
//   - Frames arrive in batches: onRequests(batch) is called once per wake-up
//     with every request (and connection-closed event) that arrived since the
//     last call. A request's `frame` is the request bytes after the 4-byte
//     size prefix; the Buffer owns native memory handed over without a copy.
//   - requestId is a per-connection sequence number (0, 1, 2, ...). Responses
//     leave in request order whatever order respond() is called in; a response
//     waits for every earlier request of its connection to be answered.
//   - respond(connectionId, requestId, parts) sends a response made of
//     Buffers and FileRegions (sent with sendfile(2)). The 4-byte size prefix
//     is NOT part of `parts`: the native side writes it (the sum of the part
//     lengths). respond(..., null) sends nothing (Produce with acks=0) but
//     still completes the request. Every request must be answered one way or
//     the other: until it is, it holds one of queuedMaxRequests slots (at the
//     limit the network threads stop reading sockets) and every later
//     response on its connection waits.
//   - Buffers of up to 16 KiB are copied by respond(); larger ones are sent
//     from their own memory, so do not modify a Buffer after handing it over.
//     A FileRegion may be released right after respond(): the native side
//     holds its own reference to the file until the bytes are sent.
//   - When a connection closes (peer, error, idle, oversized frame,
//     closeConnection, stop), its unsent responses are discarded and a
//     {closed: true} event follows its last request event. respond() for a
//     closed connection, or after stop() has settled, does nothing.
//   - stop() stops accepting and reading at once, but keeps each connection
//     until the requests already delivered on it are answered and written
//     (respond() keeps working meanwhile), for at most drainTimeoutMs.
//   - While listening, the server keeps the process alive (as net.Server
//     does); once stop() settles it holds nothing.
import type { NativeFileRegion } from '../native.js';
import { native } from '../native.js';

export interface NetServerOptions {
  /** Address to bind (default '0.0.0.0'; '::' for IPv6/dual stack). Resolved once, at listen(). */
  host?: string;
  /** TCP port; 0 picks an ephemeral one (default 0). */
  port?: number;
  /** num.network.threads (default 3). */
  networkThreads?: number;
  /** socket.request.max.bytes: larger frames close their connection (default 104857600). */
  requestMaxBytes?: number;
  /** queued.max.requests: requests handed to JavaScript and not yet answered, across connections (default 500). */
  queuedMaxRequests?: number;
  /** connections.max.idle.ms: connections with nothing in flight and no bytes read for this long close (default 600000). */
  connectionsMaxIdleMs?: number;
  /** socket.send.buffer.bytes; -1 for the OS default (default 102400). */
  sendBufferBytes?: number;
  /** socket.receive.buffer.bytes; -1 for the OS default (default 102400). */
  receiveBufferBytes?: number;
  /** socket.listen.backlog.size (default 50). */
  backlog?: number;
}

/** A complete request frame. */
export interface NetRequestEvent {
  connectionId: number;
  /** Per-connection sequence number, from 0. */
  requestId: number;
  /** The request bytes after the 4-byte size prefix. */
  frame: Buffer;
  clientHost: string;
  clientPort: number;
  closed?: undefined;
}

/** A connection ended; nothing more arrives for it and respond() for it is ignored. */
export interface NetClosedEvent {
  connectionId: number;
  closed: true;
  /** Why, in a sentence ("peer closed the connection", "idle for longer than ...", ...). */
  reason: string;
}

export type NetEvent = NetRequestEvent | NetClosedEvent;

/** A piece of a response: bytes, or record data from the log sent with sendfile(2). */
export type ResponsePart = Uint8Array | NativeFileRegion;

export interface NetServerAddress {
  host: string;
  port: number;
}

export interface NetServerStats {
  /** Open now. */
  connections: number;
  /** Accepted since listen(). */
  connectionsTotal: number;
  /** Closed by connections.max.idle.ms. */
  connectionsIdleClosed: number;
  /** Requests delivered and not yet answered (at most queuedMaxRequests). */
  queuedRequests: number;
  requestsTotal: number;
  /** Responses written completely (not counting respond(..., null)). */
  responsesTotal: number;
  /** Bytes read, size prefixes included. */
  bytesIn: number;
  /** Bytes written, size prefixes included. */
  bytesOut: number;
  /** Connections closed for a frame size above requestMaxBytes or below 0. */
  framesTooLarge: number;
  /** accept(2) failures other than "try again" (e.g. out of descriptors). */
  acceptErrors: number;
}

export interface StopOptions {
  /** How long to wait for in-flight requests to be answered and written before closing anyway (default 5000). */
  drainTimeoutMs?: number;
}

/** Kafka's defaults for the options above. */
export const NET_SERVER_DEFAULTS = {
  host: '0.0.0.0',
  port: 0,
  networkThreads: 3,
  requestMaxBytes: 104_857_600,
  queuedMaxRequests: 500,
  connectionsMaxIdleMs: 600_000,
  sendBufferBytes: 102_400,
  receiveBufferBytes: 102_400,
  backlog: 50,
} as const satisfies Required<NetServerOptions>;

/** Limits of the native side: threads beyond this are a configuration mistake; frames carry an int32 size. */
export const NETWORK_THREADS_MAX = 256;
const INT32_MAX = 2_147_483_647;
const STOP_DRAIN_MS_DEFAULT = 5000;
const STOP_DRAIN_MS_MAX = 3_600_000;

interface NativeNetServer {
  listen(): Promise<NetServerAddress>;
  /** Queues; the network thread is woken by flushResponses(). */
  respond(connectionId: number, requestId: number, parts: readonly ResponsePart[] | null): void;
  flushResponses(): void;
  park(connectionId: number, requestId: number): void;
  releaseFrame(frame: Buffer): void;
  closeConnection(connectionId: number): void;
  stop(drainMs: number): Promise<void>;
  stats(): NetServerStats;
}

interface NativeNetBinding {
  NetServer: new (options: Required<NetServerOptions>, onRequests: (batch: NetEvent[]) => void) => NativeNetServer;
}

const binding = native as unknown as NativeNetBinding;

function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${typeof value}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

function checkBufferSize(name: string, value: unknown): number {
  const size = checkInteger(name, value, -1, INT32_MAX);
  if (size === 0) throw new RangeError(`${name} must be -1 (OS default) or positive, got 0`);
  return size;
}

/** Fills in Kafka's defaults and rejects anything the native side would not accept. */
export function resolveNetServerOptions(options: NetServerOptions = {}): Required<NetServerOptions> {
  const o = { ...NET_SERVER_DEFAULTS, ...stripUndefined(options) };
  if (typeof o.host !== 'string') throw new TypeError(`host must be a string, got ${typeof o.host}`);
  return {
    host: o.host,
    port: checkInteger('port', o.port, 0, 65535),
    networkThreads: checkInteger('networkThreads (num.network.threads)', o.networkThreads, 1, NETWORK_THREADS_MAX),
    requestMaxBytes: checkInteger('requestMaxBytes (socket.request.max.bytes)', o.requestMaxBytes, 1, INT32_MAX),
    queuedMaxRequests: checkInteger('queuedMaxRequests (queued.max.requests)', o.queuedMaxRequests, 1, INT32_MAX),
    connectionsMaxIdleMs: checkInteger(
      'connectionsMaxIdleMs (connections.max.idle.ms)',
      o.connectionsMaxIdleMs,
      1,
      Number.MAX_SAFE_INTEGER / 8,
    ),
    sendBufferBytes: checkBufferSize('sendBufferBytes (socket.send.buffer.bytes)', o.sendBufferBytes),
    receiveBufferBytes: checkBufferSize('receiveBufferBytes (socket.receive.buffer.bytes)', o.receiveBufferBytes),
    backlog: checkInteger('backlog (socket.listen.backlog.size)', o.backlog, 1, 65535),
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function checkConnectionId(connectionId: number): void {
  if (!Number.isSafeInteger(connectionId) || connectionId < 1) {
    throw new RangeError(`connectionId must be a positive safe integer, got ${connectionId}`);
  }
}

export class NetServer {
  readonly #native: NativeNetServer;
  readonly options: Readonly<Required<NetServerOptions>>;
  #flushScheduled = false;
  // Responses given in one tick (including the promise continuations that
  // run before the next tick) wake each network thread once, not once each.
  readonly #flush = (): void => {
    this.#flushScheduled = false;
    this.#native.flushResponses();
  };

  /** `onRequests` runs on the main thread with every event of one wake-up (never one call per frame). */
  constructor(options: NetServerOptions, onRequests: (batch: NetEvent[]) => void) {
    if (typeof onRequests !== 'function') throw new TypeError('onRequests must be a function');
    this.options = Object.freeze(resolveNetServerOptions(options));
    this.#native = new binding.NetServer(this.options, onRequests);
  }

  /** Binds and starts the threads; rejects with code EADDRINUSE, EACCES, ... if the address is unusable. */
  listen(): Promise<NetServerAddress> {
    return this.#native.listen();
  }

  /**
   * Answers request `requestId` of `connectionId` with the concatenation of
   * `parts` (the size prefix is added natively), or with nothing (null).
   */
  respond(connectionId: number, requestId: number, parts: readonly ResponsePart[] | null): void {
    checkConnectionId(connectionId);
    if (!Number.isSafeInteger(requestId) || requestId < 0) {
      throw new RangeError(`requestId must be a non-negative safe integer, got ${requestId}`);
    }
    this.#native.respond(connectionId, requestId, parts);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      process.nextTick(this.#flush);
    }
  }

  /**
   * The request waits in its handler (a JoinGroup until the rebalance, a
   * long-poll Fetch): its queued.max.requests slot is given back now, so
   * parked requests do not stop the network threads from reading. Kafka
   * bounds the requests waiting for a handler the same way, not those in
   * its purgatory. Its response still goes out in order.
   */
  park(connectionId: number, requestId: number): void {
    checkConnectionId(connectionId);
    this.#native.park(connectionId, requestId);
  }

  /**
   * Frees a request frame's memory now (the frame must not be used after):
   * its ArrayBuffer is detached, so V8 does not have to collect it. Left
   * views read as empty, never as freed memory.
   */
  releaseFrame(frame: Buffer): void {
    this.#native.releaseFrame(frame);
  }

  /** Closes a connection at once, discarding its unsent responses; a closed event follows. */
  closeConnection(connectionId: number): void {
    checkConnectionId(connectionId);
    this.#native.closeConnection(connectionId);
  }

  /**
   * Stops accepting and reading; keeps writing answers to requests already
   * delivered, including answers given after this call, in order, and closes
   * each connection once nothing is in flight on it. After drainTimeoutMs the
   * rest is closed regardless. Closed events for every connection are
   * delivered before the Promise settles; then the threads are gone.
   */
  stop(options: StopOptions = {}): Promise<void> {
    const drainMs = options.drainTimeoutMs ?? STOP_DRAIN_MS_DEFAULT;
    checkInteger('drainTimeoutMs', drainMs, 0, STOP_DRAIN_MS_MAX);
    return this.#native.stop(drainMs);
  }

  stats(): NetServerStats {
    return this.#native.stats();
  }
}

// A tiny raw-socket Kafka client for tests: typed requests through the
// generated codecs (encodeRequestFrame), raw bytes for anything malformed,
// and a view of the broker's byte stream as whole response frames (the
// 4-byte size prefix stripped) or the connection closing. It does no
// version negotiation, retries or reconnects: a test sees exactly what the
// broker did.
import net from 'node:net';

import { encodeRequestFrame, responseHeaderVersion } from '../../src/protocol/frame.js';
import { readResponseHeader } from '../../src/protocol/generated/headers.js';
import type { ApiSpec } from '../../src/protocol/schema.js';
import { Reader, type Init } from '../../src/protocol/wire.js';

/** What the broker did next: sent a response frame, closed the connection, or nothing within the wait. */
export type WireEvent = { kind: 'frame'; frame: Buffer } | { kind: 'closed' } | { kind: 'timeout' };

export interface RequestOptions {
  /** Default 'wire-client'. */
  clientId?: string | null;
  /** How long to wait for the response (default 10 s). */
  timeoutMs?: number;
}

export class WireError extends Error {
  override readonly name = 'WireError';
}

/** Decodes a response frame (size prefix already stripped): the header's correlation id and the body at `version`. */
export function decodeResponse<Res>(api: ApiSpec<unknown, Res>, version: number, frame: Buffer): { correlationId: number; body: Res } {
  const reader = new Reader(frame);
  const header = readResponseHeader(reader, responseHeaderVersion(api.apiKey, version));
  return { correlationId: header.correlationId, body: api.response.read(reader, version) };
}

export class KafkaWireClient {
  /** Local port of the socket: the broker's logs name a connection by it (client=127.0.0.1:<port>). */
  readonly localPort: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #frames: Buffer[] = [];
  #closed = false;
  #wake: (() => void) | undefined;
  #nextCorrelationId = 1;
  /** Bytes received, size prefixes included. */
  bytesReceived = 0;
  /** Set when the broker's byte stream stopped making sense as response frames (the socket is then destroyed). */
  streamError: string | undefined;

  private constructor(readonly socket: net.Socket) {
    this.localPort = socket.localPort ?? -1;
    socket.on('data', (chunk: Buffer) => {
      this.bytesReceived += chunk.length;
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      this.#split();
      this.#notify();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#notify();
    });
    // Resets are an expected way for the broker to close a fuzzed connection.
    socket.on('error', () => undefined);
  }

  static connect(port: number, host = '127.0.0.1', timeoutMs = 10_000): Promise<KafkaWireClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new WireError(`connecting to ${host}:${port} took longer than ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new KafkaWireClient(socket));
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  /** The broker (or we) closed the connection. Frames received before that can still be read. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Response frames received and not yet taken. */
  get pendingFrames(): number {
    return this.#frames.length;
  }

  /** A fresh correlation id (1, 2, 3, ... per client). */
  nextCorrelationId(): number {
    const id = this.#nextCorrelationId;
    this.#nextCorrelationId = (id % 0x7fffffff) + 1;
    return id;
  }

  /** Writes bytes as they are (no framing added). Does nothing once the connection is closed. */
  writeRaw(bytes: Buffer | readonly Buffer[]): void {
    if (this.#closed || this.socket.destroyed) return;
    this.socket.write(Buffer.isBuffer(bytes) ? bytes : Buffer.concat(bytes as Buffer[]));
  }

  /** Sends one well-formed request frame; returns its correlation id. */
  send<Req>(api: ApiSpec<Req, unknown>, version: number, body: Init<Req>, options: RequestOptions = {}): number {
    const correlationId = this.nextCorrelationId();
    const clientId = options.clientId === undefined ? 'wire-client' : options.clientId;
    this.writeRaw(encodeRequestFrame(api, version, correlationId, clientId, body));
    return correlationId;
  }

  /** Sends a request and decodes its response; throws WireError on close, timeout or a correlation id mismatch. */
  async request<Req, Res>(api: ApiSpec<Req, Res>, version: number, body: Init<Req>, options: RequestOptions = {}): Promise<Res> {
    const correlationId = this.send(api, version, body, options);
    const event = await this.next(options.timeoutMs ?? 10_000);
    const what = `${api.name} v${version} (correlation id ${correlationId})`;
    if (event.kind === 'closed') throw new WireError(`the broker closed the connection instead of answering ${what}`);
    if (event.kind === 'timeout') throw new WireError(`no answer to ${what} within ${options.timeoutMs ?? 10_000} ms`);
    const response = decodeResponse(api, version, event.frame);
    if (response.correlationId !== correlationId) {
      throw new WireError(`answer to ${what} carries correlation id ${response.correlationId}`);
    }
    return response.body;
  }

  /**
   * The next response frame if one arrives within `timeoutMs`; 'closed' once
   * the connection is closed and every frame received before has been taken.
   */
  async next(timeoutMs: number): Promise<WireEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = this.#frames.shift();
      if (frame) return { kind: 'frame', frame };
      if (this.#closed) return { kind: 'closed' };
      const left = deadline - Date.now();
      if (left <= 0) return { kind: 'timeout' };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#wake = undefined;
          resolve();
        }, left);
        this.#wake = () => {
          clearTimeout(timer);
          this.#wake = undefined;
          resolve();
        };
      });
    }
  }

  /** Resolves true once the connection is closed, false if it is still open after `timeoutMs`. */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      this.#frames.length = 0;
      await this.next(left);
    }
    return true;
  }

  /** Closes our side at once (RST-free close is not needed by tests). */
  destroy(): void {
    this.socket.destroy();
  }

  #notify(): void {
    this.#wake?.();
  }

  #split(): void {
    while (this.#buffered >= 4) {
      if (this.#chunks.length > 1 && this.#chunks[0]!.length < 4) this.#merge();
      const size = this.#chunks[0]!.readInt32BE(0);
      if (size < 0) {
        // Not a Kafka response stream any more: stop reading and report it.
        this.streamError ??= `response size prefix ${size} is negative`;
        this.#chunks = [];
        this.#buffered = 0;
        this.socket.destroy();
        return;
      }
      if (this.#buffered < 4 + size) return;
      if (this.#chunks.length > 1) this.#merge();
      const all = this.#chunks[0]!;
      this.#frames.push(Buffer.from(all.subarray(4, 4 + size)));
      const rest = all.subarray(4 + size);
      this.#chunks = rest.length > 0 ? [rest] : [];
      this.#buffered = rest.length;
    }
  }

  #merge(): void {
    this.#chunks = [Buffer.concat(this.#chunks, this.#buffered)];
  }
}

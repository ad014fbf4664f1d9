// A minimal Kafka protocol client over one TCP connection, for Gregor's own
// command-line tools: requests are pipelined, responses matched by
// correlation id. It speaks the versions it is asked to, so callers pick them
// from the broker's ApiVersions answer (see negotiate()).
import { connect, type Socket } from 'node:net';

import { encodeRequestFrame, responseHeaderVersion } from '../protocol/frame.js';
import { readResponseHeader } from '../protocol/generated/headers.js';
import { ApiVersionsApi } from '../protocol/generated/index.js';
import type { ApiSpec } from '../protocol/schema.js';
import { Reader, type Init } from '../protocol/wire.js';

/** Refuse responses above this size: a client tool never needs more. */
const RESPONSE_BYTES_MAX = 256 * 1024 * 1024;

interface Pending {
  api: ApiSpec<unknown, unknown>;
  version: number;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

export class WireClient {
  #socket: Socket;
  #buffer: Buffer = Buffer.alloc(0);
  #pending = new Map<number, Pending>();
  #correlation = 0;
  #versions = new Map<number, { min: number; max: number }>();
  #closed: Error | undefined;

  private constructor(socket: Socket, readonly clientId: string) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (error) => this.#fail(error));
    socket.on('close', () => this.#fail(new Error('connection closed by the broker')));
  }

  /** Connects to host:port and learns the broker's API versions. */
  static async connect(bootstrap: string, clientId = 'gregor-cli', timeoutMs = 10_000): Promise<WireClient> {
    const colon = bootstrap.lastIndexOf(':');
    if (colon <= 0) throw new Error(`--bootstrap-server must be host:port, got ${JSON.stringify(bootstrap)}`);
    const host = bootstrap.slice(0, colon).replace(/^\[|\]$/g, '');
    const port = Number(bootstrap.slice(colon + 1));
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host, port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`could not connect to ${bootstrap} within ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`could not connect to ${bootstrap}: ${error.message}`));
      });
    });
    // As every Kafka client: small pipelined requests must not wait for Nagle.
    socket.setNoDelay(true);
    const client = new WireClient(socket, clientId);
    const versions = await client.request(ApiVersionsApi, 0, {});
    if (versions.errorCode !== 0) throw new Error(`ApiVersions failed with error ${versions.errorCode}`);
    for (const k of versions.apiKeys) client.#versions.set(k.apiKey, { min: k.minVersion, max: k.maxVersion });
    return client;
  }

  /** The broker's advertised ranges, from ApiVersions. */
  get brokerVersions(): ReadonlyMap<number, { min: number; max: number }> {
    return this.#versions;
  }

  /** The highest version both sides speak, or an error naming the API. */
  negotiate(api: ApiSpec<unknown, unknown>, clientMax = api.maxVersion): number {
    const broker = this.#versions.get(api.apiKey);
    const version = Math.min(clientMax, broker?.max ?? -1);
    if (!broker || version < broker.min || version < api.minVersion) {
      throw new Error(`the broker does not support ${api.name}`);
    }
    return version;
  }

  request<Req, Res>(api: ApiSpec<Req, Res>, version: number, body: Init<Req>): Promise<Res> {
    if (this.#closed) return Promise.reject(this.#closed);
    const correlationId = ++this.#correlation;
    return new Promise<Res>((resolve, reject) => {
      this.#pending.set(correlationId, {
        api: api as ApiSpec<unknown, unknown>,
        version,
        resolve: resolve as (value: unknown) => void,
        reject,
      });
      for (const part of encodeRequestFrame(api, version, correlationId, this.clientId, body)) this.#socket.write(part);
    });
  }

  close(): void {
    this.#closed ??= new Error('client closed');
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    while (this.#buffer.length >= 4) {
      const size = this.#buffer.readInt32BE(0);
      if (size < 0 || size > RESPONSE_BYTES_MAX) {
        this.#fail(new Error(`broker sent a response of ${size} bytes`));
        this.#socket.destroy();
        return;
      }
      if (this.#buffer.length < 4 + size) return;
      const frame = this.#buffer.subarray(4, 4 + size);
      this.#buffer = this.#buffer.subarray(4 + size);
      const correlationId = frame.readInt32BE(0);
      const pending = this.#pending.get(correlationId);
      if (!pending) continue;
      this.#pending.delete(correlationId);
      try {
        const reader = new Reader(frame);
        readResponseHeader(reader, responseHeaderVersion(pending.api.apiKey, pending.version));
        pending.resolve(pending.api.response.read(reader, pending.version));
      } catch (error) {
        pending.reject(error as Error);
      }
    }
  }

  #fail(error: Error): void {
    this.#closed ??= error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}

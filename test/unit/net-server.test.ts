// The native network layer (NetServer) driven by plain node:net clients:
// framing, batching, ordering, sendfile responses, limits, backpressure,
// idle and stop behaviour. Timing is never asserted, only behaviour.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { encodeRecordBatch, openLog, type Log } from '../../src/index.js';
import { NetServer, type NetEvent, type NetRequestEvent, type NetServerOptions } from '../../src/server/native-net.js';
import { makeTempDir, removeTempDir } from '../support/log-test-helpers.js';

/** `payload` with its 4-byte big-endian size prefix, as a Kafka client frames a request. */
function framed(payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length);
  return Buffer.concat([size, body]);
}

function reversed(bytes: Buffer): Buffer {
  return Buffer.from(bytes).reverse();
}

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A node:net client that splits the server's byte stream back into frames. */
class Client {
  readonly frames: Buffer[] = [];
  closed = false;
  #pending = Buffer.alloc(0);

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.#pending = Buffer.concat([this.#pending, chunk]);
      while (this.#pending.length >= 4) {
        const size = this.#pending.readInt32BE(0);
        if (this.#pending.length < 4 + size) break;
        this.frames.push(Buffer.from(this.#pending.subarray(4, 4 + size)));
        this.#pending = this.#pending.subarray(4 + size);
      }
    });
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined); // resets are expected in some tests
  }

  static connect(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => resolve(new Client(socket)));
      socket.once('error', reject);
    });
  }

  send(...payloads: (Buffer | string)[]): void {
    this.socket.write(Buffer.concat(payloads.map(framed)));
  }

  async waitForFrames(count: number, timeoutMs = 10_000): Promise<Buffer[]> {
    await waitFor(`${count} response frames (have ${this.frames.length})`, () => this.frames.length >= count, timeoutMs);
    return this.frames.slice(0, count);
  }

  waitForClose(timeoutMs = 10_000): Promise<void> {
    return waitFor('the connection to close', () => this.closed, timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

type Handler = (event: NetRequestEvent, server: NetServer) => void;

interface Harness {
  server: NetServer;
  port: number;
  requests: NetRequestEvent[];
  closed: Map<number, string>;
  batches: number;
}

const running: NetServer[] = [];
const clients: Client[] = [];
const tempDirs: string[] = [];
const logs: Log[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  await Promise.all(running.splice(0).map((server) => server.stop({ drainTimeoutMs: 0 })));
  for (const log of logs.splice(0)) await log.close();
  for (const dir of tempDirs.splice(0)) removeTempDir(dir);
});

const echoReversed: Handler = (event, server) =>
  server.respond(event.connectionId, event.requestId, [reversed(event.frame)]);

async function start(options: NetServerOptions = {}, handler: Handler | null = echoReversed): Promise<Harness> {
  const harness = { requests: [], closed: new Map(), batches: 0 } as unknown as Harness;
  harness.server = new NetServer({ host: '127.0.0.1', port: 0, networkThreads: 2, ...options }, (batch: NetEvent[]) => {
    harness.batches++;
    for (const event of batch) {
      if (event.closed) {
        harness.closed.set(event.connectionId, event.reason);
      } else {
        harness.requests.push(event);
        handler?.(event, harness.server);
      }
    }
  });
  running.push(harness.server);
  harness.port = (await harness.server.listen()).port;
  return harness;
}

async function connect(port: number): Promise<Client> {
  const client = await Client.connect(port);
  clients.push(client);
  return client;
}

describe('framing and batching', () => {
  it('answers many frames sent in one TCP write, in order, through batched onRequests calls', async () => {
    // Proves that one write holding many frames is split natively into frames, delivered in batches (not one call per frame).
    const h = await start();
    const client = await connect(h.port);
    const payloads = Array.from({ length: 300 }, (_, i) => `request-${i}-${'x'.repeat(i % 50)}`);
    client.send(...payloads);
    const frames = await client.waitForFrames(payloads.length);
    expect(frames.map((f) => reversed(f).toString())).toEqual(payloads);
    expect(h.requests.map((r) => r.requestId)).toEqual(payloads.map((_, i) => i));
    expect(h.batches).toBeLessThan(payloads.length);
    expect(h.requests[0]!.clientHost).toBe('127.0.0.1');
    expect(h.requests[0]!.clientPort).toBe(client.socket.localPort);
  });

  it('releases a handled frame at once: its memory is detached, and buffers it does not own are left alone', async () => {
    const seen: { afterPartial: number; afterRelease: number; viewAfter: number; pooled: string }[] = [];
    const h = await start({}, (event, server) => {
      const view = event.frame.subarray(1); // a view that does not own its ArrayBuffer
      const copy = Buffer.from(event.frame);
      server.respond(event.connectionId, event.requestId, [copy]);
      server.releaseFrame(view);
      const afterPartial = event.frame.length; // not detached through a partial view
      server.releaseFrame(event.frame);
      const pooled = Buffer.from('small'); // Node's pool: other Buffers share its ArrayBuffer
      server.releaseFrame(pooled);
      seen.push({ afterPartial, afterRelease: event.frame.length, viewAfter: view.length, pooled: pooled.toString() });
    });
    const client = await connect(h.port);
    client.send('first frame', 'second frame');
    const frames = await client.waitForFrames(2);
    expect(frames.map((f) => f.toString())).toEqual(['first frame', 'second frame']);
    // Views of a released frame read as empty, never as freed memory.
    expect(seen).toEqual([
      { afterPartial: 11, afterRelease: 0, viewAfter: 0, pooled: 'small' },
      { afterPartial: 12, afterRelease: 0, viewAfter: 0, pooled: 'small' },
    ]);
  });

  it('assembles a frame that arrives one byte per TCP write', async () => {
    // Proves that partial size prefixes and bodies are carried across reads until the frame is whole.
    const h = await start();
    const client = await connect(h.port);
    const bytes = Buffer.concat([framed('split-across-many-writes'), framed('')]);
    for (const byte of bytes) {
      client.socket.write(Buffer.of(byte));
      await sleep(1);
    }
    const frames = await client.waitForFrames(2);
    expect(reversed(frames[0]!).toString()).toBe('split-across-many-writes');
    expect(frames[1]!.length).toBe(0);
    expect(h.requests.map((r) => r.frame.toString())).toEqual(['split-across-many-writes', '']);
  });

  it('delivers a large frame whole and echoes a large response', async () => {
    // Proves that multi-megabyte frames (read straight into their buffer) and responses (referenced, not copied) round-trip intact.
    const h = await start();
    const client = await connect(h.port);
    const big = Buffer.alloc(5 * 1024 * 1024 + 13);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7 + 3) & 0xff;
    client.send(big, 'after');
    const frames = await client.waitForFrames(2, 30_000);
    expect(reversed(frames[0]!).equals(big)).toBe(true);
    expect(reversed(frames[1]!).toString()).toBe('after');
  });
});

describe('responses', () => {
  it('sends FileRegion parts with sendfile: the client receives the header and exactly the log bytes', async () => {
    // Proves that a response of [Buffer, FileRegion] carries the log's bytes as log.read returns them, for a region larger than the socket buffers.
    const dir = makeTempDir('gregor-net-');
    tempDirs.push(dir);
    const log = await openLog(join(dir, 'topic-0'), {}, { ioThreads: 1 });
    logs.push(log);
    for (let i = 0; i < 48; i++) {
      const records = Array.from({ length: 4 }, (_, r) => ({ key: `k${i}-${r}`, value: Buffer.alloc(16 * 1024, i + r) }));
      await log.append(encodeRecordBatch(records, { timestamp: 1_700_000_000_000 + i }));
    }
    const expected = await log.read(0, 1 << 22);
    const header = Buffer.from('response-header:');
    const h = await start({}, (event, server) => {
      void log.readRegion(0, 1 << 22).then((region) => {
        server.respond(event.connectionId, event.requestId, [header, region!]);
        region!.release(); // the native side holds its own reference until sent
      });
    });
    const client = await connect(h.port);
    client.send('fetch', 'fetch-again');
    const frames = await client.waitForFrames(2, 30_000);
    expect(expected.length).toBeGreaterThan(1 << 21);
    for (const frame of frames) {
      expect(frame.length).toBe(header.length + expected.length);
      expect(frame.equals(Buffer.concat([header, expected]))).toBe(true);
    }
  });

  it('keeps request order on a connection when JavaScript answers pipelined requests out of order', async () => {
    // Proves that a later response waits natively for every earlier one on its connection.
    const held: NetRequestEvent[] = [];
    const h = await start({}, (event) => held.push(event));
    const client = await connect(h.port);
    const payloads = Array.from({ length: 20 }, (_, i) => `pipelined-${i}`);
    client.send(...payloads);
    await waitFor('all requests', () => held.length === payloads.length);
    const order = held.map((_, i) => i).sort((a, b) => ((a * 7919) % 20) - ((b * 7919) % 20));
    for (const i of order.reverse()) {
      const event = held[i]!;
      h.server.respond(event.connectionId, event.requestId, [Buffer.from(`answer-`), event.frame]);
      await sleep(1);
    }
    const frames = await client.waitForFrames(payloads.length);
    expect(frames.map((f) => f.toString())).toEqual(payloads.map((p) => `answer-${p}`));
  });

  it('respond(null) sends nothing for that request while later responses still arrive', async () => {
    // Proves that a dropped response (acks=0) frees its place in the order without a frame on the wire.
    const h = await start({}, (event, server) => {
      const text = event.frame.toString();
      server.respond(event.connectionId, event.requestId, text.startsWith('drop') ? null : [Buffer.from(text)]);
    });
    const client = await connect(h.port);
    client.send('keep-0', 'drop-1', 'drop-2', 'keep-3', 'keep-4', 'drop-5');
    client.send('keep-6');
    const frames = await client.waitForFrames(4);
    await sleep(50);
    expect(client.frames.map((f) => f.toString())).toEqual(['keep-0', 'keep-3', 'keep-4', 'keep-6']);
    expect(frames.length).toBe(4);
    expect(h.server.stats().queuedRequests).toBe(0);
  });

  it('ignores respond() for unknown, repeated and closed requests', async () => {
    // Proves that stray respond calls cannot corrupt a connection's stream.
    const h = await start({}, (event, server) => {
      server.respond(event.connectionId, event.requestId + 1000, [Buffer.from('stray')]);
      server.respond(event.connectionId, event.requestId, [Buffer.from('real')]);
      server.respond(event.connectionId, event.requestId, [Buffer.from('twice')]);
      server.respond(999_999, 0, [Buffer.from('nobody')]);
    });
    const client = await connect(h.port);
    client.send('a', 'b');
    await client.waitForFrames(2);
    await sleep(50);
    expect(client.frames.map((f) => f.toString())).toEqual(['real', 'real']);
    expect(() => h.server.respond(1, 0, [{ fd: 1, position: 0, length: 1 } as never])).toThrow(TypeError);
  });

  it('lets a client that half-closes after its requests still read the responses', async () => {
    // Proves that EOF from the peer waits for in-flight responses before the connection closes.
    const h = await start({}, (event, server) => {
      setTimeout(() => server.respond(event.connectionId, event.requestId, [reversed(event.frame)]), 50);
    });
    const client = await connect(h.port);
    client.send('one', 'two');
    client.socket.end();
    const frames = await client.waitForFrames(2);
    expect(frames.map((f) => reversed(f).toString())).toEqual(['one', 'two']);
    await client.waitForClose();
    await waitFor('closed event', () => h.closed.size === 1);
  });
});

describe('limits', () => {
  it('closes only the connection that announces a frame above requestMaxBytes (or a negative size)', async () => {
    // Proves that socket.request.max.bytes is enforced per connection, before allocation, without disturbing others.
    const h = await start({ requestMaxBytes: 1024 });
    const good = await connect(h.port);
    const oversized = await connect(h.port);
    const negative = await connect(h.port);
    good.send('before');
    await good.waitForFrames(1);
    const header = Buffer.alloc(4);
    header.writeInt32BE(2_000_000_000);
    oversized.socket.write(header);
    negative.socket.write(Buffer.from([0xff, 0xff, 0xff, 0xfe]));
    await oversized.waitForClose();
    await negative.waitForClose();
    good.send('x'.repeat(1024), 'after');
    const frames = await good.waitForFrames(3);
    expect(reversed(frames[2]!).toString()).toBe('after');
    expect(good.closed).toBe(false);
    await waitFor('closed events', () => h.closed.size === 2);
    const reasons = [...h.closed.values()].sort();
    expect(reasons).toEqual([
      'invalid request size -2',
      'request of 2000000000 bytes exceeds socket.request.max.bytes (1024)',
    ]);
    expect(h.server.stats().framesTooLarge).toBe(2);
  });

  it('stops reading at queuedMaxRequests unanswered requests and resumes as responses come back', async () => {
    // Proves the global backpressure: JavaScript never holds more than queuedMaxRequests requests, the server stops reading (the clients' writes back up), and everything flows once answered.
    const held: NetRequestEvent[] = [];
    let maxOutstanding = 0;
    let answerAtOnce = false;
    const h = await start({ queuedMaxRequests: 4, receiveBufferBytes: 16 * 1024 }, (event, server) => {
      if (answerAtOnce) {
        server.respond(event.connectionId, event.requestId, [Buffer.from(event.frame.subarray(0, 16))]);
        return;
      }
      held.push(event);
      maxOutstanding = Math.max(maxOutstanding, held.length);
    });
    const a = await connect(h.port);
    const b = await connect(h.port);
    const perClient = 1200;
    const frameBytes = 8 * 1024;
    const payload = (tag: string, i: number) => `${tag}-${i}-`.padEnd(frameBytes, '.');
    for (let i = 0; i < perClient; i++) {
      a.send(payload('a', i));
      b.send(payload('b', i));
    }
    await waitFor('the first 4 requests', () => held.length === 4);
    await sleep(200);
    expect(held.length).toBe(4);
    expect(h.server.stats().queuedRequests).toBe(4);
    // ~19 MB were written; the server stopped reading after a few frames, so nearly all of it waits in the clients and the kernel.
    expect(h.server.stats().bytesIn).toBeLessThan(1024 * 1024);
    expect(a.socket.writableLength + b.socket.writableLength).toBeGreaterThan(0);

    answerAtOnce = true;
    for (const event of held.splice(0)) {
      h.server.respond(event.connectionId, event.requestId, [Buffer.from(event.frame.subarray(0, 16))]);
    }
    const framesA = await a.waitForFrames(perClient, 30_000);
    const framesB = await b.waitForFrames(perClient, 30_000);
    expect(framesA.map((f) => f.toString().split('-')[1])).toEqual(Array.from({ length: perClient }, (_, i) => `${i}`));
    expect(framesB.map((f) => f.toString().split('-')[1])).toEqual(Array.from({ length: perClient }, (_, i) => `${i}`));
    expect(maxOutstanding).toBeLessThanOrEqual(4);
    expect(h.server.stats().queuedRequests).toBe(0);
    expect(h.server.stats().bytesIn).toBe(2 * perClient * (4 + frameBytes));
  });

  it('reads at most 100 unanswered requests from one connection without blocking the others', async () => {
    // Proves the per-connection in-flight bound (kInFlightRequestsMax): a pipelining client is paused alone and resumes as its responses leave.
    const held: NetRequestEvent[] = [];
    let answerAtOnce = false;
    const h = await start({ queuedMaxRequests: 1000 }, (event, server) => {
      if (answerAtOnce) server.respond(event.connectionId, event.requestId, [event.frame]);
      else held.push(event);
    });
    const client = await connect(h.port);
    client.send(...Array.from({ length: 300 }, (_, i) => `r${i}`));
    await waitFor('100 requests', () => held.length === 100);
    await sleep(200);
    expect(held.length).toBe(100);
    const other = await connect(h.port);
    other.send('other');
    await waitFor('the other connection', () => held.length === 101);
    answerAtOnce = true;
    for (const event of held.splice(0)) h.server.respond(event.connectionId, event.requestId, [event.frame]);
    const frames = await client.waitForFrames(300);
    expect(frames.map((f) => f.toString())).toEqual(Array.from({ length: 300 }, (_, i) => `r${i}`));
    expect((await other.waitForFrames(1))[0]!.toString()).toBe('other');
  });

  it('closes idle connections, but not one whose request is still unanswered', async () => {
    // Proves connections.max.idle.ms: no request in flight and no bytes read for that long closes the connection.
    const held: NetRequestEvent[] = [];
    const h = await start({ connectionsMaxIdleMs: 200 }, (event) => held.push(event));
    const idle = await connect(h.port);
    const busy = await connect(h.port);
    busy.send('slow request');
    await idle.waitForClose();
    await waitFor('the request', () => held.length === 1);
    await sleep(500);
    expect(busy.closed).toBe(false);
    h.server.respond(held[0]!.connectionId, held[0]!.requestId, [Buffer.from('done')]);
    await busy.waitForFrames(1);
    await busy.waitForClose();
    await waitFor('closed events', () => h.closed.size === 2);
    expect([...h.closed.values()]).toEqual([
      'idle for longer than connections.max.idle.ms (200 ms)',
      'idle for longer than connections.max.idle.ms (200 ms)',
    ]);
    expect(h.server.stats().connectionsIdleClosed).toBe(2);
  });

  it('serves 200 connections opened at once', async () => {
    // Proves that the acceptor and the round-robin distribution handle a burst of connections.
    const h = await start({ backlog: 512, networkThreads: 3 });
    const all = await Promise.all(Array.from({ length: 200 }, () => connect(h.port)));
    all.forEach((client, i) => client.send(`client-${i}`));
    await Promise.all(all.map((client) => client.waitForFrames(1)));
    all.forEach((client, i) => expect(reversed(client.frames[0]!).toString()).toBe(`client-${i}`));
    expect(h.server.stats().connections).toBe(200);
    expect(new Set(h.requests.map((r) => r.connectionId)).size).toBe(200);
  });
});

describe('closing and stopping', () => {
  it('closeConnection closes that connection and discards its pending responses', async () => {
    // Proves that JavaScript can drop a connection and gets a closed event for it.
    const held: NetRequestEvent[] = [];
    const h = await start({}, (event) => held.push(event));
    const client = await connect(h.port);
    const other = await connect(h.port);
    client.send('a', 'b');
    other.send('c');
    await waitFor('requests', () => held.length === 3);
    const id = held.find((event) => event.frame.toString() === 'a')!.connectionId;
    h.server.closeConnection(id);
    await client.waitForClose();
    await waitFor('closed event', () => h.closed.has(id));
    expect(h.closed.get(id)).toBe('closed by the server');
    expect(h.server.stats().queuedRequests).toBe(1); // the other connection's request
    for (const event of held) h.server.respond(event.connectionId, event.requestId, [Buffer.from('late')]);
    expect((await other.waitForFrames(1))[0]!.toString()).toBe('late');
    expect(client.frames.length).toBe(0);
  });

  it('stop() stops reading but still sends answers to delivered requests, then closes everything', async () => {
    // Proves graceful stop: nothing new is read, in-flight requests answered before or during the drain leave in order, closed events precede the resolution.
    const held: NetRequestEvent[] = [];
    const h = await start({}, (event) => held.push(event));
    const client = await connect(h.port);
    const quiet = await connect(h.port);
    client.send('first', 'second');
    await waitFor('requests', () => held.length === 2);
    h.server.respond(held[0]!.connectionId, held[0]!.requestId, [Buffer.alloc(64 * 1024, 7)]);
    const stopped = h.server.stop();
    client.send('sent-after-stop');
    await sleep(50);
    h.server.respond(held[1]!.connectionId, held[1]!.requestId, [Buffer.from('answered during the drain')]);
    await stopped;
    expect([...h.closed.values()]).toEqual(['server stopping', 'server stopping']);
    expect(held.length).toBe(2); // the request sent after stop() was never read
    await client.waitForClose();
    await quiet.waitForClose();
    expect(client.frames.length).toBe(2);
    expect(client.frames[0]!.equals(Buffer.alloc(64 * 1024, 7))).toBe(true);
    expect(client.frames[1]!.toString()).toBe('answered during the drain');
    expect(h.server.stats().connections).toBe(0);
    expect(h.server.stats().queuedRequests).toBe(0);
    h.server.respond(held[1]!.connectionId, held[1]!.requestId, null); // no-op once stopped
    await h.server.stop(); // idempotent
    await expect(Client.connect(h.port)).rejects.toThrow();
  });

  it('stop() closes connections whose requests stay unanswered once drainTimeoutMs passes', async () => {
    // Proves that the drain is bounded: an unanswered request cannot hold stop() open.
    const held: NetRequestEvent[] = [];
    const h = await start({}, (event) => held.push(event));
    const client = await connect(h.port);
    client.send('never answered');
    await waitFor('the request', () => held.length === 1);
    await h.server.stop({ drainTimeoutMs: 100 });
    expect([...h.closed.values()]).toEqual(['server stopping']);
    await client.waitForClose();
    expect(client.frames.length).toBe(0);
    expect(h.server.stats().queuedRequests).toBe(0);
  });

  it('rejects listen() on a port in use with EADDRINUSE', async () => {
    // Proves that bind failures surface as a rejected Promise with a Node-style code.
    const h = await start();
    const second = new NetServer({ host: '127.0.0.1', port: h.port }, () => undefined);
    await expect(second.listen()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await second.stop();
  });

  it('validates options with TypeError and RangeError', () => {
    // Proves that bad configuration is rejected in TypeScript with the Kafka name in the message.
    expect(() => new NetServer({ networkThreads: 0 }, () => undefined)).toThrow(/num\.network\.threads/);
    expect(() => new NetServer({ requestMaxBytes: 2 ** 31 }, () => undefined)).toThrow(RangeError);
    expect(() => new NetServer({ port: 'x' as never }, () => undefined)).toThrow(TypeError);
    expect(() => new NetServer({ sendBufferBytes: 0 }, () => undefined)).toThrow(RangeError);
  });
});

describe('robustness', () => {
  /** Deterministic pseudo-random integers (a small LCG), so failures reproduce. */
  function lcg(seed: number): () => number {
    let state = seed >>> 0;
    return () => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return state;
    };
  }

  it('survives peers that send garbage, lie about sizes, reset or vanish mid-frame', async () => {
    // Proves that malformed peers only ever cost their own connection: the server keeps serving a well-behaved client.
    const h = await start({ requestMaxBytes: 64 * 1024, networkThreads: 3 });
    const random = lcg(20_240_601);
    const good = await connect(h.port);
    for (let round = 0; round < 60; round++) {
      const peer = await Client.connect(h.port);
      const parts: Buffer[] = [];
      for (let i = random() % 6; i >= 0; i--) {
        const kind = random() % 4;
        if (kind === 0) parts.push(framed(Buffer.alloc(random() % 3000, round)));
        if (kind === 1) parts.push(Buffer.from(Array.from({ length: random() % 64 }, () => random() & 0xff)));
        if (kind === 2) parts.push(framed(Buffer.alloc(4000, 1)).subarray(0, random() % 4000)); // cut short
        if (kind === 3) parts.push(Buffer.from([random() & 0xff, random() & 0xff, random() & 0xff, random() & 0xff]));
      }
      peer.socket.write(Buffer.concat(parts));
      const ending = random() % 3;
      if (ending === 0) peer.socket.resetAndDestroy();
      else if (ending === 1) peer.socket.end();
      else setTimeout(() => peer.destroy(), random() % 20);
      good.send(`still-here-${round}`);
    }
    const frames = await good.waitForFrames(60);
    expect(frames.map((f) => reversed(f).toString())).toEqual(Array.from({ length: 60 }, (_, i) => `still-here-${i}`));
    await waitFor('garbage connections to close', () => h.server.stats().connections === 1);
    expect(good.closed).toBe(false);
    expect(h.server.stats().queuedRequests).toBe(0);
  });

  it('closes the connection when a file region turns out shorter than announced (truncated segment)', async () => {
    // Proves that a region whose file shrank under it ends the connection (its size prefix is already out) instead of hanging or crashing.
    const dir = makeTempDir('gregor-net-');
    tempDirs.push(dir);
    const log = await openLog(join(dir, 'topic-0'), {}, { ioThreads: 1 });
    logs.push(log);
    await log.append(encodeRecordBatch([{ value: Buffer.alloc(1000, 1) }], { timestamp: 1_700_000_000_000 }));
    await log.append(encodeRecordBatch([{ value: Buffer.alloc(1000, 2) }], { timestamp: 1_700_000_000_001 }));
    const region = (await log.readRegion(0, 1 << 20))!;
    await log.truncateTo(1); // cuts the second batch off the region's file
    const h = await start({}, (event, server) => server.respond(event.connectionId, event.requestId, [Buffer.from('hdr'), region]));
    const client = await connect(h.port);
    client.send('fetch');
    await client.waitForClose();
    await waitFor('closed event', () => h.closed.size === 1);
    expect([...h.closed.values()][0]).toMatch(/^file region ended \d+ bytes early/);
    expect(client.frames.length).toBe(0);
  });
});

describe('process lifetime', () => {
  const addonPath =
    process.env.GREGOR_NATIVE_ADDON ?? join(import.meta.dirname, '..', '..', 'build', 'Release', 'gregor_native.node');
  // A child process with the raw addon: a listening server keeps it alive, stop() lets it exit, and
  // exiting while listening (with busy connections) goes through the environment cleanup hook.
  const childSource = `
    const net = require('node:net');
    const { NetServer } = require(${JSON.stringify(addonPath)});
    const mode = process.argv[1];
    const options = { host: '127.0.0.1', port: 0, networkThreads: 2, requestMaxBytes: 100, queuedMaxRequests: 10,
      connectionsMaxIdleMs: 60000, sendBufferBytes: -1, receiveBufferBytes: -1, backlog: 50 };
    const server = new NetServer(options, (batch) => {
      for (const e of batch) if (!e.closed && e.frame.toString() === 'ping') server.respond(e.connectionId, e.requestId, [Buffer.from('pong')]);
    });
    server.listen().then(({ port }) => {
      const client = net.connect(port, '127.0.0.1', () => {
        client.write(Buffer.from([0, 0, 0, 4, 0x70, 0x69, 0x6e, 0x67]));
        client.write(Buffer.from([0, 0, 0, 9, 1, 2, 3])); // incomplete: stays in flight
      });
      const tooBig = net.connect(port, '127.0.0.1', () => tooBig.write(Buffer.from([0, 0, 1, 0])));
      tooBig.on('error', () => {});
      client.on('error', () => {});
      client.once('data', () => {
        // Unref'd: it fires only if the listening server keeps the process alive.
        setTimeout(() => {
          console.log('alive while listening');
          if (mode === 'exit') process.exit(0);
          server.stop().then(() => { client.destroy(); tooBig.destroy(); console.log('stopped'); });
        }, 300).unref();
      });
    });
  `;

  function runChild(mode: string): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', childSource, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr });
      });
    });
  }

  it('keeps the process alive while listening and lets it exit by itself after stop()', async () => {
    // Proves there is no dangling handle: once stop() settles, the event loop empties and the process ends with code 0.
    const result = await runChild('stop');
    expect(result.signal).toBeNull();
    expect(result.stdout).toBe('alive while listening\nstopped\n');
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(
      /gregor: closing connection from 127\.0\.0\.1:\d+: request of 256 bytes exceeds socket\.request\.max\.bytes \(100\)\n/,
    );
  });

  it('survives process.exit() while listening with open connections', async () => {
    // Proves that the environment cleanup hook stops the network threads without a crash.
    const result = await runChild('exit');
    expect(result.signal).toBeNull();
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('alive while listening\n');
  });
});

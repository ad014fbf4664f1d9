// Bad input on the wire: one in-process broker is fed random and mutated
// request frames on raw sockets while a separate "canary" connection keeps
// doing ApiVersions, Metadata, Produce and Fetch round trips.
//
// Property, for every frame as the broker frames the byte stream: the broker
// answers with the frame's correlation id, or closes the connection. Frames
// the router cannot accept (header or body undecodable, unknown API,
// unsupported version, size prefix outside 0..socket.request.max.bytes) must
// close it; Produce with acks=0 must get no answer; ApiVersions above its
// range gets UNSUPPORTED_VERSION. Silence on an open connection for longer
// than FRAME_TIMEOUT_MS is a failure, and so are a crash, the canary failing
// or slowing past its timeout, its data changing, or RSS growing by 1 GiB.
//
// Deterministic: GREGOR_FUZZ_SEED (printed at start; random when unset)
// fixes every byte each worker sends. GREGOR_FUZZ_FRAMES (default 3000) and
// GREGOR_FUZZ_SECONDS (default 20) bound the run, whichever comes first.
// A failure prints the seed, the bytes sent on the connection (hex) and the
// broker's log lines for that connection.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { crc32c, decodeRecordBatches, encodeRecordBatch, startBroker, type RunningBroker } from '../../src/index.js';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import { encodeRequestFrame, readRequestFrame, requestHeaderVersion } from '../../src/protocol/frame.js';
import {
  API_TABLE,
  AlterConfigsApi,
  ApiKey,
  ApiVersionsApi,
  CreatePartitionsApi,
  CreateTopicsApi,
  DeleteRecordsApi,
  DeleteTopicsApi,
  DescribeClusterApi,
  DescribeConfigsApi,
  DescribeLogDirsApi,
  FetchApi,
  IncrementalAlterConfigsApi,
  ListOffsetsApi,
  MetadataApi,
  ProduceApi,
  apiByKey,
  type AlterConfigsRequest,
  type CreatePartitionsRequest,
  type CreateTopicsRequest,
  type FetchRequest,
  type IncrementalAlterConfigsRequest,
  type MetadataRequest,
  type ProduceRequest,
} from '../../src/protocol/generated/index.js';
import type { ApiSpec } from '../../src/protocol/schema.js';
import { Reader, Writer, ZERO_UUID, type Init } from '../../src/protocol/wire.js';
import { Logger } from '../../src/observability/logger.js';
import { KafkaWireClient, decodeResponse } from '../support/kafka-wire-client.js';

const REQUEST_MAX_BYTES = 1_048_576;
/** Longest a frame may go without an answer or a close (fuzzed Fetch waits are clamped far below it). */
const FRAME_TIMEOUT_MS = 5_000;
/** Fuzzed Fetch requests have maxWaitMs clamped to this (the broker honours any int32 wait, as Kafka does). */
const FETCH_WAIT_MAX_MS = 500;
/** Each canary request must be answered within this. */
const CANARY_TIMEOUT_MS = 5_000;
const RSS_GROWTH_MAX = 1024 * 1024 * 1024;
const FUZZ_WORKERS = 3;
/**
 * Frames that would create more partitions than this (CreateTopics,
 * CreatePartitions, Metadata auto-creation) are defused, see guard(): every
 * partition costs real disk (its index files are posix_fallocate'd), so a
 * fuzzed partition count of 30000 fills a disk.
 */
const FUZZ_CREATED_PARTITIONS_MAX = 8;

const SEED = process.env.GREGOR_FUZZ_SEED ? Number(process.env.GREGOR_FUZZ_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const FRAMES = Number(process.env.GREGOR_FUZZ_FRAMES ?? 3000);
const SECONDS = Number(process.env.GREGOR_FUZZ_SECONDS ?? 20);

const FUZZ_TOPIC = 'fuzz-topic';
const CANARY_TOPIC = 'canary-Qx7vR2-intact';

// ---------------------------------------------------------------------------
// Deterministic randomness.

class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** mulberry32 */
  u32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** 0 <= n < bound */
  int(bound: number): number {
    return bound <= 0 ? 0 : Math.floor((this.u32() / 2 ** 32) * bound);
  }
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) out.writeUInt32LE(this.u32(), i);
    for (; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
  /** A length that is usually small and occasionally large. */
  length(): number {
    const r = this.int(100);
    if (r < 45) return this.int(17);
    if (r < 80) return this.int(257);
    if (r < 95) return this.int(8193);
    if (r < 99) return this.int(131_073);
    return this.int(REQUEST_MAX_BYTES - 256);
  }
}

// ---------------------------------------------------------------------------
// The corpus: valid frames like real clients send, with the position of
// every integer, varint and length prefix the encoder wrote, for
// structure-aware mutations.

type FieldKind = 'int16' | 'int32' | 'int64' | 'uvarint';
interface Field {
  /** Offset in the frame payload (after the size prefix). */
  at: number;
  kind: FieldKind;
}
interface CorpusFrame {
  name: string;
  /** The frame without its 4-byte size prefix. */
  payload: Buffer;
  fields: Field[];
}

/** A Writer that notes where each fixed-width integer, varint and string length went. */
class RecordingWriter extends Writer {
  readonly fields: Field[] = [];
  #note(kind: FieldKind): void {
    const at = this.length;
    if (this.fields.at(-1)?.at !== at) this.fields.push({ at, kind });
  }
  override int16(value: number): void {
    this.#note('int16');
    super.int16(value);
  }
  override int32(value: number): void {
    this.#note('int32');
    super.int32(value);
  }
  override int64(value: bigint): void {
    this.#note('int64');
    super.int64(value);
  }
  override uvarint(value: number): void {
    this.#note('uvarint');
    super.uvarint(value);
  }
  override string(value: string, compact: boolean): void {
    this.#note(compact ? 'uvarint' : 'int16');
    super.string(value, compact);
  }
}

function corpusFrame<Req>(name: string, api: ApiSpec<Req, unknown>, version: number, body: Init<Req>): CorpusFrame {
  const w = new RecordingWriter();
  encodeRequestFrame(api, version, 1000 + version, 'fuzz-corpus', body, w);
  const frame = w.toBuffer();
  expect(frame.readInt32BE(0)).toBe(frame.length - 4);
  return {
    name: `${api.name} v${version} ${name}`.trim(),
    payload: frame.subarray(4),
    fields: w.fields.filter((f) => f.at >= 4).map((f) => ({ at: f.at - 4, kind: f.kind })),
  };
}

/** `batch` (uncompressed, RecordBatch v2) with its records gzip-compressed, as a gzip producer sends it. */
function gzipped(batch: Buffer): Buffer {
  const out = Buffer.concat([batch.subarray(0, 61), gzipSync(batch.subarray(61))]);
  out.writeInt32BE(out.length - 12, 8);
  out.writeInt16BE(out.readInt16BE(21) | 1, 21);
  out.writeUInt32BE(crc32c(out.subarray(21)), 17);
  return out;
}

/**
 * `worker` keeps the topics each worker creates and deletes apart: concurrent
 * CreateTopics and DeleteTopics of one name on two connections race in the
 * broker (a separate bug, not what this test is about), so no two
 * connections that may overlap use the same names.
 */
function buildCorpus(fuzzTopicId: string, worker: string): CorpusFrame[] {
  const batch = encodeRecordBatch(
    [
      { key: 'k1', value: 'value one', headers: [{ key: 'h', value: 'x' }] },
      { key: null, value: Buffer.alloc(300, 0x61) },
      { key: 'k3', value: null },
    ],
    { timestamp: 1_700_000_000_000 },
  );
  const gzipBatch = gzipped(encodeRecordBatch([{ key: 'gz', value: 'compressed '.repeat(20) }, { key: 'gz', value: null }]));
  const produce = (records: Buffer, acks: number): Init<ProduceRequest> => ({
    transactionalId: null,
    acks,
    timeoutMs: 1000,
    topicData: [{ name: FUZZ_TOPIC, partitionData: [{ index: 0, records }, { index: 1, records }] }],
  });
  const fetchByName = (version: number): Init<FetchRequest> => ({
    replicaId: -1,
    maxWaitMs: 100,
    minBytes: 1,
    maxBytes: 1 << 20,
    isolationLevel: version % 2,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [
      {
        topic: FUZZ_TOPIC,
        partitions: [
          { partition: 0, fetchOffset: 0n, partitionMaxBytes: 65536, logStartOffset: -1n },
          { partition: 1, fetchOffset: 1n, partitionMaxBytes: 1024, logStartOffset: -1n },
        ],
      },
    ],
    forgottenTopicsData: [],
    rackId: '',
  });
  const listOffsets = {
    replicaId: -1,
    isolationLevel: 0,
    topics: [
      {
        name: FUZZ_TOPIC,
        partitions: [
          { partitionIndex: 0, timestamp: -1n },
          { partitionIndex: 1, timestamp: -2n },
          { partitionIndex: 0, timestamp: 1_700_000_000_000n },
        ],
      },
    ],
  };
  return [
    corpusFrame('', ApiVersionsApi, 0, {}),
    corpusFrame('', ApiVersionsApi, 3, { clientSoftwareName: 'librdkafka', clientSoftwareVersion: '2.0.2' }),
    corpusFrame('', MetadataApi, 0, { topics: [{ name: FUZZ_TOPIC }] }),
    corpusFrame('all topics', MetadataApi, 1, { topics: null }),
    corpusFrame('', MetadataApi, 1, { topics: [{ name: FUZZ_TOPIC }] }),
    corpusFrame('', MetadataApi, 4, { topics: [{ name: FUZZ_TOPIC }], allowAutoTopicCreation: true }),
    corpusFrame('', MetadataApi, 9, { topics: [{ name: FUZZ_TOPIC }], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: true }),
    corpusFrame('', MetadataApi, 12, { topics: [{ name: FUZZ_TOPIC, topicId: ZERO_UUID }], allowAutoTopicCreation: true }),
    corpusFrame('by id', MetadataApi, 12, { topics: [{ name: null, topicId: fuzzTopicId }] }),
    corpusFrame('', ProduceApi, 3, produce(batch, 1)),
    corpusFrame('', ProduceApi, 7, produce(batch, -1)),
    corpusFrame('gzip', ProduceApi, 7, produce(gzipBatch, 1)),
    corpusFrame('acks=0', ProduceApi, 7, produce(batch, 0)),
    corpusFrame('', ProduceApi, 9, produce(batch, -1)),
    corpusFrame('', FetchApi, 4, fetchByName(4)),
    corpusFrame('', FetchApi, 11, fetchByName(11)),
    corpusFrame('', FetchApi, 12, fetchByName(12)),
    corpusFrame('', FetchApi, 16, {
      maxWaitMs: 100,
      minBytes: 1,
      maxBytes: 1 << 20,
      topics: [{ topicId: fuzzTopicId, partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 65536 }] }],
    }),
    corpusFrame('', ListOffsetsApi, 1, listOffsets),
    corpusFrame('', ListOffsetsApi, 5, listOffsets),
    corpusFrame('', CreateTopicsApi, 0, {
      topics: [{ name: `fuzz-created-a-w${worker}`, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 1000,
    }),
    corpusFrame('', CreateTopicsApi, 5, {
      topics: [
        { name: `fuzz-created-b-w${worker}`, numPartitions: 2, replicationFactor: -1, assignments: [], configs: [{ name: 'retention.ms', value: '3600000' }] },
        { name: `fuzz-created-c-w${worker}`, numPartitions: -1, replicationFactor: 1, assignments: [{ partitionIndex: 0, brokerIds: [0] }], configs: [] },
      ],
      timeoutMs: 1000,
      validateOnly: false,
    }),
    corpusFrame('', DeleteTopicsApi, 1, { topicNames: [`fuzz-created-a-w${worker}`, `fuzz-created-c-w${worker}`], timeoutMs: 1000 }),
    corpusFrame('', DeleteTopicsApi, 6, {
      topics: [
        { name: `fuzz-created-b-w${worker}`, topicId: ZERO_UUID },
        { name: null, topicId: 'AAAAAAAAAAAAAAAAAAAAAQ' },
      ],
      timeoutMs: 1000,
    }),
    // The admin APIs the broker implements besides the ones above.
    ...[0, 3].map((v) =>
      corpusFrame('', CreatePartitionsApi, v, {
        topics: [{ name: `fuzz-created-b-w${worker}`, count: 3, assignments: v === 0 ? null : [{ brokerIds: [0] }] }],
        timeoutMs: 1000,
        validateOnly: v === 3,
      }),
    ),
    ...[0, 2].map((v) =>
      corpusFrame('', DeleteRecordsApi, v, { topics: [{ name: FUZZ_TOPIC, partitions: [{ partitionIndex: 1, offset: 1n }] }], timeoutMs: 1000 }),
    ),
    ...[1, 4].map((v) =>
      corpusFrame('', DescribeConfigsApi, v, {
        resources: [
          { resourceType: 2, resourceName: FUZZ_TOPIC, configurationKeys: null },
          { resourceType: 4, resourceName: '0', configurationKeys: ['log.retention.hours', 'num.partitions'] },
        ],
        includeSynonyms: true,
        ...(v >= 3 ? { includeDocumentation: true } : {}),
      }),
    ),
    ...[0, 2].map((v) =>
      corpusFrame('', AlterConfigsApi, v, {
        resources: [{ resourceType: 2, resourceName: `fuzz-created-b-w${worker}`, configs: [{ name: 'retention.ms', value: '7200000' }, { name: 'cleanup.policy', value: null }] }],
        validateOnly: false,
      }),
    ),
    ...[0, 1].map((v) =>
      corpusFrame('', IncrementalAlterConfigsApi, v, {
        resources: [
          {
            resourceType: 2,
            resourceName: `fuzz-created-b-w${worker}`,
            configs: [
              { name: 'cleanup.policy', configOperation: 2, value: 'compact' },
              { name: 'retention.ms', configOperation: 1, value: null },
            ],
          },
        ],
        validateOnly: v === 1,
      }),
    ),
    corpusFrame('', DescribeLogDirsApi, 1, { topics: null }),
    corpusFrame('', DescribeLogDirsApi, 4, { topics: [{ topic: FUZZ_TOPIC, partitions: [0, 1, 7] }] }),
    corpusFrame('', DescribeClusterApi, 0, { includeClusterAuthorizedOperations: true }),
    corpusFrame('', DescribeClusterApi, 1, { endpointType: 1 }),
  ];
}

// ---------------------------------------------------------------------------
// Mutations.

const INT16_VALUES = [0, 1, -1, -2, 0x7fff, -0x8000, 0x7ffe, 0xff, 0x100];
const INT32_VALUES = [0, 1, -1, -2, 0x7fffffff, -0x80000000, 0x7ffffffe, 0xffff, 0x10000, 100_000, 100_001, REQUEST_MAX_BYTES, REQUEST_MAX_BYTES + 1];
const INT64_VALUES = [0n, -1n, -2n, -3n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n, 2n ** 31n, 2n ** 32n];
const UVARINT_VALUES = [
  [0xff, 0xff, 0xff, 0xff, 0x0f], // 2^32-1: count/length 2^32-2
  [0xfe, 0xff, 0xff, 0xff, 0x0f],
  [0xff, 0xff, 0xff, 0xff, 0x07], // 2^31-1
  [0x80, 0x80, 0x80, 0x80, 0x08], // 2^31
  [0x80, 0x80, 0x80, 0x80, 0x10], // 2^32: more than 32 bits
  [0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // longer than 5 bytes
  [0x80], // truncated
  [0x00], // null
  [0x01], // empty
  [0x81, 0x00], // non-minimal 1
];
const BYTE_VALUES = [0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe];

interface Mutable {
  payload: Buffer;
  fields: Field[];
  ops: string[];
}

function uvarintLength(buf: Buffer, at: number): number {
  let n = 0;
  while (at + n < buf.length && n < 5) {
    if ((buf[at + n]! & 0x80) === 0) return n + 1;
    n++;
  }
  return Math.max(1, n);
}

function replaceBytes(m: Mutable, at: number, removed: number, inserted: Buffer): void {
  m.payload = Buffer.concat([m.payload.subarray(0, at), inserted, m.payload.subarray(at + removed)]);
  const delta = inserted.length - removed;
  m.fields = m.fields.filter((f) => f.at < at || f.at >= at + removed).map((f) => (f.at >= at + removed ? { ...f, at: f.at + delta } : f));
}

const WIDTH: Record<FieldKind, number> = { int16: 2, int32: 4, int64: 8, uvarint: 1 };

function mutate(rng: Rng, m: Mutable): void {
  const p = m.payload;
  const op = rng.int(100);
  if (op < 20 && p.length > 0) {
    const flips = rng.between(1, 8);
    for (let i = 0; i < flips; i++) {
      const at = rng.int(p.length);
      p[at]! ^= 1 << rng.int(8);
    }
    m.ops.push(`flip${flips}`);
  } else if (op < 32 && p.length > 0) {
    const sets = rng.between(1, 4);
    for (let i = 0; i < sets; i++) p[rng.int(p.length)] = rng.chance(0.7) ? rng.pick(BYTE_VALUES) : rng.int(256);
    m.ops.push(`set${sets}`);
  } else if (op < 62) {
    const fields = m.fields.filter((f) => f.at + WIDTH[f.kind] <= p.length);
    if (fields.length === 0) return;
    const field = rng.pick(fields);
    if (field.kind === 'int16') p.writeInt16BE(rng.chance(0.8) ? rng.pick(INT16_VALUES) : (rng.u32() << 16) >> 16, field.at);
    else if (field.kind === 'int32') p.writeInt32BE(rng.chance(0.8) ? rng.pick(INT32_VALUES) : rng.u32() | 0, field.at);
    else if (field.kind === 'int64') p.writeBigInt64BE(rng.pick(INT64_VALUES), field.at);
    else {
      replaceBytes(m, field.at, uvarintLength(p, field.at), Buffer.from(rng.pick(UVARINT_VALUES)));
      m.ops.push(`uvarint@${field.at}`);
      return;
    }
    m.ops.push(`${field.kind}@${field.at}`);
  } else if (op < 74) {
    const keep = rng.int(p.length + 1);
    m.payload = p.subarray(0, keep);
    m.fields = m.fields.filter((f) => f.at + WIDTH[f.kind] <= keep);
    m.ops.push(`truncate${keep}`);
  } else if (op < 84) {
    const extra = rng.chance(0.9) ? rng.between(1, 64) : rng.length();
    m.payload = Buffer.concat([p, rng.bytes(extra)]);
    m.ops.push(`extend${extra}`);
  } else if (op < 92) {
    const at = rng.int(p.length + 1);
    replaceBytes(m, at, rng.chance(0.5) ? Math.min(rng.between(1, 16), p.length - at) : 0, rng.bytes(rng.between(0, 16)));
    m.ops.push(`splice@${at}`);
  } else if (p.length >= 4) {
    // Another API or version in a valid body's header (a version often changes the header's flexibility).
    const api = rng.pick(API_TABLE);
    p.writeInt16BE(rng.chance(0.7) ? api.apiKey : p.readInt16BE(0), 0);
    p.writeInt16BE(rng.between(-1, api.maxVersion + 1), 2);
    m.ops.push(`header${p.readInt16BE(0)}v${p.readInt16BE(2)}`);
  }
}

function interestingApiKey(rng: Rng): number {
  const r = rng.int(100);
  if (r < 45) return rng.pick([0, 1, 2, 3, 18, 19, 20, 21, 32, 33, 35, 37, 44, 60]);
  if (r < 85) return rng.int(API_TABLE.length);
  if (r < 95) return rng.pick([-1, -0x8000, API_TABLE.length, 1000, 0x7fff]);
  return (rng.u32() << 16) >> 16;
}

/** A frame with a random (often well-formed) header and a random or default-valued body. */
function randomPayload(rng: Rng): { payload: Buffer; ops: string[] } {
  const apiKey = interestingApiKey(rng);
  const api = apiByKey(apiKey);
  const r = rng.int(100);
  const version =
    r < 60 && api ? rng.between(0, api.maxVersion) : r < 80 ? rng.between(-1, 20) : rng.pick([-1, -0x8000, 99, 0x7fff, (rng.u32() << 16) >> 16]);
  const ops = [`random${apiKey}v${version}`];
  if (rng.chance(0.15)) return { payload: rng.bytes(rng.length()), ops: ['random-bytes'] };
  const w = new Writer();
  w.int16(apiKey);
  w.int16(version);
  w.int32(rng.u32() | 0);
  w.nullableString(rng.chance(0.1) ? null : rng.bytes(rng.int(24)).toString('latin1'), false);
  if (requestHeaderVersion(apiKey, version) === 2) {
    if (rng.chance(0.85)) w.uvarint(0);
    else w.raw(rng.bytes(rng.int(8)));
  }
  if (api && version >= api.minVersion && version <= api.maxVersion && rng.chance(0.35)) {
    try {
      api.request.write(w, {} as never, version);
      ops.push('default-body');
    } catch {
      ops.push('default-body-unencodable');
    }
    if (rng.chance(0.2)) w.raw(rng.bytes(rng.int(32)));
  } else {
    w.raw(rng.bytes(rng.length()));
  }
  return { payload: w.toBuffer(), ops };
}

/** One frame with its size prefix: usually true, sometimes a lie within the limit, sometimes outside it. */
function prefixed(rng: Rng, payload: Buffer, ops: string[]): Buffer {
  const size = Buffer.alloc(4);
  const r = rng.int(100);
  if (r < 88) size.writeInt32BE(payload.length);
  else if (r < 96) {
    const lie = rng.chance(0.5) ? Math.max(0, payload.length + rng.between(-8, 8)) : rng.int(REQUEST_MAX_BYTES + 1);
    size.writeInt32BE(lie);
    ops.push(`size-lie${lie}`);
  } else {
    const big = rng.pick([REQUEST_MAX_BYTES + 1, REQUEST_MAX_BYTES + 1 + rng.int(1 << 20), 0x7fffffff, -1, -0x80000000, rng.u32() | 0x80000000]);
    size.writeInt32BE(big | 0);
    ops.push(`size-bad${big | 0}`);
  }
  return Buffer.concat([size, payload]);
}

// ---------------------------------------------------------------------------
// The broker's view of a byte stream, and what it must do with each frame.

type Expect = 'response' | 'silent' | 'close';
interface StreamFrame {
  expect: Expect;
  /** Set for frames the broker will hand to a handler. */
  apiKey?: number;
  correlationId: number | undefined;
  why: string;
}

interface Shared {
  advertised: Map<number, [number, number]>;
  guarded: number;
  fetchClamped: number;
}

/** APIs that change the per-worker topics (see buildCorpus). */
const TOPIC_CHANGING_APIS = new Set<number>([
  ApiKey.CreateTopics,
  ApiKey.DeleteTopics,
  ApiKey.CreatePartitions,
  ApiKey.AlterConfigs,
  ApiKey.IncrementalAlterConfigs,
]);

/** Topic configs that multiply files or preallocated bytes per partition. */
const COSTLY_CONFIGS = new Set(['segment.index.bytes', 'segment.bytes', 'segment.ms']);

/**
 * Defuses frames that would create many partitions, or set configs that
 * multiply each partition's files or preallocated bytes: every partition
 * costs real disk (see FUZZ_CREATED_PARTITIONS_MAX).
 */
function guard(shared: Shared, frame: Buffer, apiKey: number, version: number, body: unknown): boolean {
  let partitions = 0;
  if (apiKey === ApiKey.CreateTopics) {
    const request = body as CreateTopicsRequest;
    if (version >= 1 && request.validateOnly) return false;
    for (const t of request.topics) {
      partitions += t.assignments.length > 0 ? t.assignments.length : t.numPartitions === -1 ? 1 : Math.max(0, t.numPartitions);
      if (t.configs.some((c) => COSTLY_CONFIGS.has(c.name))) partitions = Infinity;
    }
  } else if (apiKey === ApiKey.Metadata) {
    partitions = (body as MetadataRequest).topics?.length ?? 0;
  } else if (apiKey === ApiKey.CreatePartitions) {
    const request = body as CreatePartitionsRequest;
    if (!request.validateOnly) for (const t of request.topics) partitions = Math.max(partitions, t.count);
  } else if (apiKey === ApiKey.AlterConfigs || apiKey === ApiKey.IncrementalAlterConfigs) {
    const request = body as AlterConfigsRequest | IncrementalAlterConfigsRequest;
    if (!request.validateOnly && request.resources.some((r) => r.configs.some((c) => COSTLY_CONFIGS.has(c.name)))) partitions = Infinity;
  }
  if (partitions <= FUZZ_CREATED_PARTITIONS_MAX) return false;
  frame.writeInt16BE(-1, 0); // an unknown API key: the broker must close instead
  shared.guarded++;
  return true;
}

function classify(shared: Shared, rng: Rng, frame: Buffer, depth = 0): StreamFrame {
  if (frame.length < 8) return { expect: 'close', correlationId: undefined, why: `frame of ${frame.length} bytes has no full header` };
  const correlationId = frame.readInt32BE(4);
  let parsed: ReturnType<typeof readRequestFrame>;
  try {
    parsed = readRequestFrame(frame);
  } catch (error) {
    return { expect: 'close', correlationId, why: `header: ${(error as Error).message}` };
  }
  const { header, api, reader } = parsed;
  const apiKey = header.requestApiKey;
  const version = header.requestApiVersion;
  const range = shared.advertised.get(apiKey);
  if (!range || !api || version < range[0] || version > range[1]) {
    if (apiKey === ApiKey.ApiVersions) return { expect: 'response', correlationId, why: `ApiVersions v${version} out of range` };
    return { expect: 'close', correlationId, why: `api ${apiKey} v${version} not supported` };
  }
  const bodyStart = reader.pos;
  let body: unknown;
  try {
    body = api.request.read(reader, version);
  } catch (error) {
    return { expect: 'close', correlationId, why: `${api.name} v${version} body: ${(error as Error).message}` };
  }
  if (depth === 0 && guard(shared, frame, apiKey, version, body)) return classify(shared, rng, frame, 1);
  if (apiKey === ApiKey.Fetch && (body as FetchRequest).maxWaitMs > FETCH_WAIT_MAX_MS && depth === 0) {
    // replicaId (int32) precedes maxWaitMs up to v14; from v15 the body starts with it.
    frame.writeInt32BE(rng.int(FETCH_WAIT_MAX_MS + 1), bodyStart + (version <= 14 ? 4 : 0));
    shared.fetchClamped++;
    const again = classify(shared, rng, frame, 1);
    const reread = api.request.read(readRequestFrame(frame).reader, version) as FetchRequest;
    expect(reread.maxWaitMs).toBeLessThanOrEqual(FETCH_WAIT_MAX_MS);
    return again;
  }
  if (apiKey === ApiKey.Produce && (body as ProduceRequest).acks === 0) {
    return { expect: 'silent', correlationId, why: `Produce v${version} acks=0` };
  }
  return { expect: 'response', correlationId, apiKey, why: `${api.name} v${version}` };
}

/**
 * Splits `bytes` the way the broker's network thread does, padding a
 * trailing partial frame so that every frame is complete (a partial frame is
 * legitimately waited for). Classifies each frame, clamping and defusing in
 * place. `oversize` is set when a size prefix outside 0..max must close the
 * connection (nothing after it is read).
 */
function frameStream(shared: Shared, rng: Rng, unit: Buffer): { bytes: Buffer; frames: StreamFrame[]; oversize: number | undefined } {
  let bytes = unit;
  for (;;) {
    let at = 0;
    let need = 0;
    let oversize: number | undefined;
    const payloads: Buffer[] = [];
    while (at < bytes.length) {
      if (bytes.length - at < 4) {
        need = 4 - (bytes.length - at);
        break;
      }
      const size = bytes.readInt32BE(at);
      if (size < 0 || size > REQUEST_MAX_BYTES) {
        oversize = size;
        break;
      }
      if (bytes.length - at - 4 < size) {
        need = size - (bytes.length - at - 4);
        break;
      }
      payloads.push(bytes.subarray(at + 4, at + 4 + size));
      at += 4 + size;
    }
    if (need > 0) {
      // Zeros complete a partial size prefix; random bytes a partial frame.
      bytes = Buffer.concat([bytes, bytes.length - at < 4 ? Buffer.alloc(need) : rng.bytes(need)]);
      continue;
    }
    const frames = payloads.map((payload) => classify(shared, rng, payload));
    return { bytes, frames, oversize };
  }
}

// ---------------------------------------------------------------------------
// The broker, its captured log, the canary.

const logLines: string[] = [];
const logger = new Logger('info', (line) => {
  logLines.push(line);
  if (process.env.GREGOR_FUZZ_VERBOSE) process.stderr.write(line + '\n');
});

/** The broker's log lines about the connection from `port`, from line `since` on (ports get reused). */
function logsFor(port: number, since: number): string[] {
  return logLines.slice(since).filter((line) => line.includes(`:${port} `) || line.endsWith(`:${port}`));
}

function hex(bytes: Buffer, max = 2048): string {
  return bytes.length <= max ? bytes.toString('hex') : `${bytes.subarray(0, max).toString('hex')}... (${bytes.length} bytes)`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface CanaryState {
  stop: boolean;
  rounds: number;
  slowestMs: number;
  errors: string[];
  /** Every value the canary produced, in offset order from 0. */
  produced: string[];
}

/** ApiVersions + Metadata + Produce + Fetch on one connection until told to stop; records failures instead of throwing. */
async function runCanary(port: number, state: CanaryState): Promise<void> {
  const client = await KafkaWireClient.connect(port);
  const timeout = { timeoutMs: CANARY_TIMEOUT_MS };
  try {
    while (!state.stop) {
      const round = state.rounds;
      const started = Date.now();
      const versions = await client.request(ApiVersionsApi, round % 2 === 0 ? 3 : 0, { clientSoftwareName: 'canary', clientSoftwareVersion: '1' }, timeout);
      if (versions.errorCode !== ErrorCode.NONE) throw new Error(`ApiVersions error ${versions.errorCode}`);
      const metadataVersion = [0, 1, 4, 9, 12][round % 5]!;
      const metadata = await client.request(
        MetadataApi,
        metadataVersion,
        { topics: [{ name: CANARY_TOPIC }], ...(metadataVersion >= 4 ? { allowAutoTopicCreation: false } : {}) },
        timeout,
      );
      const topic = metadata.topics.find((t) => t.name === CANARY_TOPIC);
      if (!topic || topic.errorCode !== ErrorCode.NONE || topic.partitions.length !== 1) {
        throw new Error(`Metadata v${metadataVersion}: canary topic ${JSON.stringify(topic ?? null, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
      }
      const values = Array.from({ length: 1 + (round % 3) }, (_, i) => `canary-${round}-${i}`);
      const produceVersion = [3, 7, 9][round % 3]!;
      const produced = await client.request(
        ProduceApi,
        produceVersion,
        {
          transactionalId: null,
          acks: -1,
          timeoutMs: 5000,
          topicData: [{ name: CANARY_TOPIC, partitionData: [{ index: 0, records: encodeRecordBatch(values.map((value) => ({ key: `r${round}`, value }))) }] }],
        },
        timeout,
      );
      const partition = produced.responses[0]?.partitionResponses[0];
      if (partition?.errorCode !== ErrorCode.NONE || partition.baseOffset !== BigInt(state.produced.length)) {
        throw new Error(`Produce v${produceVersion}: error ${partition?.errorCode}, base offset ${partition?.baseOffset} (want ${state.produced.length})`);
      }
      const baseOffset = state.produced.length;
      state.produced.push(...values);
      const fetchVersion = [4, 11, 12][round % 3]!;
      const fetched = await client.request(
        FetchApi,
        fetchVersion,
        {
          replicaId: -1,
          maxWaitMs: 0,
          minBytes: 1,
          maxBytes: 1 << 20,
          topics: [{ topic: CANARY_TOPIC, partitions: [{ partition: 0, fetchOffset: BigInt(baseOffset), partitionMaxBytes: 1 << 20 }] }],
        },
        timeout,
      );
      const data = fetched.responses[0]?.partitions[0];
      if (data?.errorCode !== ErrorCode.NONE || !data.records) throw new Error(`Fetch v${fetchVersion}: error ${data?.errorCode}`);
      const got = decodeRecordBatches(data.records).flatMap((b) => b.records.map((r) => ({ offset: r.offset, value: r.value?.toString() })));
      const want = values.map((value, i) => ({ offset: baseOffset + i, value }));
      if (JSON.stringify(got.slice(0, want.length)) !== JSON.stringify(want)) {
        throw new Error(`Fetch v${fetchVersion} at ${baseOffset}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
      }
      state.slowestMs = Math.max(state.slowestMs, Date.now() - started);
      state.rounds++;
      await sleep(20);
    }
  } catch (error) {
    state.errors.push(`canary round ${state.rounds}: ${(error as Error).message}`);
  } finally {
    client.destroy();
  }
}

/** Reads the whole canary partition back from offset 0. */
async function readCanary(port: number): Promise<{ offset: number; value: string | undefined }[]> {
  const client = await KafkaWireClient.connect(port);
  try {
    const out: { offset: number; value: string | undefined }[] = [];
    const end = await client.request(ListOffsetsApi, 5, {
      replicaId: -1,
      topics: [{ name: CANARY_TOPIC, partitions: [{ partitionIndex: 0, timestamp: -1n }] }],
    });
    const logEnd = Number(end.topics[0]!.partitions[0]!.offset);
    while (out.length < logEnd) {
      const fetched = await client.request(FetchApi, 12, {
        maxWaitMs: 0,
        minBytes: 1,
        maxBytes: 1 << 20,
        topics: [{ topic: CANARY_TOPIC, partitions: [{ partition: 0, fetchOffset: BigInt(out.length), partitionMaxBytes: 1 << 20 }] }],
      });
      const data = fetched.responses[0]!.partitions[0]!;
      expect(data.errorCode).toBe(ErrorCode.NONE);
      const records = decodeRecordBatches(data.records!).flatMap((b) => b.records);
      expect(records.length).toBeGreaterThan(0);
      for (const r of records) if (r.offset >= out.length) out.push({ offset: r.offset, value: r.value?.toString() });
    }
    return out;
  } finally {
    client.destroy();
  }
}

// ---------------------------------------------------------------------------

describe('protocol fuzzing against one broker', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gregor-fuzz-'));
  let broker: RunningBroker;
  let port: number;
  const shared: Shared = { advertised: new Map(), guarded: 0, fetchClamped: 0 };
  let corpora: CorpusFrame[][] = [];
  let fuzzTopicId = ZERO_UUID;

  beforeAll(async () => {
    broker = await startBroker({
      logger,
      overrides: {
        'log.dirs': dir,
        listeners: 'PLAINTEXT://127.0.0.1:0',
        'socket.request.max.bytes': REQUEST_MAX_BYTES,
        'num.io.threads': 2,
        'num.network.threads': 2,
        // Index files are preallocated with posix_fallocate (10 MiB each by
        // default, two per partition); keep the topics fuzzing creates cheap.
        'log.index.size.max.bytes': 16384,
      },
    });
    port = broker.port;
    const setup = await KafkaWireClient.connect(port);
    try {
      const versions = await setup.request(ApiVersionsApi, 3, { clientSoftwareName: 'fuzz', clientSoftwareVersion: '1' });
      expect(versions.errorCode).toBe(ErrorCode.NONE);
      for (const a of versions.apiKeys) shared.advertised.set(a.apiKey, [a.minVersion, a.maxVersion]);
      const created = await setup.request(CreateTopicsApi, 5, {
        topics: [
          { name: FUZZ_TOPIC, numPartitions: 2, replicationFactor: 1 },
          { name: CANARY_TOPIC, numPartitions: 1, replicationFactor: 1 },
        ],
        timeoutMs: 5000,
      });
      expect(created.topics.map((t) => t.errorCode)).toEqual([ErrorCode.NONE, ErrorCode.NONE]);
      const metadata = await setup.request(MetadataApi, 12, { topics: [{ name: FUZZ_TOPIC }] });
      fuzzTopicId = metadata.topics[0]!.topicId;
      corpora = Array.from({ length: FUZZ_WORKERS }, (_, worker) => buildCorpus(fuzzTopicId, String(worker)));
      // Data for fuzzed fetches and list-offsets to find.
      for (let i = 0; i < 3; i++) {
        const records = encodeRecordBatch([{ key: `seed-${i}`, value: 'x'.repeat(100 * i) }]);
        const produced = await setup.request(ProduceApi, 9, {
          acks: -1,
          topicData: [{ name: FUZZ_TOPIC, partitionData: [{ index: 0, records }, { index: 1, records }] }],
        });
        expect(produced.responses[0]!.partitionResponses.map((p) => p.errorCode)).toEqual([ErrorCode.NONE, ErrorCode.NONE]);
      }
    } finally {
      setup.destroy();
    }
  });

  afterAll(async () => {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers ApiVersions v99 with UNSUPPORTED_VERSION in a v0 body, keeps the connection, and answers v3 after it', async () => {
    // KIP-511: the client learns our ranges from the error and retries on the same connection.
    const client = await KafkaWireClient.connect(port);
    try {
      const w = new Writer();
      const size = w.reserveInt32();
      w.int16(ApiKey.ApiVersions);
      w.int16(99);
      w.int32(4242);
      w.nullableString('future-client', false);
      w.uvarint(0); // header v2 tags: v99 is in the open-ended flexible range
      w.string('future-client', true);
      w.string('99.0', true);
      w.uvarint(0);
      w.setInt32(size, w.length - 4);
      client.writeRaw(w.toBuffer());
      const event = await client.next(FRAME_TIMEOUT_MS);
      expect(event.kind).toBe('frame');
      const frame = (event as { frame: Buffer }).frame;
      // Response header v0 (correlation id only), then exactly a v0 body.
      const reader = new Reader(frame);
      expect(reader.int32()).toBe(4242);
      const body = ApiVersionsApi.response.read(reader, 0);
      expect(reader.remaining).toBe(0);
      expect(body.errorCode).toBe(ErrorCode.UNSUPPORTED_VERSION);
      expect(body.apiKeys.find((a) => a.apiKey === ApiKey.ApiVersions)).toEqual({ apiKey: ApiKey.ApiVersions, minVersion: 0, maxVersion: 3 });
      expect(new Map(body.apiKeys.map((a) => [a.apiKey, [a.minVersion, a.maxVersion]]))).toEqual(shared.advertised);

      const retry = await client.request(ApiVersionsApi, 3, { clientSoftwareName: 'future-client', clientSoftwareVersion: '99.0' });
      expect(retry.errorCode).toBe(ErrorCode.NONE);
      expect(new Map(retry.apiKeys.map((a) => [a.apiKey, [a.minVersion, a.maxVersion]]))).toEqual(shared.advertised);
      expect(client.closed).toBe(false);
    } finally {
      client.destroy();
    }
  });

  it('closes a connection whose size prefix is socket.request.max.bytes + 1, accepts one of exactly the maximum, and the canary is unaffected', async () => {
    // The limit is checked on the size prefix alone; only the offending connection goes.
    const canary: CanaryState = { stop: false, rounds: 0, slowestMs: 0, errors: [], produced: [] };
    const base = await readCanary(port);
    canary.produced = base.map((r) => r.value!);
    const canaryDone = runCanary(port, canary);
    try {
      const victim = await KafkaWireClient.connect(port);
      const prefix = Buffer.alloc(4);
      prefix.writeInt32BE(REQUEST_MAX_BYTES + 1);
      victim.writeRaw(Buffer.concat([prefix, encodeRequestFrame(ApiVersionsApi, 0, 7, 'victim', {})[0]!.subarray(4)]));
      expect(await victim.next(FRAME_TIMEOUT_MS)).toEqual({ kind: 'closed' });
      expect(victim.bytesReceived).toBe(0);
      victim.destroy();

      // Exactly the maximum is a frame like any other: an ApiVersions v0 with trailing bytes is answered.
      const atLimit = await KafkaWireClient.connect(port);
      const header = encodeRequestFrame(ApiVersionsApi, 0, 8, 'at-limit', {})[0]!;
      const frame = Buffer.alloc(4 + REQUEST_MAX_BYTES, 0x5a);
      header.copy(frame);
      frame.writeInt32BE(REQUEST_MAX_BYTES, 0);
      atLimit.writeRaw(frame);
      const answer = await atLimit.next(FRAME_TIMEOUT_MS);
      expect(answer.kind).toBe('frame');
      expect(decodeResponse(ApiVersionsApi, 0, (answer as { frame: Buffer }).frame).correlationId).toBe(8);
      atLimit.destroy();

      const roundsBefore = canary.rounds;
      const deadline = Date.now() + 10_000;
      while (canary.rounds < roundsBefore + 3 && canary.errors.length === 0 && Date.now() < deadline) await sleep(10);
    } finally {
      canary.stop = true;
      await canaryDone;
    }
    expect(canary.errors).toEqual([]);
    expect(canary.rounds).toBeGreaterThanOrEqual(3);
  });

  it('survives random and mutated frames: each is answered or closes its connection, the canary keeps working, its data stays intact', async () => {
    // Seeded fuzz loop on raw sockets with a canary connection running alongside.
    console.log(`protocol fuzz: GREGOR_FUZZ_SEED=${SEED} frames<=${FRAMES} seconds<=${SECONDS} workers=${FUZZ_WORKERS}`);
    const rssBefore = process.memoryUsage().rss;
    const canary: CanaryState = { stop: false, rounds: 0, slowestMs: 0, errors: [], produced: [] };
    canary.produced = (await readCanary(port)).map((r) => r.value!);
    const canaryDone = runCanary(port, canary);

    const stats = { units: 0, frames: 0, responses: 0, closedAsExpected: 0, closedInsteadOfResponse: 0, silent: 0, oversize: 0, connections: 0, probes: 0 };
    const closedInstead = new Map<string, number>();
    const violations: string[] = [];
    const unexplainedCloses: string[] = [];
    const stopAt = Date.now() + SECONDS * 1000;
    let budget = FRAMES;

    const worker = async (index: number): Promise<void> => {
      const rng = new Rng((SEED ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
      let corpus = corpora[index]!;
      let generation = 0;
      for (let conn = 0; budget > 0 && Date.now() < stopAt && violations.length < 5; conn++) {
        const client = await KafkaWireClient.connect(port);
        const logStart = logLines.length;
        stats.connections++;
        const sent: string[] = [];
        const fail = (what: string) => {
          violations.push(
            [
              `${what}`,
              `  seed ${SEED}, worker ${index}, connection ${conn} (client port ${client.localPort})`,
              `  bytes sent on this connection, one write per line (hex):`,
              ...sent.map((s) => `    ${s}`),
              `  broker log for this connection:`,
              ...logsFor(client.localPort, logStart).map((l) => `    ${l}`),
            ].join('\n'),
          );
        };
        let open = true;
        const units = rng.between(1, 10);
        for (let u = 0; u < units && open && budget > 0; u++) {
          budget--;
          stats.units++;
          const count = rng.chance(0.85) ? 1 : rng.between(2, 3);
          const parts: Buffer[] = [];
          const ops: string[] = [];
          for (let i = 0; i < count; i++) {
            if (rng.chance(0.35)) {
              const r = randomPayload(rng);
              ops.push(r.ops.join('+'));
              parts.push(prefixed(rng, r.payload, ops));
            } else {
              const base = rng.pick(corpus);
              const m: Mutable = { payload: Buffer.from(base.payload), fields: base.fields, ops: [base.name] };
              const mutations = rng.chance(0.2) ? 0 : rng.between(1, 3);
              for (let k = 0; k < mutations; k++) mutate(rng, m);
              ops.push(m.ops.join('+'));
              parts.push(prefixed(rng, m.payload, ops));
            }
          }
          const { bytes, frames, oversize } = frameStream(shared, rng, Buffer.concat(parts));
          sent.push(`${hex(bytes)}  [${ops.join(' | ')}] -> ${frames.map((f) => `${f.expect}(${f.why})`).join(', ')}${oversize !== undefined ? `, size ${oversize}: close` : ''}`);
          stats.frames += frames.length;
          // Sometimes in pieces, to exercise reassembly in the network thread.
          if (rng.chance(0.1) && bytes.length > 1) {
            let at = 0;
            while (at < bytes.length) {
              const n = Math.min(bytes.length - at, rng.between(1, Math.max(1, bytes.length >> 1)));
              client.writeRaw(bytes.subarray(at, at + n));
              at += n;
              await new Promise((resolve) => setImmediate(resolve));
            }
          } else {
            client.writeRaw(bytes);
          }

          for (const [i, frame] of frames.entries()) {
            if (frame.expect === 'silent') {
              stats.silent++;
              continue;
            }
            const event = await client.next(FRAME_TIMEOUT_MS);
            if (event.kind === 'closed') {
              if (frames.slice(i).some((f) => f.apiKey !== undefined && TOPIC_CHANGING_APIS.has(f.apiKey))) {
                // That request may still be running: new topic names keep the next connection from racing it.
                corpus = buildCorpus(fuzzTopicId, `${index}-${++generation}`);
              }
              if (frame.expect === 'close') stats.closedAsExpected++;
              else {
                // Allowed, but unexplained unless a later frame of the same write closed it first.
                stats.closedInsteadOfResponse++;
                closedInstead.set(frame.why, (closedInstead.get(frame.why) ?? 0) + 1);
                if (i === frames.length - 1 && oversize === undefined && unexplainedCloses.length < 10) {
                  await sleep(50); // the log line may trail the close
                  unexplainedCloses.push(`${frame.why}: ${sent.at(-1)}\n    ${logsFor(client.localPort, logStart).join('\n    ')}`);
                }
              }
              open = false;
              break;
            }
            if (event.kind === 'timeout') {
              fail(`no response and no close within ${FRAME_TIMEOUT_MS} ms for a frame expecting ${frame.expect} (${frame.why})`);
              open = false;
              break;
            }
            const correlationId = event.frame.length >= 4 ? event.frame.readInt32BE(0) : undefined;
            if (frame.expect === 'close') {
              fail(`a response (correlation id ${correlationId}) to a frame that must close the connection (${frame.why})`);
              open = false;
              break;
            }
            if (correlationId !== frame.correlationId) {
              fail(`response carries correlation id ${correlationId}, want ${frame.correlationId} (${frame.why})`);
              open = false;
              break;
            }
            stats.responses++;
          }
          if (open && oversize !== undefined) {
            stats.oversize++;
            const event = await client.next(FRAME_TIMEOUT_MS);
            if (event.kind !== 'closed') fail(`size prefix ${oversize} did not close the connection (got ${event.kind})`);
            else stats.closedAsExpected++;
            open = false;
          }
          if (client.streamError) {
            fail(client.streamError);
            open = false;
          }
        }
        if (open && violations.length === 0) {
          // The stream is still in step: a well-formed request is answered in order.
          stats.probes++;
          const correlationId = client.send(ApiVersionsApi, 0, {});
          const event = await client.next(FRAME_TIMEOUT_MS);
          if (event.kind === 'frame' && event.frame.readInt32BE(0) !== correlationId) {
            fail(`probe answered with correlation id ${event.frame.readInt32BE(0)}, want ${correlationId}`);
          } else if (event.kind === 'timeout') {
            fail('probe ApiVersions v0 not answered');
          }
        }
        client.destroy();
      }
    };

    await Promise.all(Array.from({ length: FUZZ_WORKERS }, (_, i) => worker(i)));
    canary.stop = true;
    await canaryDone;

    console.log(
      `protocol fuzz: ${JSON.stringify(stats)} guarded=${shared.guarded} fetchClamped=${shared.fetchClamped}` +
        ` canaryRounds=${canary.rounds} canarySlowestMs=${canary.slowestMs}`,
    );
    if (closedInstead.size > 0) {
      console.log(`protocol fuzz: closed instead of answering (decodable, supported requests): ${JSON.stringify(Object.fromEntries(closedInstead))}`);
      const handled = new Map<string, number>();
      for (const line of logLines) {
        const m = /request could not be handled .*api=(\S+) error=(.*)$/.exec(line);
        if (m) handled.set(`${m[1]}: ${m[2]!.replace(/\d+/g, 'N')}`, (handled.get(`${m[1]}: ${m[2]!.replace(/\d+/g, 'N')}`) ?? 0) + 1);
      }
      console.log(`protocol fuzz: handler errors: ${JSON.stringify(Object.fromEntries(handled))}`);
    }
    if (unexplainedCloses.length > 0) console.log(`protocol fuzz: closed instead of answering, last frame of its write:\n  ${unexplainedCloses.join('\n  ')}`);
    if (violations.length > 0) console.log(`protocol fuzz violations (seed ${SEED}):\n${violations.join('\n\n')}`);
    expect(violations, `seed ${SEED}`).toEqual([]);
    expect(canary.errors, `seed ${SEED}`).toEqual([]);
    expect(canary.rounds).toBeGreaterThan(0);
    expect(stats.units).toBeGreaterThan(Math.min(FRAMES, 200));
    // Decodable, supported requests are answered: a close instead of an
    // answer happens (a mutated request a handler refuses), but for a small
    // share only (about one in nine in recorded runs), never wholesale.
    expect(stats.responses).toBeGreaterThan(0);
    expect(stats.closedInsteadOfResponse, `seed ${SEED}`).toBeLessThan(stats.responses / 4);

    // The broker is still up and accepting, and the canary's records are exactly what it produced.
    const after = await KafkaWireClient.connect(port);
    expect((await after.request(ApiVersionsApi, 3, { clientSoftwareName: 'after', clientSoftwareVersion: '1' })).errorCode).toBe(ErrorCode.NONE);
    after.destroy();
    const readBack = await readCanary(port);
    expect(readBack).toEqual(canary.produced.map((value, offset) => ({ offset, value })));

    const rssAfter = process.memoryUsage().rss;
    console.log(`protocol fuzz: rss ${(rssBefore / 2 ** 20).toFixed(0)} MiB -> ${(rssAfter / 2 ** 20).toFixed(0)} MiB`);
    expect(rssAfter - rssBefore).toBeLessThan(RSS_GROWTH_MAX);
  }, 120_000);
});

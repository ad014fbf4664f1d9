// Tests of the generated Kafka protocol codecs (src/protocol/generated/):
// reproducibility of the generated code, round trips of every message at
// every version driven by the exported descriptors, hand-checked byte
// vectors, and hostile input.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import { encodeRequestFrame, encodeResponseFrame, decodeRequest, readRequestFrame, requestHeaderVersion, responseHeaderVersion } from '../../src/protocol/frame.js';
import {
  API_TABLE,
  ApiKey,
  ApiVersionsApi,
  ConsumerProtocolAssignmentCodec,
  ConsumerProtocolSubscriptionCodec,
  DefaultPrincipalDataCodec,
  FetchApi,
  GroupMetadataKeyCodec,
  GroupMetadataValueCodec,
  MetadataApi,
  OffsetCommitKeyCodec,
  OffsetCommitValueCodec,
  ProduceApi,
  RequestHeaderCodec,
  ResponseHeaderCodec,
  TransactionLogKeyCodec,
  TransactionLogValueCodec,
  apiByKey,
  apiSpec,
  decodeApiVersionsRequest,
  decodeFetchResponse,
  decodeMetadataRequest,
  decodeProduceRequest,
  decodeRequestHeader,
  decodeResponseHeader,
  encodeApiVersionsRequest,
  encodeFetchResponse,
  encodeMetadataRequest,
  encodeProduceRequest,
  encodeProduceResponse,
  encodeRequestHeader,
  encodeResponseHeader,
  type FetchResponse,
} from '../../src/protocol/generated/index.js';
import type { FieldSchema, MessageCodec, MessageSchema, StructSchema, VersionRange } from '../../src/protocol/schema.js';
import { EMPTY_BUFFER, type Init, ProtocolDecodeError, ProtocolEncodeError, Reader, Writer, ZERO_UUID } from '../../src/protocol/wire.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCHEMAS = path.resolve(ROOT, '../shared/kafka-protocol');
const GENERATED = path.join(ROOT, 'src/protocol/generated');

const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s|]/g, ''), 'hex');

// ---------------------------------------------------------------------------
// Every codec, with a label

const CODECS: { label: string; codec: MessageCodec<unknown> }[] = [
  ...API_TABLE.flatMap((api) => [
    { label: `${api.name}Request`, codec: api.request },
    { label: `${api.name}Response`, codec: api.response },
  ]),
  ...[
    RequestHeaderCodec,
    ResponseHeaderCodec,
    ConsumerProtocolSubscriptionCodec,
    ConsumerProtocolAssignmentCodec,
    DefaultPrincipalDataCodec,
    OffsetCommitKeyCodec,
    OffsetCommitValueCodec,
    GroupMetadataKeyCodec,
    GroupMetadataValueCodec,
    TransactionLogKeyCodec,
    TransactionLogValueCodec,
  ].map((codec) => ({ label: codec.schema.name, codec: codec as MessageCodec<unknown> })),
];

function versionsOf(schema: MessageSchema): number[] {
  const out: number[] = [];
  for (let v = schema.validVersions[0]; v <= schema.validVersions[1]; v++) out.push(v);
  return out;
}

// ---------------------------------------------------------------------------
// Sample messages built from the descriptors

const inRange = (r: VersionRange | undefined, v: number): boolean => r !== undefined && v >= r[0] && v <= r[1];

/** Deterministic PRNG (mulberry32) so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Variant = 'values' | 'nulls';

interface SampleContext {
  version: number;
  variant: Variant;
  seed: number;
}

function defaultOf(f: FieldSchema): unknown {
  if (f.default !== undefined) return f.default;
  if (f.array) return [];
  if (typeof f.type !== 'string') return defaultStruct(f.type);
  switch (f.type) {
    case 'bool':
      return false;
    case 'int64':
      return 0n;
    case 'string':
      return '';
    case 'uuid':
      return ZERO_UUID;
    case 'bytes':
      return EMPTY_BUFFER;
    case 'records':
      return f.nullableVersions ? null : EMPTY_BUFFER;
    default:
      return 0;
  }
}

function defaultStruct(s: StructSchema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of s.fields) out[f.name] = defaultOf(f);
  return out;
}

/** A value of `f`'s scalar type that differs from its default. */
function sampleScalar(f: FieldSchema, ctx: SampleContext): unknown {
  const n = ctx.seed++;
  const d = f.default;
  const avoid = <T>(value: T, other: T): T => (value === d ? other : value);
  switch (f.type) {
    case 'bool':
      return d === true ? false : true;
    case 'int8':
      return avoid(-100 + (n % 50), 99);
    case 'int16':
      return avoid(-30000 + n, 12345);
    case 'uint16':
      return avoid(65000 + (n % 500), 1);
    case 'int32':
      return avoid(-2_000_000_000 + n, 7);
    case 'uint32':
      return avoid(4_000_000_000 + n, 3);
    case 'int64':
      return avoid(-(2n ** 62n) + BigInt(n), 42n);
    case 'float64':
      return 3.25 + n;
    case 'string':
      // Non-ASCII to check byte lengths; every fifth one long enough for a 2-byte compact length.
      return n % 5 === 0 ? `${'long-'.repeat(30)}${n}` : `s${n}-é✓`;
    case 'uuid': {
      const bytes = Buffer.alloc(16);
      for (let i = 0; i < 16; i++) bytes[i] = (n * 31 + i * 7 + 1) & 0xff;
      return bytes.toString('base64url');
    }
    case 'bytes':
      return Buffer.from([n & 0xff, 1, 2, 3]);
    case 'records':
      // Alternate small (copied) and large (referenced by the Writer) blobs.
      return n % 2 === 0 ? Buffer.alloc(700, n & 0xff) : Buffer.from([9, 8, 7, n & 0xff]);
    default:
      throw new Error(`no sample for ${String(f.type)}`);
  }
}

function sampleElement(f: FieldSchema, ctx: SampleContext): unknown {
  return typeof f.type === 'string' ? sampleScalar(f, ctx) : sampleStruct(f.type, ctx);
}

function sampleField(f: FieldSchema, ctx: SampleContext): unknown {
  if (ctx.variant === 'nulls' && inRange(f.nullableVersions, ctx.version)) return null;
  if (f.array) return [sampleElement(f, ctx), sampleElement(f, ctx)];
  return sampleElement(f, ctx);
}

/** A struct with a non-default value in every field present at ctx.version (absent fields left out). */
function sampleStruct(s: StructSchema, ctx: SampleContext): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of s.fields) if (inRange(f.versions, ctx.version)) out[f.name] = sampleField(f, ctx);
  return out;
}

/** What decoding the encoding of `input` must give: input where present, defaults elsewhere. */
function expectedStruct(s: StructSchema, input: Record<string, unknown>, v: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of s.fields) {
    if (!inRange(f.versions, v)) {
      out[f.name] = defaultOf(f);
      continue;
    }
    const value = input[f.name];
    if (value === null || typeof f.type === 'string') out[f.name] = value;
    else if (f.array) out[f.name] = (value as Record<string, unknown>[]).map((e) => expectedStruct(f.type as StructSchema, e, v));
    else out[f.name] = expectedStruct(f.type, value as Record<string, unknown>, v);
  }
  return out;
}

function encodeWith(codec: MessageCodec<unknown>, message: unknown, version: number): Buffer {
  const w = new Writer(64);
  codec.write(w, message as never, version);
  return w.toBuffer();
}

function decodeAll(codec: MessageCodec<unknown>, bytes: Buffer, version: number): unknown {
  const r = new Reader(bytes);
  const message = codec.read(r, version);
  expect(r.remaining, 'decoder must consume the whole encoding').toBe(0);
  return message;
}

/** Encoded samples of every codec and version, for the hostile-input tests. */
function allSamples(): { label: string; codec: MessageCodec<unknown>; version: number; bytes: Buffer }[] {
  const out = [];
  for (const { label, codec } of CODECS) {
    for (const version of versionsOf(codec.schema)) {
      const input = sampleStruct(codec.schema, { version, variant: 'values', seed: version * 1000 });
      out.push({ label, codec, version, bytes: encodeWith(codec, input, version) });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------

describe('generated protocol code', () => {
  it.skipIf(!existsSync(path.join(SCHEMAS, 'messages')))(
    'is exactly what the generator writes from ../shared/kafka-protocol (skipped when the schemas are absent)',
    () => {
      // Proves src/protocol/generated is reproducible: regenerating into a temp folder changes nothing.
      const out = mkdtempSync(path.join(tmpdir(), 'gregor-protocol-'));
      try {
        const run = spawnSync(process.execPath, [path.join(ROOT, 'scripts/generate-protocol.mjs'), '--schemas', SCHEMAS, '--out', out], {
          encoding: 'utf8',
        });
        expect(run.status, run.stderr).toBe(0);
        const list = (dir: string, base = dir): string[] =>
          readdirSync(dir).flatMap((name) => {
            const full = path.join(dir, name);
            return statSync(full).isDirectory() ? list(full, base) : [path.relative(base, full)];
          });
        const fresh = list(out).sort();
        expect(list(GENERATED).sort()).toEqual(fresh);
        const stale = fresh.filter((rel) => readFileSync(path.join(out, rel), 'utf8') !== readFileSync(path.join(GENERATED, rel), 'utf8'));
        expect(stale, 'run `npm run generate:protocol` and commit the result').toEqual([]);
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    },
  );

  it('parses schema quirks: // comments after values, // inside strings, numeric-string tags', () => {
    // Proves the generator's comment stripping only removes real comments, and that it refuses to wipe a folder it did not generate.
    const dir = mkdtempSync(path.join(tmpdir(), 'gregor-schemas-'));
    try {
      mkdirSync(path.join(dir, 'messages'));
      const message = (type: string) =>
        [
          '// header comment with "quotes" and // slashes',
          '{',
          `  "apiKey": 7777, "type": "${type}", "name": "Quirk${type === 'request' ? 'Request' : 'Response'}", // trailing comment`,
          '  "validVersions": "0-1", // more',
          '  "flexibleVersions": "1+",',
          '  "fields": [',
          '    { "name": "Url", "type": "string", "versions": "0+", "default": "http://x//y", "about": "see https://kafka.apache.org // not a comment" }, // real comment',
          '    { "name": "Extra", "type": "int32", "versions": "1+", "taggedVersions": "1+", "tag": "3", "about": "escaped \\" // quote" }',
          '  ]',
          '}',
        ].join('\n');
      writeFileSync(path.join(dir, 'messages', 'QuirkRequest.json'), message('request'));
      writeFileSync(path.join(dir, 'messages', 'QuirkResponse.json'), message('response'));
      const out = path.join(dir, 'out');
      const generate = (target: string) =>
        spawnSync(process.execPath, [path.join(ROOT, 'scripts/generate-protocol.mjs'), '--schemas', dir, '--out', target], { encoding: 'utf8' });
      const run = generate(out);
      expect(run.status, run.stderr).toBe(0);
      const text = readFileSync(path.join(out, 'quirk.ts'), 'utf8');
      expect(text).toContain("w.string(m.url ?? 'http://x//y', f);");
      expect(text).toContain('tag: 3, taggedVersions: [1, 32767]');
      expect(text).not.toMatch(/comment|kafka\.apache\.org/);
      writeFileSync(path.join(dir, 'messages', 'hand-written.ts'), '// mine\n');
      const refused = generate(path.join(dir, 'messages'));
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(/refusing to wipe/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('marks every generated file as generated, with its schema versions', () => {
    // Proves the quarantine header is present, so nobody edits generated code by hand.
    const files = readdirSync(GENERATED).filter((n) => n.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(80);
    for (const name of files) {
      const text = readFileSync(path.join(GENERATED, name), 'utf8');
      expect(text.startsWith("// Generated by scripts/generate-protocol.mjs from Apache Kafka's message schemas — do not edit.\n"), name).toBe(true);
      if (name !== 'index.ts') expect(text, name).toMatch(/validVersions \d+(-\d+)?, flexibleVersions (\d+\+|none)/);
    }
  });

  it('has an API table entry per key whose codecs agree with their descriptors', () => {
    // Proves the API table is complete and consistent: keys unique, versions match both schemas.
    const keys = new Set<number>();
    for (const api of API_TABLE) {
      expect(keys.has(api.apiKey)).toBe(false);
      keys.add(api.apiKey);
      expect(apiByKey(api.apiKey)).toBe(api);
      expect(api.request.schema.apiKey).toBe(api.apiKey);
      expect(api.response.schema.apiKey).toBe(api.apiKey);
      expect(api.request.schema.validVersions).toEqual([api.minVersion, api.maxVersion]);
      expect(api.response.schema.validVersions).toEqual([api.minVersion, api.maxVersion]);
      expect(api.request.schema.flexibleVersions?.[0] ?? null).toBe(api.flexibleFrom);
    }
    expect(apiByKey(9999)).toBeUndefined();
    expect(apiSpec(ApiKey.Produce)).toBe(ProduceApi);
    expect(ProduceApi).toMatchObject({ apiKey: 0, minVersion: 0, maxVersion: 11, flexibleFrom: 9 });
    expect(FetchApi).toMatchObject({ apiKey: 1, flexibleFrom: 12 });
    expect(ApiVersionsApi).toMatchObject({ apiKey: 18, flexibleFrom: 3 });
  });
});

describe('round trips of every message at every version', () => {
  for (const { label, codec } of CODECS) {
    it(`${label}: every field non-default, then every nullable field null`, () => {
      // Proves encode -> decode is the identity for every field present in each version, absent fields decode to their defaults, and re-encoding gives the same bytes.
      for (const version of versionsOf(codec.schema)) {
        for (const variant of ['values', 'nulls'] as const) {
          const input = sampleStruct(codec.schema, { version, variant, seed: version * 1000 + 1 });
          const where = `${label} v${version} (${variant})`;
          const bytes = encodeWith(codec, input, version);
          const decoded = decodeAll(codec, bytes, version);
          expect(decoded, where).toEqual(expectedStruct(codec.schema, input, version));
          expect(encodeWith(codec, decoded, version).equals(bytes), `${where}: re-encoding differs`).toBe(true);
        }
      }
    });
  }

  it('encodes an empty object as the all-defaults message', () => {
    // Proves every field is optional on encode (absent = schema default) and decodes back to the defaults.
    for (const { label, codec } of CODECS) {
      for (const version of versionsOf(codec.schema)) {
        const decoded = decodeAll(codec, encodeWith(codec, {}, version), version);
        expect(decoded, `${label} v${version}`).toEqual(expectedStruct(codec.schema, defaultStruct(codec.schema), version));
      }
    }
  });

  it('refuses a non-default value of a non-ignorable field in a version without it, and drops ignorable ones', () => {
    // Proves encoders never lose information silently, except for fields the schema marks ignorable.
    let refused = 0;
    for (const { label, codec } of CODECS) {
      for (const version of versionsOf(codec.schema)) {
        for (const f of codec.schema.fields) {
          if (inRange(f.versions, version)) continue;
          const message = { [f.name]: sampleField(f, { version: f.versions[0], variant: 'values', seed: 5 }) };
          const where = `${label}.${f.name} at v${version}`;
          if (f.ignorable) {
            expect(() => encodeWith(codec, message, version), where).not.toThrow();
          } else {
            expect(() => encodeWith(codec, message, version), where).toThrow(ProtocolEncodeError);
            refused++;
          }
        }
      }
    }
    expect(refused).toBeGreaterThan(100);
    expect(() => encodeProduceRequest({ transactionalId: 'txn' }, 2)).toThrow(/ProduceRequest\.transactionalId cannot be encoded at version 2/);
    expect(encodeProduceRequest({ transactionalId: null }, 2)).toEqual(encodeProduceRequest({}, 2));
    expect(encodeProduceResponse({ throttleTimeMs: 100 }, 0)).toEqual(encodeProduceResponse({}, 0));
  });

  it('refuses null in a version where the field is not nullable, and versions outside validVersions', () => {
    // Proves nullability follows nullableVersions per version and version ranges are enforced both ways.
    expect(() => encodeMetadataRequest({ topics: null }, 0)).toThrow(/MetadataRequest\.topics is null/);
    expect(encodeMetadataRequest({ topics: null }, 1)).toEqual(hex('ffffffff'));
    expect(() => encodeMetadataRequest({ topics: [{ name: null }] }, 9)).toThrow(ProtocolEncodeError);
    expect(decodeMetadataRequest(encodeMetadataRequest({ topics: [{ name: null }] }, 10), 10).topics?.[0]?.name).toBeNull();
    expect(() => encodeProduceRequest({}, 12)).toThrow(/ProduceRequest version 12 is not supported \(valid versions 0-11\)/);
    expect(() => decodeProduceRequest(Buffer.alloc(64), -1)).toThrow(ProtocolDecodeError);
  });
});

describe('hand-checked byte vectors', () => {
  it('ApiVersionsRequest v3: compact client software name and version, then an empty tag section', () => {
    // Proves compact strings are uvarint(N+1) + UTF-8 and flexible structs end with a tag count.
    const bytes = encodeApiVersionsRequest({ clientSoftwareName: 'kcat', clientSoftwareVersion: '1.7.1' }, 3);
    expect(bytes).toEqual(hex('05 6b636174 | 06 312e372e31 | 00'));
    expect(decodeApiVersionsRequest(bytes, 3)).toEqual({ clientSoftwareName: 'kcat', clientSoftwareVersion: '1.7.1' });
    expect(encodeApiVersionsRequest({ clientSoftwareName: 'kcat' }, 0)).toEqual(Buffer.alloc(0));
    // An unknown tag is skipped.
    expect(decodeApiVersionsRequest(hex('02 61 02 62 | 01 05 02 abcd'), 3)).toEqual({ clientSoftwareName: 'a', clientSoftwareVersion: 'b' });
  });

  it('MetadataRequest v0 (classic array of strings) and v9 (compact, flexible)', () => {
    // Proves int32 array counts and int16 string lengths before v9, uvarint N+1 and tag sections from v9.
    const v0 = encodeMetadataRequest({ topics: [{ name: 'a' }, { name: 'bc' }] }, 0);
    expect(v0).toEqual(hex('00000002 | 0001 61 | 0002 6263'));
    expect(decodeMetadataRequest(v0, 0)).toEqual({
      topics: [
        { topicId: ZERO_UUID, name: 'a' },
        { topicId: ZERO_UUID, name: 'bc' },
      ],
      allowAutoTopicCreation: true,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    });
    const v9 = encodeMetadataRequest(
      { topics: [{ name: 'a' }], allowAutoTopicCreation: true, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: true },
      9,
    );
    expect(v9).toEqual(hex('02 | 02 61 00 | 01 | 00 | 01 | 00'));
    expect(encodeMetadataRequest({ topics: null, allowAutoTopicCreation: false }, 9)).toEqual(hex('00 00 00 00 00'));
    expect(decodeMetadataRequest(hex('00 00 00 00 00'), 9).topics).toBeNull();
  });

  it('ProduceRequest v3 with a records blob: nullable transactional id, int32-length records, large records referenced', () => {
    // Proves the classic records encoding and that a large records value is written by reference, not copied.
    const blob = hex('0102030405');
    const bytes = encodeProduceRequest({ transactionalId: null, acks: -1, timeoutMs: 30000, topicData: [{ name: 't', partitionData: [{ index: 0, records: blob }] }] }, 3);
    expect(bytes).toEqual(hex('ffff | ffff | 00007530 | 00000001 | 0001 74 | 00000001 | 00000000 | 00000005 0102030405'));
    const decoded = decodeProduceRequest(bytes, 3);
    const records = decoded.topicData[0]?.partitionData[0]?.records;
    expect(records).toEqual(blob);
    expect(records?.buffer, 'records decode as a view of the request').toBe(bytes.buffer);

    const large = Buffer.alloc(4096, 0xab);
    const w = new Writer();
    ProduceApi.request.write(w, { acks: 1, topicData: [{ name: 't', partitionData: [{ index: 3, records: large }] }] }, 3);
    const parts = w.finish();
    expect(parts).toHaveLength(2);
    expect(parts[1]).toBe(large);
    expect(decodeProduceRequest(Buffer.concat(parts), 3).topicData[0]?.partitionData[0]?.records).toEqual(large);
  });

  it('FetchResponse v4: classic layout with last stable offset and aborted transactions', () => {
    // Proves the v4 partition layout (no log start offset yet) byte by byte.
    const message = {
      throttleTimeMs: 5,
      responses: [
        {
          topic: 't',
          partitions: [
            { partitionIndex: 2, errorCode: 0, highWatermark: 10n, lastStableOffset: 8n, abortedTransactions: [{ producerId: 7n, firstOffset: 3n }], records: hex('aabbcc') },
          ],
        },
      ],
    };
    const bytes = encodeFetchResponse(message, 4);
    expect(bytes).toEqual(
      hex(
        '00000005 | 00000001 | 0001 74 | 00000001 | 00000002 | 0000 | 000000000000000a | 0000000000000008 |' +
          '00000001 | 0000000000000007 | 0000000000000003 | 00000003 aabbcc',
      ),
    );
    const decoded = decodeFetchResponse(bytes, 4);
    expect(decoded.responses[0]?.partitions[0]).toMatchObject({ highWatermark: 10n, lastStableOffset: 8n, logStartOffset: -1n, preferredReadReplica: -1 });
  });

  it('FetchResponse v12: compact layout with a tagged current leader', () => {
    // Proves flexible Fetch: compact arrays/strings/records, null aborted transactions, and a tagged struct written only when non-default.
    const message: Init<FetchResponse> = {
      throttleTimeMs: 0,
      errorCode: 0,
      sessionId: 9,
      responses: [
        {
          topic: 't',
          topicId: ZERO_UUID,
          partitions: [
            {
              partitionIndex: 0,
              errorCode: 0,
              highWatermark: 1n,
              lastStableOffset: 1n,
              logStartOffset: 0n,
              abortedTransactions: null,
              preferredReadReplica: -1,
              records: hex('aa'),
              currentLeader: { leaderId: 1, leaderEpoch: 5 },
            },
          ],
        },
      ],
    };
    const bytes = encodeFetchResponse(message, 12);
    expect(bytes).toEqual(
      hex(
        '00000000 | 0000 | 00000009 | 02 | 02 74 | 02 | 00000000 | 0000 | 0000000000000001 | 0000000000000001 | 0000000000000000 |' +
          '00 | ffffffff | 02 aa | 01 01 09 00000001 00000005 00 | 00 | 00',
      ),
    );
    const decoded = decodeFetchResponse(bytes, 12);
    const partition = decoded.responses[0]?.partitions[0];
    expect(partition?.currentLeader).toEqual({ leaderId: 1, leaderEpoch: 5 });
    expect(partition?.divergingEpoch).toEqual({ epoch: -1, endOffset: -1n });
    expect(partition?.abortedTransactions).toBeNull();
    // Default leader: no tagged field at all.
    const plain = encodeFetchResponse({ ...message, responses: [{ topic: 't', partitions: [{ records: null }] }] }, 12);
    expect(plain.subarray(-3)).toEqual(hex('00 00 00'));
  });

  it('request header v1 and v2: the client id keeps its int16 length in v2', () => {
    // Proves RequestHeader's clientId is never compact (flexibleVersions none) while v2 still adds a tag section.
    const v1 = encodeRequestHeader({ requestApiKey: 3, requestApiVersion: 0, correlationId: 5, clientId: null }, 1);
    expect(v1).toEqual(hex('0003 | 0000 | 00000005 | ffff'));
    const v2 = encodeRequestHeader({ requestApiKey: 18, requestApiVersion: 3, correlationId: 1, clientId: 'rdkafka' }, 2);
    expect(v2).toEqual(hex('0012 | 0003 | 00000001 | 0007 72646b61666b61 | 00'));
    expect(decodeRequestHeader(v2, 2)).toEqual({ requestApiKey: 18, requestApiVersion: 3, correlationId: 1, clientId: 'rdkafka' });
    expect(decodeRequestHeader(v1, 1).clientId).toBeNull();
  });

  it('response header v0 and v1', () => {
    // Proves the response header is the correlation id, plus an empty tag section in v1.
    expect(encodeResponseHeader({ correlationId: 7 }, 0)).toEqual(hex('00000007'));
    expect(encodeResponseHeader({ correlationId: 7 }, 1)).toEqual(hex('00000007 00'));
    expect(decodeResponseHeader(hex('00000007 00'), 1)).toEqual({ correlationId: 7 });
  });

  it('frames: header versions per API, ApiVersions always answered with response header v0', () => {
    // Proves header-version selection (incl. ControlledShutdown v0 and ApiVersions) and whole-frame encoding/decoding.
    expect(requestHeaderVersion(ApiKey.Produce, 8)).toBe(1);
    expect(requestHeaderVersion(ApiKey.Produce, 9)).toBe(2);
    expect(requestHeaderVersion(ApiKey.ControlledShutdown, 0)).toBe(0);
    expect(requestHeaderVersion(ApiKey.ApiVersions, 99)).toBe(2);
    expect(requestHeaderVersion(9999, 0)).toBe(1);
    expect(responseHeaderVersion(ApiKey.ApiVersions, 3)).toBe(0);
    expect(responseHeaderVersion(ApiKey.Metadata, 9)).toBe(1);
    expect(responseHeaderVersion(ApiKey.Metadata, 8)).toBe(0);

    const response = Buffer.concat(encodeResponseFrame(ApiVersionsApi, 3, 0x0a0b0c0d, { errorCode: 35, apiKeys: [{ apiKey: 18, minVersion: 0, maxVersion: 3 }] }, new Writer()));
    // size | correlation id (no tag byte) | error 35 | 1 key | key 18 0..3 + tags | throttle | tags
    expect(response).toEqual(hex('00000013 | 0a0b0c0d | 0023 | 02 | 0012 0000 0003 00 | 00000000 | 00'));

    const request = Buffer.concat(encodeRequestFrame(MetadataApi, 9, 77, 'cli', { topics: [{ name: 'x' }] }));
    expect(request.readInt32BE(0)).toBe(request.length - 4);
    const frame = readRequestFrame(request.subarray(4));
    expect(frame.headerVersion).toBe(2);
    expect(frame.header).toEqual({ requestApiKey: 3, requestApiVersion: 9, correlationId: 77, clientId: 'cli' });
    const decoded = decodeRequest(request.subarray(4));
    expect(decoded.api).toBe(MetadataApi);
    expect(decoded.body).toMatchObject({ topics: [{ name: 'x' }], allowAutoTopicCreation: true });
    expect(() => decodeRequest(hex('270f 0000 00000001 ffff'))).toThrow(/unknown api key 9999/);
    expect(() => decodeRequest(hex('0003 0063 00000001 ffff 00'))).toThrow(/Metadata version 99 is not supported/);
  });
});

describe('hostile input', () => {
  const samples = allSamples();

  it('rejects every truncation of every sample message with ProtocolDecodeError', () => {
    // Proves decoders check the bytes left before every read (no RangeError, no partial success).
    let checked = 0;
    for (const { label, codec, version, bytes } of samples) {
      const step = bytes.length <= 256 ? 1 : Math.ceil(bytes.length / 97);
      for (let cut = 0; cut < bytes.length; cut += step) {
        const where = `${label} v${version} cut at ${cut}/${bytes.length}`;
        expect(() => codec.read(new Reader(bytes.subarray(0, cut)), version), where).toThrow(ProtocolDecodeError);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10_000);
  });

  it('rejects absurd counts and lengths before allocating', () => {
    // Proves forged counts/lengths (2^31-1, 2^32-1, negative) fail fast with a clear message instead of allocating.
    const started = Date.now();
    // ProduceRequest v3: null txn id, acks, timeout, then topic count 2^31-1.
    expect(() => decodeProduceRequest(hex('ffff ffff 00007530 7fffffff 0001 74'), 3)).toThrow(/array count 2147483647 cannot fit/);
    // Compact array count uvarint 2^32-1 (N+1 = 2^32-1).
    expect(() => decodeMetadataRequest(hex('ffffffff0f 00'), 9)).toThrow(ProtocolDecodeError);
    // Negative count other than -1.
    expect(() => decodeProduceRequest(hex('ffff ffff 00007530 fffffffe'), 3)).toThrow(/invalid array count -2/);
    // null where not nullable (v0 metadata topics).
    expect(() => decodeMetadataRequest(hex('ffffffff'), 0)).toThrow(/null in a non-nullable array/);
    // String length 32767 with 1 byte left.
    expect(() => decodeMetadataRequest(hex('00000001 7fff 61'), 0)).toThrow(/string length 32767 exceeds the 1 bytes left/);
    // Records length 2^31-1.
    expect(() => decodeProduceRequest(hex('ffff ffff 00007530 00000001 0001 74 00000001 00000000 7fffffff 00'), 3)).toThrow(/bytes length 2147483647/);
    // Overlong uvarint.
    expect(() => decodeApiVersionsRequest(hex('ffffffffffff'), 3)).toThrow(/unsigned varint/);
    // A tagged field whose size runs past the end, and one whose value is shorter than its size.
    expect(() => decodeApiVersionsRequest(hex('02 61 02 62 | 01 05 7f 00'), 3)).toThrow(/tagged field needs 127 bytes/);
    const tagged = encodeFetchResponse({ responses: [{ topic: 't', partitions: [{ currentLeader: { leaderId: 1 } }] }] }, 12);
    const at = tagged.indexOf(hex('01 01 09'));
    expect(at).toBeGreaterThan(0);
    const widened = Buffer.concat([tagged.subarray(0, at), hex('01 01 0a'), tagged.subarray(at + 3, at + 3 + 9), hex('ff'), tagged.subarray(at + 3 + 9)]);
    expect(() => decodeFetchResponse(widened, 12)).toThrow(/tagged field value has 1 unread bytes/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('never throws anything but ProtocolDecodeError on randomly corrupted messages', () => {
    // Proves robustness against arbitrary byte flips: decoding either succeeds or fails with the typed error.
    const random = prng(0xc0ffee);
    let decoded = 0;
    for (const { label, codec, version, bytes } of samples) {
      if (bytes.length === 0) continue;
      for (let round = 0; round < 12; round++) {
        const copy = Buffer.from(bytes);
        const flips = 1 + Math.floor(random() * 3);
        for (let i = 0; i < flips; i++) copy[Math.floor(random() * copy.length)] = Math.floor(random() * 256);
        try {
          codec.read(new Reader(copy), version);
          decoded++;
        } catch (error) {
          if (!(error instanceof ProtocolDecodeError)) throw new Error(`${label} v${version}: ${String(error)} on ${copy.toString('hex')}`);
        }
      }
    }
    expect(decoded).toBeGreaterThan(0);
  });
});

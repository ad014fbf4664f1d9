import { describe, it, expect } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkIndexInvariants,
  checkLogInvariants,
  crc32cReference,
  readLogFile,
  readOffsetIndex,
  readPartitionDir,
  readTimeIndex,
  type RefSegmentContent,
} from '../support/kafka-format-reader.js';

// ---------------------------------------------------------------------------
// Hand assembly helpers. Record bodies below are written out byte by byte so
// that the zigzag varints are checked against hand-computed values, not
// against a second encoder.
// ---------------------------------------------------------------------------

const ascii = (s: string): number[] => [...Buffer.from(s, 'latin1')];

interface BatchSpec {
  baseOffset: bigint;
  partitionLeaderEpoch: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: bigint;
  maxTimestamp: bigint;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordsCount: number;
  records: number[];
}

/** Lays out a v2 batch header field by field and fills in the CRC-32C. */
function assembleBatch(s: BatchSpec): Buffer {
  const out = Buffer.alloc(61 + s.records.length);
  out.writeBigInt64BE(s.baseOffset, 0);
  out.writeInt32BE(out.length - 12, 8);
  out.writeInt32BE(s.partitionLeaderEpoch, 12);
  out.writeInt8(2, 16);
  out.writeInt16BE(s.attributes, 21);
  out.writeInt32BE(s.lastOffsetDelta, 23);
  out.writeBigInt64BE(s.baseTimestamp, 27);
  out.writeBigInt64BE(s.maxTimestamp, 35);
  out.writeBigInt64BE(s.producerId, 43);
  out.writeInt16BE(s.producerEpoch, 51);
  out.writeInt32BE(s.baseSequence, 53);
  out.writeInt32BE(s.recordsCount, 57);
  Buffer.from(s.records).copy(out, 61);
  out.writeUInt32BE(crc32cReference(out.subarray(21)), 17);
  return out;
}

const T1 = 1_700_000_000_000n;
const T2 = 1_700_000_100_000n;

// Record 0: key "k1", value "hello", no headers.
//   body = attr 00 | tsDelta 0 -> 00 | offDelta 0 -> 00 | keyLen 2 -> 04 "k1"
//          | valLen 5 -> 0A "hello" | headers 0 -> 00          = 13 bytes -> length 1A
const REC0 = [0x1a, 0x00, 0x00, 0x00, 0x04, ...ascii('k1'), 0x0a, ...ascii('hello'), 0x00];
// Record 1: null key, null value, headers [("h-a", "x"), ("z", null)].
//   body = attr 00 | tsDelta 5 -> 0A | offDelta 1 -> 02 | keyLen -1 -> 01 | valLen -1 -> 01
//          | headers 2 -> 04 | 06 "h-a" 02 "x" | 02 "z" 01     = 15 bytes -> length 1E
const REC1 = [0x1e, 0x00, 0x0a, 0x02, 0x01, 0x01, 0x04, 0x06, ...ascii('h-a'), 0x02, ...ascii('x'), 0x02, ...ascii('z'), 0x01];

const BATCH_A = assembleBatch({
  baseOffset: 100n,
  partitionLeaderEpoch: 3,
  attributes: 0, // no compression, CreateTime
  lastOffsetDelta: 1,
  baseTimestamp: T1,
  maxTimestamp: T1 + 5n,
  producerId: -1n,
  producerEpoch: -1,
  baseSequence: -1,
  recordsCount: 2,
  records: [...REC0, ...REC1],
});

// Record 2: empty (non-null) key, 200-byte value, multi-byte varints.
//   tsDelta 300 -> zigzag 600 -> D8 04 ; valLen 200 -> zigzag 400 -> 90 03
//   body = 1 + 2 + 1 + 1 + 2 + 200 + 1 = 208 -> zigzag 416 -> A0 03
const VALUE_200 = Array.from({ length: 200 }, (_, i) => i);
const REC2 = [0xa0, 0x03, 0x00, 0xd8, 0x04, 0x00, 0x00, 0x90, 0x03, ...VALUE_200, 0x00];

const BATCH_B = assembleBatch({
  baseOffset: 102n,
  partitionLeaderEpoch: 4,
  attributes: 0x08 | 0x10, // LogAppendTime, transactional
  lastOffsetDelta: 0,
  baseTimestamp: T2,
  maxTimestamp: T2 + 42n,
  producerId: 42n,
  producerEpoch: 7,
  baseSequence: 0,
  recordsCount: 1,
  records: REC2,
});

const TWO_BATCHES = Buffer.concat([BATCH_A, BATCH_B]);

function indexBytes(entries: [number, number][], padEntries: number): Buffer {
  const out = Buffer.alloc((entries.length + padEntries) * 8);
  entries.forEach(([rel, pos], i) => {
    out.writeUInt32BE(rel, i * 8);
    out.writeUInt32BE(pos, i * 8 + 4);
  });
  return out;
}

function timeIndexBytes(entries: [bigint, number][], padEntries: number): Buffer {
  const out = Buffer.alloc((entries.length + padEntries) * 12);
  entries.forEach(([ts, rel], i) => {
    out.writeBigInt64BE(ts, i * 12);
    out.writeUInt32BE(rel, i * 12 + 8);
  });
  return out;
}

// ---------------------------------------------------------------------------

describe('crc32cReference', () => {
  it('matches published CRC-32C check values', () => {
    // Proves the checksum is Castagnoli CRC-32C, using the standard check string and RFC 3720 vectors.
    expect(crc32cReference(Buffer.from('123456789', 'ascii'))).toBe(0xe3069283);
    expect(crc32cReference(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32cReference(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32cReference(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32cReference(new Uint8Array(0))).toBe(0);
  });
});

describe('readLogFile', () => {
  it('decodes a hand-assembled two-batch log exactly', () => {
    // Proves every header field, record field, null marker and header of two hand-built batches decodes to the intended values.
    const log = readLogFile(TWO_BATCHES, 100n);
    expect(log.error).toBeUndefined();
    expect(log.validBytes).toBe(TWO_BATCHES.length);
    expect(log.batches).toHaveLength(2);

    const [a, b] = log.batches;
    expect(a).toMatchObject({
      position: 0,
      sizeBytes: BATCH_A.length,
      baseOffset: 100n,
      batchLength: BATCH_A.length - 12,
      partitionLeaderEpoch: 3,
      magic: 2,
      crcValid: true,
      attributes: 0,
      compressionCodec: 0,
      compression: 'none',
      timestampType: 'CreateTime',
      isTransactional: false,
      isControl: false,
      lastOffsetDelta: 1,
      lastOffset: 101n,
      baseTimestamp: T1,
      maxTimestamp: T1 + 5n,
      producerId: -1n,
      producerEpoch: -1,
      baseSequence: -1,
      recordsCount: 2,
    });
    expect(a!.crc).toBe(BATCH_A.readUInt32BE(17));
    expect(a!.records).toEqual([
      {
        offset: 100n,
        offsetDelta: 0,
        timestamp: T1,
        timestampDelta: 0n,
        attributes: 0,
        key: Buffer.from('k1'),
        value: Buffer.from('hello'),
        headers: [],
        sizeBytes: REC0.length,
      },
      {
        offset: 101n,
        offsetDelta: 1,
        timestamp: T1 + 5n,
        timestampDelta: 5n,
        attributes: 0,
        key: null,
        value: null,
        headers: [
          { key: 'h-a', value: Buffer.from('x') },
          { key: 'z', value: null },
        ],
        sizeBytes: REC1.length,
      },
    ]);

    expect(b).toMatchObject({
      position: BATCH_A.length,
      sizeBytes: BATCH_B.length,
      baseOffset: 102n,
      partitionLeaderEpoch: 4,
      crcValid: true,
      attributes: 0x18,
      timestampType: 'LogAppendTime',
      isTransactional: true,
      isControl: false,
      lastOffset: 102n,
      baseTimestamp: T2,
      maxTimestamp: T2 + 42n,
      producerId: 42n,
      producerEpoch: 7,
      baseSequence: 0,
      recordsCount: 1,
    });
    expect(b!.records).toHaveLength(1);
    const r = b!.records![0]!;
    expect(r.offset).toBe(102n);
    expect(r.timestampDelta).toBe(300n);
    expect(r.timestamp).toBe(T2 + 42n); // LogAppendTime: the batch maxTimestamp, not base + delta
    expect(r.key).toEqual(Buffer.alloc(0));
    expect(r.value).toEqual(Buffer.from(VALUE_200));
    expect(r.headers).toEqual([]);
    expect(r.sizeBytes).toBe(REC2.length);
  });

  it('reports a truncated tail and keeps the complete batches before it', () => {
    // Proves a partial trailing batch (inside the header and inside the body) stops reading with an error at its start.
    for (const cut of [5, 40, 70, BATCH_B.length - 1]) {
      const bytes = Buffer.concat([BATCH_A, BATCH_B.subarray(0, cut)]);
      const log = readLogFile(bytes, 100n);
      expect(log.batches.map((x) => x.baseOffset)).toEqual([100n]);
      expect(log.validBytes).toBe(BATCH_A.length);
      expect(log.error).toMatch(/truncated/);
      expect(log.error).toContain(`position ${BATCH_A.length}`);
    }
  });

  it('reports a zero-filled tail distinctly', () => {
    // Proves trailing zero padding after valid batches is reported as such and not counted as valid bytes.
    const log = readLogFile(Buffer.concat([TWO_BATCHES, Buffer.alloc(100)]), 100n);
    expect(log.batches).toHaveLength(2);
    expect(log.validBytes).toBe(TWO_BATCHES.length);
    expect(log.error).toMatch(/zero-filled tail of 100 bytes/);
  });

  it('flags a flipped byte with crcValid false', () => {
    // Proves a single corrupted byte inside the CRC-covered range is detected and stops reading at that batch.
    const bytes = Buffer.from(TWO_BATCHES);
    bytes[61 + 8] = bytes[61 + 8]! ^ 0x01; // inside "hello" of record 0
    const log = readLogFile(bytes, 100n);
    expect(log.batches).toHaveLength(1);
    expect(log.batches[0]!.crcValid).toBe(false);
    expect(log.batches[0]!.crc).toBe(BATCH_A.readUInt32BE(17));
    expect(log.validBytes).toBe(0);
    expect(log.error).toMatch(/CRC mismatch.*position 0/);

    const good = readLogFile(TWO_BATCHES, 100n);
    expect(good.batches.every((x) => x.crcValid)).toBe(true);
  });

  it('rejects wrong magic, undersized length and inconsistent record lengths', () => {
    // Proves structural errors that framing alone cannot hide are reported rather than silently accepted.
    const badMagic = Buffer.from(BATCH_A);
    badMagic[16] = 1;
    expect(readLogFile(badMagic, 100n).error).toMatch(/magic 1/);

    const shortLen = Buffer.from(BATCH_A);
    shortLen.writeInt32BE(10, 8);
    expect(readLogFile(shortLen, 100n).error).toMatch(/batchLength 10/);

    // Record 0 claims a 14-byte body, which the fields do not fill; CRC is recomputed so only the record is wrong.
    const lying = assembleBatch({
      baseOffset: 100n, partitionLeaderEpoch: 0, attributes: 0, lastOffsetDelta: 0,
      baseTimestamp: T1, maxTimestamp: T1, producerId: -1n, producerEpoch: -1, baseSequence: -1,
      recordsCount: 1, records: [0x1c, ...REC0.slice(1), 0x00],
    });
    const log = readLogFile(lying, 100n);
    expect(log.batches[0]!.crcValid).toBe(true);
    expect(log.batches[0]!.records).toBeNull();
    expect(log.batches[0]!.recordsError).toMatch(/record 0 declares 14/);
    expect(log.error).toMatch(/undecodable records/);
    expect(log.validBytes).toBe(0);
  });

  it('leaves records of compressed batches undecoded', () => {
    // Proves codec bits are read and a compressed payload is not misread as plain records.
    const gz = assembleBatch({
      baseOffset: 100n, partitionLeaderEpoch: 0, attributes: 0x01, lastOffsetDelta: 4,
      baseTimestamp: T1, maxTimestamp: T1, producerId: -1n, producerEpoch: -1, baseSequence: -1,
      recordsCount: 5, records: [0x1f, 0x8b, 0x08, 0x00, 0xff, 0xff],
    });
    const log = readLogFile(gz, 100n);
    expect(log.error).toBeUndefined();
    expect(log.batches[0]).toMatchObject({ compression: 'gzip', records: null, lastOffset: 104n });
  });

  it('rejects a batch whose offsets lie before the segment base offset', () => {
    // Proves the file-name base offset is enforced as the lower bound of a segment's offsets.
    const log = readLogFile(TWO_BATCHES, 200n);
    expect(log.validBytes).toBe(0);
    expect(log.error).toMatch(/outside the range of segment 200/);
  });
});

describe('readOffsetIndex / readTimeIndex', () => {
  it('parses used entries and drops a zero-filled preallocated tail', () => {
    // Proves relative offsets are rebased on the segment base offset and zero padding after the first entry is ignored.
    const idx = indexBytes([[0, 0], [7, 4096], [15, 9000]], 5);
    expect(readOffsetIndex(idx, 1000n)).toEqual([
      { offset: 1000n, position: 0 },
      { offset: 1007n, position: 4096 },
      { offset: 1015n, position: 9000 },
    ]);
    expect(readOffsetIndex(indexBytes([[3, 120]], 0), 10n)).toEqual([{ offset: 13n, position: 120 }]);
    expect(readOffsetIndex(Buffer.alloc(8), 10n)).toEqual([{ offset: 10n, position: 0 }]);
    expect(readOffsetIndex(Buffer.alloc(8 * 64), 10n)).toEqual([]);
    expect(() => readOffsetIndex(Buffer.alloc(12), 0n)).toThrow(/multiple/);

    const tidx = timeIndexBytes([[T1, 1], [T1 + 10n, 4], [T1 + 10n, 9]], 3);
    expect(readTimeIndex(tidx, 1000n)).toEqual([
      { timestamp: T1, offset: 1001n },
      { timestamp: T1 + 10n, offset: 1004n },
      { timestamp: T1 + 10n, offset: 1009n },
    ]);
    expect(readTimeIndex(Buffer.alloc(12 * 10), 0n)).toEqual([]);
    expect(() => readTimeIndex(Buffer.alloc(8), 0n)).toThrow(/multiple/);
  });
});

describe('checkIndexInvariants / checkLogInvariants', () => {
  const log = readLogFile(TWO_BATCHES, 100n);
  const base = { baseOffset: 100n, log };

  it('accepts indexes that follow Kafka conventions', () => {
    // Proves a consistent index (last offset of each batch) and time index produce no violations.
    const seg: RefSegmentContent = {
      ...base,
      index: [
        { offset: 101n, position: 0 },
        { offset: 102n, position: BATCH_A.length },
      ],
      timeIndex: [
        { timestamp: T1 + 5n, offset: 101n },
        { timestamp: T2 + 42n, offset: 102n },
      ],
    };
    expect(checkIndexInvariants(seg)).toEqual([]);
    expect(checkLogInvariants(seg)).toEqual([]);
  });

  it('reports each kind of index violation', () => {
    // Proves mid-batch positions, wrong offsets, non-increasing entries and bad time entries are all reported.
    const seg: RefSegmentContent = {
      ...base,
      index: [
        { offset: 100n, position: 0 }, // base offset rather than last offset of the batch
        { offset: 102n, position: 30 }, // not a batch start
        { offset: 102n, position: 30 }, // not strictly increasing
        { offset: 150n, position: 5000 }, // past the log
      ],
      timeIndex: [
        { timestamp: T2, offset: 101n }, // later than any batch up to offset 101
        { timestamp: T1, offset: 102n }, // timestamp decreases
        { timestamp: T2, offset: 120n }, // offset outside the batches
      ],
    };
    const problems = checkIndexInvariants(seg);
    expect(problems).toHaveLength(9); // index[2] is both non-increasing (x2) and mid-batch
    expect(problems.join('\n')).toMatch(/index\[0\].*expected its last offset/);
    expect(problems.join('\n')).toMatch(/index\[1\].*not the start of a batch/);
    expect(problems.join('\n')).toMatch(/index\[2\].*offset not greater/);
    expect(problems.join('\n')).toMatch(/index\[2\].*position not greater/);
    expect(problems.join('\n')).toMatch(/index\[3\].*beyond the valid log prefix/);
    expect(problems.join('\n')).toMatch(/timeindex\[0\].*exceeds max batch timestamp/);
    expect(problems.join('\n')).toMatch(/timeindex\[1\].*timestamp decreases/);
    expect(problems.join('\n')).toMatch(/timeindex\[2\].*not inside any batch/);
  });

  it('reports overlapping batches and log errors', () => {
    // Proves the log-level check catches offsets that go backwards and a read that stopped early.
    const overlap = readLogFile(Buffer.concat([BATCH_A, BATCH_A]), 100n);
    const problems = checkLogInvariants({ baseOffset: 100n, log: overlap, index: [], timeIndex: [] });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/overlaps or precedes previous batch ending at 101/);

    const truncated = readLogFile(TWO_BATCHES.subarray(0, TWO_BATCHES.length - 3), 100n);
    expect(checkLogInvariants({ baseOffset: 100n, log: truncated, index: [], timeIndex: [] })[0]).toMatch(
      /^log: truncated/,
    );
  });
});

describe('readPartitionDir', () => {
  it('reads segments from disk sorted by base offset and ignores other files', () => {
    // Proves segment files are grouped by their 20-digit base offset, parsed, and ordered numerically.
    const dir = mkdtempSync(join(tmpdir(), 'kafka-format-reader-'));
    try {
      const name = (n: bigint, ext: string) => `${n.toString().padStart(20, '0')}.${ext}`;
      const later = assembleBatch({
        baseOffset: 1000n, partitionLeaderEpoch: 0, attributes: 0, lastOffsetDelta: 0,
        baseTimestamp: T2, maxTimestamp: T2, producerId: -1n, producerEpoch: -1, baseSequence: -1,
        recordsCount: 1, records: REC0,
      });
      writeFileSync(join(dir, name(1000n, 'log')), later);
      writeFileSync(join(dir, name(1000n, 'index')), Buffer.alloc(8 * 16));
      writeFileSync(join(dir, name(1000n, 'timeindex')), timeIndexBytes([[T2, 0]], 4));
      writeFileSync(join(dir, name(100n, 'log')), TWO_BATCHES);
      writeFileSync(join(dir, name(100n, 'index')), indexBytes([[2, BATCH_A.length]], 0));
      writeFileSync(join(dir, name(100n, 'timeindex')), timeIndexBytes([[T1 + 5n, 1], [T2 + 42n, 2]], 0));
      writeFileSync(join(dir, name(100n, 'snapshot')), Buffer.alloc(4));
      writeFileSync(join(dir, 'leader-epoch-checkpoint'), '0\n0\n');

      const segs = readPartitionDir(dir);
      expect(segs.map((s) => s.baseOffset)).toEqual([100n, 1000n]);
      expect(segs[0]!.log.batches.map((b) => b.baseOffset)).toEqual([100n, 102n]);
      expect(segs[0]!.index).toEqual([{ offset: 102n, position: BATCH_A.length }]);
      expect(segs[0]!.timeIndex).toEqual([
        { timestamp: T1 + 5n, offset: 101n },
        { timestamp: T2 + 42n, offset: 102n },
      ]);
      expect(segs[1]!.log.batches[0]!.records![0]!.offset).toBe(1000n);
      expect(segs[1]!.index).toEqual([]);
      expect(segs[1]!.timeIndex).toEqual([{ timestamp: T2, offset: 1000n }]);
      expect(segs[1]!.files.log).toBe(join(dir, name(1000n, 'log')));
      for (const s of segs) {
        expect(checkIndexInvariants(s)).toEqual([]);
        expect(checkLogInvariants(s)).toEqual([]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

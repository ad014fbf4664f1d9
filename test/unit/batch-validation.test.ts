import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { crc32c, decodeRecordBatches, encodeRecordBatch, type Log, type LogConfigInput, type StorageErrorName } from '../../src/index.js';
import { checkLogInvariants, readPartitionDir } from '../support/kafka-format-reader.js';
import {
  BATCH,
  T0,
  expectLogError,
  expectSameSnapshot,
  flatten,
  makeBatch,
  makeTempDir,
  openTestLog,
  patched,
  readAllBatches,
  recordLayout,
  removeTempDir,
  snapshot,
} from '../support/log-test-helpers.js';

let dir: string | undefined;

beforeEach(() => {
  dir = makeTempDir('gregor-validation-');
});

afterEach(() => {
  removeTempDir(dir);
  dir = undefined;
});

/**
 * Opens a log holding two good batches (offsets 0..4), so "unchanged" is
 * meaningful. Small preallocated indexes keep the on-disk digests cheap.
 */
async function seededLog(config: LogConfigInput = {}): Promise<Log> {
  const log = await openTestLog(dir!, { 'segment.index.bytes': 64 * 1024, ...config });
  await log.append(makeBatch(2, 'seed-a'));
  await log.append(makeBatch(3, 'seed-b'));
  return log;
}

// Larger than either seed batch, so max.message.bytes can sit between them.
const good = (): Buffer => makeBatch(3, 'good-batch-with-a-longer-tag');

interface BadCase {
  name: string;
  code: StorageErrorName;
  build: () => Buffer;
  config?: LogConfigInput;
}

const badCases: BadCase[] = [
  { name: 'a truncated header (40 of 61 bytes)', code: 'CORRUPT_MESSAGE', build: () => good().subarray(0, 40) },
  { name: 'a truncated header (60 of 61 bytes)', code: 'CORRUPT_MESSAGE', build: () => good().subarray(0, 60) },
  { name: 'a batch cut short of its batchLength', code: 'CORRUPT_MESSAGE', build: () => good().subarray(0, good().length - 5) },
  {
    name: 'a batchLength larger than the buffer',
    code: 'CORRUPT_MESSAGE',
    build: () => patched(good(), (b) => b.writeInt32BE(b.length - 12 + 100, BATCH.batchLength)),
  },
  {
    name: 'a batchLength below the 49-byte minimum',
    code: 'CORRUPT_MESSAGE',
    build: () => patched(good(), (b) => b.writeInt32BE(48, BATCH.batchLength)),
  },
  {
    name: 'a negative batchLength',
    code: 'CORRUPT_MESSAGE',
    build: () => patched(good(), (b) => b.writeInt32BE(-1, BATCH.batchLength)),
  },
  { name: 'magic 0', code: 'CORRUPT_MESSAGE', build: () => patched(good(), (b) => b.writeInt8(0, BATCH.magic)) },
  { name: 'magic 1', code: 'CORRUPT_MESSAGE', build: () => patched(good(), (b) => b.writeInt8(1, BATCH.magic)) },
  {
    name: 'a CRC mismatch (one record byte flipped)',
    code: 'CORRUPT_MESSAGE',
    build: () => patched(good(), (b) => (b[b.length - 3] = b[b.length - 3]! ^ 0x10), false),
  },
  {
    name: 'a CRC mismatch (stored CRC altered)',
    code: 'CORRUPT_MESSAGE',
    build: () => patched(good(), (b) => b.writeUInt32BE((b.readUInt32BE(BATCH.crc) + 1) >>> 0, BATCH.crc), false),
  },
  {
    name: 'lastOffsetDelta above count-1',
    code: 'INVALID_RECORD',
    build: () => patched(good(), (b) => b.writeInt32BE(3, BATCH.lastOffsetDelta)),
  },
  {
    name: 'lastOffsetDelta below count-1',
    code: 'INVALID_RECORD',
    build: () => patched(good(), (b) => b.writeInt32BE(1, BATCH.lastOffsetDelta)),
  },
  {
    name: 'recordsCount 0 (a header-only batch)',
    code: 'INVALID_RECORD',
    build: () =>
      patched(good().subarray(0, BATCH.records), (b) => {
        b.writeInt32BE(BATCH.records - 12, BATCH.batchLength);
        b.writeInt32BE(0, BATCH.lastOffsetDelta);
        b.writeInt32BE(0, BATCH.recordsCount);
      }),
  },
  {
    name: 'a negative recordsCount',
    code: 'INVALID_RECORD',
    build: () => patched(good(), (b) => b.writeInt32BE(-1, BATCH.recordsCount)),
  },
  {
    name: 'a control batch from a producer',
    code: 'INVALID_RECORD',
    build: () => patched(good(), (b) => b.writeInt16BE(b.readInt16BE(BATCH.attributes) | 0x20, BATCH.attributes)),
  },
  ...[5, 6, 7].map(
    (codec): BadCase => ({
      name: `undefined compression codec ${codec}`,
      code: 'CORRUPT_MESSAGE',
      build: () => patched(good(), (b) => b.writeInt16BE((b.readInt16BE(BATCH.attributes) & ~0x07) | codec, BATCH.attributes)),
    }),
  ),
  {
    name: 'a record length running past the batch (CRC recomputed)',
    code: 'CORRUPT_MESSAGE',
    // Record 0's 1-byte length varint becomes 63 (zigzag 0x7e): more than the batch holds.
    build: () => patched(good(), (b) => (b[BATCH.records] = 0x7e)),
  },
  {
    name: 'a record length shorter than its fields (CRC recomputed)',
    code: 'CORRUPT_MESSAGE',
    build: () => patched(good(), (b) => (b[BATCH.records] = b[BATCH.records]! - 2)),
  },
  {
    name: 'a record longer than its fields (a stray byte inside the record)',
    code: 'CORRUPT_MESSAGE',
    build: () => {
      const one = makeBatch(1, 'padded');
      const grown = Buffer.concat([one, Buffer.from([0])]);
      return patched(grown, (b) => {
        b.writeInt32BE(b.length - 12, BATCH.batchLength);
        b[BATCH.records] = b[BATCH.records]! + 2; // zigzag: length + 1
      });
    },
  },
  {
    name: 'bytes after the last record (recordsCount smaller than the records present)',
    code: 'CORRUPT_MESSAGE',
    build: () =>
      patched(good(), (b) => {
        b.writeInt32BE(2, BATCH.recordsCount);
        b.writeInt32BE(1, BATCH.lastOffsetDelta);
      }),
  },
  {
    name: 'a recordsCount larger than the records present',
    code: 'CORRUPT_MESSAGE',
    build: () =>
      patched(good(), (b) => {
        b.writeInt32BE(4, BATCH.recordsCount);
        b.writeInt32BE(3, BATCH.lastOffsetDelta);
      }),
  },
  {
    name: 'a repeated offset delta (CRC recomputed)',
    code: 'INVALID_RECORD',
    build: () => {
      const batch = good();
      const layout = recordLayout(batch);
      return patched(batch, (b) => (b[layout[1]!.offsetDeltaAt] = 0)); // record 1 claims delta 0
    },
  },
  {
    name: 'a skipped offset delta (CRC recomputed)',
    code: 'INVALID_RECORD',
    build: () => {
      const batch = good();
      const layout = recordLayout(batch);
      return patched(batch, (b) => (b[layout[2]!.offsetDeltaAt] = 6)); // record 2 claims delta 3
    },
  },
  {
    name: 'a batch larger than max.message.bytes',
    code: 'MESSAGE_TOO_LARGE',
    build: () => good(),
    config: { 'max.message.bytes': good().length - 1 },
  },
  {
    name: 'an append larger than segment.bytes',
    code: 'RECORD_LIST_TOO_LARGE',
    build: () => Buffer.concat([makeBatch(20, 'big-a'), makeBatch(20, 'big-b')]),
    config: { 'segment.bytes': 1200 },
  },
  { name: 'an empty buffer', code: 'INVALID_RECORD', build: () => Buffer.alloc(0) },
  {
    name: 'a good batch followed by one with a bad CRC',
    code: 'CORRUPT_MESSAGE',
    build: () => Buffer.concat([good(), patched(makeBatch(2, 'second'), (b) => (b[b.length - 1] = b[b.length - 1]! ^ 1), false)]),
  },
  {
    name: 'a good batch followed by a control batch',
    code: 'INVALID_RECORD',
    build: () => Buffer.concat([good(), patched(makeBatch(2, 'second'), (b) => b.writeInt16BE(0x20, BATCH.attributes))]),
  },
  {
    name: 'two good batches followed by a partial third',
    code: 'CORRUPT_MESSAGE',
    build: () => Buffer.concat([good(), makeBatch(2, 'second'), makeBatch(2, 'third').subarray(0, 70)]),
  },
  {
    name: 'a good batch followed by one larger than max.message.bytes',
    code: 'MESSAGE_TOO_LARGE',
    build: () => Buffer.concat([makeBatch(1, 's'), makeBatch(30, 'too-big')]),
    config: { 'max.message.bytes': 400 },
  },
];

describe('append validation', () => {
  it.each(badCases)('rejects $name with $code and leaves the log unchanged', async ({ code, build, config }) => {
    // Proves a malformed append is refused with the Kafka error for that field and writes nothing at all.
    const log = await seededLog(config);
    try {
      const before = await snapshot(log);
      expect(before.logEndOffset).toBe(5);
      const bad = build();
      const input = Buffer.from(bad);
      const error = await expectLogError(log.append(bad), code);
      expect(error.message.length).toBeGreaterThan(0);
      expect(bad.equals(input)).toBe(true);
      expectSameSnapshot(await snapshot(log), before);
      // The log is still usable and the next good append gets the next offset.
      const result = await log.append(makeBatch(1, 'after'));
      expect(result.baseOffset).toBe(5);
      expect(flatten(await readAllBatches(log)).map((r) => r.value)).toEqual([
        'seed-a-value-0',
        'seed-a-value-1',
        'seed-b-value-0',
        'seed-b-value-1',
        'seed-b-value-2',
        'after-value-0',
      ]);
    } finally {
      await log.close();
    }
  });

  it('accepts a batch exactly max.message.bytes long', async () => {
    // Proves the max.message.bytes bound is inclusive (only larger batches are refused).
    const batch = good();
    const log = await seededLog({ 'max.message.bytes': batch.length });
    try {
      const result = await log.append(batch);
      expect(result).toMatchObject({ baseOffset: 5, lastOffset: 7, recordCount: 3, batchCount: 1 });
    } finally {
      await log.close();
    }
  });

  it('accepts an append exactly segment.bytes long', async () => {
    // Proves an append as large as segment.bytes is accepted (it rolls into a segment of its own).
    const batches = Buffer.concat([makeBatch(5, 'x'), makeBatch(5, 'y')]);
    const log = await seededLog({ 'segment.bytes': batches.length });
    try {
      const result = await log.append(batches);
      expect(result).toMatchObject({ baseOffset: 5, lastOffset: 14, recordCount: 10, batchCount: 2 });
      const segments = await log.segments();
      expect(segments.at(-1)).toMatchObject({ baseOffset: 5, nextOffset: 15, sizeBytes: batches.length });
    } finally {
      await log.close();
    }
  });
});

describe('offset assignment', () => {
  it('assigns offsets from the log end in the stored bytes and leaves the input buffer untouched', async () => {
    // Proves append rewrites baseOffset on disk (not in the caller's buffer) and nothing else in the batch.
    const log = await seededLog();
    try {
      const batch = makeBatch(4, 'moved', { baseOffset: 12345 });
      const copy = Buffer.from(batch);
      const result = await log.append(batch);
      expect(result).toMatchObject({ baseOffset: 5, lastOffset: 8, recordCount: 4, batchCount: 1, logAppendTime: -1 });
      expect(batch.equals(copy)).toBe(true);
      const stored = await log.read(5, 1 << 20);
      expect(stored.length).toBe(batch.length);
      expect(stored.readBigInt64BE(BATCH.baseOffset)).toBe(5n);
      // Everything after baseOffset, the CRC included, is byte-for-byte the producer's.
      expect(stored.subarray(8).equals(batch.subarray(8))).toBe(true);
      const [decoded] = decodeRecordBatches(stored);
      expect(decoded!.records.map((r) => r.offset)).toEqual([5, 6, 7, 8]);
      expect(log.logEndOffset).toBe(9);
    } finally {
      await log.close();
    }
    // The independent reader sees the same assigned offsets on disk.
    const [segment] = readPartitionDir(log.dir);
    expect(segment!.log.batches.map((b) => [b.baseOffset, b.lastOffset])).toEqual([
      [0n, 1n],
      [2n, 4n],
      [5n, 8n],
    ]);
  });

  it('assigns consecutive offsets to every batch of a multi-batch append', async () => {
    // Proves each batch in one append gets the offsets right after the previous batch's.
    const log = await seededLog();
    try {
      const result = await log.append(
        Buffer.concat([makeBatch(2, 'm1', { baseOffset: 900 }), makeBatch(1, 'm2', { baseOffset: 7 }), makeBatch(3, 'm3')]),
      );
      expect(result).toMatchObject({ baseOffset: 5, lastOffset: 10, recordCount: 6, batchCount: 3 });
      const batches = await readAllBatches(log, 5);
      expect(batches.map((b) => [b.baseOffset, b.lastOffset])).toEqual([
        [5, 6],
        [7, 7],
        [8, 10],
      ]);
    } finally {
      await log.close();
    }
  });
});

describe('message.timestamp.type=LogAppendTime', () => {
  it('stamps maxTimestamp and the timestamp-type bit with a valid CRC, and reports the time', async () => {
    // Proves LogAppendTime rewrites the batch header (maxTimestamp, attribute bit 3, CRC) and records read back with that time.
    const log = await seededLog({ 'message.timestamp.type': 'LogAppendTime' });
    try {
      const batchA = encodeRecordBatch(
        [
          { key: 'a', value: '1', timestamp: T0 },
          { key: 'b', value: '2', timestamp: T0 + 10 },
        ],
        { timestamp: T0 },
      );
      const batchB = makeBatch(2, 'second');
      const inputCopy = Buffer.concat([batchA, batchB]);
      const before = Date.now();
      const input = Buffer.concat([batchA, batchB]);
      const result = await log.append(input);
      const after = Date.now();
      expect(input.equals(inputCopy)).toBe(true);
      expect(result.logAppendTime).toBeGreaterThanOrEqual(before - 1);
      expect(result.logAppendTime).toBeLessThanOrEqual(after + 1);
      const stored = await log.read(result.baseOffset, 1 << 20);
      const decoded = decodeRecordBatches(stored); // throws on a bad CRC
      expect(decoded).toHaveLength(2);
      let position = 0;
      for (const batch of decoded) {
        const bytes = stored.subarray(position, position + batch.sizeBytes);
        position += batch.sizeBytes;
        expect(bytes.readUInt32BE(BATCH.crc)).toBe(crc32c(bytes.subarray(BATCH.attributes)));
        expect(batch.attributes & 0x08).toBe(0x08);
        expect(batch.timestampType).toBe('LogAppendTime');
        expect(batch.maxTimestamp).toBe(result.logAppendTime);
        for (const record of batch.records) expect(record.timestamp).toBe(result.logAppendTime);
      }
      expect(decoded[0]!.records.map((r) => r.value!.toString())).toEqual(['1', '2']);
      // Segment metadata follows the stamped time, not the producer's.
      const segments = await log.segments();
      expect(segments.at(-1)!.maxTimestamp).toBe(result.logAppendTime);
    } finally {
      await log.close();
    }
  });

  it('keeps producer timestamps and reports -1 under CreateTime', async () => {
    // Proves CreateTime (the default) stores batches with their own timestamps and no LogAppendTime bit.
    const log = await seededLog();
    try {
      const result = await log.append(encodeRecordBatch([{ value: 'x', timestamp: T0 + 77 }]));
      expect(result.logAppendTime).toBe(-1);
      const [batch] = decodeRecordBatches(await log.read(result.baseOffset, 1 << 20));
      expect(batch!.timestampType).toBe('CreateTime');
      expect(batch!.maxTimestamp).toBe(T0 + 77);
      expect(batch!.records[0]!.timestamp).toBe(T0 + 77);
    } finally {
      await log.close();
    }
  });
});

describe('appendWithOffsets', () => {
  it('keeps the offsets in the batches and accepts gaps between batches', async () => {
    // Proves the follower path stores offsets as given, leaves gaps unreadable, and reads in a gap return the next batch.
    const log = await openTestLog(dir!);
    try {
      const r1 = await log.appendWithOffsets(makeBatch(3, 'f1', { baseOffset: 0 }));
      expect(r1).toMatchObject({ baseOffset: 0, lastOffset: 2 });
      const r2 = await log.appendWithOffsets(Buffer.concat([makeBatch(2, 'f2', { baseOffset: 10 }), makeBatch(1, 'f3', { baseOffset: 20 })]));
      expect(r2).toMatchObject({ baseOffset: 10, lastOffset: 20, recordCount: 3, batchCount: 2 });
      expect(log.logEndOffset).toBe(21);
      const records = flatten(await readAllBatches(log));
      expect(records.map((r) => r.offset)).toEqual([0, 1, 2, 10, 11, 20]);
      const inGap = decodeRecordBatches(await log.read(5, 1));
      expect(inGap.map((b) => b.baseOffset)).toEqual([10]);
      // The leader path continues from the end.
      expect((await log.append(makeBatch(1, 'leader'))).baseOffset).toBe(21);
    } finally {
      await log.close();
    }
  });

  it('accepts a compacted batch with gaps between record offsets', async () => {
    // Proves kept-offset batches may have increasing, non-consecutive offset deltas up to lastOffsetDelta.
    const base = makeBatch(3, 'compacted', { baseOffset: 100 });
    const layout = recordLayout(base);
    const compacted = patched(base, (b) => {
      b[layout[1]!.offsetDeltaAt] = 4; // delta 2
      b[layout[2]!.offsetDeltaAt] = 10; // delta 5
      b.writeInt32BE(5, BATCH.lastOffsetDelta);
    });
    const log = await openTestLog(dir!);
    try {
      // The leader path requires consecutive offsets: the same bytes are invalid there.
      await expectLogError(log.append(compacted), 'INVALID_RECORD');
      expect(log.logEndOffset).toBe(0);
      const result = await log.appendWithOffsets(compacted);
      expect(result).toMatchObject({ baseOffset: 100, lastOffset: 105, recordCount: 3 });
      expect(log.logEndOffset).toBe(106);
      expect(flatten(await readAllBatches(log)).map((r) => r.offset)).toEqual([100, 102, 105]);
    } finally {
      await log.close();
    }
  });

  it('rejects decreasing offset deltas inside a kept-offset batch', async () => {
    // Proves the follower path still requires record offsets to increase within a batch.
    const base = makeBatch(3, 'unordered', { baseOffset: 0 });
    const layout = recordLayout(base);
    const bad = patched(base, (b) => {
      b[layout[1]!.offsetDeltaAt] = 8; // delta 4
      b[layout[2]!.offsetDeltaAt] = 4; // delta 2 < 4
      b.writeInt32BE(4, BATCH.lastOffsetDelta);
    });
    const log = await openTestLog(dir!);
    try {
      await expectLogError(log.appendWithOffsets(bad), 'INVALID_RECORD');
      expect(log.logEndOffset).toBe(0);
    } finally {
      await log.close();
    }
  });

  it('rejects offsets beyond 2^53 with INVALID_RECORD', async () => {
    // Proves offsets the JavaScript API cannot represent exactly are refused instead of silently rounded.
    const log = await openTestLog(dir!);
    try {
      await expectLogError(log.appendWithOffsets(makeBatch(1, 'huge', { baseOffset: 2 ** 53 })), 'INVALID_RECORD');
      expect(log.logEndOffset).toBe(0);
      const last = await log.appendWithOffsets(makeBatch(1, 'edge', { baseOffset: 2 ** 53 - 2 }));
      expect(last.lastOffset).toBe(2 ** 53 - 2);
    } finally {
      await log.close();
    }
  });

  it('stores a batch far beyond the active segment\'s 32-bit offset range in a new segment named by its offset', async () => {
    // Proves a kept-offset batch more than 2^31 past the segment base rolls to a segment that can index it.
    const log = await openTestLog(dir!);
    try {
      await log.appendWithOffsets(makeBatch(1, 'near', { baseOffset: 5 }));
      const far = 5 + 2 ** 31 + 10;
      await log.appendWithOffsets(makeBatch(2, 'far', { baseOffset: far }));
      expect((await log.segments()).map((s) => s.baseOffset)).toEqual([0, far]);
      expect(flatten(await readAllBatches(log)).map((r) => r.offset)).toEqual([5, far, far + 1]);
    } finally {
      await log.close();
    }
    for (const segment of readPartitionDir(log.dir)) expect(checkLogInvariants(segment)).toEqual([]);
  });

  // ENGINE BUG (reported): one appendWithOffsets call whose batches span more
  // than 2^31 offsets is written into a single segment; the later batch's
  // relative offset overflows the segment's 32-bit range (Kafka's reader
  // rejects the segment, no index entry can address it) and an unclean
  // reopen truncates it away although the append was acknowledged.
  it('never writes a batch outside its segment\'s 32-bit relative offset range in a multi-batch follower append', async () => {
    // Proves every batch lands in a segment that can address it, so recovery keeps it.
    const far = 3_000_000_000;
    const log = await openTestLog(dir!);
    try {
      await log.appendWithOffsets(Buffer.concat([makeBatch(1, 'near', { baseOffset: 0 }), makeBatch(1, 'far', { baseOffset: far })]), {
        durable: true,
      });
      expect(log.logEndOffset).toBe(far + 1);
    } finally {
      await log.close();
    }
    for (const segment of readPartitionDir(log.dir)) expect(checkLogInvariants(segment)).toEqual([]);
    unlinkSync(join(dir!, '.kafka_cleanshutdown')); // force recovery on reopen
    const reopened = await openTestLog(dir!);
    try {
      expect(reopened.recoveredTruncatedBytes).toBe(0);
      expect(reopened.logEndOffset).toBe(far + 1);
    } finally {
      await reopened.close();
    }
  });

  // ENGINE BUG (reported): on a LogAppendTime topic the follower path
  // re-stamps maxTimestamp with the follower's clock (and recomputes the CRC),
  // so replicas store different bytes and timestamps than the leader. Kafka's
  // followers append the leader's batches unchanged.
  it('keeps the leader\'s batch bytes unchanged on a LogAppendTime topic', async () => {
    // Proves the follower path stores replicated batches byte-for-byte, timestamps included.
    const leaderStamped = patched(makeBatch(2, 'replicated', { baseOffset: 0 }), (b) => {
      b.writeInt16BE(b.readInt16BE(BATCH.attributes) | 0x08, BATCH.attributes);
      b.writeBigInt64BE(BigInt(T0 + 123), BATCH.maxTimestamp);
    });
    const log = await openTestLog(dir!, { 'message.timestamp.type': 'LogAppendTime' });
    try {
      await log.appendWithOffsets(leaderStamped);
      const stored = await log.read(0, 1 << 20);
      expect(decodeRecordBatches(stored)[0]!.maxTimestamp).toBe(T0 + 123);
      expect(stored.equals(leaderStamped)).toBe(true);
    } finally {
      await log.close();
    }
  });

  // ENGINE BUG / Kafka divergence (reported): the follower path applies
  // max.message.bytes. Kafka's appendAsFollower ignores the record size
  // (the leader already accepted the batch; the topic limit may have been
  // lowered since), otherwise replication of that partition stalls.
  it('accepts a replicated batch larger than max.message.bytes on the follower path', async () => {
    // Proves a follower can always store what the leader accepted.
    const batch = makeBatch(5, 'large-replicated', { baseOffset: 0 });
    const log = await openTestLog(dir!, { 'max.message.bytes': batch.length - 1 });
    try {
      const result = await log.appendWithOffsets(batch);
      expect(result.lastOffset).toBe(4);
    } finally {
      await log.close();
    }
  });

  it('rejects repeated offset deltas inside a kept-offset batch', async () => {
    // Proves two records of one batch can never claim the same offset on the follower path.
    const base = makeBatch(3, 'repeated', { baseOffset: 0 });
    const layout = recordLayout(base);
    const bad = patched(base, (b) => {
      b[layout[1]!.offsetDeltaAt] = 4; // delta 2
      b[layout[2]!.offsetDeltaAt] = 4; // delta 2 again
    });
    const log = await openTestLog(dir!);
    try {
      await expectLogError(log.appendWithOffsets(bad), 'INVALID_RECORD');
      expect(log.logEndOffset).toBe(0);
    } finally {
      await log.close();
    }
  });

  it('rejects a batch that starts below the log end with OFFSET_OUT_OF_RANGE and changes nothing', async () => {
    // Proves the follower path never overwrites or overlaps existing offsets.
    const log = await openTestLog(dir!);
    try {
      await log.appendWithOffsets(makeBatch(5, 'base', { baseOffset: 0 }));
      const before = await snapshot(log);
      await expectLogError(log.appendWithOffsets(makeBatch(1, 'dup', { baseOffset: 0 })), 'OFFSET_OUT_OF_RANGE');
      await expectLogError(log.appendWithOffsets(makeBatch(2, 'overlap', { baseOffset: 4 })), 'OFFSET_OUT_OF_RANGE');
      // Within one buffer: the second batch overlaps the first, so neither is written.
      await expectLogError(
        log.appendWithOffsets(Buffer.concat([makeBatch(3, 'x', { baseOffset: 5 }), makeBatch(1, 'y', { baseOffset: 6 })])),
        'OFFSET_OUT_OF_RANGE',
      );
      expectSameSnapshot(await snapshot(log), before);
      expect((await log.appendWithOffsets(makeBatch(1, 'ok', { baseOffset: 5 }))).baseOffset).toBe(5);
    } finally {
      await log.close();
    }
  });
});

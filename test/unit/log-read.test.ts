import { existsSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  EARLIEST_TIMESTAMP,
  LATEST_TIMESTAMP,
  MAX_TIMESTAMP,
  decodeRecordBatches,
  encodeRecordBatch,
  type FileRegion,
  type Log,
  type LogConfigInput,
} from '../../src/index.js';
import {
  T0,
  expectLogError,
  flatten,
  makeRecords,
  makeTempDir,
  openTestLog,
  readAllBatches,
  removeTempDir,
  segmentName,
  type FlatRecord,
} from '../support/log-test-helpers.js';

let dir: string | undefined;

beforeEach(() => {
  dir = makeTempDir('gregor-read-');
});

afterEach(() => {
  removeTempDir(dir);
  dir = undefined;
});

/** Deterministic pseudo-random integers (a small LCG), so failures reproduce. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state;
  };
}

interface AppendedBatch {
  baseOffset: number;
  lastOffset: number;
  sizeBytes: number;
  records: FlatRecord[];
}

/**
 * Appends `batchCount` batches of 1..5 records (varied value sizes) and
 * returns what was appended. With `timestamps`, record timestamps are
 * pseudo-random in [T0, T0 + 1000), so they are non-monotonic within and
 * across batches.
 */
async function appendWorkload(log: Log, batchCount: number, seed = 1, timestamps = false): Promise<AppendedBatch[]> {
  const next = lcg(seed);
  const out: AppendedBatch[] = [];
  for (let b = 0; b < batchCount; b++) {
    const count = 1 + (next() % 5);
    const stamps = Array.from({ length: count }, () => (timestamps ? T0 + (next() % 1000) : T0));
    const records = makeRecords(count, `b${b}`, stamps).map((r, i) => ({ ...r, value: `${String(r.value)}-${'x'.repeat(next() % 60)}-${i}` }));
    const batch = encodeRecordBatch(records, { timestamp: T0 });
    const result = await log.append(batch);
    out.push({
      baseOffset: result.baseOffset,
      lastOffset: result.lastOffset,
      sizeBytes: batch.length,
      records: records.map((r, i) => ({ offset: result.baseOffset + i, key: String(r.key), value: String(r.value), timestamp: stamps[i]! })),
    });
  }
  return out;
}

const manySegments: LogConfigInput = { 'segment.bytes': 1500, 'index.interval.bytes': 200, 'segment.index.bytes': 4096 };

function regionBytes(region: FileRegion): Buffer {
  const buffer = Buffer.alloc(region.length);
  let done = 0;
  while (done < region.length) {
    const n = readSync(region.fd, buffer, done, region.length - done, region.position + done);
    if (n === 0) break;
    done += n;
  }
  return buffer.subarray(0, done);
}

describe('read', () => {
  it('returns the whole batch that holds any offset inside it', async () => {
    // Proves read(offset) starts at the batch containing offset (never mid-batch), from any segment.
    const log = await openTestLog(dir!, manySegments);
    try {
      const appended = await appendWorkload(log, 40);
      expect((await log.segments()).length).toBeGreaterThanOrEqual(4);
      for (const batch of appended) {
        for (let offset = batch.baseOffset; offset <= batch.lastOffset; offset++) {
          const bytes = await log.read(offset, 1);
          expect(bytes.length, `offset ${offset}`).toBe(batch.sizeBytes);
          const [decoded] = decodeRecordBatches(bytes);
          expect(decoded!.baseOffset).toBe(batch.baseOffset);
          expect(flatten([decoded!])).toEqual(batch.records);
        }
      }
    } finally {
      await log.close();
    }
  });

  it('rejects offsets outside [logStartOffset, logEndOffset] with OFFSET_OUT_OF_RANGE', async () => {
    // Proves reads below the log start or past the log end are refused, while the end itself is an empty read.
    const log = await openTestLog(dir!, manySegments);
    try {
      const appended = await appendWorkload(log, 20);
      const end = log.logEndOffset;
      await expectLogError(log.read(end + 1, 1000), 'OFFSET_OUT_OF_RANGE');
      await expectLogError(log.read(end + 1000, 1000), 'OFFSET_OUT_OF_RANGE');
      await expectLogError(log.readRegion(end + 1, 1000), 'OFFSET_OUT_OF_RANGE');
      const holder = appended.find((b, i) => i >= 5 && b.lastOffset > b.baseOffset)!;
      const start = holder.baseOffset + 1;
      await log.deleteRecordsBefore(start);
      expect(log.logStartOffset).toBe(start);
      await expectLogError(log.read(start - 1, 1000), 'OFFSET_OUT_OF_RANGE');
      await expectLogError(log.read(0, 1000), 'OFFSET_OUT_OF_RANGE');
      await expectLogError(log.readRegion(start - 1, 1000), 'OFFSET_OUT_OF_RANGE');
      // The log start itself is readable: the batch holding it comes back whole.
      const [first] = decodeRecordBatches(await log.read(start, 1));
      expect(first!.baseOffset).toBe(holder.baseOffset);
    } finally {
      await log.close();
    }
  });

  it('returns an empty buffer and a null region at the log end', async () => {
    // Proves reading exactly at logEndOffset (a caught-up consumer) is not an error and returns nothing.
    const log = await openTestLog(dir!);
    try {
      expect((await log.read(0, 1000)).length).toBe(0);
      expect(await log.readRegion(0, 1000)).toBeNull();
      await appendWorkload(log, 3);
      const end = log.logEndOffset;
      const bytes = await log.read(end, 1 << 20);
      expect(Buffer.isBuffer(bytes)).toBe(true);
      expect(bytes.length).toBe(0);
      expect(await log.readRegion(end, 1 << 20)).toBeNull();
    } finally {
      await log.close();
    }
  });

  it('returns the whole first batch even when maxBytes is smaller, and only it', async () => {
    // Proves a consumer can always make progress: the first batch is never cut, and maxBytes 0 still returns it.
    const log = await openTestLog(dir!);
    try {
      const appended = await appendWorkload(log, 6);
      const first = appended[0]!;
      for (const maxBytes of [0, 1, 61, first.sizeBytes - 1, first.sizeBytes]) {
        const bytes = await log.read(0, maxBytes);
        expect(bytes.length, `maxBytes ${maxBytes}`).toBe(first.sizeBytes);
        const region = await log.readRegion(0, maxBytes);
        try {
          expect(region!.length).toBe(first.sizeBytes);
        } finally {
          region!.release();
        }
      }
    } finally {
      await log.close();
    }
  });

  it('cuts at whole batches within maxBytes', async () => {
    // Proves read returns the longest run of whole batches that fits maxBytes, never a partial one.
    const log = await openTestLog(dir!);
    try {
      const appended = await appendWorkload(log, 10);
      let total = 0;
      for (let n = 1; n <= appended.length; n++) {
        const upTo = total + appended[n - 1]!.sizeBytes; // bytes of the first n batches
        for (const maxBytes of [upTo, upTo + 1, upTo + appended[n]?.sizeBytes! - 1]) {
          if (Number.isNaN(maxBytes)) continue;
          const bytes = await log.read(0, maxBytes);
          expect(bytes.length, `maxBytes ${maxBytes}`).toBe(upTo);
          expect(decodeRecordBatches(bytes).map((b) => b.baseOffset)).toEqual(appended.slice(0, n).map((b) => b.baseOffset));
        }
        total = upTo;
      }
      // Starting mid-log works the same way.
      const from = appended[3]!;
      const two = from.sizeBytes + appended[4]!.sizeBytes;
      const bytes = await log.read(from.baseOffset + (from.lastOffset - from.baseOffset), two + appended[5]!.sizeBytes - 1);
      expect(decodeRecordBatches(bytes).map((b) => b.baseOffset)).toEqual([from.baseOffset, appended[4]!.baseOffset]);
    } finally {
      await log.close();
    }
  });

  it('reads every record back in order across many segments', async () => {
    // Proves repeated reads walk all segments and return exactly what was appended, with small and large maxBytes.
    const log = await openTestLog(dir!, manySegments);
    try {
      const appended = await appendWorkload(log, 60, 7);
      const segments = await log.segments();
      expect(segments.length).toBeGreaterThanOrEqual(6);
      const expected = appended.flatMap((b) => b.records);
      for (const maxBytes of [1, 500, 1 << 20]) {
        expect(flatten(await readAllBatches(log, 0, maxBytes))).toEqual(expected);
      }
      // A read that starts in one segment never returns bytes of a partial batch.
      for (const segment of segments) {
        const bytes = await log.read(segment.baseOffset, 1 << 20);
        if (segment.baseOffset === log.logEndOffset) continue;
        const batches = decodeRecordBatches(bytes);
        expect(batches.reduce((n, b) => n + b.sizeBytes, 0)).toBe(bytes.length);
        expect(batches[0]!.baseOffset).toBe(segment.baseOffset);
      }
    } finally {
      await log.close();
    }
  });
});

describe('readRegion', () => {
  it('describes exactly the bytes read() returns', async () => {
    // Proves a sendfile region (fd, position, length) covers the same whole batches as read() for the same arguments.
    const log = await openTestLog(dir!, manySegments);
    try {
      const appended = await appendWorkload(log, 30, 3);
      for (const batch of appended) {
        for (const offset of [batch.baseOffset, batch.lastOffset]) {
          for (const maxBytes of [0, 300, 1000, 1 << 20]) {
            const expected = await log.read(offset, maxBytes);
            const region = await log.readRegion(offset, maxBytes);
            expect(region).not.toBeNull();
            try {
              expect(region!.firstOffset).toBe(batch.baseOffset);
              expect(region!.length).toBe(expected.length);
              expect(regionBytes(region!).equals(expected), `offset ${offset} maxBytes ${maxBytes}`).toBe(true);
            } finally {
              region!.release();
            }
          }
        }
      }
    } finally {
      await log.close();
    }
  });

  it('stays readable after deleteRecordsBefore deletes its segment, until release()', async () => {
    // Proves an in-flight region keeps the deleted segment file alive (unlinked name, open descriptor).
    const log = await openTestLog(dir!, manySegments);
    try {
      await appendWorkload(log, 30);
      const segments = await log.segments();
      const expected = await log.read(0, 1 << 20);
      const region = await log.readRegion(0, 1 << 20);
      expect(region).not.toBeNull();
      try {
        await log.deleteRecordsBefore(segments[2]!.baseOffset);
        expect(existsSync(join(log.dir, segmentName(0, '.log')))).toBe(false);
        expect(regionBytes(region!).equals(expected)).toBe(true);
      } finally {
        region!.release();
      }
      expect(region!.fd).toBe(-1);
    } finally {
      await log.close();
    }
  });

  it('stays readable after deleteOldestSegments and truncateTo delete its segment', async () => {
    // Proves both other deletion paths also leave in-flight regions readable.
    const log = await openTestLog(dir!, manySegments);
    try {
      await appendWorkload(log, 30);
      const segments = await log.segments();
      expect(segments.length).toBeGreaterThanOrEqual(4);
      const oldest = await log.readRegion(0, 1 << 20);
      const oldestBytes = await log.read(0, 1 << 20);
      const later = segments[segments.length - 2]!;
      const laterRegion = await log.readRegion(later.baseOffset, 1 << 20);
      const laterBytes = await log.read(later.baseOffset, 1 << 20);
      try {
        expect(await log.deleteOldestSegments(1)).toBe(1);
        expect(existsSync(join(log.dir, segmentName(0, '.log')))).toBe(false);
        await log.truncateTo(segments[2]!.baseOffset + 1);
        expect(existsSync(join(log.dir, segmentName(later.baseOffset, '.log')))).toBe(false);
        expect(regionBytes(oldest!).equals(oldestBytes)).toBe(true);
        expect(regionBytes(laterRegion!).equals(laterBytes)).toBe(true);
      } finally {
        oldest!.release();
        laterRegion!.release();
      }
    } finally {
      await log.close();
    }
  });

  it('stays readable after the log is closed, until release()', async () => {
    // Proves closing the log does not pull the file out from under a region being sent.
    const log = await openTestLog(dir!);
    let region: FileRegion | null = null;
    let expected: Buffer;
    try {
      await appendWorkload(log, 5);
      expected = await log.read(0, 1 << 20);
      region = await log.readRegion(0, 1 << 20);
    } finally {
      await log.close();
    }
    try {
      expect(regionBytes(region!).equals(expected!)).toBe(true);
    } finally {
      region?.release();
    }
  });
});

describe('offsetForTimestamp', () => {
  /** ListOffsets by brute force: the earliest record at or after `start` whose timestamp >= target. */
  function model(records: FlatRecord[], target: number, start = 0): { offset: number; timestamp: number } | null {
    const hit = records.find((r) => r.offset >= start && r.timestamp >= target);
    return hit ? { offset: hit.offset, timestamp: hit.timestamp } : null;
  }

  const timeConfig: LogConfigInput = { 'segment.bytes': 1200, 'index.interval.bytes': 150, 'segment.index.bytes': 4096 };

  it('finds the exact earliest record at or after a timestamp, with non-monotonic timestamps across batches and segments', async () => {
    // Proves the time-index lookup plus record scan gives the same answer as a brute-force search for every timestamp.
    const log = await openTestLog(dir!, timeConfig);
    try {
      const appended = await appendWorkload(log, 50, 11, true);
      expect((await log.segments()).length).toBeGreaterThanOrEqual(4);
      const records = appended.flatMap((b) => b.records);
      for (let target = T0 - 1; target <= T0 + 1001; target++) {
        expect(await log.offsetForTimestamp(target), `timestamp ${target}`).toEqual(model(records, target));
      }
    } finally {
      await log.close();
    }
  });

  it('stays exact after truncating into an earlier segment and appending older and newer timestamps', async () => {
    // Proves surviving time-index entries stay valid hints after truncation, whatever timestamps come next.
    const log = await openTestLog(dir!, timeConfig);
    try {
      const appended = await appendWorkload(log, 40, 21, true);
      const segments = await log.segments();
      expect(segments.length).toBeGreaterThanOrEqual(4);
      const cut = segments[1]!.baseOffset + 2;
      await log.truncateTo(cut);
      const kept = appended.flatMap((b) => b.records).filter((r) => r.offset < log.logEndOffset);
      const more = await appendWorkload(log, 25, 22, true);
      const records = [...kept, ...more.flatMap((b) => b.records)];
      expect(flatten(await readAllBatches(log))).toEqual(records);
      for (let target = T0 - 1; target <= T0 + 1001; target++) {
        expect(await log.offsetForTimestamp(target), `timestamp ${target}`).toEqual(model(records, target));
      }
    } finally {
      await log.close();
    }
  });

  it('answers the same after a clean reopen (persisted time indexes)', async () => {
    // Proves the trimmed .timeindex files written at roll/close give the same answers once reloaded.
    let records: FlatRecord[] = [];
    {
      const log = await openTestLog(dir!, timeConfig);
      try {
        records = (await appendWorkload(log, 40, 5, true)).flatMap((b) => b.records);
      } finally {
        await log.close();
      }
    }
    const log = await openTestLog(dir!, timeConfig);
    try {
      for (let target = T0 - 1; target <= T0 + 1001; target += 3) {
        expect(await log.offsetForTimestamp(target), `timestamp ${target}`).toEqual(model(records, target));
      }
    } finally {
      await log.close();
    }
  });

  it('finds records inside a batch whose first record is newer than later ones', async () => {
    // Proves the search is record-level: a later record in a batch can be the answer even when the batch's first record is not.
    const log = await openTestLog(dir!);
    try {
      await log.append(encodeRecordBatch(makeRecords(3, 'a', [T0 + 50, T0 + 10, T0 + 30])));
      await log.append(encodeRecordBatch(makeRecords(3, 'b', [T0 + 5, T0 + 100, T0 + 20])));
      expect(await log.offsetForTimestamp(T0)).toEqual({ offset: 0, timestamp: T0 + 50 });
      expect(await log.offsetForTimestamp(T0 + 50)).toEqual({ offset: 0, timestamp: T0 + 50 });
      expect(await log.offsetForTimestamp(T0 + 51)).toEqual({ offset: 4, timestamp: T0 + 100 });
      expect(await log.offsetForTimestamp(T0 + 100)).toEqual({ offset: 4, timestamp: T0 + 100 });
      expect(await log.offsetForTimestamp(T0 + 101)).toBeNull();
      expect(await log.offsetForTimestamp(0)).toEqual({ offset: 0, timestamp: T0 + 50 });
    } finally {
      await log.close();
    }
  });

  it('returns the first offset for a timestamp before all records and null after all', async () => {
    // Proves the edges: everything is newer than a very old timestamp; nothing is at or after a future one.
    const log = await openTestLog(dir!, timeConfig);
    try {
      const appended = await appendWorkload(log, 20, 2, true);
      const first = appended[0]!.records[0]!;
      expect(await log.offsetForTimestamp(0)).toEqual({ offset: 0, timestamp: first.timestamp });
      expect(await log.offsetForTimestamp(T0 - 100_000)).toEqual({ offset: 0, timestamp: first.timestamp });
      expect(await log.offsetForTimestamp(T0 + 10_000)).toBeNull();
    } finally {
      await log.close();
    }
  });

  it('answers EARLIEST (-2), LATEST (-1) and MAX_TIMESTAMP (-3)', async () => {
    // Proves ListOffsets' special timestamps map to the log start, the log end and the record with the largest timestamp.
    const log = await openTestLog(dir!, timeConfig);
    try {
      expect(EARLIEST_TIMESTAMP).toBe(-2);
      expect(LATEST_TIMESTAMP).toBe(-1);
      expect(MAX_TIMESTAMP).toBe(-3);
      expect(await log.offsetForTimestamp(EARLIEST_TIMESTAMP)).toEqual({ offset: 0, timestamp: -1 });
      expect(await log.offsetForTimestamp(LATEST_TIMESTAMP)).toEqual({ offset: 0, timestamp: -1 });
      expect(await log.offsetForTimestamp(MAX_TIMESTAMP)).toBeNull();

      const appended = await appendWorkload(log, 20, 9, true);
      // A unique maximum in the middle of a middle batch, then the same maximum again later (ties go to the earliest).
      const peak = await log.append(encodeRecordBatch(makeRecords(3, 'peak', [T0 + 3, T0 + 5000, T0 + 4])));
      await appendWorkload(log, 10, 10, true);
      await log.append(encodeRecordBatch(makeRecords(2, 'tie', [T0 + 5000, T0 + 1])));
      expect(appended.length).toBe(20);
      expect(await log.offsetForTimestamp(MAX_TIMESTAMP)).toEqual({ offset: peak.baseOffset + 1, timestamp: T0 + 5000 });
      expect(await log.offsetForTimestamp(LATEST_TIMESTAMP)).toEqual({ offset: log.logEndOffset, timestamp: -1 });
      expect(await log.offsetForTimestamp(EARLIEST_TIMESTAMP)).toEqual({ offset: 0, timestamp: -1 });
      await expect(log.offsetForTimestamp(-4)).rejects.toThrow(RangeError);
    } finally {
      await log.close();
    }
  });

  it('never answers below the log start offset', async () => {
    // Proves records logically deleted by deleteRecordsBefore (even inside a kept batch or segment) are not returned.
    const log = await openTestLog(dir!, timeConfig);
    try {
      const appended = await appendWorkload(log, 40, 13, true);
      const records = appended.flatMap((b) => b.records);
      // A start offset inside a batch in the middle of a segment.
      const cut = appended.find((b) => b.lastOffset > b.baseOffset + 1 && b.baseOffset > 40)!;
      const start = cut.baseOffset + 1;
      await log.deleteRecordsBefore(start);
      expect(log.logStartOffset).toBe(start);
      for (let target = T0 - 1; target <= T0 + 1001; target += 2) {
        expect(await log.offsetForTimestamp(target), `timestamp ${target}`).toEqual(model(records, target, start));
      }
      expect(await log.offsetForTimestamp(EARLIEST_TIMESTAMP)).toEqual({ offset: start, timestamp: -1 });
    } finally {
      await log.close();
    }
  });

  it('answers MAX_TIMESTAMP from readable records when the log start moves past a smaller maximum', async () => {
    // Proves MAX_TIMESTAMP still finds the largest timestamp when deleted records only held smaller ones.
    const log = await openTestLog(dir!);
    try {
      await log.append(encodeRecordBatch(makeRecords(2, 'a', [T0 + 10, T0 + 20])));
      await log.append(encodeRecordBatch(makeRecords(2, 'b', [T0 + 90, T0 + 30])));
      await log.deleteRecordsBefore(1);
      expect(await log.offsetForTimestamp(MAX_TIMESTAMP)).toEqual({ offset: 2, timestamp: T0 + 90 });
    } finally {
      await log.close();
    }
  });

  // ENGINE BUG (reported): when the record holding a segment's maximum
  // timestamp is below logStartOffset, MAX_TIMESTAMP answers null although
  // readable records exist (offset_of_max_timestamp picks that segment, then
  // find_timestamp(max, logStart) finds nothing). Expected: the readable record
  // with the largest timestamp (earliest on ties).
  it('answers MAX_TIMESTAMP with a readable record when the overall maximum is below the log start', async () => {
    // Proves MAX_TIMESTAMP never claims an empty log while records are readable.
    const log = await openTestLog(dir!);
    try {
      await log.append(encodeRecordBatch(makeRecords(2, 'a', [T0 + 100, T0 + 50])));
      await log.deleteRecordsBefore(1);
      await log.append(encodeRecordBatch(makeRecords(1, 'b', [T0 + 60])));
      expect(await log.offsetForTimestamp(MAX_TIMESTAMP)).toEqual({ offset: 2, timestamp: T0 + 60 });
    } finally {
      await log.close();
    }
  });

  it('uses the log append time for LogAppendTime topics', async () => {
    // Proves timestamp search follows the broker-stamped batch time, not the producer's record timestamps.
    const log = await openTestLog(dir!, { 'message.timestamp.type': 'LogAppendTime' });
    try {
      const first = await log.append(encodeRecordBatch(makeRecords(2, 'a', [T0, T0 + 1])));
      const second = await log.append(encodeRecordBatch(makeRecords(2, 'b', [T0, T0 + 1])));
      expect(await log.offsetForTimestamp(T0 + 2)).toEqual({ offset: 0, timestamp: first.logAppendTime });
      expect(await log.offsetForTimestamp(second.logAppendTime)).toEqual(
        second.logAppendTime > first.logAppendTime
          ? { offset: 2, timestamp: second.logAppendTime }
          : { offset: 0, timestamp: first.logAppendTime },
      );
      expect(await log.offsetForTimestamp(second.logAppendTime + 1)).toBeNull();
    } finally {
      await log.close();
    }
  });
});

// Log compaction (Kafka's LogCleaner): native/log_cleaner.h through
// LogManager.cleanLog / Log.clean. The latest record per key survives with
// its offset, timestamp and headers; tombstones stay for delete.retention.ms
// once cleaned, then go; compressed batches of every codec are filtered and
// recompressed with their codec (src/log/compaction.ts); the active
// segment is never touched; min.cleanable.dirty.ratio, min.compaction.lag.ms
// and max.compaction.lag.ms decide when; a swap interrupted by a crash is
// completed at open, and a `.cleaned` leftover is dropped.
import { existsSync, readdirSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { LogManager, encodeRecordBatch, type Log, type LogConfigInput, type RecordInput } from '../../src/index.js';
import { native } from '../../src/native.js';
import { resolveLogConfig, toNativeConfig } from '../../src/log/config.js';
import { compressedBatchHandler } from '../../src/log/compaction.js';
import { flatten, makeTempDir, readAllBatches, removeTempDir, T0 } from '../support/log-test-helpers.js';

let dir: string | undefined;
let manager: LogManager | undefined;

beforeEach(() => {
  dir = makeTempDir('gregor-compaction-');
});

afterEach(async () => {
  native.setFaultProbe('clean-swap', 0);
  await manager?.close().catch(() => undefined);
  manager = undefined;
  removeTempDir(dir);
  dir = undefined;
});

const COMPACT: LogConfigInput = { 'cleanup.policy': 'compact', 'file.delete.delay.ms': 0 };

async function open(config: LogConfigInput = {}): Promise<Log> {
  manager = await LogManager.open(dir!, { ioThreads: 1, cleaner: { threads: 1, backoffMs: 3_600_000 } });
  return manager.openLog('topic-0', { ...COMPACT, ...config });
}

async function reopen(config: LogConfigInput = {}): Promise<Log> {
  await manager!.close();
  return open(config);
}

function rec(key: string, value: string | null, timestamp = T0, headers?: RecordInput['headers']): RecordInput {
  return { key, value, timestamp, ...(headers ? { headers } : {}) };
}

/** Appends `rounds` updates of keys k0..k(keys-1), one batch per round, rolling every `perSegment` rounds. */
async function writeUpdates(log: Log, keys: number, rounds: number, perSegment: number): Promise<void> {
  for (let r = 0; r < rounds; r++) {
    const records = Array.from({ length: keys }, (_, k) => rec(`k${k}`, `v${r}-${k}`, T0 + r));
    await log.append(encodeRecordBatch(records));
    if ((r + 1) % perSegment === 0) await log.roll();
  }
}

/** key -> value of the last record of each key, as a consumer from the start would end up with. */
function latestByKey(records: { key: string | null; value: string | null }[]): Map<string | null, string | null> {
  const out = new Map<string | null, string | null>();
  for (const r of records) out.set(r.key, r.value);
  return out;
}

describe('compaction', () => {
  it('keeps exactly the latest record per key, with its original offset, timestamp and headers', async () => {
    const log = await open();
    const headers = [{ key: 'h', value: Buffer.from('x') }];
    await log.append(encodeRecordBatch([rec('a', 'a1', T0 + 1), rec('b', 'b1', T0 + 2, headers), rec('c', 'c1', T0 + 3)]));
    await log.append(encodeRecordBatch([rec('a', 'a2', T0 + 4), rec('c', 'c2', T0 + 5)]));
    await log.roll();
    await log.append(encodeRecordBatch([rec('a', 'a3', T0 + 6)]));
    await log.roll();
    await log.append(encodeRecordBatch([rec('a', 'active', T0 + 7)])); // active: never cleaned
    const before = flatten(await readAllBatches(log));
    const endBefore = log.logEndOffset;

    const result = await manager!.cleanLog(log, { force: true });
    expect(result.cleaned).toBe(true);
    expect(result.firstUncleanableOffset).toBe(6);
    expect(manager!.cleanerOffset('topic-0')).toBe(6);

    const batches = await readAllBatches(log);
    const after = flatten(batches);
    expect(after.map((r) => [r.offset, r.key, r.value, r.timestamp])).toEqual([
      [1, 'b', 'b1', T0 + 2],
      [4, 'c', 'c2', T0 + 5],
      [5, 'a', 'a3', T0 + 6],
      [6, 'a', 'active', T0 + 7],
    ]);
    const b = batches.flatMap((x) => x.records).find((r) => r.offset === 1)!;
    expect(b.headers.map((h) => [h.key, h.value?.toString()])).toEqual([['h', 'x']]);
    expect(log.logEndOffset).toBe(endBefore);
    expect(latestByKey(after)).toEqual(latestByKey(before));

    // It survives a restart (clean and after the rebuilt indexes) and reads by offset from a gap.
    const again = await reopen();
    expect(flatten(await readAllBatches(again)).map((r) => r.offset)).toEqual([1, 4, 5, 6]);
    // A batch keeps its original offset range: offset 2 is still inside the first one (b at 1).
    expect(flatten(await readAllBatches(again, 2)).map((r) => r.offset)).toEqual([1, 4, 5, 6]);
    expect(flatten(await readAllBatches(again, 3)).map((r) => r.offset)).toEqual([4, 5, 6]);
    expect(manager!.cleanerOffset('topic-0')).toBe(6);
    const checkpoint = readFileSync(join(dir!, 'cleaner-offset-checkpoint'), 'utf8');
    expect(checkpoint).toBe('0\n1\ntopic 0 6\n');
  });

  it('many updates per key over many segments: one record per key, grouped into fewer segments', async () => {
    const log = await open({ 'segment.bytes': 1 << 20 });
    await writeUpdates(log, 50, 40, 4);
    await log.append(encodeRecordBatch([rec('k0', 'tail')]));
    const before = flatten(await readAllBatches(log));
    const segmentsBefore = (await log.segments()).length;
    const result = await manager!.cleanLog(log, { force: true });
    expect(result.keys).toBe(50);
    const after = flatten(await readAllBatches(log));
    expect(latestByKey(after)).toEqual(latestByKey(before));
    expect(after.length).toBe(51); // 50 keys in cleaned segments + the active segment's record
    const segments = await log.segments();
    expect(segments.length).toBeLessThan(segmentsBefore);
    expect(segments.length).toBe(2);
    // A second pass with nothing dirty does nothing.
    const second = await manager!.cleanLog(log, { force: true });
    expect(second.cleaned).toBe(false);
  });

  it('keeps a tombstone after cleaning, and removes it once delete.retention.ms has passed', async () => {
    const log = await open({ 'delete.retention.ms': 1000 });
    await log.append(encodeRecordBatch([rec('a', 'a1'), rec('b', 'b1')]));
    await log.append(encodeRecordBatch([rec('a', null)]));
    await log.roll();
    await log.append(encodeRecordBatch([rec('c', 'c1')]));
    const now = Date.now();
    await manager!.cleanLog(log, { force: true, nowMs: now });
    expect(flatten(await readAllBatches(log)).map((r) => [r.key, r.value])).toEqual([
      ['b', 'b1'],
      ['a', null],
      ['c', 'c1'],
    ]);
    // More data, rolled: the next pass rewrites the cleaned part too.
    await log.roll();
    await log.append(encodeRecordBatch([rec('d', 'd1')]));
    await manager!.cleanLog(log, { force: true, nowMs: now + 500 });
    expect(flatten(await readAllBatches(log)).map((r) => r.key)).toEqual(['b', 'a', 'c', 'd']);
    await log.roll();
    await log.append(encodeRecordBatch([rec('e', 'e1')]));
    const last = await manager!.cleanLog(log, { force: true, nowMs: now + 5_000 });
    expect(last.tombstonesRemoved).toBe(1);
    expect(flatten(await readAllBatches(log)).map((r) => r.key)).toEqual(['b', 'c', 'd', 'e']);
  });

  for (const codec of ['gzip', 'snappy', 'lz4', 'zstd'] as const) {
    it(`filters ${codec} batches: decompressed, the latest records kept, recompressed with the same codec`, async () => {
      const log = await open();
      await log.append(encodeRecordBatch([rec('a', 'a1'), rec('b', 'b1')]));
      await log.append(encodeRecordBatch([rec('a', 'a2', T0 + 1), rec('b', 'b2', T0 + 2, [{ key: 'h', value: Buffer.from('hv') }])], { compression: codec }));
      await log.append(encodeRecordBatch([rec('b', 'b3')]));
      await log.append(encodeRecordBatch([rec('c', 'c1'), rec('c', 'c2')], { compression: codec })); // wholly superseded below
      await log.append(encodeRecordBatch([rec('c', 'c3'), rec('d', null)], { compression: codec })); // unchanged
      await log.roll();
      await log.append(encodeRecordBatch([rec('z', 'z')]));
      const result = await manager!.cleanLog(log, { force: true });
      expect(result.keys).toBe(4);
      const batches = await readAllBatches(log);
      expect(batches.map((b) => [b.baseOffset, b.lastOffset, b.compression])).toEqual([
        [2, 3, codec],
        [4, 4, 'none'],
        [7, 8, codec],
        [9, 9, 'none'],
      ]);
      const after = flatten(batches);
      expect(after.map((r) => [r.offset, r.key, r.value, r.timestamp])).toEqual([
        [2, 'a', 'a2', T0 + 1],
        [4, 'b', 'b3', T0],
        [7, 'c', 'c3', T0],
        [8, 'd', null, T0],
        [9, 'z', 'z', T0],
      ]);
      // The same after a restart (indexes rebuilt, CRCs checked on read).
      const again = await reopen();
      expect(flatten(await readAllBatches(again))).toEqual(after);
    });
  }

  it('never touches the active segment and respects min.cleanable.dirty.ratio', async () => {
    const log = await open({ 'min.cleanable.dirty.ratio': '0.9' });
    await writeUpdates(log, 5, 4, 2); // two closed segments
    await log.append(encodeRecordBatch([rec('k0', 'x'), rec('k0', 'y')]));
    const first = await manager!.cleanLog(log); // all dirty: ratio 1 >= 0.9
    expect(first.cleaned).toBe(true);
    expect(flatten(await readAllBatches(log, first.firstUncleanableOffset)).map((r) => r.value)).toEqual(['x', 'y']);
    // A little new dirty data after a large clean part: below the ratio.
    await log.roll();
    await log.append(encodeRecordBatch([rec('k1', 'z')]));
    await log.roll();
    const second = await manager!.cleanLog(log);
    expect(second.cleaned).toBe(false);
    expect(second.dirtyRatio).toBeGreaterThan(0);
    expect(second.dirtyRatio).toBeLessThan(0.9);
  });

  it('min.compaction.lag.ms keeps young segments dirty; max.compaction.lag.ms forces a clean below the ratio', async () => {
    const now = Date.now();
    const log = await open({ 'min.compaction.lag.ms': 60_000, 'min.cleanable.dirty.ratio': '1' });
    await log.append(encodeRecordBatch([rec('a', 'old1', now - 120_000), rec('a', 'old2', now - 120_000)]));
    await log.roll();
    await log.append(encodeRecordBatch([rec('a', 'young1', now), rec('a', 'young2', now)]));
    await log.roll();
    await log.append(encodeRecordBatch([rec('b', 'active', now)]));
    const result = await manager!.cleanLog(log, { force: true, nowMs: now });
    expect(result.firstUncleanableOffset).toBe(2);
    expect(flatten(await readAllBatches(log)).map((r) => r.value)).toEqual(['old2', 'young1', 'young2', 'active']);

    await log.setConfig({ 'min.compaction.lag.ms': 0, 'max.compaction.lag.ms': 1000 });
    await log.roll();
    const ratioTooLow = await manager!.cleanLog(log, { nowMs: now + 500 });
    expect(ratioTooLow.cleaned).toBe(false);
    const lagged = await manager!.cleanLog(log, { nowMs: now + 5_000 });
    expect(lagged.maxLagExceeded).toBe(true);
    expect(lagged.cleaned).toBe(true);
    expect(flatten(await readAllBatches(log)).map((r) => r.value)).toEqual(['young2', 'active']);
  });

  it('runs concurrent cleanings of one log one after the other', async () => {
    const log = await open();
    await writeUpdates(log, 20, 6, 2);
    await log.append(encodeRecordBatch([rec('k0', 'active')]));
    const expected = latestByKey(flatten(await readAllBatches(log)));
    const results = await Promise.all([manager!.cleanLog(log, { force: true }), manager!.cleanLog(log, { force: true })]);
    expect(results[0]!.cleaned).toBe(true);
    expect(readdirSync(join(dir!, 'topic-0')).filter((n) => n.endsWith('.cleaned') || n.endsWith('.swap'))).toEqual([]);
    const after = flatten(await readAllBatches(log));
    expect(latestByKey(after)).toEqual(expected);
    expect(after.length).toBe(21);
  });

  it('rejects records without a key on a compacted topic', async () => {
    const log = await open();
    await expect(log.append(encodeRecordBatch([{ key: null, value: 'v' }]), { requireKeys: true })).rejects.toMatchObject({
      code: 'INVALID_RECORD',
    });
  });

  it('a crash in the middle of a swap: the next open completes it', async () => {
    const log = await open();
    await writeUpdates(log, 10, 6, 2);
    await log.append(encodeRecordBatch([rec('k0', 'active')]));
    const expected = latestByKey(flatten(await readAllBatches(log)));
    native.setFaultProbe('clean-swap', 1);
    await expect(manager!.cleanLog(log, { force: true })).rejects.toThrow(/injected fault: clean-swap/);
    const logDir = join(dir!, 'topic-0');
    expect(readdirSync(logDir).some((n) => n.endsWith('.log.swap'))).toBe(true);
    // Reads still work from the old segments.
    expect(latestByKey(flatten(await readAllBatches(log)))).toEqual(expected);
    const again = await reopen();
    expect(readdirSync(logDir).some((n) => n.endsWith('.swap') || n.endsWith('.cleaned'))).toBe(false);
    const after = flatten(await readAllBatches(again));
    expect(latestByKey(after)).toEqual(expected);
    expect(after.length).toBe(11);
    // The log keeps working: append, clean again, restart.
    await again.append(encodeRecordBatch([rec('k1', 'later')]));
    await again.roll();
    await manager!.cleanLog(again, { force: true });
    const last = await reopen();
    expect(latestByKey(flatten(await readAllBatches(last))).get('k1')).toBe('later');
  });

  it('a `.cleaned` leftover is deleted at open and the log is unchanged', async () => {
    const log = await open();
    await writeUpdates(log, 3, 2, 1);
    const before = flatten(await readAllBatches(log));
    await manager!.close();
    const logDir = join(dir!, 'topic-0');
    writeFileSync(join(logDir, '00000000000000000000.log.cleaned'), Buffer.alloc(100, 7));
    const again = await open();
    expect(existsSync(join(logDir, '00000000000000000000.log.cleaned'))).toBe(false);
    expect(flatten(await readAllBatches(again))).toEqual(before);
  });

  it('file regions of replaced segments keep reading, and old files wait for file.delete.delay.ms', async () => {
    const log = await open({ 'file.delete.delay.ms': 60_000 });
    await writeUpdates(log, 4, 4, 2);
    await log.append(encodeRecordBatch([rec('k0', 'active')]));
    const region = (await log.readRegion(0, 1 << 20))!;
    const length = region.length;
    await manager!.cleanLog(log, { force: true });
    const logDir = join(dir!, 'topic-0');
    expect(readdirSync(logDir).filter((n) => n.endsWith('.log.deleted')).length).toBe(2);
    const buffer = Buffer.alloc(length);
    expect(readSync(region.fd, buffer, 0, length, region.position)).toBe(length);
    region.release();
  });
});

describe('the native side of compressed-batch cleaning', () => {
  it('refuses a record list or a rebuilt batch that does not match the batches, and leaves the log as it was', async () => {
    const dir = makeTempDir();
    const pool = new native.IoPool(1);
    const cleaner = new native.IoPool(1);
    try {
      const config = toNativeConfig(resolveLogConfig({ 'cleanup.policy': 'compact', 'retention.ms': -1, 'file.delete.delay.ms': 0 }));
      const log = await pool.openLog(join(dir, 't-0'), config, 0, 0, false);
      const updates = (round: number) => encodeRecordBatch([rec('a', `a${round}`), rec('b', `b${round}`)], { compression: 'gzip' });
      await log.append(updates(1), false, false);
      await log.append(updates(2), false, false);
      await log.roll();
      await log.append(updates(3), false, false);
      const before = await log.read(0, 1 << 20);
      const real = compressedBatchHandler();
      const options = { firstDirtyOffset: 0, minCleanableRatio: 0, minCompactionLagMs: 0, maxCompactionLagMs: 2 ** 63, deleteRetentionMs: 2 ** 63, force: true };
      const valid = encodeRecordBatch([rec('a', 'x')], { baseOffset: 0 });
      const wrongOffsets = encodeRecordBatch([rec('a', 'x')], { baseOffset: 1 });
      for (const [bad, message] of [
        [Buffer.from('not a batch at all, just bytes of the right kind of length for a header.....'), /not exactly one valid record batch/],
        [Buffer.concat([valid, valid]), /not exactly one valid record batch/],
        [wrongOffsets, /does not keep the offsets/],
      ] as const) {
        const handler = { keys: real.keys, rebuild: async (keep: Buffer) => (await real.rebuild(keep)).map((b) => (b === null ? null : bad)) };
        await expect(log.clean(cleaner, options, handler)).rejects.toThrow(message);
        expect(Buffer.compare(await log.read(0, 1 << 20), before)).toBe(0);
        expect(readdirSync(join(dir, 't-0')).filter((n) => n.endsWith('.cleaned') || n.endsWith('.swap'))).toEqual([]);
      }
      // The record list the native side gets from keys() is checked too.
      const entry = (key: string, offset: number) => {
        const k = Buffer.from(key);
        const out = Buffer.alloc(4 + k.length + 9);
        out.writeInt32BE(k.length, 0);
        k.copy(out, 4);
        out.writeBigInt64BE(BigInt(offset), 4 + k.length);
        return out;
      };
      // The log holds three gzip batches of two records (offsets 0-5); only the first two are in the cleaned range.
      const badLists: [Buffer, RegExp][] = [
        [Buffer.concat([entry('a', 0)]), /does not match the batches' record counts/],
        [Buffer.concat([entry('a', 0), entry('b', 1), entry('a', 2), entry('b', 99)]), /offset outside its batch/],
        [Buffer.concat([entry('a', 1), entry('b', 0), entry('a', 2), entry('b', 3)]), /offset outside its batch/],
      ];
      for (const [list, message] of badLists) {
        const handler = { keys: async () => list, rebuild: real.rebuild };
        await expect(log.clean(cleaner, options, handler)).rejects.toThrow(message);
        expect(Buffer.compare(await log.read(0, 1 << 20), before)).toBe(0);
      }
      await log.close(true);
    } finally {
      cleaner.close();
      pool.close();
      removeTempDir(dir);
    }
  });
});

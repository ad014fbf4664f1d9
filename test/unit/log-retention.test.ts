// Retention in the storage engine: Log.applyRetention (Kafka's
// deleteOldSegments) by time and by size, cleanup.policy, the delayed
// deletion of segment files (file.delete.delay.ms, `.deleted` files), file
// regions that outlive their segment, the LogManager's schedule (every
// retentionCheckIntervalMs and after a roll), and failures.
import { cpSync, existsSync, readSync, readdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { ConfigError, EARLIEST_TIMESTAMP, LogManager, encodeRecordBatch, openLog, type Log, type LogConfigInput, type RetentionResult } from '../../src/index.js';
import { native } from '../../src/native.js';
import {
  errorOf,
  expectLogError,
  expectSameSnapshot,
  flatten,
  makeTempDir,
  openTestLog,
  readAllBatches,
  removeTempDir,
  segmentFiles,
  segmentName,
  snapshot,
} from '../support/log-test-helpers.js';

const HOUR = 3_600_000;

let dir: string | undefined;

beforeEach(() => {
  dir = makeTempDir('gregor-retention-');
});

afterEach(() => {
  native.setFaultProbe('delete', 0);
  removeTempDir(dir);
  dir = undefined;
});

/** Appends one batch of `count` records stamped `timestamp`; resolves to its base offset. */
async function appendAt(log: Log, timestamp: number, count = 2, tag = `t${timestamp}`): Promise<number> {
  const records = Array.from({ length: count }, (_, i) => ({ key: `${tag}-${i}`, value: `${tag}-value-${i}`, timestamp }));
  return (await log.append(encodeRecordBatch(records))).baseOffset;
}

/** Builds closed segments from `plan` (one array of batch timestamps per segment), then an active one. */
async function buildSegments(log: Log, plan: number[][], active: number[] = []): Promise<number[]> {
  const bases: number[] = [];
  for (const timestamps of [...plan, active]) {
    bases.push(log.logEndOffset);
    for (const ts of timestamps) await appendAt(log, ts);
    if (timestamps !== active) await log.roll();
  }
  return bases;
}

/** Files in `dir` that end in `.deleted`, sorted. */
function deletedFiles(logDir: string): string[] {
  return readdirSync(logDir)
    .filter((n) => n.endsWith('.deleted'))
    .sort();
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// Big segments: only explicit rolls (and retention) start new ones, so no
// append triggers a retention pass of its own.
const BIG = { 'segment.bytes': 1 << 30 } satisfies LogConfigInput;

describe('retention by time (retention.ms)', () => {
  it('deletes the oldest segments whose newest record is older than retention.ms and moves the log start offset', async () => {
    // Proves Kafka's rule: whole segments, oldest first, judged by their largest timestamp, stopping at the first one that is kept.
    const now = Date.now();
    const old = now - 2 * HOUR;
    const log = await openTestLog(dir!, { ...BIG, 'retention.ms': HOUR });
    try {
      // A: old; B: old; C: old and new (its max is new); D: old again; active: new.
      const [a, b, c, d, active] = await buildSegments(log, [[old, old], [old], [old, now], [old]], [now]);
      const kept = flatten(await readAllBatches(log, c!));
      const result = await log.applyRetention();
      expect(result).toMatchObject({ deletedSegments: 2, byTime: 2, bySize: 0, belowLogStartOffset: 0, rolled: false });
      expect(result.deletedBytes).toBeGreaterThan(0);
      expect(log.logStartOffset).toBe(c);
      expect((await log.segments()).map((s) => s.baseOffset)).toEqual([c, d, active]);
      expect(segmentFiles(log.dir, '.log')).toEqual([c, d, active].map((o) => segmentName(o!, '.log')));
      // Below the log start: OFFSET_OUT_OF_RANGE; the earliest offset follows.
      await expectLogError(log.read(a!, 1000), 'OFFSET_OUT_OF_RANGE');
      await expectLogError(log.readRegion(b!, 1000), 'OFFSET_OUT_OF_RANGE');
      expect(await log.offsetForTimestamp(EARLIEST_TIMESTAMP)).toEqual({ offset: c, timestamp: -1 });
      expect(flatten(await readAllBatches(log))).toEqual(kept);
      // A second pass finds nothing more: D is old but sits behind C.
      expect(await log.applyRetention()).toMatchObject({ deletedSegments: 0 });
    } finally {
      await log.close();
    }
  });

  it('rolls the active segment when it alone holds data past retention.ms, so that everything goes', async () => {
    // Proves the active segment is never deleted in place: it is rolled first, and the log continues at its end offset.
    const old = Date.now() - 2 * HOUR;
    const log = await openTestLog(dir!, { ...BIG, 'retention.ms': HOUR, 'file.delete.delay.ms': 0 });
    try {
      await buildSegments(log, [[old]], [old, old]);
      const end = log.logEndOffset;
      expect(await log.applyRetention()).toMatchObject({ deletedSegments: 2, byTime: 2, rolled: true });
      expect(log.logStartOffset).toBe(end);
      expect(log.logEndOffset).toBe(end);
      expect(await log.segments()).toEqual([{ baseOffset: end, nextOffset: end, sizeBytes: 0, maxTimestamp: -1 }]);
      expect(segmentFiles(log.dir, '.log')).toEqual([segmentName(end, '.log')]);
      expect(await log.read(end, 1000)).toHaveLength(0);
      // An empty active segment is left alone, and appends continue at the end.
      expect(await log.applyRetention()).toMatchObject({ deletedSegments: 0, rolled: false });
      expect(await appendAt(log, Date.now())).toBe(end);
    } finally {
      await log.close();
    }
  });

  it('keeps everything with retention.ms -1, and segments whose newest record is in the future', async () => {
    // Proves -1 means forever, that a change of retention.ms applies to the next pass, and that a future timestamp never expires.
    const ancient = 1_000_000_000_000;
    const log = await openTestLog(dir!, { ...BIG, 'retention.ms': -1 });
    try {
      await buildSegments(log, [[ancient], [ancient]], [ancient]);
      expect(await log.applyRetention()).toMatchObject({ deletedSegments: 0 });
      await log.setConfig({ 'retention.ms': 1 });
      expect(await log.applyRetention()).toMatchObject({ deletedSegments: 3, rolled: true });
    } finally {
      await log.close();
    }
    const future = await openTestLog(dir!, { ...BIG, 'retention.ms': 1 }, 'future-0');
    try {
      await buildSegments(future, [[Date.now() + HOUR]], [Date.now() + HOUR]);
      expect(await future.applyRetention()).toMatchObject({ deletedSegments: 0 });
    } finally {
      await future.close();
    }
  });

  it('ages a segment without record timestamps by its file modification time', async () => {
    // Proves Kafka's fallback: a segment whose largest timestamp is -1 is judged by the .log file's mtime.
    const log = await openTestLog(dir!, { ...BIG, 'retention.ms': HOUR });
    try {
      await appendAt(log, -1);
      await log.roll();
      await appendAt(log, -1);
      expect((await log.segments()).map((s) => s.maxTimestamp)).toEqual([-1, -1]);
      expect(await log.applyRetention()).toMatchObject({ deletedSegments: 0 });
      const oldSeconds = (Date.now() - 2 * HOUR) / 1000;
      utimesSync(join(log.dir, segmentName(0, '.log')), oldSeconds, oldSeconds);
      expect(await log.applyRetention()).toMatchObject({ deletedSegments: 1, byTime: 1 });
      expect(log.logStartOffset).toBe(2);
    } finally {
      await log.close();
    }
  });
});

describe('retention by size (retention.bytes)', () => {
  it('deletes the oldest segments while the rest still hold retention.bytes', async () => {
    // Proves Kafka's rule: a segment goes if (log size - its size) >= retention.bytes, oldest first; exact equality deletes.
    const now = Date.now();
    const log = await openTestLog(dir!, { ...BIG, 'retention.bytes': -1 });
    try {
      const bases = await buildSegments(log, [[now], [now], [now], [now]], [now]);
      const segments = await log.segments();
      const size = segments[0]!.sizeBytes;
      expect(segments.every((s) => s.sizeBytes === size)).toBe(true);
      expect(log.sizeBytes).toBe(5 * size);

      await log.setConfig({ 'retention.bytes': 2 * size + 1 });
      expect(await log.applyRetention()).toMatchObject({ deletedSegments: 2, bySize: 2, byTime: 0 });
      expect(log.logStartOffset).toBe(bases[2]);
      expect(log.sizeBytes).toBe(3 * size);

      await log.setConfig({ 'retention.bytes': 2 * size });
      expect(await log.applyRetention()).toMatchObject({ deletedSegments: 1, bySize: 1 });
      expect(log.logStartOffset).toBe(bases[3]);
      expect(log.sizeBytes).toBe(2 * size);
      expect(flatten(await readAllBatches(log)).map((r) => r.offset)).toEqual([bases[3]!, bases[3]! + 1, bases[4]!, bases[4]! + 1]);
    } finally {
      await log.close();
    }
  });

  it('deletes everything with retention.bytes 0, rolling the active segment', async () => {
    // Proves size retention can take the active segment too, through the same roll as time retention.
    const log = await openTestLog(dir!, { ...BIG, 'retention.bytes': 0 });
    try {
      await buildSegments(log, [[Date.now()]], [Date.now()]);
      expect(await log.applyRetention()).toMatchObject({ deletedSegments: 2, bySize: 2, rolled: true });
      expect(log.logStartOffset).toBe(log.logEndOffset);
      expect(log.sizeBytes).toBe(0);
    } finally {
      await log.close();
    }
  });

  it('applies size first, then time, in one pass', async () => {
    // Proves both limits combine: size removes the oldest, time continues from there.
    const now = Date.now();
    const old = now - 2 * HOUR;
    const log = await openTestLog(dir!, { ...BIG, 'retention.ms': HOUR });
    try {
      const bases = await buildSegments(log, [[now], [old], [old]], [now]);
      const size = (await log.segments())[0]!.sizeBytes;
      await log.setConfig({ 'retention.bytes': 3 * size });
      expect(await log.applyRetention()).toMatchObject({ deletedSegments: 3, bySize: 1, byTime: 2 });
      expect(log.logStartOffset).toBe(bases[3]);
    } finally {
      await log.close();
    }
  });
});

describe('cleanup.policy', () => {
  it('applies retention only when the policy includes delete', async () => {
    // Proves compacted topics keep old segments (compaction, not retention, shrinks them), and compact,delete does both.
    const old = Date.now() - 2 * HOUR;
    const log = await openTestLog(dir!, { ...BIG, 'retention.ms': HOUR, 'retention.bytes': 0, 'cleanup.policy': 'compact' });
    try {
      await buildSegments(log, [[old], [old]], [old]);
      expect(await log.applyRetention()).toMatchObject({ deletedSegments: 0 });
      await log.setConfig({ 'cleanup.policy': 'compact, delete' });
      expect(log.config['cleanup.policy']).toBe('compact,delete');
      expect(await log.applyRetention()).toMatchObject({ deletedSegments: 3 });
    } finally {
      await log.close();
    }
  });

  it('validates retention.ms, retention.bytes, cleanup.policy and file.delete.delay.ms, naming the key', async () => {
    // Proves Kafka's bounds: retention.* >= -1, file.delete.delay.ms >= 0, cleanup.policy a list of delete/compact.
    const cases: [LogConfigInput, string][] = [
      [{ 'retention.ms': -2 }, 'retention.ms'],
      [{ 'retention.bytes': '1.5' }, 'retention.bytes'],
      [{ 'file.delete.delay.ms': -1 }, 'file.delete.delay.ms'],
      [{ 'cleanup.policy': 'remove' }, 'cleanup.policy'],
      [{ 'cleanup.policy': 'delete,' }, 'cleanup.policy'],
      [{ 'cleanup.policy': '' }, 'cleanup.policy'],
    ];
    for (const [input, key] of cases) {
      const error = await errorOf(() => openTestLog(dir!, input, `bad-${key}`));
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).key).toBe(key);
    }
    const log = await openTestLog(dir!, { 'retention.ms': '9223372036854775807', 'retention.bytes': '-1', 'cleanup.policy': 'delete' });
    try {
      expect(log.config).toMatchObject({ 'retention.ms': Number.MAX_SAFE_INTEGER, 'retention.bytes': -1, 'cleanup.policy': 'delete', 'file.delete.delay.ms': 60000 });
    } finally {
      await log.close();
    }
  });
});

describe('deleting segment files (file.delete.delay.ms)', () => {
  it('renames the files to .deleted and unlinks them after the delay, while a file region keeps reading', async () => {
    // Proves Kafka's asynchronous deletion, and that a sendfile region taken before the deletion stays valid through both steps.
    const old = Date.now() - 2 * HOUR;
    const log = await openTestLog(dir!, { ...BIG, 'retention.ms': HOUR, 'file.delete.delay.ms': 500 });
    try {
      await buildSegments(log, [[old, old]], [Date.now()]);
      const expected = await log.read(0, 1 << 20);
      const region = (await log.readRegion(0, 1 << 20))!;
      expect(region.length).toBe(expected.length);
      const readRegion = (): Buffer => {
        const bytes = Buffer.alloc(region.length);
        expect(readSync(region.fd, bytes, 0, region.length, region.position)).toBe(region.length);
        return bytes;
      };

      expect(await log.applyRetention()).toMatchObject({ deletedSegments: 1 });
      expect(deletedFiles(log.dir)).toEqual(['.index', '.log', '.timeindex'].map((s) => `${segmentName(0, s as '.log')}.deleted`));
      expect(existsSync(join(log.dir, segmentName(0, '.log')))).toBe(false);
      expect(readRegion().equals(expected)).toBe(true);

      await until(() => deletedFiles(log.dir).length === 0, 'the .deleted files to go');
      expect(readRegion().equals(expected)).toBe(true);
      region.release();
    } finally {
      await log.close();
    }
  });

  it('unlinks the files at once with file.delete.delay.ms 0', async () => {
    // Proves delay 0 leaves no .deleted files behind.
    const log = await openTestLog(dir!, { ...BIG, 'retention.bytes': 0, 'file.delete.delay.ms': 0 });
    try {
      await buildSegments(log, [[Date.now()]], [Date.now()]);
      expect(await log.applyRetention()).toMatchObject({ deletedSegments: 2 });
      expect(readdirSync(log.dir).filter((n) => /^\d{20}\./.test(n)).sort()).toEqual(
        ['.index', '.log', '.timeindex'].map((s) => segmentName(log.logEndOffset, s as '.log')),
      );
    } finally {
      await log.close();
    }
  });

  it('shares the mechanism with DeleteRecords (deleteRecordsBefore)', async () => {
    // Proves segments wholly below a new log start offset go the same way: renamed, then unlinked after the delay.
    const log = await openTestLog(dir!, { ...BIG, 'file.delete.delay.ms': 200 });
    try {
      const [, second] = await buildSegments(log, [[Date.now()], [Date.now()]], [Date.now()]);
      await log.deleteRecordsBefore(second! + 1);
      expect(log.logStartOffset).toBe(second! + 1);
      expect(deletedFiles(log.dir)).toContain(`${segmentName(0, '.log')}.deleted`);
      expect((await log.segments())[0]!.baseOffset).toBe(second);
      await until(() => deletedFiles(log.dir).length === 0, 'the .deleted files to go');
    } finally {
      await log.close();
    }
  });

  it('removes pending .deleted files at close, and an unclean copy reopens without them', async () => {
    // Proves no .deleted file outlives a clean close, and leftovers of a crash are removed when the log opens.
    const old = Date.now() - 2 * HOUR;
    const log = await openTestLog(dir!, { ...BIG, 'retention.ms': HOUR, 'file.delete.delay.ms': 3_600_000 });
    const copy = join(dir!, 'crash-image');
    try {
      const [, second] = await buildSegments(log, [[old], [old]], [Date.now()]);
      await log.applyRetention();
      expect(log.logStartOffset).toBe(log.logEndOffset - 2);
      expect(deletedFiles(log.dir)).toHaveLength(6);
      expect(second).toBeGreaterThan(0);
      // What a crash would leave: the files as they are now, without a clean-shutdown marker.
      cpSync(log.dir, join(copy, 'topic-0'), { recursive: true });
    } finally {
      await log.close();
    }
    expect(deletedFiles(join(dir!, 'topic-0'))).toEqual([]);
    const reopened = await openLog(join(copy, 'topic-0'), {}, { ioThreads: 1 });
    try {
      expect(deletedFiles(reopened.dir)).toEqual([]);
      expect(reopened.logStartOffset).toBe(reopened.logEndOffset - 2);
      expect(flatten(await readAllBatches(reopened))).toHaveLength(2);
    } finally {
      await reopened.close();
    }
  });
});

describe('when retention runs', () => {
  it('after a roll, without waiting for the periodic check', async () => {
    // Proves "a check when a segment rolls": appends that roll delete expired segments on their own.
    const old = Date.now() - 2 * HOUR;
    const results: RetentionResult[] = [];
    const manager = await LogManager.open(dir!, { ioThreads: 1, onRetention: (_log, result) => results.push(result) });
    try {
      const batch = (i: number) => encodeRecordBatch([{ value: `old-${i}`, timestamp: old }]);
      // One batch per segment: every append after the first rolls.
      const log = await manager.openLog('rolls-0', { 'segment.bytes': batch(0).length, 'retention.ms': HOUR, 'file.delete.delay.ms': 0 });
      for (let i = 0; i < 5; i++) await log.append(batch(i));
      await until(() => log.logStartOffset === 4, 'the old segments to go');
      expect(results.reduce((n, r) => n + r.deletedSegments, 0)).toBe(4);
      expect(results.every((r) => r.byTime === r.deletedSegments)).toBe(true);
      // The active segment (old too) waits for the periodic check: it is not rolled by a roll.
      expect((await log.segments()).map((s) => s.baseOffset)).toEqual([4]);
    } finally {
      await manager.close();
    }
  });

  it('every retentionCheckIntervalMs, with the settings in force at that time', async () => {
    // Proves the LogManager's schedule and that setConfig changes retention at runtime.
    const old = Date.now() - 2 * HOUR;
    const manager = await LogManager.open(dir!, { ioThreads: 1, retentionCheckIntervalMs: 50 });
    try {
      const log = await manager.openLog('periodic-0', { ...BIG, 'retention.ms': -1, 'file.delete.delay.ms': 0 });
      await buildSegments(log, [[old]], [old]);
      const end = log.logEndOffset;
      await new Promise((r) => setTimeout(r, 300));
      expect(log.logStartOffset).toBe(0);
      await log.setConfig({ 'retention.ms': HOUR });
      await until(() => log.logStartOffset === end, 'the periodic check to delete everything');
      expect(log.sizeBytes).toBe(0);
      await manager.checkRetention();
      expect(log.logStartOffset).toBe(end);
    } finally {
      await manager.close();
    }
  });

  it('keeps the new log start offset across a clean reopen', async () => {
    // Proves the start offset retention set is checkpointed like any other.
    const old = Date.now() - 2 * HOUR;
    let log = await openTestLog(dir!, { ...BIG, 'retention.ms': HOUR });
    await buildSegments(log, [[old], [old]], [Date.now()]);
    await log.applyRetention();
    const start = log.logStartOffset;
    expect(start).toBe(4);
    await log.close();
    log = await openTestLog(dir!, BIG);
    try {
      expect(log.logStartOffset).toBe(start);
      expect(deletedFiles(log.dir)).toEqual([]);
    } finally {
      await log.close();
    }
  });
});

describe('failures', () => {
  it('a failed deletion changes nothing, and the next pass completes it', async () => {
    // Proves a KAFKA_STORAGE_ERROR while deleting leaves the log as it was; retention is simply retried.
    const old = Date.now() - 2 * HOUR;
    const log = await openTestLog(dir!, { ...BIG, 'retention.ms': HOUR, 'file.delete.delay.ms': 0 });
    try {
      const [, , third] = await buildSegments(log, [[old], [old]], [Date.now()]);
      const before = await snapshot(log);
      native.setFaultProbe('delete', 1);
      await expectLogError(log.applyRetention(), 'KAFKA_STORAGE_ERROR');
      expectSameSnapshot(await snapshot(log), before);
      expect(await log.applyRetention()).toMatchObject({ deletedSegments: 2 });
      expect(log.logStartOffset).toBe(third);
    } finally {
      await log.close();
    }
  });
});

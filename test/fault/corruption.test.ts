// Damaged files after a crash: bytes flipped, files cut short, garbage
// appended, indexes missing or corrupt. Reopening must truncate the log
// before the damage, never return a corrupt batch, and never crash.
import { copyFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { LogManager, decodeRecordBatches } from '../../src/index.js';
import { checkIndexInvariants, checkLogInvariants, readPartitionDir } from '../support/kafka-format-reader.js';
// @ts-expect-error plain ESM helper shared with the crash child
import { workloadBatch } from './crash-workload.mjs';

const makeBatch = workloadBatch as (round: number, i: number) => Buffer;
const LOG = 'damaged-0';
const CONFIG = { 'segment.bytes': 64 * 1024, 'segment.index.bytes': 2048, 'index.interval.bytes': 512 } as const;

interface StoredBatch {
  baseOffset: number;
  lastOffset: number;
  bytes: Buffer;
}

function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** Marks the directory as crashed with nothing flushed: recovery rescans every segment. */
function simulateCrash(dir: string): void {
  rmSync(join(dir, '.kafka_cleanshutdown'), { force: true });
  writeFileSync(join(dir, 'recovery-point-offset-checkpoint'), `0\n1\n${LOG.replace(/-0$/, '')} 0 0\n`);
}

function segmentFiles(dir: string, suffix: string): string[] {
  return readdirSync(join(dir, LOG))
    .filter((name) => name.endsWith(suffix))
    .sort()
    .map((name) => join(dir, LOG, name));
}

describe('recovery from damaged files', () => {
  const root = mkdtempSync(join(tmpdir(), 'gregor-damage-'));
  const pristine = join(root, 'pristine');
  const stored: StoredBatch[] = [];

  beforeAll(async () => {
    const manager = await LogManager.open(pristine, { ioThreads: 1 });
    const log = await manager.openLog(LOG, CONFIG);
    for (let i = 0; i < 120; i++) {
      const result = await log.append(makeBatch(7, i));
      stored.push({ baseOffset: result.baseOffset, lastOffset: result.lastOffset, bytes: Buffer.alloc(0) });
    }
    for (const batch of stored) batch.bytes = (await log.read(batch.baseOffset, 1)).subarray(0);
    for (const batch of stored) batch.bytes = batch.bytes.subarray(0, decodeRecordBatches(batch.bytes)[0]!.sizeBytes);
    await manager.close();
    expect(segmentFiles(pristine, '.log').length).toBeGreaterThan(3);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  /** Reopens `dir` and checks that what survives is an undamaged prefix of `stored`. */
  async function verifyPrefix(dir: string): Promise<number> {
    const manager = await LogManager.open(dir, { ioThreads: 1 });
    try {
      const log = await manager.openLog(LOG, CONFIG);
      const end = log.logEndOffset;
      const survivors = stored.filter((b) => b.lastOffset < end);
      // The log ends exactly after a stored batch: no partial batch survives.
      expect(end === 0 || survivors[survivors.length - 1]!.lastOffset + 1 === end).toBe(true);
      for (const batch of survivors) {
        const bytes = await log.read(batch.baseOffset, 1);
        expect(bytes.subarray(0, batch.bytes.length).equals(batch.bytes)).toBe(true);
      }
      // Appends continue right after the surviving prefix.
      const next = await log.append(makeBatch(8, 0));
      expect(next.baseOffset).toBe(end);
      await log.close();
      for (const segment of readPartitionDir(join(dir, LOG))) {
        expect(segment.log.error).toBeUndefined();
        expect(checkLogInvariants(segment)).toEqual([]);
        expect(checkIndexInvariants(segment)).toEqual([]);
      }
      return end;
    } finally {
      await manager.close();
    }
  }

  it('truncates before flipped bytes in the tail and keeps everything before them', async () => {
    // 30 copies, each with a few bytes flipped in the last two segments.
    const next = random(99);
    for (let round = 0; round < 30; round++) {
      const dir = join(root, `flip-${round}`);
      cpSync(pristine, dir, { recursive: true });
      simulateCrash(dir);
      const logs = segmentFiles(dir, '.log');
      const target = logs[logs.length - 1 - Math.floor(next() * 2)]!;
      const bytes = readFileSync(target);
      const base = Number(target.slice(-24, -4));
      // Kafka's CRC leaves baseOffset and partitionLeaderEpoch (bytes 0-7 and
      // 12-15 of a batch) uncovered by design; damage there cannot be seen.
      const starts = stored.filter((b) => b.baseOffset >= base).map((b) => b.baseOffset);
      let position = 0;
      let damagedAt = bytes.length;
      for (let flips = 0; flips < 3; flips++) {
        do position = Math.floor(next() * bytes.length);
        while (isUncoveredHeaderByte(bytes, position));
        bytes[position]! ^= 1 << Math.floor(next() * 8);
        damagedAt = Math.min(damagedAt, position);
      }
      writeFileSync(target, bytes);
      const end = await verifyPrefix(dir);
      // Every batch that ended before the first damaged byte survived.
      const intact = batchesEndingBefore(bytes, damagedAt, base);
      expect(end).toBeGreaterThanOrEqual(intact);
      expect(starts.length).toBeGreaterThan(0);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('truncates a file cut at a random position (a torn write)', async () => {
    const next = random(7);
    for (let round = 0; round < 20; round++) {
      const dir = join(root, `cut-${round}`);
      cpSync(pristine, dir, { recursive: true });
      simulateCrash(dir);
      const logs = segmentFiles(dir, '.log');
      const target = logs[logs.length - 1]!;
      const size = statSync(target).size;
      const cut = Math.floor(next() * size);
      const before = readFileSync(target);
      truncateSync(target, cut);
      const end = await verifyPrefix(dir);
      expect(end).toBe(batchesEndingBefore(before, cut + 1, Number(target.slice(-24, -4))));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('drops garbage appended after the last batch', async () => {
    const dir = join(root, 'garbage');
    cpSync(pristine, dir, { recursive: true });
    simulateCrash(dir);
    const logs = segmentFiles(dir, '.log');
    const target = logs[logs.length - 1]!;
    const garbage = Buffer.alloc(5000);
    const next = random(3);
    for (let i = 0; i < garbage.length; i++) garbage[i] = Math.floor(next() * 256);
    writeFileSync(target, Buffer.concat([readFileSync(target), garbage]));
    expect(await verifyPrefix(dir)).toBe(stored[stored.length - 1]!.lastOffset + 1);
  });

  it('drops a zero-filled tail like the one a crash after preallocation leaves', async () => {
    const dir = join(root, 'zeros');
    cpSync(pristine, dir, { recursive: true });
    simulateCrash(dir);
    const logs = segmentFiles(dir, '.log');
    const target = logs[logs.length - 1]!;
    writeFileSync(target, Buffer.concat([readFileSync(target), Buffer.alloc(8192)]));
    expect(await verifyPrefix(dir)).toBe(stored[stored.length - 1]!.lastOffset + 1);
  });

  it('rebuilds missing and corrupt index files after a clean shutdown', async () => {
    const dir = join(root, 'indexes');
    cpSync(pristine, dir, { recursive: true });
    const indexes = segmentFiles(dir, '.index');
    const timeIndexes = segmentFiles(dir, '.timeindex');
    unlinkSync(indexes[0]!);
    unlinkSync(timeIndexes[1]!);
    // Entries that do not increase, and a file size that is not whole entries.
    writeFileSync(indexes[2]!, Buffer.alloc(64, 0xff));
    writeFileSync(timeIndexes[2]!, Buffer.alloc(13, 1));
    copyFileSync(indexes[3]!, indexes[3]! + '.bak');
    writeFileSync(indexes[3]!, Buffer.alloc(statSync(indexes[3]! + '.bak').size));
    unlinkSync(indexes[3]! + '.bak');
    const end = await verifyPrefix(dir);
    expect(end).toBe(stored[stored.length - 1]!.lastOffset + 1);
    for (const path of [...indexes, ...timeIndexes]) expect(statSync(path).size).toBeGreaterThan(0);
  });
});

/** Offsets in `log` (segment base `base`) of batches that end before byte `limit`, as the next offset. */
function batchesEndingBefore(log: Buffer, limit: number, base: number): number {
  let position = 0;
  let next = base;
  while (position + 61 <= log.length) {
    const size = 12 + log.readInt32BE(position + 8);
    if (position + size > limit) break;
    next = Number(log.readBigInt64BE(position)) + log.readInt32BE(position + 23) + 1;
    position += size;
  }
  return next;
}

/** Whether `position` falls in a batch's baseOffset or partitionLeaderEpoch field. */
function isUncoveredHeaderByte(log: Buffer, position: number): boolean {
  let start = 0;
  while (start + 61 <= log.length) {
    const size = 12 + log.readInt32BE(start + 8);
    if (position < start + size) {
      const within = position - start;
      return within < 8 || (within >= 12 && within < 16);
    }
    start += size;
  }
  return false;
}

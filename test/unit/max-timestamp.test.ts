// The leader stores a batch's maxTimestamp as its records' real maximum, so
// time lookups and retention can trust the header.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { LogManager, MAX_TIMESTAMP, crc32c, decodeRecordBatches, encodeRecordBatch } from '../../src/index.js';

describe('maxTimestamp correction on the leader path', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('rewrites a producer maxTimestamp that no record carries, with a valid CRC', async () => {
    // A producer claims maxTimestamp 3000 while its only record says 2000.
    dir = mkdtempSync(join(tmpdir(), 'gregor-maxts-'));
    const manager = await LogManager.open(dir, { ioThreads: 1 });
    try {
      const log = await manager.openLog('t-0');
      const batch = encodeRecordBatch([{ value: 'a', timestamp: 2000 }]);
      batch.writeBigInt64BE(3000n, 35);
      batch.writeUInt32BE(crc32c(batch.subarray(21)), 17);
      await log.append(batch);
      const stored = await log.read(0, 1024);
      expect(stored.readBigInt64BE(35)).toBe(2000n);
      expect(stored.readUInt32BE(17)).toBe(crc32c(stored.subarray(21, stored.readInt32BE(8) + 12)));
      expect(decodeRecordBatches(stored)[0]!.maxTimestamp).toBe(2000);
      expect(await log.offsetForTimestamp(MAX_TIMESTAMP)).toEqual({ offset: 0, timestamp: 2000 });
      // The follower path keeps the leader's bytes, claim included.
      batch.writeBigInt64BE(1n, 0);
      await log.appendWithOffsets(batch);
      expect((await log.read(1, 1024)).readBigInt64BE(35)).toBe(3000n);
    } finally {
      await manager.close();
    }
  });
});

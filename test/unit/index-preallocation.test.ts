// An idle partition must not cost segment.index.bytes of real disk: the
// active indexes are sparse, with blocks reserved just ahead of the entries.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { LogManager, encodeRecordBatch } from '../../src/index.js';

describe('index preallocation', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps 10 MiB active indexes sparse and still records entries', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gregor-sparse-'));
    const manager = await LogManager.open(dir, { ioThreads: 1 });
    try {
      const log = await manager.openLog('t-0', { 'index.interval.bytes': 0 });
      for (let i = 0; i < 3000; i++) await log.append(encodeRecordBatch([{ value: `v${i}` }]));
      for (const suffix of ['.index', '.timeindex']) {
        const st = statSync(join(dir, 't-0', `00000000000000000000${suffix}`));
        expect(st.size).toBeGreaterThanOrEqual(10 * 1024 * 1024 - 12);
        // 3000 entries need < 40 KiB; with the reservation ahead, well under 1 MiB.
        expect(st.blocks * 512).toBeLessThan(1024 * 1024);
      }
      // Lookups through the many entries still land on the right batch.
      const bytes = await log.read(2500, 1);
      expect(bytes.readBigInt64BE(0)).toBe(2500n);
    } finally {
      await manager.close();
    }
  });
});

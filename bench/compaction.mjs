// Log cleaner throughput: MB/s of log compacted by one cleaner pass
// (LogManager.cleanLog, force), measured on logs written beforehand, next to
// the machine's limits in the same run (dd write into the page cache, with
// and without fdatasync, and memcpy).
//
//   npm run build                (dist/ and the addon)
//   node bench/compaction.mjs    (markdown on stdout)
//
// Scenarios, by how many of the records survive:
//   updates    KEYS distinct keys updated over and over: ~1% survive (the offset map is small, little is written)
//   half       every key written twice: 50% survive
//   unique     every key once: everything survives (the whole log is copied)
//   <scenario>-<codec>   the same with compressed batches (lz4, zstd, ...):
//              their records are read and rebuilt in TypeScript (src/log/compaction.ts)
// MB/s = bytes of the cleaned range (all non-active segments) / wall time of
// the pass (plan + offset map + rewrite + fsync + swap with index rebuild).
// The map and rewrite phases' own times come from the cleaner's result.
//
// Settings (GREGOR_BENCH_*): TRIALS (3), COMPACTION_MIB (128: log size per
// trial), COMPACTION_RECORD_BYTES (200), COMPACTION_SEGMENT_MIB (64),
// COMPACTION_SCENARIOS (updates,half,unique,updates-lz4,half-lz4).
import { randomBytes } from 'node:crypto';

import { ddWriteMBs, loadAverage, memcpyGBs } from './machine.mjs';
import { MiB, envInt, fmtStat, log, now, removeDir, scratchDir, secondsSince, summarize, table } from './lib/util.mjs';

const { LogManager, encodeRecordBatch } = await import('../dist/index.js');

const TRIALS = Math.max(envInt('TRIALS', 3), 1);
const LOG_MIB = envInt('COMPACTION_MIB', 128);
const RECORD_BYTES = envInt('COMPACTION_RECORD_BYTES', 200);
const SEGMENT_MIB = envInt('COMPACTION_SEGMENT_MIB', 64);
const SCENARIOS = (process.env.GREGOR_BENCH_COMPACTION_SCENARIOS || 'updates,half,unique,updates-lz4,half-lz4').split(',').map((s) => s.trim());

function keyCount(scenarioName, records) {
  const scenario = scenarioName.split('-')[0];
  if (scenario === 'updates') return Math.max(1, Math.floor(records / 100));
  if (scenario === 'half') return Math.max(1, Math.floor(records / 2));
  return records;
}

async function writeLog(dir, scenario) {
  const manager = await LogManager.open(dir, { ioThreads: 1, cleaner: { threads: 1, backoffMs: 2 ** 31 - 1 } });
  const log = await manager.openLog('bench-0', {
    'cleanup.policy': 'compact',
    'segment.bytes': SEGMENT_MIB * MiB,
    'file.delete.delay.ms': 0,
  });
  // Values of random base64 (compressible to ~75%, like real payloads, not to nothing).
  const pool = randomBytes(1 << 20).toString('base64');
  const valueBytes = Math.max(1, RECORD_BYTES - 30);
  const records = Math.floor((LOG_MIB * MiB) / RECORD_BYTES);
  const keys = keyCount(scenario, records);
  const perBatch = 500;
  for (let i = 0; i < records; i += perBatch) {
    const batch = [];
    for (let j = i; j < Math.min(records, i + perBatch); j++) {
      const at = (j * 7919) % (pool.length - valueBytes);
      batch.push({ key: `key-${String(j % keys).padStart(12, '0')}`, value: pool.slice(at, at + valueBytes), timestamp: 1_700_000_000_000 });
    }
    await log.append(encodeRecordBatch(batch, { compression: scenario.split('-')[1] ?? 'none' }));
  }
  await log.roll();
  await log.append(encodeRecordBatch([{ key: 'active', value: 'x' }]));
  await log.flush();
  return { manager, log, records, keys };
}

async function trial(scenario) {
  const dir = scratchDir(`compaction-${scenario}`);
  try {
    const { manager, log, records, keys } = await writeLog(dir, scenario);
    const start = now();
    const result = await manager.cleanLog(log, { force: true });
    const seconds = secondsSince(start);
    const cleanedBytes = result.cleanBytes + result.dirtyBytes;
    await manager.close();
    return {
      mbs: cleanedBytes / seconds / 1e6,
      recordsPerSecond: records / seconds,
      seconds,
      inputMB: cleanedBytes / 1e6,
      outputMB: result.bytesWritten / 1e6,
      kept: result.recordsKept / records,
      keys,
      mapMs: result.mapMs,
      rewriteMs: result.rewriteMs,
    };
  } finally {
    removeDir(dir);
  }
}

const rows = [];
const limits = { dd: [], ddSync: [], memcpy: [] };
const results = Object.fromEntries(SCENARIOS.map((s) => [s, []]));
for (let t = 0; t < TRIALS; t++) {
  const ddDir = scratchDir('compaction-dd');
  limits.dd.push(ddWriteMBs(ddDir, LOG_MIB));
  limits.ddSync.push(ddWriteMBs(ddDir, LOG_MIB, { fdatasync: true }));
  removeDir(ddDir);
  limits.memcpy.push(memcpyGBs());
  for (const scenario of SCENARIOS) {
    const r = await trial(scenario);
    log(`trial ${t + 1}/${TRIALS} ${scenario}: ${r.mbs.toFixed(0)} MB/s (${r.inputMB.toFixed(0)} MB in ${r.seconds.toFixed(2)} s, map ${r.mapMs} ms, rewrite ${r.rewriteMs} ms)`);
    results[scenario].push(r);
  }
}
const dd = summarize(limits.dd);
const ddSync = summarize(limits.ddSync);
for (const scenario of SCENARIOS) {
  const rs = results[scenario];
  const mbs = summarize(rs.map((r) => r.mbs));
  rows.push([
    scenario,
    `${rs[0].keys}`,
    `${(rs[0].kept * 100).toFixed(1)}%`,
    `${rs[0].inputMB.toFixed(0)} → ${rs[0].outputMB.toFixed(1)}`,
    fmtStat(mbs),
    `${(summarize(rs.map((r) => r.recordsPerSecond)).median / 1e6).toFixed(2)} M`,
    `${summarize(rs.map((r) => r.mapMs)).median.toFixed(0)} / ${summarize(rs.map((r) => r.rewriteMs)).median.toFixed(0)}`,
    `${((mbs.median / ddSync.median) * 100).toFixed(0)}%`,
  ]);
}
console.log(`### Log cleaner throughput\n`);
console.log(`One cleaner pass (force) over a ${LOG_MIB} MiB log of ${RECORD_BYTES}-byte records in ${SEGMENT_MIB} MiB segments, ${TRIALS} trials, median (min-max). Load average ${loadAverage()}.\n`);
console.log(
  table(
    ['scenario', 'keys', 'kept', 'MB in → out (on disk)', 'cleaner MB/s (on disk)', 'records/s', 'map / rewrite ms', 'of dd write+fdatasync'],
    rows,
  ),
);
console.log(`\nSame-run limits: dd write into the page cache ${fmtStat(dd)} MB/s, with fdatasync ${fmtStat(ddSync)} MB/s (a pass writes and fsyncs its output); memcpy ${fmtStat(summarize(limits.memcpy))} GB/s.`);

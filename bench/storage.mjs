// Storage-engine benchmarks: appends (page cache), durable appends, sequential
// reads and random offset lookups, each TRIALS times with the median reported
// as a ratio to a machine limit measured right next to it (this machine is
// shared and its speed drifts, so every timed trial is paired with a limit
// probe run just before it: a dd of the same volume for writes, a cached dd
// read for reads, a random pread loop for lookups).
//
// Run alone: node bench/storage.mjs [appends] [durable] [reads]
import { join } from 'node:path';
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { LogManager } from '../dist/index.js';
import { ddWrite, loadAverage, randomPreadOpsPerSecond } from './machine.mjs';
import {
  GiB,
  KiB,
  MiB,
  TRIALS,
  cpuSince,
  cpuSnapshot,
  discardLogData,
  envInt,
  envList,
  fmt,
  fmtAuto,
  fmtStat,
  log,
  makeBatchPool,
  median,
  nextOffsetAfter,
  now,
  pct,
  recordsPerBatch,
  removeDir,
  retain,
  scratchDir,
  secondsSince,
  sizeLabel,
  summarize,
  syncAll,
  table,
} from './lib/util.mjs';
import { spawnSync } from 'node:child_process';

const IO_THREADS = envInt('IO_THREADS', 8); // LogManager's default (Kafka's num.io.threads)
const POOL_BYTES = envInt('POOL_MIB', 64) * MiB; // distinct pre-encoded batches cycled through

function range(n) {
  return Array.from({ length: n }, (_, i) => i);
}

/**
 * Runs `appenders` concurrent loops, appender w bound to partition w % P, each
 * appending pool[i] with a shared counter until `appendCount` appends are
 * done. Returns the timed seconds and the process's CPU use over them; the
 * logs are checked for the right record count afterwards.
 */
async function appendTrial({ pool, recordsPerAppend, partitions, appenders, appendCount, durable, config }) {
  const dir = scratchDir('append');
  const manager = retain(await LogManager.open(dir, { ioThreads: IO_THREADS }));
  try {
    const logs = await Promise.all(range(partitions).map((p) => manager.openLog(`bench-${p}`, config)));
    // Warm-up (untimed): two appends per appender.
    await Promise.all(range(appenders).map(async (w) => {
      for (let k = 0; k < 2; k++) await logs[w % partitions].append(pool[(w * 2 + k) % pool.length], { durable });
    }));
    const before = logs.reduce((sum, l) => sum + l.logEndOffset, 0);
    let next = 0;
    const cpu0 = cpuSnapshot();
    const start = now();
    await Promise.all(
      range(appenders).map(async (w) => {
        const log = logs[w % partitions];
        for (;;) {
          const i = next++;
          if (i >= appendCount) return;
          await log.append(pool[i % pool.length], { durable });
        }
      }),
    );
    const seconds = secondsSince(start);
    const cpu = cpuSince(cpu0);
    const appended = logs.reduce((sum, l) => sum + l.logEndOffset, 0) - before;
    if (appended !== appendCount * recordsPerAppend) {
      throw new Error(`appended ${appended} records, expected ${appendCount * recordsPerAppend}`);
    }
    if (durable && logs.some((l) => l.recoveryPoint !== l.logEndOffset)) {
      throw new Error('durable appends resolved but the recovery point is behind the log end');
    }
    return { seconds, cpu };
  } finally {
    if (!durable) discardLogData(dir); // skip writing GiBs of benchmark data at close
    await manager.close();
    removeDir(dir);
  }
}

function poolFor(recordBytes, batchBytes, batchesPerAppend = 1) {
  const records = recordsPerBatch(recordBytes, batchBytes);
  const oneBatch = makeBatchPool({ recordBytes, records, count: 1 }).batchBytes;
  const count = Math.max(8, Math.ceil(POOL_BYTES / (oneBatch * batchesPerAppend))) * batchesPerAppend;
  const { pool, batchBytes: actualBatchBytes } = makeBatchPool({ recordBytes, records, count });
  if (batchesPerAppend === 1) return { pool, batchBytes: actualBatchBytes, records };
  const joined = [];
  for (let i = 0; i < pool.length; i += batchesPerAppend) joined.push(Buffer.concat(pool.slice(i, i + batchesPerAppend)));
  return { pool: joined, batchBytes: actualBatchBytes, records };
}

/** One append configuration: its pre-encoded batches and the measurements taken so far. */
function prepareConfig({ recordBytes, batchBytes, batchesPerAppend = 1, partitions, appenders, totalBytes, durable, config = {} }) {
  const { pool, batchBytes: actual, records } = poolFor(recordBytes, batchBytes, batchesPerAppend);
  const appendBytes = pool[0].length;
  const appendCount = Math.max(1, Math.round(totalBytes / appendBytes));
  return {
    label: `${recordBytes} B records, ${sizeLabel(batchBytes)} batches${batchesPerAppend > 1 ? ` x${batchesPerAppend}/append` : ''}, ${partitions} partition(s), ${appenders} appenders${durable ? ', durable' : ''}`,
    recordBytes,
    nominalBatchBytes: batchBytes,
    batchBytes: actual,
    recordsPerBatch: records,
    batchesPerAppend,
    recordsPerAppend: records * batchesPerAppend,
    partitions,
    appenders,
    durable,
    config,
    pool,
    appendCount,
    bytes: appendCount * appendBytes,
    trials: [],
  };
}

/** One trial of a configuration, right after a dd of the same volume (the limit under the same load). */
async function runConfigTrial(cfg, probeDir) {
  syncAll();
  const dd = ddWrite(probeDir, Math.max(1, Math.round(cfg.bytes / MiB)), { fdatasync: cfg.durable });
  syncAll();
  const { seconds, cpu } = await appendTrial(cfg);
  cfg.trials.push({
    mbs: cfg.bytes / seconds / 1e6,
    recs: (cfg.appendCount * cfg.recordsPerAppend) / seconds,
    appendsPerSec: cfg.appendCount / seconds,
    cpuSeconds: cpu.selfSeconds,
    mbPerCpuSecond: cfg.bytes / 1e6 / cpu.selfSeconds,
    runqueueShare: cpu.runqueueSeconds / seconds,
    ddMBs: dd.mbs,
    ddMBPerCpuSecond: dd.cpuSeconds > 0 ? (dd.mbs * dd.seconds) / dd.cpuSeconds : NaN,
  });
}

function summarizeConfig(cfg) {
  const t = cfg.trials;
  const mbs = summarize(t.map((r) => r.mbs));
  const limit = summarize(t.map((r) => r.ddMBs));
  const cpuEff = summarize(t.map((r) => r.mbPerCpuSecond));
  const ddEff = summarize(t.map((r) => r.ddMBPerCpuSecond).filter((v) => Number.isFinite(v)));
  const { pool, trials, config, ...rest } = cfg;
  return {
    ...rest,
    bytesPerTrial: cfg.bytes,
    mbs,
    recordsPerSec: summarize(t.map((r) => r.recs)),
    appendsPerSec: summarize(t.map((r) => r.appendsPerSec)),
    limitMBs: limit,
    ratio: mbs.median / limit.median,
    pairedRatio: summarize(t.map((r) => r.mbs / r.ddMBs)),
    mbPerCpuSecond: cpuEff,
    ddMBPerCpuSecond: ddEff,
    cpuRatio: cpuEff.median / ddEff.median,
    runqueueShare: summarize(t.map((r) => r.runqueueShare)),
    raw: t,
  };
}

/** Runs the configurations TRIALS times, interleaved (trial t of every configuration, then t + 1). */
async function runConfigs(configs) {
  const probeDir = scratchDir('probe');
  try {
    for (let t = 0; t < TRIALS; t++) {
      for (const cfg of configs) {
        log(`appends: trial ${t + 1}/${TRIALS}: ${cfg.label}: ${cfg.appendCount} appends of ${cfg.pool[0].length} bytes`);
        await runConfigTrial(cfg, probeDir);
      }
    }
  } finally {
    removeDir(probeDir);
  }
  return configs.map(summarizeConfig);
}

export async function benchAppends() {
  const recordSizes = envList('RECORD_BYTES', [100, 1024]);
  const batchSizes = envList('BATCH_BYTES', [16 * KiB, MiB]);
  const partitionCounts = envList('PARTITIONS', [1, 4]);
  const appenders = envInt('APPENDERS', 16);
  const totalBytes = envInt('APPEND_MIB', 1024) * MiB;
  const configs = [];
  for (const recordBytes of recordSizes) {
    for (const batchBytes of batchSizes) {
      for (const partitions of partitionCounts) {
        configs.push(prepareConfig({ recordBytes, batchBytes, partitions, appenders, totalBytes, durable: false }));
      }
    }
  }
  // Several batches per append call (a produce request's worth): the per-call cost amortized.
  const multi = envInt('MULTI_BATCH', 64);
  if (multi > 1) {
    for (const recordBytes of recordSizes) {
      configs.push(prepareConfig({ recordBytes, batchBytes: 16 * KiB, batchesPerAppend: multi, partitions: 1, appenders, totalBytes, durable: false }));
    }
  }
  const load = [loadAverage()];
  const rows = await runConfigs(configs);
  load.push(loadAverage());
  return { rows, load, settings: { ioThreads: IO_THREADS, appenders, totalBytes, trials: TRIALS } };
}

export async function benchDurable() {
  const batchSizes = envList('DURABLE_BATCH_BYTES', [64 * KiB, 256 * KiB, MiB]);
  const recordBytes = envInt('DURABLE_RECORD_BYTES', 1024);
  const partitions = envInt('DURABLE_PARTITIONS', 8);
  const appenders = envInt('DURABLE_APPENDERS', 64);
  const totalBytes = envInt('DURABLE_MIB', 1024) * MiB;
  const configs = batchSizes.map((batchBytes) => prepareConfig({ recordBytes, batchBytes, partitions, appenders, totalBytes, durable: true }));
  const load = [loadAverage()];
  const rows = await runConfigs(configs);
  load.push(loadAverage());
  return { rows, load, settings: { ioThreads: IO_THREADS, appenders, partitions, totalBytes, trials: TRIALS } };
}

// ---- reads ---------------------------------------------------------------

function segmentFiles(dir) {
  return readdirSync(dir)
    .filter((n) => n.endsWith('.log'))
    .sort()
    .map((n) => join(dir, n));
}

function ddReadMBs(file) {
  const r = spawnSync('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M'], { encoding: 'utf8' });
  const m = /(\d+) bytes .* copied, ([\d.]+) s/.exec(r.stderr);
  return Number(m[1]) / Number(m[2]) / 1e6;
}

async function readAll(log, from, to, maxBytes) {
  let offset = from;
  let bytes = 0;
  while (offset < to) {
    const buffer = await log.read(offset, maxBytes);
    if (buffer.length === 0) break;
    bytes += buffer.length;
    offset = nextOffsetAfter(buffer);
  }
  return bytes;
}

export async function benchReads() {
  const dataBytes = envInt('READ_MIB', 1024) * MiB;
  const segmentBytes = envInt('READ_SEGMENT_MIB', 128) * MiB;
  const recordBytes = 1024;
  const batchBytes = 16 * KiB;
  const maxBytes = envInt('READ_MAX_BYTES', MiB);
  const lookups = envInt('LOOKUPS', 100_000);
  const lookupInflight = envInt('LOOKUP_INFLIGHT', 16);
  const readers = envInt('READERS', 4);
  const load = [loadAverage()];

  const dir = scratchDir('reads');
  const manager = retain(await LogManager.open(dir, { ioThreads: IO_THREADS }));
  try {
    const log = await manager.openLog('read-0', { 'segment.bytes': segmentBytes });
    const { pool, batchBytes: actual, records } = poolFor(recordBytes, batchBytes);
    const appendCount = Math.ceil(dataBytes / actual);
    logMsg(`reads: writing ${appendCount} batches of ${actual} bytes (${sizeLabel(segmentBytes)} segments)`);
    let next = 0;
    await Promise.all(range(16).map(async () => {
      for (;;) {
        const i = next++;
        if (i >= appendCount) return;
        await log.append(pool[i % pool.length]);
      }
    }));
    await log.flush(); // no dirty pages left to write back during the reads
    const end = log.logEndOffset;
    const totalBytes = log.sizeBytes;
    const segments = segmentFiles(log.dir);
    const results = {};

    // Sequential read() by one consumer, maxBytes per call.
    const seq = [];
    const seqLimit = [];
    for (let t = 0; t < TRIALS; t++) {
      seqLimit.push(ddReadMBs(segments[t % segments.length]));
      const start = now();
      const bytes = await readAll(log, 0, end, maxBytes);
      const seconds = secondsSince(start);
      if (bytes !== totalBytes) throw new Error(`sequential read got ${bytes} bytes, the log holds ${totalBytes}`);
      seq.push(bytes / seconds / 1e6);
    }
    results.sequentialRead = { mbs: summarize(seq), limitMBs: summarize(seqLimit) };

    // `readers` consumers at once, each over its own slice of the same partition.
    const par = [];
    for (let t = 0; t < TRIALS; t++) {
      const slice = Math.ceil(end / readers);
      const start = now();
      const parts = await Promise.all(range(readers).map((r) => readAll(log, r * slice, Math.min(end, (r + 1) * slice), maxBytes)));
      const seconds = secondsSince(start);
      par.push(parts.reduce((a, b) => a + b, 0) / seconds / 1e6);
    }
    results.parallelRead = { mbs: summarize(par), limitMBs: results.sequentialRead.limitMBs, readers };

    // readRegion() + a pread of the region into a reused buffer (what sendfile would move).
    const { readSync } = await import('node:fs');
    const regionRates = [];
    const scratch = Buffer.allocUnsafe(maxBytes + 2 * batchBytes);
    for (let t = 0; t < TRIALS; t++) {
      let offset = 0;
      let bytes = 0;
      const start = now();
      while (offset < end) {
        const region = await log.readRegion(offset, maxBytes);
        if (region === null) break;
        const n = readSync(region.fd, scratch, 0, region.length, region.position);
        region.release();
        bytes += n;
        offset = nextOffsetAfter(scratch.subarray(0, n));
      }
      const seconds = secondsSince(start);
      if (bytes !== totalBytes) throw new Error(`region read got ${bytes} bytes, the log holds ${totalBytes}`);
      regionRates.push(bytes / seconds / 1e6);
    }
    results.regionRead = { mbs: summarize(regionRates), limitMBs: results.sequentialRead.limitMBs };

    // Random offset lookups: read(randomOffset, 1) returns the batch holding it.
    const lookupRates = [];
    const regionLookupRates = [];
    const preadLimits = [];
    for (let t = 0; t < TRIALS; t++) {
      const seg = segments[t % segments.length];
      preadLimits.push(randomPreadOpsPerSecond(seg, statSync(seg).size, actual, 50_000));
      let seed = 1 + t;
      const rand = () => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed % end;
      };
      let done = 0;
      let start = now();
      await Promise.all(range(lookupInflight).map(async () => {
        while (done < lookups) {
          done++;
          const offset = rand();
          const buffer = await log.read(offset, 1);
          if (buffer.length < 61) throw new Error(`lookup of ${offset} returned ${buffer.length} bytes`);
        }
      }));
      lookupRates.push(lookups / secondsSince(start));
      done = 0;
      start = now();
      await Promise.all(range(lookupInflight).map(async () => {
        while (done < lookups) {
          done++;
          const region = await log.readRegion(rand(), 1);
          region.release();
        }
      }));
      regionLookupRates.push(lookups / secondsSince(start));
    }
    results.lookups = {
      readPerSec: summarize(lookupRates),
      regionPerSec: summarize(regionLookupRates),
      limitOps: summarize(preadLimits),
      inflight: lookupInflight,
      lookups,
    };
    load.push(loadAverage());
    return {
      results,
      load,
      settings: {
        dataBytes: totalBytes,
        segments: segments.length,
        segmentBytes,
        batchBytes: actual,
        recordsPerBatch: records,
        records: end,
        maxBytes,
        ioThreads: IO_THREADS,
        trials: TRIALS,
      },
    };
  } finally {
    await manager.close();
    removeDir(dir);
  }
}

function logMsg(msg) {
  log(msg);
}

// ---- markdown ----------------------------------------------------------------

function ratioCell(r) {
  return `${pct(r.ratio)} (per trial ${pct(r.pairedRatio.min)}–${pct(r.pairedRatio.max)})`;
}

export function appendsMarkdown(appends, { recordsTarget = 5e6, pageCacheTarget = 0.8 } = {}) {
  const rows = appends.rows.map((r) => [
    `${r.recordBytes} B`,
    `${sizeLabel(r.nominalBatchBytes)} (${fmt(r.batchBytes)} B, ${fmt(r.recordsPerBatch)} rec)${r.batchesPerAppend > 1 ? ` ×${r.batchesPerAppend} per append` : ''}`,
    String(r.partitions),
    fmtStat(r.recordsPerSec, 1e6),
    fmtStat(r.mbs),
    fmtAuto(r.limitMBs.median),
    ratioCell(r),
    `${fmtAuto(r.mbPerCpuSecond.median)} / ${fmtAuto(r.ddMBPerCpuSecond.median)} = ${pct(r.cpuRatio)}`,
    r.runqueueShare.median.toFixed(2),
  ]);
  const out = [];
  out.push(
    `Appends, page cache only (durable: false). ${appends.settings.appenders} appenders with one append in flight each, appender i bound to partition i mod P; ` +
      `${sizeLabel(appends.settings.totalBytes)} per trial; io threads ${appends.settings.ioThreads}; configurations interleaved, each trial right after a \`dd bs=1M\` of the same volume (the limit); median (min–max) of ${appends.settings.trials}. ` +
      '"MB per CPU-s": bytes appended per CPU-second used by the whole process (JS + io threads) vs dd\'s bytes per CPU-second — a measure that the other tenants of this shared 2-core machine disturb less than wall-clock rates. ' +
      '"threads waiting": thread-seconds this process\'s threads spent runnable but without a CPU, per second of the trial.',
  );
  out.push('');
  out.push(
    table(
      ['record', 'batch', 'partitions', 'M records/s', 'MB/s', 'dd MB/s', 'ratio of medians', 'MB per CPU-s: engine / dd', 'threads waiting'],
      rows,
    ),
  );
  out.push('');
  const big = appends.rows.filter((r) => r.nominalBatchBytes === MiB && r.batchesPerAppend === 1);
  const small = appends.rows.filter((r) => r.recordBytes === 100);
  const bestSmall = small.reduce((a, b) => (!a || b.recordsPerSec.median > a.recordsPerSec.median ? b : a), null);
  for (const r of big) {
    out.push(
      `- Target "1 MiB batches ≥ ${pct(pageCacheTarget)} of page-cache write bandwidth", ${r.recordBytes} B records, ${r.partitions} partition(s): ${pct(r.ratio)} — **${r.ratio >= pageCacheTarget ? 'met' : 'missed'}** (CPU-normalized: ${pct(r.cpuRatio)})`,
    );
  }
  if (bestSmall) {
    out.push(
      `- Target "100-byte records ≥ ${fmt(recordsTarget / 1e6)} M records/s": best ${fmtAuto(bestSmall.recordsPerSec.median / 1e6)} M/s (${sizeLabel(bestSmall.nominalBatchBytes)} batches${bestSmall.batchesPerAppend > 1 ? ` ×${bestSmall.batchesPerAppend}` : ''}, ${bestSmall.partitions} partition(s)) — **${bestSmall.recordsPerSec.median >= recordsTarget ? 'met' : 'missed'}**; ` +
        `rows at or above it: ${small.filter((r) => r.recordsPerSec.median >= recordsTarget).length} of ${small.length}`,
    );
  }
  out.push(`- Load average (1/5/15 min) before / after: ${appends.load.join(' / ')}`);
  return out.join('\n');
}

export function durableMarkdown(durable, { target = 0.7 } = {}) {
  const s = durable.settings;
  const out = [];
  out.push(
    `Durable appends (durable: true: each append resolves after its fsync; concurrent appends to a partition share one). ${s.appenders} appenders on ${s.partitions} partitions ` +
      `(${s.appenders / s.partitions} per partition, one append in flight each), 1 KiB records; ${sizeLabel(s.totalBytes)} per trial; io threads ${s.ioThreads}; configurations interleaved, each trial right after a \`dd bs=1M conv=fdatasync\` of the same volume (the limit); median (min–max) of ${s.trials}.`,
  );
  out.push('');
  out.push(
    table(
      ['batch', 'M records/s', 'appends/s', 'MB/s', 'dd fdatasync MB/s', 'ratio of medians', 'threads waiting', `target ≥ ${pct(target)}`],
      durable.rows.map((r) => [
        `${sizeLabel(r.nominalBatchBytes)} (${fmt(r.batchBytes)} B, ${fmt(r.recordsPerBatch)} rec)`,
        fmtStat(r.recordsPerSec, 1e6),
        fmtStat(r.appendsPerSec),
        fmtStat(r.mbs),
        fmtAuto(r.limitMBs.median),
        ratioCell(r),
        r.runqueueShare.median.toFixed(2),
        r.ratio >= target ? '**met**' : '**missed**',
      ]),
    ),
  );
  out.push('');
  out.push(`- Load average before / after: ${durable.load.join(' / ')}`);
  return out.join('\n');
}

export function readsMarkdown(reads, machine) {
  const s = reads.settings;
  const r = reads.results;
  const memcpy = machine?.limits.memcpyGBs.median;
  const out = [];
  out.push(
    `Reads from a ${sizeLabel(s.dataBytes) === `${s.dataBytes} B` ? `${fmt(s.dataBytes / MiB)} MiB` : sizeLabel(s.dataBytes)} log, ${s.segments} segments of ${sizeLabel(s.segmentBytes)}, ${fmt(s.batchBytes)}-byte batches of ${s.recordsPerBatch} × 1 KiB records, all in the page cache. ` +
      `Sequential: maxBytes ${sizeLabel(s.maxBytes)} per call, the next call starting after the last batch returned. Limit: \`dd of=/dev/null bs=1M\` of a cached segment, run before each trial` +
      (memcpy ? `; memcpy ${memcpy.toFixed(2)} GB/s (machine table).` : '.'),
  );
  out.push('');
  const rows = [
    ['read() → Buffer, 1 consumer', fmtStat(r.sequentialRead.mbs), fmtAuto(r.sequentialRead.limitMBs.median), pct(r.sequentialRead.mbs.median / r.sequentialRead.limitMBs.median), memcpy ? pct(r.sequentialRead.mbs.median / (memcpy * 1000)) : 'n/a'],
    [`read() → Buffer, ${r.parallelRead.readers} consumers, same partition`, fmtStat(r.parallelRead.mbs), fmtAuto(r.parallelRead.limitMBs.median), pct(r.parallelRead.mbs.median / r.parallelRead.limitMBs.median), memcpy ? pct(r.parallelRead.mbs.median / (memcpy * 1000)) : 'n/a'],
    ['readRegion() + pread of the region, 1 consumer', fmtStat(r.regionRead.mbs), fmtAuto(r.regionRead.limitMBs.median), pct(r.regionRead.mbs.median / r.regionRead.limitMBs.median), memcpy ? pct(r.regionRead.mbs.median / (memcpy * 1000)) : 'n/a'],
  ];
  out.push(table(['sequential read', 'MB/s', 'dd cached read MB/s', 'ratio', 'ratio to memcpy'], rows));
  out.push('');
  const L = r.lookups;
  out.push(
    `Random offset lookups over all ${fmt(s.records)} offsets, ${L.inflight} in flight, ${fmt(L.lookups)} per trial. Limit: one synchronous caller doing random ${fmt(s.batchBytes)}-byte \`fs.readSync\` preads of a cached segment (no index, no CRC, no thread hop), run before each trial.`,
  );
  out.push('');
  out.push(
    table(
      ['lookup', 'lookups/s', 'pread limit ops/s', 'ratio'],
      [
        ['read(randomOffset, 1) → the batch holding it (CRC-checked copy)', fmtStat(L.readPerSec), fmtAuto(L.limitOps.median), pct(L.readPerSec.median / L.limitOps.median)],
        ['readRegion(randomOffset, 1) → file region (no copy)', fmtStat(L.regionPerSec), fmtAuto(L.limitOps.median), pct(L.regionPerSec.median / L.limitOps.median)],
      ],
    ),
  );
  out.push('');
  out.push(`- Load average before / after: ${reads.load.join(' / ')}`);
  return out.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const parts = process.argv.slice(2);
  const want = (name) => parts.length === 0 || parts.includes(name);
  if (want('appends')) console.log(appendsMarkdown(await benchAppends()), '\n');
  if (want('durable')) console.log(durableMarkdown(await benchDurable()), '\n');
  if (want('reads')) console.log(readsMarkdown(await benchReads()), '\n');
}

export { GiB, median };
